"""``send_resolved: false``, the same for every integration (Alertmanager's per-config flag).

Use ``shown`` for what an integration may send and ``skipped`` when that leaves nothing: a group
whose alerts all resolved is then delivered as done, not failed, so it is never retried.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from monitor.alerting.notification import Delivery, Notification, Outcome

SKIPPED = "resolved alerts are not sent (send_resolved: false)"


def shown(notification: Notification, send_resolved: bool) -> Notification:
    """The notification with its resolved alerts left out unless ``send_resolved``."""
    return notification if send_resolved else replace(notification, alerts=notification.firing)


def skipped(state: Mapping[str, str] | None = None) -> Delivery:
    """Nothing to send: done. ``state`` keeps the integration's handle (PagerDuty's key)."""
    return Delivery(Outcome.SENT, state=dict(state or {}), detail={"skipped": SKIPPED})
