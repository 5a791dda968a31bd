"""``volume``: event counts per segment against a seasonal baseline; drops and spikes."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.anomaly.kind import Bucket, CheckKindPlugin, Points
from monitor.anomaly.kinds._common import segment_count, segment_counts
from monitor.anomaly.model import CheckDef, CheckKind, Detector
from monitor.anomaly.spec import CheckSpec, Direction
from monitor.anomaly.volume import VolumeDetector
from monitor.config.model import Config
from monitor.ledger.records import EdgeResult


class VolumeSpec(CheckSpec):
    """``rollup_below``: segments with fewer events per bucket are judged together."""

    direction: Direction = "both"
    rollup_below: float = Field(default=5.0, ge=0)

    def params(self) -> dict[str, Any]:
        return {"direction": self.direction, "rollup_below": self.rollup_below}


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return VolumeDetector(check, bucket_seconds)


def points(check: CheckDef, bucket: Bucket) -> Points:
    """One count per segment, split into series by the runner (``segmented``)."""
    if isinstance(bucket, EdgeResult):
        return []
    return [("", segment_counts(bucket, check.target.segment_by))]


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """The segment's count."""
    if isinstance(bucket, EdgeResult):
        return None
    return float(segment_count(bucket, check.target.segment_by, series)[0])


KIND = CheckKindPlugin(
    name=CheckKind.VOLUME,
    spec=VolumeSpec,
    detector=detector,
    points=points,
    segmented=True,
    value=value,
)
