"""``latency``: a shift of a hop's or an edge's latency distribution, with where the delay sits
(``attribution``) and a trace of the slowest event as evidence."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.anomaly.kind import Bucket, CheckKindPlugin, Points, Targets, observed_vs_expected
from monitor.anomaly.latency import LatencyDetector
from monitor.anomaly.model import CheckDef, CheckKind, Detector, Score
from monitor.anomaly.spec import CheckSpec
from monitor.config.model import Config


class LatencyCheckSpec(CheckSpec):
    quantile: float = Field(default=0.99, gt=0, lt=1)
    attribution: bool = False

    def params(self) -> dict[str, Any]:
        return {"quantile": self.quantile, "attribution": self.attribution}


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return LatencyDetector(check, bucket_seconds)


def points(check: CheckDef, bucket: Bucket) -> Points:
    """The bucket's latency sketch (hop buckets and edge results both carry one)."""
    return [("", bucket.latency)]


def detail(bucket: Bucket, score: Score) -> str:
    ev = score.evidence
    if "observed_seconds" not in ev:
        return observed_vs_expected(bucket, score)
    q = float(ev.get("quantile", 0.95)) * 100
    return (
        f"p{q:g} {float(ev['observed_seconds']):.3g} s vs "
        f"{float(ev['expected_seconds']):.3g} s expected"
    )


def evidence(bucket: Bucket) -> dict[str, Any]:
    """``trace_ids``: the slowest traced event of the bucket (OTLP only), so the alert links to
    a trace of the delay it reports."""
    if bucket.exemplar is None:
        return {}
    return {"trace_ids": [bucket.exemplar.trace_id]}


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """The quantile the check watches, in seconds."""
    return bucket.latency.quantile(float(check.params.get("quantile", 0.95)))


KIND = CheckKindPlugin(
    name=CheckKind.LATENCY,
    spec=LatencyCheckSpec,
    detector=detector,
    points=points,
    targets=Targets.EITHER,
    detail=detail,
    evidence=evidence,
    value=value,
)
