"""A categorical attribute's distribution per bucket against its baseline: the ``mix`` check
(consent share, region mix, schema versions).

Use it when the question is "did the composition change?" rather than "did the count change?"
(that is ``volume``). Each closed bucket's category counts are compared with the baseline shares,
cell by cell: an exact two-sided binomial test of each cell against the rest, the smallest p-value
times the number of cells (Bonferroni; with two cells both tests are the same test, so no factor).
Not the chi-square goodness-of-fit test it used to be: at a per-bucket level of 2e-5 (one false
alarm per 30 days of minutes) the chi-square approximation of a skewed binomial tail is off by 1.5
to 2.7 times for 30-200 events with a 20% category (the bundled consent mix raised 3 false alarms
in 30 days at 100 events/min); the exact tests hold the level, conservatively. Cells expected to
hold fewer than 5 events are pooled, so a category never seen in the baseline (it lands in the
pool) does not page for its first event. The evidence names the category that moved most. The
baseline learns like ``proportion.py``'s, and the level in use is calibrated per series the same
way (``tail_threshold``), for mixes that drift or come in bursts.
"""

from __future__ import annotations

from collections.abc import Mapping

from scipy.special import bdtr, bdtrc

from monitor.anomaly import tail_threshold
from monitor.anomaly.detector_state import MixState
from monitor.anomaly.model import CheckDef, CheckState, Score
from monitor.anomaly.proportion import (
    BASELINE_HALF_LIFE,
    PRIOR_HITS,
    calibrate_warmup,
    calibrated_alpha,
    state_for,
    surprise,
)
from monitor.anomaly.tail_threshold import p_value_ratio

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


def cell_test(observed: list[float], expected: list[float]) -> tuple[float, int]:
    """(p-value, cell) of the cells' exact two-sided binomial tests, each cell against the rest
    at its expected share, Bonferroni-adjusted over the cells (two cells are one test)."""
    total = round(sum(observed))
    if len(observed) < 2 or total <= 0:
        return 1.0, 0
    grand = sum(expected)
    best, which = 1.0, 0
    for i, (o, e) in enumerate(zip(observed, expected, strict=True)):
        share, k = e / grand, round(o)
        # scipy.stats.binom's sf and cdf, as the scalar functions they call (microseconds)
        upper = 1.0 if k <= 0 else float(bdtrc(k - 1, total, share))
        lower = float(bdtr(k, total, share))
        p = min(1.0, 2.0 * min(upper, lower))
        if p < best:
            best, which = p, i
    cells = len(observed) if len(observed) > 2 else 1
    return min(1.0, best * cells), which


class MixDetector:
    """One series of a ``mix`` check; ``update`` takes a bucket's ``{category: count}``."""

    def __init__(self, check: CheckDef, bucket_seconds: float) -> None:
        self.check = check
        self.attribute = str(check.params.get("attribute", ""))
        self.alpha = check.alpha(bucket_seconds)
        self._decay = 0.5 ** (bucket_seconds / BASELINE_HALF_LIFE)
        self._counts: dict[str, float] = {}
        self._since: float | None = None
        self.calibration = tail_threshold.for_check(check, bucket_seconds)

    def state(self) -> MixState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        c = getattr(self, "calibration", None)  # none in a detector unpickled from v0
        return MixState(dict(self._counts), self._since, c.state() if c else None)

    def restore(self, state: MixState) -> None:
        if not isinstance(state, MixState):
            raise TypeError(f"not a mix detector's state: {type(state).__name__}")
        self._counts, self._since = dict(state.counts), state.since
        if state.calibration is not None:
            self.calibration.restore(state.calibration)

    def _test(self, point: Mapping[str, int]) -> tuple[float, int, list[str], list[float]]:
        """(p-value, cells pooled, categories, baseline shares) of one bucket."""
        total = sum(point.values())
        categories = sorted(set(self._counts) | set(point))
        shares = self.baseline(categories)
        observed = [float(point.get(c, 0)) for c in categories]
        obs, exp, pooled = pool(observed, [s * total for s in shares])
        p, _ = cell_test(obs, exp)
        return p, pooled, categories, shares

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
            if learned >= self.check.min_events and total >= max(self.check.min_events, 1):
                p = self._test(point)[0]
                calibrate_warmup(
                    self.calibration, at, self._since, self.check.warmup, p, self.alpha
                )
            self._learn(point)
            return Score(at, 0.0, CheckState.LEARNING, evidence=evidence)
        if total < max(self.check.min_events, 1):
            self._learn(point)
            evidence["reason"] = f"fewer than min_events ({self.check.min_events}) events"
            return Score(at, 0.0, CheckState.OK, evidence=evidence)
        p, pooled, categories, shares = self._test(point)
        observed = [float(point.get(c, 0)) for c in categories]
        expected = [s * total for s in shares]
        cells = len(categories) - pooled + (1 if pooled else 0)
        alpha = calibrated_alpha(self.calibration, self.alpha)
        self.calibration.add(p_value_ratio(p, self.alpha))
        moved = max(
            range(len(categories)),
            key=lambda i: abs(observed[i] - expected[i]) / max(expected[i], 1e-12) ** 0.5,
        )
        evidence |= {
            "degrees_of_freedom": max(cells - 1, 0),
            "pooled_cells": pooled,
            "p_value": p,
            "test": "exact binomial per category, Bonferroni",
            "moved_most": categories[moved],
            "observed_share": observed[moved] / total,
            "expected_share": shares[moved],
            "observed": dict(zip(categories, observed, strict=True)),
            "expected": dict(zip(categories, expected, strict=True)),
        }
        evidence |= {**self.calibration.describe(), "alpha_in_use": alpha}
        state = state_for(p, alpha)
        alert = state is CheckState.FIRING
        if not alert:
            self._learn(point)
        return Score(at, surprise(p, alpha), state, alert, evidence)


__all__ = ["MixDetector", "cell_test", "pool"]
