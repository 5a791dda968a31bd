"""The clocks that read the wall clock: what the shell (``cli``, ``demo``) passes as ``now``.

Kept out of ``monitor.timeutil`` so the pure core, which only names the ``Clock`` protocol,
never imports ``time``; tests pass ``monitor.testing.FakeClock`` instead.
"""

from __future__ import annotations

import time

from monitor.timeutil import Clock

__all__ = ["AcceleratedClock", "SystemClock"]


class SystemClock:
    """Wall-clock time in epoch seconds."""

    def now(self) -> float:
        return time.time()


class AcceleratedClock:
    """Simulated time that runs ``speed`` times faster than the wall clock, for the demo."""

    def __init__(self, start: float, speed: float, wall: Clock | None = None) -> None:
        self._wall = wall or SystemClock()
        self._start = start
        self._wall_start = self._wall.now()
        self.speed = speed

    def now(self) -> float:
        return self._start + (self._wall.now() - self._wall_start) * self.speed
