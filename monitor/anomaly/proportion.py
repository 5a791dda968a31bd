"""A share of events against its learned baseline: ``rejections`` (rejected / total) and
``identity`` (merged / total, or matched / total) per closed bucket.

Use it for any check that asks "is this share of events unusual?". Each bucket is an exact binomial
test of ``hits`` out of ``total`` at the baseline share, at the per-bucket significance level that
spends the check's false-alarm budget (``CheckDef.alpha``). Rejections only alarm on increases (fewer
rejections is not an incident); identity alarms both ways (a merge share that collapses is as
wrong as one that doubles). The baseline is learned during the warm-up and keeps learning, with
a 7-day half-life, from buckets that did not alarm, so an incident does not become the new normal.
``mix.py`` is the same idea for a whole categorical distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.stats import binom

from monitor.anomaly.detector_state import ProportionState
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Score, clamp01

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

    @property
    def baseline(self) -> float:
        """The learned share (with the prior pseudo-count)."""
        return (self._hits + PRIOR_HITS) / (self._total + 2 * PRIOR_HITS)

    def state(self) -> ProportionState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        return ProportionState(self._hits, self._total, self._since)

    def restore(self, state: ProportionState) -> None:
        if not isinstance(state, ProportionState):
            raise TypeError(f"not a proportion detector's state: {type(state).__name__}")
        self._hits, self._total, self._since = state.hits, state.total, state.since

    def _learn(self, point: Proportion) -> None:
        self._hits = self._hits * self._decay + point.hits
        self._total = self._total * self._decay + point.total

    def p_value(self, point: Proportion) -> float:
        """Exact binomial p-value of ``point`` under the baseline share, in this check's direction."""
        share, n, k = self.baseline, point.total, point.hits
        upper = float(binom.sf(k - 1, n, share))  # P(X >= k)
        if not self.two_sided:
            return upper
        lower = float(binom.cdf(k, n, share))  # P(X <= k)
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
            self._learn(point)
            return Score(at, 0.0, CheckState.LEARNING, evidence=evidence)
        if point.total < self.check.min_events:
            self._learn(point)
            evidence["reason"] = f"fewer than min_events ({self.check.min_events}) events"
            return Score(at, 0.0, CheckState.OK, evidence=evidence)
        p = self.p_value(point)
        state = state_for(p, self.alpha)
        evidence |= {
            "expected": point.total * self.baseline,
            "p_value": p,
            "test": "binomial, two-sided" if self.two_sided else "binomial, increase",
        }
        alert = state is CheckState.FIRING
        if not alert:
            self._learn(point)
        return Score(at, surprise(p, self.alpha), state, alert, evidence)


__all__ = ["Proportion", "ProportionDetector", "state_for", "surprise"]
