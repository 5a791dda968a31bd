"""The alert record every producer (edge divergence, checks, SLO burn tiers) yields.

Shaped like Alertmanager's alert so routing, silences and forwarding can follow its semantics:
labels identify it (the fingerprint is a hash of the sorted label set), annotations explain it, and
``evidence`` carries the numbers behind it for the API, Slack and PagerDuty.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.labels import Labels, fingerprint, labels_of


class AlertState(enum.StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Alert:
    labels: Labels
    annotations: Labels = ()
    state: AlertState = AlertState.FIRING
    starts_at: float = 0.0
    ends_at: float | None = None
    updated_at: float = 0.0
    evidence: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @property
    def name(self) -> str:
        return dict(self.labels).get("alertname", "")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "name": self.name,
            "state": str(self.state),
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "updated_at": self.updated_at,
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            labels=labels_of(data["labels"]),
            annotations=labels_of(data.get("annotations", {})),
            state=AlertState(data["state"]),
            starts_at=float(data["starts_at"]),
            ends_at=None if data.get("ends_at") is None else float(data["ends_at"]),
            updated_at=float(data.get("updated_at", 0.0)),
            evidence=dict(data.get("evidence", {})),
        )
