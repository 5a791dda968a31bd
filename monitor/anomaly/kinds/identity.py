"""``identity``: the shares of merged and split identities at the identity hop, each a series."""

from __future__ import annotations

from monitor.anomaly.kind import Bucket, CheckKindPlugin, Points
from monitor.anomaly.kinds._common import segment_count, segment_counts
from monitor.anomaly.model import CheckDef, CheckKind, Detector
from monitor.anomaly.proportion import ProportionDetector
from monitor.anomaly.spec import CheckSpec
from monitor.config.model import Config
from monitor.ledger.records import EdgeResult

ACTIONS = ("merged", "split")


class IdentitySpec(CheckSpec):
    """Match rate and merge / split shares at the identity hop; nothing beyond the target."""


def detector(check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
    return ProportionDetector(check, bucket_seconds)


def points(check: CheckDef, bucket: Bucket) -> Points:
    """(events with the action, all events) per action."""
    if isinstance(bucket, EdgeResult):
        return []
    actions = segment_counts(bucket, check.params.get("attribute", "identity_action"))
    total = sum(actions.values())
    return [(f"identity_action={a}", (actions.get(a, 0), total)) for a in ACTIONS]


def value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """The action's share."""
    if isinstance(bucket, EdgeResult):
        return None
    key, _, action = series.partition("=")
    n, total = segment_count(bucket, key, action)
    return n / total if total else None


KIND = CheckKindPlugin(
    name=CheckKind.IDENTITY,
    spec=IdentitySpec,
    detector=detector,
    points=points,
    value=value,
)
