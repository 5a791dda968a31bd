"""PagerDuty Events API v2: ``trigger`` while a group fires, ``resolve`` when it is over.

Both carry the same ``dedup_key``, so PagerDuty keeps one incident per group: the key is taken
from the notification log (``prior.state["dedup_key"]``, this integration's own state) when there is one, else derived from the receiver
and the group, readable (``hopwatch/<receiver>/<group labels>/<hash>``) and at most 255
characters. The payload keeps PagerDuty's limits: a summary of at most 1,024 characters and
``custom_details`` capped far below the 512 KB event limit (the alerts that do not fit are
counted, not silently dropped). 429, 5xx, timeouts and network errors are ``retry`` (with the
``Retry-After`` the server gave); 400 is the event's fault and is never retried.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify import http, render, resolved
from monitor.routing.model import PagerDutyConfig

if TYPE_CHECKING:
    from monitor.notify.clients import Clients

STATE_KEY = "dedup_key"
"""The one key of this integration's ``Delivery.state`` / ``Prior.state``."""
MAX_DEDUP_KEY = 255
MAX_SUMMARY = 1024
MAX_DETAILS_BYTES = 64 * 1024
"""``custom_details`` budget: an eighth of PagerDuty's 512 KB event limit."""
MAX_FIELD = 1024
SEVERITIES = ("critical", "error", "warning", "info")
SEVERITY_ALIASES = {
    "critical": "critical",
    "page": "critical",
    "p1": "critical",
    "error": "error",
    "high": "error",
    "major": "error",
    "warning": "warning",
    "warn": "warning",
    "ticket": "warning",
    "minor": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}


def dedup_key(notification: Notification) -> str:
    """The group's incident key: the one in ``prior.state`` if one was sent, else derived (stable).

    The hash covers the receiver and the whole group key (route and labels), so two routes that
    group the same labels for one receiver never share an incident."""
    known = notification.prior.state.get(STATE_KEY) if notification.prior is not None else None
    if known:
        return known
    digest = hashlib.sha256(f"{notification.receiver}\n{notification.group_key}".encode())
    suffix = "/" + digest.hexdigest()[:12]
    labels = ",".join(f"{k}={v}" for k, v in notification.group_labels) or "all"
    readable = f"hopwatch/{notification.receiver}/{labels}"
    return readable[: MAX_DEDUP_KEY - len(suffix)] + suffix


def severity(notification: Notification, config: PagerDutyConfig) -> str:
    """PagerDuty's severity: the group's ``severity`` label mapped (``page`` → ``critical``,
    ``ticket`` → ``warning`` …), else the configured one, else ``error``."""
    label = render.severity(notification).lower()
    if label in SEVERITY_ALIASES:
        return SEVERITY_ALIASES[label]
    configured = config.severity.lower()
    return SEVERITY_ALIASES.get(configured, "error")


def _alert_details(alert: Any) -> dict[str, Any]:
    return {
        "status": str(alert.state),
        "labels": dict(alert.labels),
        "summary": render.truncate(render.summary(alert), MAX_FIELD),
        "starts_at": render.rfc3339(alert.starts_at),
        "ends_at": render.rfc3339(alert.ends_at) if alert.ends_at is not None else None,
        "evidence": _bounded(dict(alert.evidence)),
        "fingerprint": alert.fingerprint,
    }


def _bounded(value: Any, depth: int = 0) -> Any:
    """Evidence made JSON-safe and small: long strings cut, long lists sampled."""
    if isinstance(value, str):
        return render.truncate(value, MAX_FIELD)
    if isinstance(value, bool | int | float) or value is None:
        return value
    if depth > 4:
        return render.truncate(str(value), 100)
    if isinstance(value, Mapping):
        return {str(k): _bounded(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_bounded(v, depth + 1) for v in value[:20]]
    return render.truncate(str(value), MAX_FIELD)


def custom_details(notification: Notification) -> dict[str, Any]:
    """The group's alerts with their evidence, at most ``MAX_DETAILS_BYTES`` as JSON."""
    details: dict[str, Any] = {
        "group_key": notification.group_key,
        "group_labels": dict(notification.group_labels),
        "num_firing": len(notification.firing),
        "num_resolved": len(notification.resolved),
        "alerts": [],
    }
    size = len(json.dumps(details, default=str))
    for index, alert in enumerate(notification.alerts):
        item = _alert_details(alert)
        cost = len(json.dumps(item, default=str)) + 2
        if size + cost > MAX_DETAILS_BYTES - 200:
            details["truncated_alerts"] = len(notification.alerts) - index
            break
        details["alerts"].append(item)
        size += cost
    return details


def trigger_event(
    notification: Notification, config: PagerDutyConfig, routing_key: str
) -> dict[str, Any]:
    """The ``trigger`` event of a firing group (Events API v2)."""
    common = notification.common_labels()
    first = notification.firing[0] if notification.firing else notification.alerts[0]
    text = render.title(notification) + ": " + render.summary(first)
    if len(notification.firing) > 1:
        text += f" (and {len(notification.firing) - 1} more)"
    payload: dict[str, Any] = {
        "summary": render.truncate(text, MAX_SUMMARY),
        "source": config.source or common.get("pipeline") or "hopwatch",
        "severity": severity(notification, config),
        "timestamp": render.rfc3339(min(a.starts_at for a in notification.alerts)),
        "custom_details": custom_details(notification),
    }
    for field, labels in (
        ("component", ("hop", "edge", "to_hop")),
        ("group", ("pipeline",)),
        ("class", ("check", "slo", "alertname")),
    ):
        value = next((common[k] for k in labels if common.get(k)), "")
        if value:
            payload[field] = render.truncate(value, MAX_FIELD)
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(notification),
        "payload": payload,
        "client": config.client or "hopwatch",
        "client_url": config.client_url or notification.external_url,
    }
    links = [{"href": url, "text": text} for text, url in render.group_links(notification)]
    if links:
        event["links"] = links
    return event


def resolve_event(notification: Notification, routing_key: str) -> dict[str, Any]:
    return {
        "routing_key": routing_key,
        "event_action": "resolve",
        "dedup_key": dedup_key(notification),
    }


class PagerDutyNotifier:
    """Sends notifications as Events API v2 events through a shared ``httpx.AsyncClient``."""

    def __init__(self, *, http_client: httpx.AsyncClient, timeout: float = 10.0) -> None:
        self._http = http_client
        self._timeout = timeout

    async def send(
        self, notification: Notification, config: PagerDutyConfig, environ: Mapping[str, str]
    ) -> Delivery:
        key = dedup_key(notification)
        if not notification.firing and not config.send_resolved:
            return resolved.skipped({STATE_KEY: key})
        try:
            routing_key = config.routing_key.reveal(environ)
        except LookupError:
            return Delivery(Outcome.FAILED, "secret", state={STATE_KEY: key})
        event = (
            trigger_event(notification, config, routing_key)
            if notification.firing
            else resolve_event(notification, routing_key)
        )
        delivery, response = await http.post_json(
            self._http, config.url, event, timeout=self._timeout, now=notification.at
        )
        detail: dict[str, Any] = {"event_action": event["event_action"]}
        if delivery.outcome is Outcome.FAILED and response is not None:
            errors = _errors(response, routing_key)
            if errors:
                detail["errors"] = errors
        return Delivery(
            delivery.outcome,
            delivery.reason,
            retry_after=delivery.retry_after,
            state={STATE_KEY: key},
            detail=detail,
        )


def _errors(response: httpx.Response, routing_key: str) -> list[str]:
    """PagerDuty's own words on a rejected event (``errors``), short and with no secret."""
    try:
        body = response.json()
    except ValueError:
        return []
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, list):
        return []
    return [render.truncate(render.scrub(str(e), [routing_key]), 200) for e in errors[:5]]


class _PagerDuty:
    """The registry's PagerDuty notifier: a ``PagerDutyNotifier`` over the shared clients."""

    name = "pagerduty"
    receiver = None  # PagerDutySpec still lives in monitor/routing/spec.py

    async def notify(
        self,
        notification: Notification,
        config: PagerDutyConfig,
        environ: Mapping[str, str],
        clients: Clients,
    ) -> Delivery:
        pagerduty = PagerDutyNotifier(http_client=clients.http, timeout=clients.timeout)
        return await pagerduty.send(notification, config, environ)


NOTIFIER = _PagerDuty()
