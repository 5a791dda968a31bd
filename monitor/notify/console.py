"""Console / log receiver: one structured log line per notification.

For the sidecar without Slack or PagerDuty, for the demo, and as an audit trail. The line names
the receiver, the group, the status, the counts and the alert names; never annotations' free
text, evidence (event ids) or any secret.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify import render

if TYPE_CHECKING:
    from monitor.notify.clients import Clients

MAX_NAMES = 200
log = logging.getLogger("hopwatch.notify.console")


def record(notification: Notification) -> dict[str, Any]:
    """The fields of the log line (also what the demo prints)."""
    return {
        "receiver": notification.receiver,
        "group_key": notification.group_key,
        "status": notification.status,
        "firing": len(notification.firing),
        "resolved": len(notification.resolved),
        "alertnames": render.truncate(render.alert_names(notification), MAX_NAMES),
        "severity": render.severity(notification),
        "fingerprints": ",".join(a.fingerprint for a in notification.alerts[:20]),
    }


class ConsoleNotifier:
    """Writes notifications to a logger (``hopwatch.notify.console`` unless another is given)."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self._log = logger or log

    async def send(
        self,
        notification: Notification,
        config: object = None,
        environ: Mapping[str, str] | None = None,
    ) -> Delivery:
        fields = record(notification)
        self._log.info(
            "%s %s (%d firing, %d resolved) to %s",
            render.title(notification),
            fields["status"],
            fields["firing"],
            fields["resolved"],
            notification.receiver,
            extra={"event": "notification", **fields},
        )
        return Delivery(Outcome.SENT)


class _Console:
    """The registry's console notifier (``extensions.receivers.<name>.console: true``)."""

    name = "console"
    receiver = None  # an extension flag of routing's ReceiverExtSpec

    async def notify(
        self,
        notification: Notification,
        config: object,
        environ: Mapping[str, str],
        clients: Clients,
    ) -> Delivery:
        return await ConsoleNotifier().send(notification, config, environ)


NOTIFIER = _Console()
