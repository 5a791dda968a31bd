"""A categorical attribute's distribution per bucket against its baseline: the ``mix`` check
(consent share, region mix, schema versions).

Use it when the question is "did the composition change?" rather than "did the count change?"
(that is ``volume``). Each closed bucket's category counts are compared with the baseline shares by
a chi-square goodness-of-fit test (``scipy.stats.chisquare``) at the check's per-bucket level.
Cells expected to hold fewer than 5 events are pooled (Cochran's rule) so rare categories do not
make the test anti-conservative; a category never seen in the baseline lands in that pool. The
evidence names the category that moved most. The baseline learns like ``proportion.py``'s.
"""

from __future__ import annotations

from collections.abc import Mapping

from scipy.stats import chisquare

from monitor.anomaly.detector_state import MixState
from monitor.anomaly.model import CheckDef, CheckState, Score
from monitor.anomaly.proportion import BASELINE_HALF_LIFE, PRIOR_HITS, state_for, surprise

MIN_EXPECTED = 5.0
POOLED = "(pooled)"


def pool(observed: list[float], expected: list[float]) -> tuple[list[float], list[float], int]:
    """Cells with expected counts below ``MIN_EXPECTED`` merged into one; while that pool is still
    too small it absorbs the smallest remaining cell. Returns the cells and how many were pooled."""
    keep = [i for i, e in enumerate(expected) if e >= MIN_EXPECTED]
    small = [i for i, e in enumerate(expected) if e < MIN_EXPECTED]
    keep.sort(key=lambda i: expected[i])
    while small and sum(expected[i] for i in small) < MIN_EXPECTED and keep:
        small.append(keep.pop(0))
    obs = [observed[i] for i in keep]
    exp = [expected[i] for i in keep]
    if small:
        obs.append(sum(observed[i] for i in small))
        exp.append(sum(expected[i] for i in small))
    return obs, exp, len(small)


class MixDetector:
    """One series of a ``mix`` check; ``update`` takes a bucket's ``{category: count}``."""

    def __init__(self, check: CheckDef, bucket_seconds: float) -> None:
        self.check = check
        self.attribute = str(check.params.get("attribute", ""))
        self.alpha = check.alpha(bucket_seconds)
        self._decay = 0.5 ** (bucket_seconds / BASELINE_HALF_LIFE)
        self._counts: dict[str, float] = {}
        self._since: float | None = None

    def state(self) -> MixState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        return MixState(dict(self._counts), self._since)

    def restore(self, state: MixState) -> None:
        if not isinstance(state, MixState):
            raise TypeError(f"not a mix detector's state: {type(state).__name__}")
        self._counts, self._since = dict(state.counts), state.since

    def baseline(self, categories: list[str]) -> list[float]:
        """Baseline shares of ``categories`` (with the prior pseudo-count, so they sum to 1)."""
        weights = [self._counts.get(c, 0.0) + PRIOR_HITS for c in categories]
        total = sum(weights)
        return [w / total for w in weights]

    def _learn(self, counts: Mapping[str, int]) -> None:
        for key in self._counts:
            self._counts[key] *= self._decay
        for key, n in counts.items():
            self._counts[key] = self._counts.get(key, 0.0) + n

    def update(self, at: float, point: Mapping[str, int]) -> Score:
        if self._since is None:
            self._since = at
        total = sum(point.values())
        evidence: dict[str, object] = {
            "attribute": self.attribute,
            "total": total,
            "baseline_since": self._since,
            "baseline_events": round(sum(self._counts.values())),
            "alpha": self.alpha,
        }
        learned = sum(self._counts.values())
        if at < self._since + self.check.warmup or learned < self.check.min_events:
            self._learn(point)
            return Score(at, 0.0, CheckState.LEARNING, evidence=evidence)
        if total < max(self.check.min_events, 1):
            self._learn(point)
            evidence["reason"] = f"fewer than min_events ({self.check.min_events}) events"
            return Score(at, 0.0, CheckState.OK, evidence=evidence)
        categories = sorted(set(self._counts) | set(point))
        shares = self.baseline(categories)
        observed = [float(point.get(c, 0)) for c in categories]
        expected = [s * total for s in shares]
        obs, exp, pooled = pool(observed, expected)
        if len(obs) < 2:
            p = 1.0
            statistic = 0.0
        else:
            result = chisquare(obs, exp)
            p, statistic = float(result.pvalue), float(result.statistic)
        moved = max(
            range(len(categories)),
            key=lambda i: abs(observed[i] - expected[i]) / max(expected[i], 1e-12) ** 0.5,
        )
        evidence |= {
            "statistic": statistic,
            "degrees_of_freedom": max(len(obs) - 1, 0),
            "pooled_cells": pooled,
            "p_value": p,
            "test": "chi-square",
            "moved_most": categories[moved],
            "observed_share": observed[moved] / total,
            "expected_share": shares[moved],
            "observed": dict(zip(categories, observed, strict=True)),
            "expected": dict(zip(categories, expected, strict=True)),
        }
        state = state_for(p, self.alpha)
        alert = state is CheckState.FIRING
        if not alert:
            self._learn(point)
        return Score(at, surprise(p, self.alpha), state, alert, evidence)


__all__ = ["MixDetector", "pool"]
