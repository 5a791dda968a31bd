"""Incremental building blocks of the ``volume`` check: every operation is O(1) or O(window) in
plain Python, so one ``VolumeDetector.update`` stays far below a millisecond (no median over a
deque, no ``scipy.stats`` call per bucket).

* ``SeasonalProfile``: the expected value of a bucket from past buckets at the same slot, an
  exponentially weighted mean per slot of the week and per slot of the day (by kind of day),
  smoothed over neighbouring slots when it is read;
* ``RobustLevel``: an exponentially weighted level whose updates are clipped (Huber), so one
  outlier moves it by a bounded amount while a lasting shift is followed;
* ``RollingSum``: exact sums over the last ``n`` values (dispersion and scale fits);
* ``SortedWindow``: the last ``n`` values kept sorted (exact quantiles by bisection);
* ``SerialCorrelation``: lag-1 autocorrelation of the standardised residuals, and how much it
  widens a running sum (the CUSUMs' increments are divided by it);
* ``cusum_h``: the CUSUM threshold for a target in-control run length.
"""

from __future__ import annotations

import math
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass, field

from monitor.anomaly.volume_state import (
    RobustLevelState,
    RollingSumState,
    SeasonalProfileState,
    SerialCorrelationState,
    SortedWindowState,
)

__all__ = [
    "RobustLevel",
    "RollingSum",
    "SeasonalProfile",
    "SerialCorrelation",
    "SortedWindow",
    "cusum_h",
]


def cusum_h(arl0: float, k: float = 0.5) -> float:
    """The one-sided CUSUM threshold (standard normal increments, reference ``k``) whose in-control
    run length is ``arl0`` (Siegmund's approximation, solved by bisection)."""

    def arl(h: float) -> float:
        b = h + 1.166
        return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)

    lo, hi = 0.0, 200.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if arl(mid) < arl0 else (lo, mid)
    return hi


@dataclass
class RollingSum:
    """Sums of ``a`` and ``b`` over the last ``n`` pairs, kept exactly by add-and-subtract (and
    recomputed now and then so floating-point drift cannot accumulate)."""

    n: int
    items: deque[tuple[float, float]] = field(default_factory=deque)
    a: float = 0.0
    b: float = 0.0
    _since: int = 0

    def add(self, a: float, b: float) -> None:
        self.items.append((a, b))
        self.a += a
        self.b += b
        if len(self.items) > self.n:
            oa, ob = self.items.popleft()
            self.a -= oa
            self.b -= ob
        self._since += 1
        if self._since >= 4 * self.n:
            self._since = 0
            self.a = math.fsum(x for x, _ in self.items)
            self.b = math.fsum(y for _, y in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def state(self) -> RollingSumState:
        return RollingSumState(list(self.items), self.a, self.b, self._since)

    def restore(self, state: RollingSumState) -> None:
        self.items = deque((a, b) for a, b in state.items)
        self.a, self.b, self._since = state.a, state.b, state.since


@dataclass
class SortedWindow:
    """The last ``n`` values, also kept sorted: a quantile is one index, an update one bisection
    (a C-level memmove of at most ``n`` pointers)."""

    n: int
    order: deque[float] = field(default_factory=deque)
    values: list[float] = field(default_factory=list)

    def add(self, x: float) -> None:
        self.order.append(x)
        insort(self.values, x)
        if len(self.order) > self.n:
            old = self.order.popleft()
            del self.values[bisect_left(self.values, old)]

    def quantile(self, q: float) -> float:
        v = self.values
        return v[min(len(v) - 1, max(0, int(q * len(v))))]

    def __len__(self) -> int:
        return len(self.values)

    def state(self) -> SortedWindowState:
        return SortedWindowState(list(self.order), list(self.values))

    def restore(self, state: SortedWindowState) -> None:
        self.order = deque(state.order)
        self.values = list(state.values)


@dataclass
class SerialCorrelation:
    """Lag-1 autocorrelation ``ρ`` of a standardised series, exponentially weighted over about
    ``memory`` values, and ``scale() = √((1+ρ)/(1−ρ))``: the factor by which positive serial
    correlation widens the spread of a running sum (the long-run variance of an AR(1) series).

    Why: a CUSUM's threshold is calibrated for independent increments. Real metrics (traffic
    sensors, request counts) have residuals that stay on one side of the baseline for a while, and
    their CUSUM drifts to the threshold on healthy data; dividing the increments by ``scale()``
    restores the calibration. ``ρ`` is shrunk by ``noise/√n`` (its standard error on independent
    data is about ``1/√n``) and floored at 0, so residuals that are in fact independent keep a
    factor of exactly 1 and lose no detection speed.
    """

    memory: int = 2000
    noise: float = 2.0
    min_n: int = 24
    n: int = 0
    _cross: float = 0.0
    _square: float = 0.0
    _prev: float | None = None

    def add(self, z: float) -> None:
        self.n += 1
        a = 1.0 / min(self.n, self.memory)
        self._square += a * (z * z - self._square)
        if self._prev is not None:
            self._cross += a * (z * self._prev - self._cross)
        self._prev = z

    def skip(self) -> None:
        """A value left out (flagged, or judged by another baseline): the next one has no
        predecessor to pair with."""
        self._prev = None

    def rho(self) -> float:
        if self.n < self.min_n or self._square <= 0.0:
            return 0.0
        shrunk = self._cross / self._square - self.noise / math.sqrt(min(self.n, self.memory))
        return min(max(shrunk, 0.0), 0.95)

    def scale(self) -> float:
        r = self.rho()
        return 1.0 if r <= 0.0 else math.sqrt((1.0 + r) / (1.0 - r))

    def state(self) -> SerialCorrelationState:
        return SerialCorrelationState(self.n, self._cross, self._square, self._prev)

    def restore(self, state: SerialCorrelationState) -> None:
        self.n, self._cross, self._square, self._prev = (
            state.n,
            state.cross,
            state.square,
            state.prev,
        )


@dataclass
class RobustLevel:
    """Exponentially weighted level and mean square residual of one-step predictions. An update
    moves the level by at most ``clip`` residual standard deviations, so a spike hardly moves it and
    a shift is followed within about ``1/alpha`` buckets (faster when ``follow`` is set)."""

    alpha: float
    clip: float = 2.5
    level: float | None = None
    mse: float = 0.0
    n: int = 0

    def residual(self, x: float) -> float | None:
        return None if self.level is None else x - self.level

    def update(self, x: float, follow: bool = False) -> None:
        if self.level is None:
            self.level = x
            return
        r = x - self.level
        self.n += 1
        a = max(self.alpha, 1.0 / self.n)
        sd = math.sqrt(self.mse) if self.n > 1 else abs(r)
        c = self.clip * sd if sd > 0 else abs(r)
        rc = r if follow else max(-c, min(c, r))
        self.level += a * rc
        self.mse += a * (min(r * r, (3.0 * sd) ** 2 if self.n > 5 else r * r) - self.mse)

    def state(self) -> RobustLevelState:
        return RobustLevelState(self.level, self.mse, self.n)

    def restore(self, state: RobustLevelState) -> None:
        self.level, self.mse, self.n = state.level, state.mse, state.n


@dataclass
class SeasonalProfile:
    """Exponentially weighted means per slot of the week and per slot of the day for weekdays and
    for weekends (never over all days: a profile mixing both kinds is wrong on each; until a kind
    has ``min_days`` days the level model judges). ``expected`` reads the most specific one that
    has enough days behind it (``min_weeks`` for the week, ``min_days`` for a kind of day), averaged
    over ``±w`` neighbouring slots: a smooth daily curve is estimated from many more events than one
    slot holds, which is what makes small sustained drops detectable at low rates (``w = 0`` keeps
    sharp steps of a square-wave profile)."""

    per_day: int
    bucket_seconds: float
    memory_weeks: int = 4
    memory_days: int = 14
    min_weeks: int = 3
    min_days: int = 2
    week: list[float] = field(init=False)
    week_n: list[int] = field(init=False)
    kind: list[list[float]] = field(init=False)
    kind_n: list[list[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.week = [0.0] * (7 * self.per_day)
        self.week_n = [0] * (7 * self.per_day)
        self.kind = [[0.0] * self.per_day, [0.0] * self.per_day]
        self.kind_n = [[0] * self.per_day, [0] * self.per_day]

    def slot(self, at: float) -> tuple[int, int]:
        """(day of week with Monday = 0, slot of the day)."""
        tod = int((at % 86400.0) // self.bucket_seconds) % self.per_day
        dow = int((at // 86400.0 + 3) % 7)  # 1970-01-01 was a Thursday
        return dow, tod

    @staticmethod
    def _window(
        means: list[float], counts: list[int], centre: int, w: int, day: int
    ) -> float | None:
        """Mean over ``centre ± w`` within the same day, the window shrunk symmetrically near
        midnight: weekly steps (weekday to weekend) happen there, and averaging across one would
        bias the slots next to it."""
        start = centre - centre % day
        w = min(w, centre - start, start + day - 1 - centre)
        if w <= 0:
            return means[centre] if counts[centre] else None
        m, c = means[centre - w : centre + w + 1], counts[centre - w : centre + w + 1]
        if 0 in c:
            used = [v for v, k in zip(m, c, strict=True) if k]
            return sum(used) / len(used) if used else None
        return sum(m) / len(m)

    def expected(self, at: float, w: int) -> tuple[float, str, float] | None:
        """(expected value, which profile, effective number of days behind it), averaged over
        ``±w`` slots."""
        dow, tod = self.slot(at)
        i = dow * self.per_day + tod
        n = self.week_n[i]
        if n >= self.min_weeks:
            v = self._window(self.week, self.week_n, i, w, self.per_day)
            if v is not None:
                return v, "day-of-week profile", float(min(n, self.memory_weeks))
        k = 1 if dow >= 5 else 0
        n = self.kind_n[k][tod]
        if n >= self.min_days:
            v = self._window(self.kind[k], self.kind_n[k], tod, w, self.per_day)
            if v is not None:
                name = "weekend profile" if k else "weekday profile"
                return v, name, float(min(n, self.memory_days))
        return None

    def update(self, at: float, x: float, clip: float = math.inf) -> None:
        """Learn ``x`` at its slot, moved to within ``clip`` of each table's current mean there (a
        flagged bucket teaches a bounded step: an isolated incident hardly moves the profile, a
        pattern that recurs every day is learned within days; an empty slot takes ``x`` as is)."""
        dow, tod = self.slot(at)
        i = dow * self.per_day + tod
        k = 1 if dow >= 5 else 0
        for means, counts, j, memory in (
            (self.week, self.week_n, i, self.memory_weeks),
            (self.kind[k], self.kind_n[k], tod, self.memory_days),
        ):
            counts[j] += 1
            step = x - means[j]
            if counts[j] > 1:
                step = -clip if step < -clip else clip if step > clip else step
            means[j] += step / min(counts[j], memory)

    def state(self) -> SeasonalProfileState:
        return SeasonalProfileState(
            list(self.week),
            list(self.week_n),
            [list(k) for k in self.kind],
            [list(k) for k in self.kind_n],
        )

    def restore(self, state: SeasonalProfileState) -> None:
        """The tables' sizes come from the check (slots per day): a mismatch is refused."""
        if len(state.week) != len(self.week) or [len(k) for k in state.kind] != [
            len(k) for k in self.kind
        ]:
            raise ValueError("seasonal profile of another bucket size")
        self.week, self.week_n = list(state.week), list(state.week_n)
        self.kind = [list(k) for k in state.kind]
        self.kind_n = [list(k) for k in state.kind_n]
