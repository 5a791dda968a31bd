"""What the dispatcher hands a receiver and what a receiver hands back.

A ``Notification`` is one aggregation group's state for one receiver at one moment: its firing
and resolved alerts, and what was delivered for this group before (``prior``, whose ``state`` is
the integration's own opaque handle: Slack keeps the channel and message ``ts`` there, PagerDuty its
``dedup_key``), so a restart updates the same message and resolves the same incident instead of
opening new ones. A notifier returns a ``Delivery``: sent,
or failed with a reason and whether a retry can help.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from monitor.alerting.alert import Alert, AlertState
from monitor.labels import Labels


@dataclass(frozen=True)
class Prior:
    """What the notification log remembers of the last delivery to one (receiver, group, integration)."""

    sent_at: float
    firing: tuple[str, ...] = ()
    """Fingerprints that were firing in it."""
    resolved: tuple[str, ...] = ()
    state: Mapping[str, str] = field(default_factory=dict)
    """The integration's own handle on what it sent (a message id, an incident key): written by
    the integration in its ``Delivery.state``, kept by the log, read back only by it."""


@dataclass(frozen=True)
class Notification:
    receiver: str
    group_key: str
    """Alertmanager's group key: the route's key, ``:``, the group labels (stable, human-readable)."""
    group_labels: Labels
    alerts: tuple[Alert, ...]
    """Firing first, then resolved; each alert's ``state`` says which."""
    at: float
    external_url: str = "http://127.0.0.1:9464"
    prior: Prior | None = None
    muted_by: tuple[str, ...] = field(default=(), compare=False)
    priors: Mapping[str, Prior] = field(default_factory=dict, compare=False)
    """Per integration (``slack[0]``, ``pagerduty[0]``, ``webhook[0]``, ``console``) when a receiver
    has several; ``prior`` is used for an integration not named here."""

    def for_integration(self, name: str) -> Notification:
        """This notification as one integration sees it: ``prior`` is that integration's own."""
        prior = self.priors.get(name, self.prior)
        return self if prior is self.prior else replace(self, prior=prior)

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state is AlertState.FIRING)

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state is AlertState.RESOLVED)

    @property
    def status(self) -> str:
        """``firing`` while any alert of the group fires, else ``resolved`` (Alertmanager's rule)."""
        return "firing" if self.firing else "resolved"

    def common_labels(self) -> dict[str, str]:
        return _common([dict(a.labels) for a in self.alerts])

    def common_annotations(self) -> dict[str, str]:
        return _common([dict(a.annotations) for a in self.alerts])


def _common(maps: list[dict[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


class Outcome(enum.StrEnum):
    SENT = "sent"
    RETRY = "retry"
    """Failed in a way a later attempt can fix (429, 5xx, timeout, connection refused)."""
    FAILED = "failed"
    """Failed for good (400, invalid payload, missing secret): logged, counted, never retried."""


@dataclass(frozen=True)
class Delivery:
    outcome: Outcome
    reason: str = ""
    """Short, bounded, safe for a metric label: ``http_429``, ``http_500``, ``timeout``, ``http_400``,
    ``connection``, ``secret``, ``slack_<error>``."""
    retry_after: float | None = None
    state: Mapping[str, str] = field(default_factory=dict)
    """What the integration wants back as ``prior.state`` next time (opaque to everyone else);
    empty keeps what the log has."""
    detail: Mapping[str, Any] = field(default_factory=dict)
