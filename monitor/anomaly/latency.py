"""Latency shift: a hop's (or an edge's) latency quantile against its own learned baseline, and
where along the path an end-to-end delay sits ("of the 18 s, 15 s are at identity").

Per bucket the input is the bucket's latency sketch. The question "is this bucket's p99 higher
than usual?" is asked as "did more of this bucket's events exceed the usual p99 than chance
allows?": a reference sketch of the latencies of clean buckets (DDSketch bins, decayed with a
7-day half-life) gives the level ``L`` that a share ``π ≈ 1 − quantile`` of events exceed, and the
bucket's ``k`` of ``n`` events above ``L`` are tested as Binomial(n, π) (exact, ``scipy.special``).
That is what the bucket's quantile being high means, and it knows the bucket's size: the p99 of
60 events is their maximum, which one slow event in ten thousand moves. The z-score of the log
quantile against the median of past buckets' quantiles, used before, did not: on the simulator's
identity hop (100 events/min, lognormal hop latencies) it crossed its normal threshold about once
a day, at night, when the "p99" is the maximum of a few dozen events (28 alarms in 30 days).

The p-value is read on the budget's scale and the level in use is the series' own, calibrated by
``tail_threshold`` as the volume check's (seeded with the second half of the warm-up), for
latencies that drift with load or come in bursts. A bucket alarms only when its quantile is also
at least ``min_shift_seconds`` above the typical bucket's (the median of the recent buckets'
quantiles), so a 2 ms wobble of a 1 ms hop never pages.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.special import bdtrc

from monitor.anomaly import tail_threshold
from monitor.anomaly.detector_state import LatencyState
from monitor.anomaly.model import CheckDef, CheckState, Score
from monitor.anomaly.proportion import (
    BASELINE_HALF_LIFE,
    calibrated_alpha,
    state_for,
    surprise,
)
from monitor.anomaly.tail_threshold import p_value_ratio
from monitor.ledger.sketch import LatencySketch

_FLOOR = 1e-3  # seconds; log of anything below is taken at 1 ms


@dataclass
class Reference:
    """Latencies of the clean buckets as sketch bins, exponentially decayed (``half_life`` in
    seconds): new weights are scaled up by ``2^((at − origin) / half_life)`` instead of decaying
    every old bin each bucket."""

    half_life: float
    zero: float = 0.0
    bins: dict[int, float] = field(default_factory=dict)
    origin: float | None = None

    def add(self, at: float, sketch: LatencySketch) -> None:
        if self.origin is None:
            self.origin = at
        scale = 2.0 ** ((at - self.origin) / self.half_life)
        if scale > 1e100:  # move the origin: everything shrinks by the same factor
            self.zero /= scale
            self.bins = {k: w / scale for k, w in self.bins.items()}
            self.origin, scale = at, 1.0
        zero, pairs = sketch.bins()
        self.zero += zero * scale
        for key, weight in pairs:
            self.bins[key] = self.bins.get(key, 0.0) + weight * scale

    def level(self, quantile: float) -> tuple[int, float] | None:
        """(bin key ``K``, share ``π`` of the reference above it): ``K`` holds the reference's
        ``quantile``, so ``π <= 1 − quantile``; None while there is nothing above zero."""
        total = self.zero + sum(self.bins.values())
        if total <= 0 or not self.bins:
            return None
        below = self.zero
        for key in sorted(self.bins):
            below += self.bins[key]
            if below >= quantile * total:
                return key, max(total - below, 0.0) / total
        return None


class LatencyDetector:
    def __init__(self, check: CheckDef, bucket_seconds: float) -> None:
        self.check = check
        self.quantile = float(check.params.get("quantile", 0.95))
        self.min_shift = float(check.params.get("min_shift_seconds", 1.0))
        self.alpha = check.alpha(bucket_seconds)
        self.warmup_buckets = max(10, int(check.warmup / bucket_seconds))
        self.history: deque[float] = deque(maxlen=max(self.warmup_buckets, 7 * 1440))
        self.started: float | None = None
        self.reference = Reference(BASELINE_HALF_LIFE)
        self.calibration = tail_threshold.for_check(check, bucket_seconds)

    def state(self) -> LatencyState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        # A detector unpickled from a v0 checkpoint has neither: the reference is learned again.
        ref = getattr(self, "reference", None) or Reference(BASELINE_HALF_LIFE)
        c = getattr(self, "calibration", None)
        return LatencyState(
            list(self.history),
            self.started,
            c.state() if c else None,
            ref.zero,
            [[k, w] for k, w in ref.bins.items()],
            ref.origin,
        )

    def restore(self, state: LatencyState) -> None:
        if not isinstance(state, LatencyState):
            raise TypeError(f"not a latency detector's state: {type(state).__name__}")
        self.history = deque(state.history, maxlen=self.history.maxlen)
        self.started = state.started
        if state.calibration is not None:
            self.calibration.restore(state.calibration)
        self.reference = Reference(
            BASELINE_HALF_LIFE,
            state.reference_zero,
            {int(k): float(w) for k, w in state.reference_bins},
            state.reference_origin,
        )

    def baseline(self) -> float | None:
        """The typical bucket's quantile (median over the clean history), None while learning."""
        if len(self.history) < self.warmup_buckets:
            return None
        return math.exp(float(np.median(np.fromiter(self.history, dtype=np.float64))))

    def p_value(self, point: LatencySketch) -> tuple[float, int, int, float]:
        """(p, events above the reference level, events, π): exact binomial, increases only."""
        level = self.reference.level(self.quantile)
        if level is None:
            return 1.0, 0, point.count, 0.0
        key, share = level
        zero, pairs = point.bins()
        n = round(zero + sum(w for _, w in pairs))
        k = round(sum(w for b, w in pairs if b > key))
        if k <= 0:
            return 1.0, k, n, share
        return float(bdtrc(k - 1, n, share)), k, n, share

    def update(self, at: float, point: LatencySketch) -> Score:
        value = point.quantile(self.quantile) if point.count >= self.check.min_events else None
        expected = self.baseline()
        if value is None:
            state = CheckState.LEARNING if expected is None else CheckState.OK
            return Score(at, 0.0, state, evidence={"reason": "too few events in the bucket"})
        log_value = math.log(max(value, _FLOOR))
        if expected is None:
            if len(self.history) >= self.warmup_buckets / 2:
                # The second half of the warm-up, judged against the reference learned so far,
                # seeds the series' own threshold.
                self.calibration.add(p_value_ratio(self.p_value(point)[0], self.alpha))
            self.history.append(log_value)
            self.reference.add(at, point)
            return Score(at, 0.0, CheckState.LEARNING, evidence={"observed": value})
        p, above, n, share = self.p_value(point)
        alpha = calibrated_alpha(self.calibration, self.alpha)
        ratio = p_value_ratio(p, self.alpha)
        self.calibration.add(ratio)
        state = state_for(p, alpha)
        if state is CheckState.FIRING and value - expected < self.min_shift:
            state = CheckState.WARN
        alert = state is CheckState.FIRING
        if not alert:
            self.history.append(log_value)  # flagged buckets never train the baseline
            self.reference.add(at, point)
        evidence = {
            "quantile": self.quantile,
            "observed_seconds": round(value, 6),
            "expected_seconds": round(expected, 6),
            "events": n,
            "events_above_reference": above,
            "expected_above_reference": round(n * share, 3),
            "p_value": p,
            "test": "binomial, events above the reference quantile",
            "baseline_buckets": len(self.history),
            **self.calibration.describe(),
            "statistic": ratio,
            "alpha_in_use": alpha,
        }
        return Score(at, surprise(p, alpha), state, alert, evidence)


@dataclass(frozen=True)
class Attribution:
    """How much of an end-to-end latency shift each hop on the path adds."""

    total_seconds: float
    by_hop: tuple[tuple[str, float], ...]

    def summary(self) -> str:
        if not self.by_hop:
            return "no latency shift along the path"
        hop, seconds = max(self.by_hop, key=lambda kv: kv[1])
        return f"of the {_secs(self.total_seconds)}, {_secs(seconds)} are at {hop}"


def attribute(
    path: Sequence[str], baseline: Mapping[str, float], current: Mapping[str, float]
) -> Attribution:
    """Split the shift of the last hop's cumulative latency (observed − event time) into hops.

    Each hop's latency is cumulative from the event's creation, so a hop's own share of the
    shift is its cumulative shift minus the previous hop's.
    """
    shares: list[tuple[str, float]] = []
    previous = 0.0
    for hop in path:
        if hop not in baseline or hop not in current:
            continue
        shift = current[hop] - baseline[hop]
        shares.append((hop, shift - previous))
        previous = shift
    return Attribution(previous, tuple(shares))


def _secs(x: float) -> str:
    return f"{x:.0f} s" if abs(x) >= 10 else f"{x:.1f} s"
