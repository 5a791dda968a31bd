"""Generic webhook: Alertmanager's webhook payload, version 4, field for field.

A receiver written for Alertmanager's ``webhook_configs`` (a chat bridge, a ticketing hook)
works unchanged against hopwatch. As in Alertmanager (``notify/webhook/webhook.go``):
``max_alerts`` keeps the first alerts and counts the rest in ``truncatedAlerts``, the common
labels and annotations are those of the alerts sent, and a firing alert's ``endsAt`` is Go's
zero time. Without ``send_resolved`` the resolved alerts are left out, and a group with only
resolved alerts is not sent at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import httpx

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify import http, render, resolved
from monitor.routing.model import WebhookConfig

if TYPE_CHECKING:
    from monitor.notify.clients import Clients

VERSION = "4"


def alert_json(alert: Alert, external_url: str) -> dict[str, Any]:
    """One alert as Alertmanager's template data has it."""
    firing = alert.state is not AlertState.RESOLVED
    return {
        "status": "firing" if firing else "resolved",
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": render.rfc3339(alert.starts_at),
        "endsAt": render.ZERO_TIME
        if firing or alert.ends_at is None
        else render.rfc3339(alert.ends_at),
        "generatorURL": render.generator_url(alert, external_url),
        "fingerprint": alert.fingerprint,
    }


def payload(notification: Notification, max_alerts: int = 0) -> dict[str, Any]:
    """The version-4 message for ``notification`` (keys in Alertmanager's order)."""
    alerts = notification.alerts
    truncated = 0
    if max_alerts > 0 and len(alerts) > max_alerts:
        truncated = len(alerts) - max_alerts
        alerts = alerts[:max_alerts]
    sent = replace(notification, alerts=alerts)
    return {
        "receiver": notification.receiver,
        "status": notification.status,
        "alerts": [alert_json(a, notification.external_url) for a in alerts],
        "groupLabels": dict(notification.group_labels),
        "commonLabels": sent.common_labels(),
        "commonAnnotations": sent.common_annotations(),
        "externalURL": notification.external_url,
        "version": VERSION,
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
    }


class WebhookNotifier:
    """POSTs the version-4 payload to the configured URL (itself a secret: never logged)."""

    def __init__(self, *, http_client: httpx.AsyncClient, timeout: float = 10.0) -> None:
        self._http = http_client
        self._timeout = timeout

    async def send(
        self, notification: Notification, config: WebhookConfig, environ: Mapping[str, str]
    ) -> Delivery:
        notification = resolved.shown(notification, config.send_resolved)
        if not notification.alerts:
            return resolved.skipped()
        try:
            url = config.url.reveal(environ)
        except LookupError:
            return Delivery(Outcome.FAILED, "secret")
        delivery, _ = await http.post_json(
            self._http,
            url,
            payload(notification, config.max_alerts),
            timeout=self._timeout,
            now=notification.at,
        )
        return delivery


class _Webhook:
    """The registry's webhook notifier: a ``WebhookNotifier`` over the shared clients."""

    name = "webhook"
    receiver = None  # WebhookSpec still lives in monitor/routing/spec.py

    async def notify(
        self,
        notification: Notification,
        config: WebhookConfig,
        environ: Mapping[str, str],
        clients: Clients,
    ) -> Delivery:
        webhook = WebhookNotifier(http_client=clients.http, timeout=clients.timeout)
        return await webhook.send(notification, config, environ)


NOTIFIER = _Webhook()
