"""A share of events against its learned baseline: ``rejections`` (rejected / total) and
``identity`` (merged / total, or matched / total) per closed bucket.

Use it for any check that asks "is this share of events unusual?". Each bucket is an exact binomial
test of ``hits`` out of ``total`` at the baseline share, at the per-bucket significance level that
spends the check's false-alarm budget (``CheckDef.alpha``). Rejections only alarm on increases (fewer
rejections is not an incident); identity alarms both ways (a merge share that collapses is as
wrong as one that doubles). The baseline is learned during the warm-up and keeps learning, with
a 7-day half-life, from buckets that did not alarm, so an incident does not become the new normal.
``mix.py`` is the same idea for a whole categorical distribution.

The binomial is exact only for events that each take the share independently; a real merge or
rejection share drifts over the day and comes in bursts (over-dispersion), which no single-bucket
test knows. So the p-value is read on the budget's scale (``tail_threshold.p_value_ratio``) and the
level actually used is the series' own: ``alpha ** t`` with ``t`` the per-series tail calibration
of ``tail_threshold`` (the volume check's; the last 14 days of buckets, seeded with the second half
of the warm-up), ``t = 1`` where the binomial fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import bdtr, bdtrc

from monitor.anomaly import tail_threshold
from monitor.anomaly.detector_state import ProportionState
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Score, clamp01
from monitor.anomaly.tail_threshold import TailThreshold, p_value_ratio

BASELINE_HALF_LIFE = 7 * 86400.0
PRIOR_HITS = 0.5
"""Jeffreys-style pseudo-count, so a baseline of zero rejections does not make one rejection
impossible (p = 0) under the baseline."""


def surprise(p_value: float, alpha: float) -> float:
    """A p-value as a score in [0, 1] on a log scale: 0.5 exactly at the alarm threshold
    ``alpha``, 1 at ``alpha²``; comparable across checks with different budgets."""
    if p_value >= 1.0 or alpha >= 1.0:
        return 0.0
    if p_value <= 0.0:
        return 1.0
    return clamp01(math.log(p_value) / (2.0 * math.log(alpha)))


def state_for(p_value: float, alpha: float) -> CheckState:
    """``firing`` below ``alpha``; ``warn`` half way there on a log scale (below ``√alpha``)."""
    if p_value < alpha:
        return CheckState.FIRING
    if p_value < math.sqrt(alpha):
        return CheckState.WARN
    return CheckState.OK


def calibrated_alpha(calibration: TailThreshold, alpha: float) -> float:
    """The per-bucket level in use: ``alpha`` raised to the series' calibrated threshold."""
    return float(alpha**calibration.threshold)


def calibrate_warmup(
    calibration: TailThreshold, at: float, since: float, warmup: float, p_value: float, alpha: float
) -> None:
    """The second half of a warm-up, scored against the baseline learned so far, seeds the
    series' own threshold (the first half's baseline is too young to say anything)."""
    if at >= since + warmup / 2:
        calibration.add(p_value_ratio(p_value, alpha))


@dataclass(frozen=True)
class Proportion:
    """One bucket: ``hits`` of ``total`` events (rejected of seen, merged of resolved)."""

    hits: int
    total: int


class ProportionDetector:
    """One series of a ``rejections`` or ``identity`` check; ``update`` once per closed bucket."""

    def __init__(self, check: CheckDef, bucket_seconds: float) -> None:
        if check.kind not in (CheckKind.REJECTIONS, CheckKind.IDENTITY):
            raise ValueError(
                f"a proportion detector serves rejections and identity, not {check.kind}"
            )
        self.check = check
        self.bucket_seconds = bucket_seconds
        self.alpha = check.alpha(bucket_seconds)
        self.two_sided = check.kind is CheckKind.IDENTITY
        self._decay = 0.5 ** (bucket_seconds / BASELINE_HALF_LIFE)
        self._hits = 0.0
        self._total = 0.0
        self._since: float | None = None
        self.calibration = tail_threshold.for_check(check, bucket_seconds)

    @property
    def baseline(self) -> float:
        """The learned share (with the prior pseudo-count)."""
        return (self._hits + PRIOR_HITS) / (self._total + 2 * PRIOR_HITS)

    def state(self) -> ProportionState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        # A detector unpickled from a v0 checkpoint predates the calibration: none recorded.
        c = getattr(self, "calibration", None)
        return ProportionState(self._hits, self._total, self._since, c.state() if c else None)

    def restore(self, state: ProportionState) -> None:
        if not isinstance(state, ProportionState):
            raise TypeError(f"not a proportion detector's state: {type(state).__name__}")
        self._hits, self._total, self._since = state.hits, state.total, state.since
        if state.calibration is not None:
            self.calibration.restore(state.calibration)

    def _learn(self, point: Proportion) -> None:
        self._hits = self._hits * self._decay + point.hits
        self._total = self._total * self._decay + point.total

    def p_value(self, point: Proportion) -> float:
        """Exact binomial p-value of ``point`` under the baseline share, in this check's direction."""
        share, n, k = self.baseline, point.total, point.hits
        # scipy.stats.binom's sf and cdf, as the scalar functions they call (microseconds)
        upper = 1.0 if k <= 0 else float(bdtrc(k - 1, n, share))  # P(X >= k)
        if not self.two_sided:
            return upper
        lower = float(bdtr(k, n, share))  # P(X <= k)
        return min(1.0, 2.0 * min(upper, lower))

    def update(self, at: float, point: Proportion | tuple[int, int]) -> Score:
        if not isinstance(point, Proportion):
            point = Proportion(*point)
        if self._since is None:
            self._since = at
        evidence: dict[str, object] = {
            "observed": point.hits,
            "total": point.total,
            "observed_share": point.hits / point.total if point.total else None,
            "expected_share": self.baseline,
            "baseline_events": round(self._total),
            "baseline_since": self._since,
            "alpha": self.alpha,
        }
        warming = at < self._since + self.check.warmup or self._total < self.check.min_events
        if warming:
            if point.total >= self.check.min_events and self._total >= self.check.min_events:
                p = self.p_value(point)
                calibrate_warmup(
                    self.calibration, at, self._since, self.check.warmup, p, self.alpha
                )
            self._learn(point)
            return Score(at, 0.0, CheckState.LEARNING, evidence=evidence)
        if point.total < self.check.min_events:
            self._learn(point)
            evidence["reason"] = f"fewer than min_events ({self.check.min_events}) events"
            return Score(at, 0.0, CheckState.OK, evidence=evidence)
        p = self.p_value(point)
        alpha = calibrated_alpha(self.calibration, self.alpha)
        self.calibration.add(p_value_ratio(p, self.alpha))
        state = state_for(p, alpha)
        evidence |= {
            "expected": point.total * self.baseline,
            "p_value": p,
            "test": "binomial, two-sided" if self.two_sided else "binomial, increase",
            **self.calibration.describe(),
            "alpha_in_use": alpha,
        }
        alert = state is CheckState.FIRING
        if not alert:
            self._learn(point)
        return Score(at, surprise(p, alpha), state, alert, evidence)


__all__ = [
    "Proportion",
    "ProportionDetector",
    "calibrate_warmup",
    "calibrated_alpha",
    "state_for",
    "surprise",
]
