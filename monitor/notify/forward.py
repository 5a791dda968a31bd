"""Forward mode: hand hopwatch's alerts to an existing Alertmanager (``POST /api/v2/alerts``).

Alertmanager then groups, silences and notifies. As Prometheus does, every evaluation re-sends
the firing alerts with ``endsAt`` a few evaluation intervals ahead (``resend_window``): while
hopwatch runs, they stay firing; if it dies, Alertmanager resolves them by itself instead of
paging forever. Resolved alerts are sent with their end time, so they resolve at once.
An Alertmanager cluster is given as several URLs; the alerts go to each (Alertmanager gossips
nothing about alerts it did not receive), and the delivery counts as sent when at least one
took them, as in Prometheus' notifier.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Delivery, Outcome
from monitor.notify import http, render

API_PATH = "/api/v2/alerts"
DEFAULT_RESEND_WINDOW = 4 * 60.0
"""Four evaluation intervals of one minute: how long Alertmanager keeps an alert not re-sent."""


def postable_alert(
    alert: Alert, now: float, resend_window: float, external_url: str
) -> dict[str, Any]:
    """One alert in Alertmanager's API v2 ``postableAlert`` shape."""
    if alert.state is AlertState.RESOLVED:
        ends = alert.ends_at if alert.ends_at is not None else now
    else:
        ends = now + resend_window
    return {
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": render.rfc3339(alert.starts_at),
        "endsAt": render.rfc3339(ends),
        "generatorURL": render.generator_url(alert, external_url),
    }


def postable_alerts(
    alerts: Iterable[Alert], now: float, resend_window: float, external_url: str
) -> list[dict[str, Any]]:
    """Firing and resolved alerts (pending ones are not Alertmanager's business yet)."""
    return [
        postable_alert(a, now, resend_window, external_url)
        for a in alerts
        if a.state is not AlertState.PENDING and a.labels
    ]


def _safe_url(url: str) -> str:
    """``scheme://host:port`` only: user info and paths may hold credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")


async def forward_alerts(
    urls: Iterable[str],
    alerts: Iterable[Alert],
    now: float,
    *,
    client: httpx.AsyncClient,
    resend_window: float = DEFAULT_RESEND_WINDOW,
    external_url: str = "http://127.0.0.1:9464",
    timeout: float = 10.0,
) -> Delivery:
    """POST the alerts to every Alertmanager in ``urls``; sent if at least one accepted them.

    Failures per Alertmanager are in ``detail["failed"]`` as ``{host: reason}``; if all failed,
    the delivery is ``retry`` when any failure was retryable, else ``failed``."""
    body = postable_alerts(alerts, now, resend_window, external_url)
    targets = list(dict.fromkeys(urls))
    if not targets:
        return Delivery(Outcome.FAILED, "no_alertmanager")
    if not body:
        return Delivery(Outcome.SENT, detail={"alerts": 0})
    results = await asyncio.gather(
        *(
            http.post_json(client, url.rstrip("/") + API_PATH, body, timeout=timeout, now=now)
            for url in targets
        )
    )
    deliveries = [d for d, _ in results]
    failed = {
        _safe_url(url): d.reason
        for url, d in zip(targets, deliveries, strict=True)
        if d.outcome is not Outcome.SENT
    }
    detail: dict[str, Any] = {"alerts": len(body)}
    if failed:
        detail["failed"] = failed
    if len(failed) < len(targets):
        return Delivery(Outcome.SENT, detail=detail)
    retryable = [d for d in deliveries if d.outcome is Outcome.RETRY]
    worst = retryable[0] if retryable else deliveries[0]
    after = max((d.retry_after for d in retryable if d.retry_after is not None), default=None)
    return Delivery(worst.outcome, worst.reason, retry_after=after, detail=detail)
