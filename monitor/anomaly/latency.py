"""Latency shift: a hop's (or an edge's) latency quantile against its own learned baseline, and
where along the path an end-to-end delay sits ("of the 18 s, 15 s are at identity").

Per bucket the input is the bucket's latency sketch. The baseline is the median of the quantile over
the warm-up buckets and its spread the MAD, both on a log scale (latencies are multiplicative); a
bucket alarms when its quantile is above the baseline by more than the per-bucket significance
allows, and by at least ``min_shift`` seconds so a 2 ms wobble of a 1 ms hop never pages.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

from monitor.anomaly.detector_state import LatencyState
from monitor.anomaly.model import CheckDef, CheckState, Score, clamp01
from monitor.ledger.sketch import LatencySketch

_MAD_TO_SIGMA = 1.4826
_FLOOR = 1e-3  # seconds; log of anything below is taken at 1 ms


class LatencyDetector:
    def __init__(self, check: CheckDef, bucket_seconds: float) -> None:
        self.check = check
        self.quantile = float(check.params.get("quantile", 0.95))
        self.min_shift = float(check.params.get("min_shift_seconds", 1.0))
        self.z = float(norm.isf(check.alpha(bucket_seconds)))
        self.warmup_buckets = max(10, int(check.warmup / bucket_seconds))
        self.history: deque[float] = deque(maxlen=max(self.warmup_buckets, 7 * 1440))
        self.started: float | None = None

    def state(self) -> LatencyState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        return LatencyState(list(self.history), self.started)

    def restore(self, state: LatencyState) -> None:
        if not isinstance(state, LatencyState):
            raise TypeError(f"not a latency detector's state: {type(state).__name__}")
        self.history = deque(state.history, maxlen=self.history.maxlen)
        self.started = state.started

    def baseline(self) -> tuple[float, float] | None:
        """(median, sigma) of the log quantile over the clean history, or None while learning."""
        if len(self.history) < self.warmup_buckets:
            return None
        logs = np.fromiter(self.history, dtype=np.float64)
        med = float(np.median(logs))
        sigma = max(_MAD_TO_SIGMA * float(np.median(np.abs(logs - med))), 0.05)
        return med, sigma

    def update(self, at: float, point: LatencySketch) -> Score:
        value = point.quantile(self.quantile) if point.count >= self.check.min_events else None
        base = self.baseline()
        if value is None:
            state = CheckState.LEARNING if base is None else CheckState.OK
            return Score(at, 0.0, state, evidence={"reason": "too few events in the bucket"})
        log_value = math.log(max(value, _FLOOR))
        if base is None:
            self.history.append(log_value)
            return Score(at, 0.0, CheckState.LEARNING, evidence={"observed": value})
        med, sigma = base
        z = (log_value - med) / sigma
        expected = math.exp(med)
        alert = z > self.z and value - expected >= self.min_shift
        if not alert:
            self.history.append(log_value)  # flagged buckets never train the baseline
        evidence = {
            "quantile": self.quantile,
            "observed_seconds": round(value, 6),
            "expected_seconds": round(expected, 6),
            "z": round(z, 3),
            "threshold_z": round(self.z, 3),
            "baseline_buckets": len(self.history),
        }
        state = CheckState.FIRING if alert else CheckState.OK
        return Score(at, clamp01(float(norm.cdf(z)) if z > 0 else 0.0), state, alert, evidence)


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
