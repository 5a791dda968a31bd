"""Text pieces every notifier shares: bounded strings, RFC 3339 times, the evidence line, links.

Pure functions of an ``Alert`` or a ``Notification``; the Slack, PagerDuty and webhook payload
builders use them so one alert reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.alerting.alert import Alert
from monitor.alerting.notification import Notification

ELLIPSIS = "…"
ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time``, which Alertmanager puts in ``endsAt`` of a firing alert."""
MISSING_IDS_SHOWN = 5
LINK_ANNOTATIONS = (("runbook_url", "Runbook"), ("dashboard_url", "Dashboard"))


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked by an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 1, 0)] + ELLIPSIS if limit > 0 else ""


def rfc3339(ts: float) -> str:
    """Go's RFC3339Nano as Alertmanager writes it: UTC, ``Z``, no trailing zeros in the fraction."""
    when = datetime.fromtimestamp(ts, UTC)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{when.microsecond:06d}".rstrip("0")
    return f"{base}.{frac}Z" if frac else f"{base}Z"


def generator_url(alert: Alert, external_url: str) -> str:
    """Where the alert comes from: its ``generator_url`` annotation, else hopwatch's alert API."""
    given = dict(alert.annotations).get("generator_url")
    if given:
        return given
    return f"{external_url.rstrip('/')}/api/v1/alerts?fingerprint={alert.fingerprint}"


def summary(alert: Alert) -> str:
    """One line saying what is wrong: the ``summary`` annotation, else the alert name and labels."""
    ann = dict(alert.annotations)
    if ann.get("summary"):
        return ann["summary"]
    shown = ", ".join(f"{k}={v}" for k, v in alert.labels if k not in ("alertname", "severity"))
    return f"{alert.name} ({shown})" if shown else alert.name


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-3 or abs(value) >= 1e6 else f"{value:g}"
    return str(value)


def evidence_line(evidence: Mapping[str, Any]) -> str:
    """The numbers an on-call engineer reads first: observed vs expected, missing, p-value, ids."""
    parts: list[str] = []
    observed = _first(evidence, ("observed", "arrived"))
    expected = _first(evidence, ("expected",))
    unit = ""
    if observed is None or expected is None:
        observed = evidence.get("observed_seconds")
        expected = evidence.get("expected_seconds")
        unit = " s"
    if observed is not None and expected is not None:
        parts.append(f"observed {_number(observed)}{unit} vs expected {_number(expected)}{unit}")
    if evidence.get("missing") is not None:
        parts.append(f"missing {_number(evidence['missing'])}")
    if evidence.get("p_value") is not None:
        parts.append(f"p-value {_number(evidence['p_value'])}")
    ids = evidence.get("missing_ids") or ()
    if isinstance(ids, list | tuple) and ids:
        shown = ", ".join(str(i) for i in ids[:MISSING_IDS_SHOWN])
        more = len(ids) - MISSING_IDS_SHOWN
        parts.append(f"missing ids: {shown}" + (f" (+{more})" if more > 0 else ""))
    return " · ".join(parts)


def _first(evidence: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        if evidence.get(key) is not None:
            return evidence[key]
    return None


def links(alert: Alert) -> list[tuple[str, str]]:
    """``(text, url)`` for the runbook and dashboard annotations the alert has."""
    ann = dict(alert.annotations)
    return [(text, ann[key]) for key, text in LINK_ANNOTATIONS if ann.get(key)]


def group_links(notification: Notification) -> list[tuple[str, str]]:
    """Runbook and dashboard links of the group, each URL once, in alert order."""
    seen: dict[str, str] = {}
    for alert in notification.alerts:
        for text, url in links(alert):
            seen.setdefault(url, text)
    return [(text, url) for url, text in seen.items()]


def severity(notification: Notification) -> str:
    """The group's ``severity`` label: common to all alerts, else that of the first firing one."""
    common = notification.common_labels().get("severity")
    if common:
        return common
    for alert in notification.firing or notification.alerts:
        value = dict(alert.labels).get("severity")
        if value:
            return value
    return ""


def alert_names(notification: Notification) -> str:
    """The distinct alert names of the group, in order, comma-separated."""
    return ", ".join(dict.fromkeys(a.name for a in notification.alerts if a.name)) or "alert"


def title(notification: Notification) -> str:
    """``[FIRING:3] HopwatchEdgeDataLoss`` (or ``[RESOLVED] …``): Alertmanager's default title."""
    status = notification.status.upper()
    count = f":{len(notification.firing)}" if notification.firing else ""
    return f"[{status}{count}] {alert_names(notification)}"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced, for anything echoed back from a server."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
