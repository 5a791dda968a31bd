"""``divergence``: arrived vs expected per closed bucket of an edge; a shortfall is data loss.

The detector (``divergence_cusum.DivergenceDetector``) takes the edge's promise (``expect: all``
or a ratio, with its tolerance) as its baseline, so a check on a configured edge needs no learning.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from pydantic import Field

from monitor.anomaly.divergence_cusum import DivergenceDetector
from monitor.anomaly.kind import (
    Bucket,
    CheckKindPlugin,
    Points,
    Targets,
    observed_vs_expected,
)
from monitor.anomaly.model import CheckDef, CheckKind, Detector, Score
from monitor.anomaly.spec import CheckSpec
from monitor.config.model import Config, ExpectKind
from monitor.config.spec import DurationOrZero
from monitor.ledger.records import EdgeResult
from monitor.timeutil import format_duration


class DivergenceSpec(CheckSpec):
    """Arrived vs expected on an edge; floors keep trivial shortfalls quiet."""

    min_missing: int = Field(default=5, ge=0)
    min_loss_ratio: float = Field(default=0.02, ge=0, lt=1)
    learn_ratio: bool = False
    """Learn the edge's share (and its spread) instead of taking the promised ``ratio``: a consent
    filter or a router passes a share nobody can promise exactly."""
    seasonal: bool = True
    """A learned share that clearly varies by hour of day is expected per hour (24 cells, learned
    in the warm-up and then from the buckets judged OK)."""
    relearn_after: DurationOrZero = 6 * 3600.0
    """A learned share's alarm that holds this long at a stable level was a lasting change of the
    share: it resolves with "share changed from X to Y and stays; re-learned" (0: never)."""

    def params(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "min_missing": self.min_missing,
            "min_loss_ratio": self.min_loss_ratio,
        }
        if self.learn_ratio:
            out["learn_ratio"] = True
        if not self.seasonal:
            out["seasonal"] = False
        if self.relearn_after != 6 * 3600.0:
            out["relearn_after"] = self.relearn_after
        return out


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    """An edge's promise is the baseline; a check on something else learns its ratio."""
    pipeline = config.pipeline(check.target.pipeline)
    edge = (
        next((e for e in pipeline.edges if e.name == check.target.edge), None) if pipeline else None
    )
    ratio = None
    if edge is not None:
        ratio = 1.0 if edge.expect.kind is ExpectKind.ALL else edge.expect.ratio
        if check.params.get("learn_ratio") and edge.expect.kind is not ExpectKind.ALL:
            # ``params: {learn_ratio: true}``: the promise is a rough share (consent filters,
            # routing); the detector learns the edge's real share and its spread instead.
            ratio = None
        params = {"tolerance": edge.expect.tolerance, **check.params}
        check = dataclasses.replace(check, params=params)
    return DivergenceDetector(check, bucket_seconds, expected_ratio=ratio)


def points(check: CheckDef, bucket: Bucket) -> Points:
    if isinstance(bucket, EdgeResult):
        return [("", (bucket.expected, bucket.arrived))]
    return []


def detail(bucket: Bucket, score: Score) -> str:
    """How many events went missing, of how many, in which bucket, and the sustained estimate."""
    if not isinstance(bucket, EdgeResult):
        return observed_vs_expected(bucket, score)
    loss = bucket.missing / bucket.expected if bucket.expected else 0.0
    when = datetime.fromtimestamp(bucket.bucket_start, UTC)
    text = (
        f"{bucket.missing} of {bucket.expected} expected events missing ({loss:.1%}) in the "
        f"{format_duration(bucket.bucket_seconds)} bucket at {when:%Y-%m-%d %H:%M} UTC"
    )
    if "estimated_loss" in score.evidence:
        text += f", sustained loss ≈ {float(score.evidence['estimated_loss']):.1%}"
    return text


def subject(check: CheckDef) -> str:
    return f"loss on {check.target.edge}"


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """Missing events."""
    return float(bucket.missing) if isinstance(bucket, EdgeResult) else None


KIND = CheckKindPlugin(
    name=CheckKind.DIVERGENCE,
    spec=DivergenceSpec,
    detector=detector,
    points=points,
    targets=Targets.EDGE,
    detail=detail,
    subject=subject,
    value=value,
)
