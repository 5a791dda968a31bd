"""A check kind that lives outside ``monitor/anomaly/kinds/``: ``threshold`` fires when a hop's
bucket has fewer events than a constant ``below``. ``test_check_kinds.py`` registers it to show a
kind is one file; it is also the minimal example of ``docs/extending.md``."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from monitor.anomaly.kind import Bucket, CheckKindPlugin, Points
from monitor.anomaly.model import CheckDef, CheckState, Detector, Score
from monitor.anomaly.spec import CheckSpec
from monitor.config.model import Config
from monitor.ledger.records import EdgeResult


class ThresholdSpec(CheckSpec):
    """``below``: the fewest events per bucket that are still healthy."""

    below: int = Field(ge=1)

    def params(self) -> dict[str, Any]:
        return {"below": self.below}


class ThresholdDetector:
    """No baseline and no warm-up: a bucket under ``below`` events is an alert."""

    def __init__(self, check: CheckDef) -> None:
        self.below = int(check.params["below"])

    def update(self, at: float, point: Any) -> Score:
        low = point < self.below
        state = CheckState.FIRING if low else CheckState.OK
        evidence = {"observed": point, "expected": f">= {self.below}"}
        return Score(at, 1.0 if low else 0.0, state, alert=low, evidence=evidence)


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return ThresholdDetector(check)


def points(check: CheckDef, bucket: Bucket) -> Points:
    return [] if isinstance(bucket, EdgeResult) else [("", bucket.total)]


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    return None if isinstance(bucket, EdgeResult) else float(bucket.total)


KIND = CheckKindPlugin(
    name="threshold", spec=ThresholdSpec, detector=detector, points=points, value=value
)
