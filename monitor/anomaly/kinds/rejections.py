"""``rejections``: the share of a hop's events rejected (schema, consent) against its baseline."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.anomaly.kind import Bucket, CheckKindPlugin, Points
from monitor.anomaly.model import CheckDef, CheckKind, Detector
from monitor.anomaly.proportion import ProportionDetector
from monitor.anomaly.spec import CheckSpec, Reasons
from monitor.config.model import Config
from monitor.ledger.records import EdgeResult
from monitor.records import Status


class RejectionsSpec(CheckSpec):
    """``reasons``: the rejection reasons counted (none listed: every rejection)."""

    reasons: Reasons = Field(default_factory=list)

    def params(self) -> dict[str, Any]:
        return {"reasons": tuple(self.reasons)}


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return ProportionDetector(check, bucket_seconds)


def points(check: CheckDef, bucket: Bucket) -> Points:
    """(rejected, total) of the bucket."""
    if isinstance(bucket, EdgeResult):
        return []
    return [("", (bucket.count(Status.REJECTED), bucket.total))]


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """The rejected share."""
    if isinstance(bucket, EdgeResult) or not bucket.total:
        return None
    return bucket.count(Status.REJECTED) / bucket.total


KIND = CheckKindPlugin(
    name=CheckKind.REJECTIONS,
    spec=RejectionsSpec,
    detector=detector,
    points=points,
    value=value,
)
