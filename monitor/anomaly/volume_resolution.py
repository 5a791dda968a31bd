"""Measurement resolution of a real-valued series, for the precedent test's allowance.

Many metrics are reported on a grid: CPU shares in steps of one scheduler tick, sizes in whole
pages, sensor values rounded to a display precision. On a quiet series the range of its own
history is then only one or two steps of that grid wide, and the next value one step past it reads
as an excess of a whole range (ratio ``1 / min_margin`` = 20 in the precedent test), although the
metric moved by the smallest amount it can show. The precedent test therefore forgives a move of
``quanta`` grid steps past the range and never takes a range narrower than one step
(``volume_precedent._excess``).

**Estimate.** The grid step ``q`` is the smallest non-zero absolute step ``|x_t − x_{t−1}|`` that
recurs exactly (to nine significant digits, so ``0.134 − 0.132`` and ``0.2 − 0.198`` agree) in
at least ``share`` of the last ``memory`` non-zero steps, once ``min_steps`` are there. A
continuous metric hardly ever repeats a step exactly: no step is common, ``q`` is 0 and the test is
unchanged. No per-series parameter: the grid is read from the series' own values.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from monitor.anomaly.volume_state import ResolutionState

__all__ = ["Resolution"]


def _key(step: float) -> float:
    """A step rounded to nine significant digits: the same grid step read from different values."""
    return float(f"{step:.9g}")


@dataclass
class Resolution:
    """Online grid step ``quantum()`` of a series fed one value at a time by ``add``."""

    memory: int = 2000
    share: float = 0.05
    min_steps: int = 50
    _steps: deque[float] = field(default_factory=deque)
    _counts: Counter[float] = field(default_factory=Counter)
    _prev: float | None = None
    _cached: float | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.share <= 1.0:
            raise ValueError(f"resolution share {self.share!r} must be in (0, 1]")

    def add(self, x: float) -> None:
        prev, self._prev = self._prev, x
        if prev is None or x == prev:
            return
        key = _key(abs(x - prev))
        self._steps.append(key)
        self._counts[key] += 1
        if len(self._steps) > self.memory:
            old = self._steps.popleft()
            self._counts[old] -= 1
            if not self._counts[old]:
                del self._counts[old]
        self._cached = None

    def quantum(self) -> float:
        """The grid step, or 0 when the series shows none (computed lazily: only an excess past
        the range needs it, which is rare)."""
        if self._cached is None:
            n = len(self._steps)
            need = self.share * n
            common = (
                [k for k, c in self._counts.items() if c >= need] if n >= self.min_steps else []
            )
            q = min(common) if common else 0.0
            # A grid: every common step is a whole number of the smallest one. A bimodal series
            # whose usual jumps are 18, 26.4 and 33 bytes, or 0.415 and 0.4175, has no grid.
            on_grid = all(abs(k / q - round(k / q)) <= 1e-6 * k / q for k in common)
            self._cached = q if common and on_grid else 0.0
        return self._cached

    def state(self) -> ResolutionState:
        return ResolutionState(steps=list(self._steps), prev=self._prev)

    def restore(self, state: ResolutionState) -> None:
        self._steps = deque(state.steps)
        self._counts = Counter(self._steps)
        self._prev = state.prev
        self._cached = None
