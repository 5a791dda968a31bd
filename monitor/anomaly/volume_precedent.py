"""Precedent test of the ``volume`` check for real-valued series: has this series ever looked like
this before, at any time scale?

Real-valued metrics (CPU %, bytes, latency, temperatures) rarely follow a distribution that a
z-score can be calibrated on: they are bimodal, heavy-tailed, full of recurring spikes (a nightly
job, a load balancer's health check) and of slow drifts. A residual model calls every recurring
spike an outlier, every day. The precedent test asks a weaker, distribution-free question instead:
is a feature of the last few buckets outside the whole range that feature has shown over the last
``memory`` buckets, by a margin that the history length makes unlikely by chance?

Features (all O(1) per bucket):

* the mean of the last ``w`` values for each window ``w`` in ``scales`` (a spike at ``w = 1``, a
  level shift or a change in spike density at larger ``w``);
* the mean of the last ``w`` day-over-day differences ``x_t − ref_t`` for ``w`` in ``day_scales``
  (contextual anomalies of a daily cycle: a missing daily jump, a flattened afternoon, a drop to
  a level that is normal at night but not at noon). ``ref_t`` is the median of the values at the
  same time of day on the last ``day_refs`` (3) days, not yesterday's value alone: with one
  reference day, an anomalous day that was not flagged bucket by bucket (the rest of a day-long
  incident after its alert) came back the next day as a "change" of the normal day against it,
  a second false alarm for one incident. The median of three ignores any one odd day; a lasting
  change of the daily shape becomes the reference after two days;
* the mean of the last ``w`` absolute steps ``|x_t − x_{t−1}|`` (a change of spread around an
  unchanged level: ``volume_variability``), when a ``Variability`` is given.

For each feature, the history is its values up to ``w`` buckets ago (no overlap with the current
window), kept as sliding-window minimum and maximum (monotone deques). The excess is

    r = max(f − max, min − f) / (margin · (max − min))

and the test's ratio is the largest excess over all features (``r ≥ 1`` is an alert).

**Margin from the false-alarm budget.** For ``n`` exchangeable values, the chance that the next
one is a new record is ``1/(n+1)``; with an exponential tail of scale β, the chance that it
exceeds the record by ``s·β`` is ``e^{−s}/(n+1)``, and half of a range of ``n`` such values spans
about ``β·ln n``. Consecutive means of a window ``w`` share ``w − 1`` inputs, so ``n`` of them hold
only about ``n/w`` independent ones: their range spans ``2·ln(n/w + 1)`` tail scales, and an
excess ``e`` (as a share of the range) is ``s = 2·ln(n/w + 1)·e`` tail scales (without this, a
12-hour mean over two weeks, 28 independent values, was judged as if it had 4,000).

**One budget for the family (``volume_calibration``).** A margin that gives each feature the
whole per-bucket budget ``α`` spends it some twenty times (ten features, two sides): clean
simulated series raised 5 to 7 false alarms per 30 days instead of 1. The threshold ``s*`` is
therefore set per feature by the series' own records: the family breaks some range with chance
``c/(n+1)`` per bucket (``c``, the independent one-sided tests the correlated features are worth,
measured online), each feature's excess beyond its range is exponential with a mean measured per
feature, and each feature may alarm with chance ``α/c``: ``s*`` is the exponential quantile at
``α·(n + w)/c``. The margin is
``max(min_margin, s*/(2·ln(n/w + 1)))`` of the range.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.anomaly.volume_calibration import ExcessTail, RecordRate
from monitor.anomaly.volume_resolution import Resolution
from monitor.anomaly.volume_state import (
    PrecedentFeatureState,
    PrecedentTestState,
    SlidingExtremesState,
)

if TYPE_CHECKING:
    from monitor.anomaly.volume_variability import Variability

__all__ = ["PrecedentFeature", "PrecedentTest", "SlidingExtremes"]


@dataclass
class SlidingExtremes:
    """Minimum and maximum of the values pushed with index ``i > newest − memory`` (monotone
    deques: O(1) amortised per push)."""

    memory: int
    _max: deque[tuple[int, float]] = field(default_factory=deque)
    _min: deque[tuple[int, float]] = field(default_factory=deque)
    count: int = 0

    def push(self, i: int, v: float) -> None:
        mx, mn = self._max, self._min
        while mx and mx[-1][1] <= v:
            mx.pop()
        mx.append((i, v))
        while mn and mn[-1][1] >= v:
            mn.pop()
        mn.append((i, v))
        edge = i - self.memory
        while mx[0][0] <= edge:
            mx.popleft()
        while mn[0][0] <= edge:
            mn.popleft()
        self.count = min(self.count + 1, self.memory)

    @property
    def high(self) -> float:
        return self._max[0][1]

    @property
    def low(self) -> float:
        return self._min[0][1]

    def state(self) -> SlidingExtremesState:
        return SlidingExtremesState(list(self._max), list(self._min), self.count)

    def restore(self, state: SlidingExtremesState) -> None:
        self._max = deque((i, v) for i, v in state.max)
        self._min = deque((i, v) for i, v in state.min)
        self.count = state.count


@dataclass
class PrecedentFeature:
    """The running mean of the last ``w`` inputs, and the extremes of its own past values (those
    at least ``w`` buckets old, so the current window never judges itself)."""

    name: str
    w: int
    memory: int
    _window: deque[float] = field(default_factory=deque)
    _sum: float = 0.0
    _pending: deque[tuple[int, float]] = field(default_factory=deque)
    extremes: SlidingExtremes = field(init=False)
    tail: ExcessTail = field(init=False)
    _adds: int = 0

    def __post_init__(self) -> None:
        self.extremes = SlidingExtremes(self.memory)
        self.tail = ExcessTail()

    def amend_last(self, v: float) -> None:
        """Replace the newest input by ``v`` (a flagged bucket's input, taken back)."""
        if self._window:
            self._sum += v - self._window[-1]
            self._window[-1] = v

    def add(self, i: int, v: float) -> float | None:
        """Take input ``v`` at bucket ``i``; the feature's current value, once ``w`` inputs are in."""
        self._window.append(v)
        self._sum += v
        if len(self._window) > self.w:
            self._sum -= self._window.popleft()
        self._adds += 1
        if self._adds % (64 * self.w + 64) == 0:
            self._sum = math.fsum(self._window)  # no floating-point drift
        if len(self._window) < self.w:
            return None
        f = self._sum / self.w
        pend = self._pending
        while pend and pend[0][0] <= i - self.w:
            self.extremes.push(*pend.popleft())
        pend.append((i, f))
        return f

    def state(self) -> PrecedentFeatureState:
        return PrecedentFeatureState(
            window=list(self._window),
            sum=self._sum,
            pending=list(self._pending),
            extremes=self.extremes.state(),
            tail=self.tail.state(),
            adds=self._adds,
        )

    def restore(self, state: PrecedentFeatureState) -> None:
        self._window = deque(state.window)
        self._sum = state.sum
        self._pending = deque((i, v) for i, v in state.pending)
        self.extremes.restore(state.extremes)
        self.tail.restore(state.tail)
        self._adds = state.adds


@dataclass
class PrecedentTest:
    """The precedent test over value, day-over-day-difference and (with ``variability``) spread
    features; ``observe`` gives the largest excess ratio (and the feature that has it) before
    learning the bucket."""

    per_day: int
    alpha: float
    scales: tuple[int, ...] = (1, 6, 36, 144)
    day_scales: tuple[int, ...] = (1, 6, 36)
    memory: int = 4032
    min_history: int = 48
    min_margin: float = 0.05
    variability: Variability | None = None
    day_refs: int = 3
    _day_ago: deque[float] = field(default_factory=deque)
    """The last ``day_refs`` days of values (flagged ones replaced by their reference)."""
    calibration_memory: float = 16128.0
    """Buckets over which the record rate and the excess tails are remembered (``RecordRate``)."""
    quanta: float = 2.0
    """Grid steps of the series' resolution (``volume_resolution``) forgiven past a range; 0 off."""
    resolution: Resolution = field(default_factory=Resolution)
    per_window: bool = False
    min_levels: float = 10.0
    _ref: float | None = None
    _i: int = 0

    def __post_init__(self) -> None:
        self.values = [PrecedentFeature(f"mean of {w}", w, self.memory) for w in self.scales]
        self.diffs = [
            PrecedentFeature(f"day-over-day change, mean of {w}", w, self.memory)
            for w in (self.day_scales if self.per_day > 1 else ())
        ]
        spread = self.variability.features if self.variability is not None else []
        self.records = RecordRate(
            tests=2 * (len(self.values) + len(self.diffs) + len(spread)),
            memory=self.calibration_memory,
        )

    def exclude_last(self) -> None:
        """The bucket just observed was anomalous: the next days' day-over-day changes at this slot
        are taken against the reference it had today, not against the anomaly (a spike today must
        not come back as a drop tomorrow); its step leaves the variability windows."""
        if self.diffs and self._day_ago:
            self._day_ago[-1] = self._ref if self._ref is not None else self._day_ago[-1]
        if self.variability is not None:
            self.variability.exclude_last()

    def margin(self, n: int, w: int = 1, tail: ExcessTail | None = None) -> float:
        """Margin as a share of the history's range for ``n`` past values of a mean over ``w``
        buckets (about ``n / w`` independent ones) whose record excesses follow ``tail`` (the
        exponential of the range model when not given): the family's threshold, module
        docstring."""
        alpha = self.alpha / self.records.rate()
        return self._margin(n, w, tail or ExcessTail(), alpha, self._scales(n, w))

    def _margin(self, n: int, w: int, tail: ExcessTail, alpha: float, scales: float) -> float:
        """``margin`` with the family's per-feature ``alpha`` and ``_scales(n, w)`` given."""
        s = tail.quantile(alpha * (n + w))
        return max(self.min_margin, s / scales)

    @staticmethod
    def _scales(n: int, w: int) -> float:
        """Tail scales spanned by the range of ``n`` past means over ``w`` buckets."""
        return 2.0 * math.log(n / w + 1)

    @staticmethod
    def _excess(ext: SlidingExtremes, f: float, quantum: float = 0.0, quanta: float = 0.0) -> float:
        """How far ``f`` is outside the history's range, as a share of that range (0 inside).

        With the series' resolution ``quantum`` (``volume_resolution``) the excess is counted
        from ``quanta`` grid steps past the range, and the range is at least one step wide (a
        quiet quantised series has a range of one step or none)."""
        hi, lo = ext.high, ext.low
        over = f - hi if f > hi else lo - f if f < lo else 0.0
        allowance = quanta * quantum
        if over <= allowance:
            return 0.0
        # A flat history (a constant series) still has a scale: a relative one.
        span = max(hi - lo, quantum, 1e-9 * max(abs(hi), abs(lo)), 1e-12)
        return (over - allowance) / span

    def _reference(self, day: deque[float]) -> float:
        """Median of the values one, two, … ``day_refs`` days ago (those there are)."""
        d = self.per_day
        refs = sorted(day[-j * d] for j in range(1, min(self.day_refs, len(day) // d) + 1))
        m = len(refs)
        return refs[m // 2] if m % 2 else 0.5 * (refs[m // 2 - 1] + refs[m // 2])

    def _resolution(self) -> float:
        """The series' grid step, when it is a resolution: the values seen span at least
        ``min_levels`` steps of it. A series of two or three levels (0/20 spikes, a square wave)
        is a coded quantity whose step is the signal itself, not a rounding of it."""
        q = self.resolution.quantum()
        ext = self.values[0].extremes
        if q <= 0.0 or not ext.count or ext.high - ext.low < self.min_levels * q:
            return 0.0
        return q

    def observe(self, x: float, allowance: bool = True) -> tuple[float, str]:
        """(largest excess ratio over the features with enough history, that feature's name).

        ``allowance``: forgive ``quanta`` steps of the series' measured resolution (the volume
        check passes False for counts, whose unit step its count model already knows)."""
        i = self._i
        self._i += 1
        quantum = -1.0  # not read yet: only an excess past a range needs it
        best, name = 0.0, ""
        groups: list[tuple[list[PrecedentFeature], float]] = [(self.values, x)]
        if self.diffs:
            day = self._day_ago
            if len(day) >= self.per_day:
                self._ref = self._reference(day)
                groups.append((self.diffs, x - self._ref))
            else:
                self._ref = None
            day.append(x)
            if len(day) > self.day_refs * self.per_day:
                day.popleft()
        if self.variability is not None:
            step = self.variability.step(x)
            if step is not None:
                groups.append((self.variability.features, step))
        record, count = False, 0
        alpha = self.alpha / self.records.rate()
        for feats, v in groups:
            for feat in feats:
                f = feat.add(i, v)
                if f is None:
                    continue
                n = feat.extremes.count
                if n < self.min_history:
                    continue
                scales = self._scales(n, feat.w)
                m = self._margin(n, feat.w, feat.tail, alpha, scales)
                if not count:
                    count = n + feat.w
                e = self._excess(feat.extremes, f)
                if e > 0.0 and allowance and self.quanta > 0.0:
                    if quantum < 0.0:
                        quantum = self._resolution()
                    q = quantum / feat.w if self.per_window else quantum
                    e = self._excess(feat.extremes, f, q, self.quanta)
                feat.tail.add(e * scales, m * scales)
                if e <= 0.0:
                    continue
                record = True
                r = e / m
                if r > best:
                    best, name = r, feat.name
        if count:
            self.records.add(record, count)
        self.resolution.add(x)
        return best, name

    def state(self) -> PrecedentTestState:
        return PrecedentTestState(
            values=[f.state() for f in self.values],
            diffs=[f.state() for f in self.diffs],
            variability=None if self.variability is None else self.variability.state(),
            records=self.records.state(),
            day_ago=list(self._day_ago),
            ref=self._ref,
            i=self._i,
            # A test unpickled from a v0 checkpoint predates the resolution: none recorded.
            resolution=r.state() if (r := getattr(self, "resolution", None)) else None,
        )

    def restore(self, state: PrecedentTestState) -> None:
        """The features themselves come from the check's scales: a different set is refused."""
        if (state.variability is None) != (self.variability is None):
            raise ValueError("precedent test with(out) variability features")
        for feat, saved in zip(self.values, state.values, strict=True):
            feat.restore(saved)
        for feat, saved in zip(self.diffs, state.diffs, strict=True):
            feat.restore(saved)
        if self.variability is not None and state.variability is not None:
            self.variability.restore(state.variability)
        self.records.restore(state.records)
        self._day_ago = deque(state.day_ago)
        self._ref, self._i = state.ref, state.i
        if state.resolution is not None:
            self.resolution.restore(state.resolution)
