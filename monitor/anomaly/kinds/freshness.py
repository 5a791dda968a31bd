"""``freshness``: no events at a hop (or one of its segments) for longer than its traffic makes
plausible, outside its quiet intervals."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.anomaly.freshness import FreshnessDetector
from monitor.anomaly.kind import CheckKindPlugin
from monitor.anomaly.kinds import volume
from monitor.anomaly.model import CheckDef, CheckKind, Detector
from monitor.anomaly.spec import CheckSpec, QuietSpec, time_interval
from monitor.config.model import Config


class FreshnessSpec(CheckSpec):
    quiet: list[QuietSpec] = Field(default_factory=list)
    rollup_below: float = Field(default=5.0, ge=0)

    def params(self) -> dict[str, Any]:
        return {
            "quiet": tuple(time_interval(q) for q in self.quiet),
            "rollup_below": self.rollup_below,
        }


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return FreshnessDetector(check, bucket_seconds)


KIND = CheckKindPlugin(
    name=CheckKind.FRESHNESS,
    spec=FreshnessSpec,
    detector=detector,
    # The same series as volume: a count per segment, silent segments included.
    points=volume.points,
    segmented=True,
    value=volume.value,
)
