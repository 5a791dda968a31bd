"""How an HTTP answer or a transport error becomes a ``Delivery``: worth retrying or not.

Shared by the PagerDuty, webhook, Slack incoming-webhook and Alertmanager-forward notifiers
(Alertmanager's ``notify.RetryStage`` classification): 2xx is sent; 429, 5xx, timeouts and
connection errors can be retried (with ``Retry-After`` when the server gave one); any other 4xx
is the request's fault and is never retried. Reasons are short and bounded, fit for a metric
label, and never carry a URL or a server's words (a webhook URL is itself a secret).
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from monitor.alerting.notification import Delivery, Outcome

MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds, or an HTTP date if ``now``)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        if now is None:
            return None
        try:
            seconds = parsedate_to_datetime(value).timestamp() - now
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def from_status(
    status: int,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Delivery:
    """The delivery an HTTP status means (any 2xx is sent)."""
    detail = dict(detail or {})
    if 200 <= status < 300:
        return Delivery(Outcome.SENT, detail=detail)
    reason = f"http_{status}"
    if status == 429 or status >= 500:
        after = parse_retry_after((headers or {}).get("retry-after"), now)
        return Delivery(Outcome.RETRY, reason, retry_after=after, detail=detail)
    return Delivery(Outcome.FAILED, reason, detail=detail)


def from_exception(exc: BaseException) -> Delivery:
    """A transport failure: timeouts and connection errors can be retried, the rest cannot."""
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Delivery(Outcome.FAILED, "invalid_url")
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return Delivery(Outcome.RETRY, "timeout")
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return Delivery(Outcome.RETRY, "connection")
    return Delivery(Outcome.FAILED, "error", detail={"error": type(exc).__name__})


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    payload: Any,
    *,
    timeout: float,
    now: float | None = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[Delivery, httpx.Response | None]:
    """POST ``payload`` as JSON and classify the outcome; never raises for HTTP or network errors."""
    try:
        response = await client.post(url, json=payload, timeout=timeout, headers=headers)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return from_exception(exc), None
    return from_status(response.status_code, response.headers, now=now), response
