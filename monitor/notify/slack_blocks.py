"""The Slack message of one alert group, as Block Kit: pure, so its JSON can be golden-tested.

One message per group: a header (status, count, alert names, severity), one section per alert
(summary, the evidence numbers, runbook and dashboard links), and a context line with the group
key and labels. Slack's limits are kept here, exactly: at most 50 blocks (the alerts past the
room left are summarised as "and 37 more alerts"), 3,000 characters per section text, 150 per
header, and a plain ``text`` fallback always set (notifications and screen readers use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Notification
from monitor.notify import render

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_CONTEXT_TEXT = 3000
MAX_FALLBACK_TEXT = 3000
MAX_REPLY_NAMES = 10
FIRING_EMOJI = "\N{FIRE}"
RESOLVED_EMOJI = "\N{WHITE HEAVY CHECK MARK}"


@dataclass(frozen=True)
class SlackMessage:
    text: str
    blocks: tuple[dict[str, Any], ...]

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "blocks": list(self.blocks)}


def escape(text: str) -> str:
    """Slack mrkdwn control characters escaped (``&``, ``<``, ``>``), as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def header_text(notification: Notification, title: str = "") -> str:
    emoji = FIRING_EMOJI if notification.firing else RESOLVED_EMOJI
    text = title if title and "{{" not in title else render.title(notification)
    sev = render.severity(notification)
    return render.truncate(f"{emoji} {text}" + (f" · {sev}" if sev else ""), MAX_HEADER_TEXT)


def fallback_text(notification: Notification) -> str:
    first = notification.alerts[0] if notification.alerts else None
    text = render.title(notification)
    if first is not None:
        text += f": {render.summary(first)}"
        if len(notification.alerts) > 1:
            text += f" and {len(notification.alerts) - 1} more"
    return render.truncate(text, MAX_FALLBACK_TEXT)


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M UTC")


def alert_text(alert: Alert, group_labels: dict[str, str]) -> str:
    """The mrkdwn of one alert's section, at most 3,000 characters. Its labels are listed but
    for the group's own (shown once, in the context line), ``alertname`` and ``severity``."""
    firing = alert.state is AlertState.FIRING
    status = f"{FIRING_EMOJI} FIRING" if firing else f"{RESOLVED_EMOJI} RESOLVED"
    labels = dict(alert.labels)
    head = f"*{status}* · *{escape(alert.name or 'alert')}*"
    if labels.get("severity"):
        head += f" · `{escape(labels['severity'])}`"
    if firing:
        head += f" · since {_when(alert.starts_at)}"
    elif alert.ends_at is not None:
        head += f" · resolved {_when(alert.ends_at)}"
    body = [escape(render.summary(alert))]
    description = dict(alert.annotations).get("description")
    if description:
        body.append(escape(description))
    tail = []
    evidence = render.evidence_line(alert.evidence)
    if evidence:
        tail.append(f"_{escape(evidence)}_")
    own = [
        f"`{escape(k)}={escape(v)}`"
        for k, v in alert.labels
        if k not in ("alertname", "severity") and group_labels.get(k) != v
    ]
    if own:
        tail.append(" ".join(own))
    links = render.links(alert)
    if links:
        tail.append(" · ".join(f"<{url}|{text}>" for text, url in links))
    # Long prose gives way first, so the evidence and the links survive the 3,000 limit.
    room = MAX_SECTION_TEXT - len("\n".join([head, *tail])) - 1
    text = "\n".join(body)
    if len(text) > room >= 200:
        text = render.truncate(text, room)
    return render.truncate("\n".join([head, text, *tail]), MAX_SECTION_TEXT)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def context_text(notification: Notification) -> str:
    labels = ", ".join(f"{k}={v}" for k, v in notification.group_labels) or "(all)"
    text = f"group `{escape(notification.group_key)}` · {escape(labels)}"
    if notification.external_url:
        text += f" · <{notification.external_url}|hopwatch>"
    return render.truncate(text, MAX_CONTEXT_TEXT)


def render_message(notification: Notification, title: str = "") -> SlackMessage:
    """The Block Kit message for ``notification`` (all its alerts; filter resolved ones first
    if they are not to be shown)."""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": header_text(notification, title), "emoji": True},
        }
    ]
    room = MAX_BLOCKS - 2  # the header and the context line
    alerts = notification.alerts
    shown = alerts if len(alerts) <= room else alerts[: room - 1]
    grouped = dict(notification.group_labels)
    blocks.extend(_section(alert_text(a, grouped)) for a in shown)
    if len(shown) < len(alerts):
        more = len(alerts) - len(shown)
        blocks.append(_section(f"_and {more} more alert{'s' if more != 1 else ''}_"))
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context_text(notification)}]}
    )
    return SlackMessage(fallback_text(notification), tuple(blocks))


def thread_reply(notification: Notification) -> str | None:
    """A short thread reply saying what changed since the last message, or ``None`` if nothing."""
    prior = notification.prior
    if prior is None:
        return None
    was_firing = set(prior.firing)
    new = [a for a in notification.firing if a.fingerprint not in was_firing]
    gone = [
        a
        for a in notification.resolved
        if a.fingerprint in was_firing or a.fingerprint not in set(prior.resolved)
    ]
    parts = []
    if new:
        parts.append(f"{FIRING_EMOJI} {len(new)} new firing: {_names(new)}")
    if gone:
        parts.append(f"{RESOLVED_EMOJI} {len(gone)} resolved: {_names(gone)}")
    if not parts:
        return None
    if not notification.firing:
        parts.append("all alerts of the group are resolved")
    return render.truncate("; ".join(parts), MAX_SECTION_TEXT)


def _names(alerts: list[Alert]) -> str:
    shown = [escape(render.summary(a)) for a in alerts[:MAX_REPLY_NAMES]]
    more = len(alerts) - len(shown)
    return ", ".join(shown) + (f" (+{more})" if more > 0 else "")
