"""``mix``: a shift in the distribution of a categorical attribute (consent share, region mix)."""

from __future__ import annotations

from typing import Any

from monitor.anomaly.kind import Bucket, CheckKindPlugin, Points
from monitor.anomaly.kinds._common import segment_counts
from monitor.anomaly.mix import MixDetector
from monitor.anomaly.model import CheckDef, CheckKind, Detector
from monitor.anomaly.spec import AttributeKey, CheckSpec
from monitor.config.model import Config
from monitor.ledger.records import EdgeResult


class MixSpec(CheckSpec):
    attribute: AttributeKey

    def params(self) -> dict[str, Any]:
        return {"attribute": self.attribute}

    def attributes(self) -> dict[str, str]:
        return {"attribute": self.attribute}

    def issues(self) -> list[tuple[str, str, str | None]]:
        if self.attribute != self.target.segment_by:
            return []
        return [
            (
                "attribute",
                f"the mix of {self.attribute!r} within segments of {self.attribute!r} is always "
                "one category",
                "segment by another attribute, or remove segment_by",
            )
        ]


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return MixDetector(check, bucket_seconds)


def points(check: CheckDef, bucket: Bucket) -> Points:
    """Events per category of the attribute."""
    if isinstance(bucket, EdgeResult):
        return []
    attribute = check.params.get("attribute") or check.target.segment_by
    return [("", dict(segment_counts(bucket, attribute)))]


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """All events of the bucket."""
    return None if isinstance(bucket, EdgeResult) else float(bucket.total)


KIND = CheckKindPlugin(
    name=CheckKind.MIX,
    spec=MixSpec,
    detector=detector,
    points=points,
    value=value,
)
