"""Test helpers that ship with hopwatch, so users' own tests can drive it without sleeping."""

from __future__ import annotations


class FakeClock:
    """A clock that moves only when told; pass it wherever a ``Clock`` is taken."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now

    def set(self, at: float) -> None:
        self._now = float(at)
