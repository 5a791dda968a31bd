"""Edge divergence, first version: is the shortfall of one closed bucket more than chance allows?

Under the edge's promise each expected event arrives with probability ``ratio * (1 - tolerance)``.
The exact binomial tail ``P(X <= arrived)`` is the evidence; the per-bucket significance level comes
from the false-alarm budget (alarms per 30 days per edge), and absolute and relative floors keep tiny
buckets and trivial shortfalls quiet. The sequential (CUSUM) version for small sustained loss
replaces this in the checks work; this one already finds large loss in one bucket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from scipy.stats import binom

from monitor.alerting.alert import labels_of
from monitor.anomaly.check import Judgement, Verdict
from monitor.config.model import Expectation
from monitor.ledger.records import Completeness, EdgeResult
from monitor.timeutil import format_duration

THIRTY_DAYS = 30 * 86400.0


@dataclass(frozen=True)
class DivergencePolicy:
    """How sure and how large a shortfall must be before it is called loss."""

    false_alarms_per_30d: float = 1.0
    min_missing: int = 5
    min_loss_ratio: float = 0.01

    def alpha(self, bucket_seconds: float) -> float:
        """Per-bucket significance that spends the false-alarm budget over 30 days of buckets."""
        return self.false_alarms_per_30d * bucket_seconds / THIRTY_DAYS


def shortfall_pvalue(expected: int, arrived: int, delivery: float) -> float:
    """P(at most ``arrived`` of ``expected`` arrive) when each arrives with probability ``delivery``."""
    if expected <= 0 or arrived >= expected:
        return 1.0
    if delivery >= 1.0:
        return 0.0  # the edge promised every event; any shortfall is impossible under the promise
    return float(binom.cdf(arrived, expected, delivery))


def judge_edge(result: EdgeResult, expectation: Expectation, policy: DivergencePolicy) -> Verdict:
    """The divergence verdict for one closed (or amended) edge bucket."""
    labels = labels_of(
        {
            "pipeline": result.pipeline,
            "edge": result.edge,
            "from_hop": result.from_hop,
            "to_hop": result.to_hop,
        }
    )
    evidence = {
        "bucket_start": result.bucket_start,
        "bucket_seconds": result.bucket_seconds,
        "expected": result.expected,
        "arrived": result.arrived,
        "missing": result.missing,
        "duplicates": result.duplicates,
        "late": result.late,
        "mode": str(result.mode),
        "sample_rate": result.sample_rate,
        "missing_ids": list(result.missing_ids),
    }

    def verdict(judgement: Judgement, score: float = 0.0, summary: str = "") -> Verdict:
        return Verdict(
            "divergence",
            labels,
            judgement,
            result.closed_at,
            score,
            summary,
            result.bucket_start,
            evidence,
        )

    if result.completeness is Completeness.INCOMPLETE:
        return verdict(Judgement.INCOMPLETE, summary="hopwatch was not observing for part of it")
    if result.expected == 0:
        return verdict(Judgement.NO_DATA, summary="nothing was expected in this bucket")
    expected_arrivals = result.expected * expectation.ratio
    shortfall = max(0.0, expected_arrivals - result.arrived)
    delivery = expectation.ratio * (1.0 - expectation.tolerance)
    pvalue = shortfall_pvalue(result.expected, result.arrived, delivery)
    loss = shortfall / expected_arrivals if expected_arrivals else 0.0
    alpha = policy.alpha(result.bucket_seconds)
    evidence["p_value"] = pvalue
    evidence["alpha"] = alpha
    evidence["loss_ratio"] = round(loss, 6)
    score = 1.0 - pvalue
    firing = pvalue < alpha and shortfall >= policy.min_missing and loss >= policy.min_loss_ratio
    if not firing:
        return verdict(Judgement.OK, score)
    summary = (
        f"{result.edge}: {shortfall:.0f} of {expected_arrivals:.0f} expected events missing "
        f"({loss:.1%}) in the {format_duration(result.bucket_seconds)} bucket at "
        f"{datetime.fromtimestamp(result.bucket_start, UTC):%Y-%m-%d %H:%M} UTC "
        f"(p={pvalue:.2g} < {alpha:.2g})"
    )
    return verdict(Judgement.FIRING, score, summary)
