"""Microsoft Teams through a Workflows (Power Automate) webhook: Alertmanager's ``msteamsv2_configs``.

One file holds the whole integration, as a plug-in: the receiver config (``webhook_url`` or
``webhook_url_file`` or the extension's ``webhook_url_env``, ``title``, ``text``,
``send_resolved``) that ``registry.discover`` hands to routing's loader, and the notifier. The
message is an Adaptive Card (version 1.2, what Teams renders in a Workflows post) with a title
and a text block; success is 200 or 202, 429 (with ``Retry-After``) and 5xx are retried, any other
status fails for good. The URL carries its own signature, so it is a secret: never logged, never in
an error message. Teams keeps no handle to update, so this integration has no ``state``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BeforeValidator, model_validator

from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.config.errors import IssueCollector, format_key_path
from monitor.config.spec import Spec, invalid
from monitor.notify import http, render, resolved
from monitor.routing.integrations import IntegrationSpec, ReceiverContext
from monitor.routing.model import Secret
from monitor.routing.secret_sources import own_or_ext
from monitor.routing.spec import EnvName, SecretUrl, Text

if TYPE_CHECKING:
    from monitor.notify.clients import Clients

NAME = "msteamsv2"
ACCEPTED = frozenset({200, 202})
"""What a Workflows webhook answers when it took the post (202: queued for the flow)."""
CARD = "application/vnd.microsoft.card.adaptive"
SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
MAX_TEXT = 20_000
"""Teams refuses a message over about 28 KB; the text block is kept well below."""


def _string(value: Any) -> Any:
    """A URL that is a secret: a wrong type is reported without showing the value."""
    if not isinstance(value, str):
        raise invalid("expected a string", "quote the value")
    return value


class MSTeamsV2Spec(Spec):
    """One ``msteamsv2_configs`` entry, key for key as in Alertmanager 0.28."""

    UNSUPPORTED: ClassVar[dict[str, str]] = {
        "http_config": "hopwatch supports http_config.authorization only on Slack configs"
    }
    send_resolved: bool = True
    webhook_url: Annotated[SecretUrl, BeforeValidator(_string)] | None = None
    webhook_url_file: Text | None = None
    title: str = ""
    text: str = ""

    @model_validator(mode="after")
    def _one(self) -> MSTeamsV2Spec:
        if self.webhook_url is not None and self.webhook_url_file is not None:
            raise invalid(
                "set webhook_url or webhook_url_file, not both",
                "keep the one your deployment provides",
            )
        return self


class MSTeamsV2ExtSpec(Spec):
    """``extensions.receivers.<name>.msteamsv2``: the URL from an environment variable."""

    webhook_url_env: EnvName | None = None


@dataclass(frozen=True)
class MSTeamsV2Config:
    """A checked ``msteamsv2_configs`` entry; the notifier's config."""

    integration: ClassVar[str] = NAME
    numbered: ClassVar[bool] = True
    webhook_url: Secret
    send_resolved: bool = True
    title: str = ""
    text: str = ""


def _env(ctx: ReceiverContext) -> str | None:
    return ctx.ext.webhook_url_env if ctx.ext is not None else None


def check(configs: Sequence[MSTeamsV2Spec], ctx: ReceiverContext, out: IssueCollector) -> None:
    """Every config needs a URL from somewhere (Alertmanager's message, hopwatch's fix)."""
    for j, config in enumerate(configs):
        if config.webhook_url is None and config.webhook_url_file is None and not _env(ctx):
            out.add(
                (*ctx.at, j),
                "one of webhook_url or webhook_url_file must be configured",
                f"or set {format_key_path((*ctx.ext_at, NAME, 'webhook_url_env'))}",
            )


def compile_configs(
    configs: Sequence[MSTeamsV2Spec], ctx: ReceiverContext
) -> tuple[MSTeamsV2Config, ...]:
    out = []
    for spec in configs:
        own = [("webhook_url", spec.webhook_url), ("webhook_url_file", spec.webhook_url_file)]
        url = own_or_ext(own, _env(ctx), ctx.base)
        assert url is not None  # checked above
        out.append(MSTeamsV2Config(url, spec.send_resolved, spec.title, spec.text))
    return tuple(out)


RECEIVER = IntegrationSpec(
    name=NAME,
    config=MSTeamsV2Spec,
    extension=MSTeamsV2ExtSpec,
    check=check,
    compile=compile_configs,
)


def _text(notification: Notification) -> str:
    lines = []
    for alert in notification.alerts:
        mark = "RESOLVED" if alert in notification.resolved else "FIRING"
        lines.append(f"- **[{mark}]** {render.summary(alert)}")
    lines += [f"[{label}]({url})" for label, url in render.group_links(notification)]
    return render.truncate("\n\n".join(lines), MAX_TEXT)


def payload(notification: Notification, config: MSTeamsV2Config) -> dict[str, Any]:
    """The Workflows post: a message with one Adaptive Card of a title and a text block."""
    firing = notification.status == "firing"
    title = config.title or render.title(notification)
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": CARD,
                "contentUrl": None,
                "content": {
                    "$schema": SCHEMA,
                    "type": "AdaptiveCard",
                    "version": "1.2",
                    "body": [
                        {
                            "type": "TextBlock",
                            "text": title,
                            "weight": "Bolder",
                            "size": "Medium",
                            "wrap": True,
                            "style": "heading",
                            "color": "Attention" if firing else "Good",
                        },
                        {
                            "type": "TextBlock",
                            "text": config.text or _text(notification),
                            "wrap": True,
                        },
                    ],
                },
            }
        ],
    }


class MSTeamsV2Notifier:
    """Posts the card; ``http.post_json`` classifies the answer, then only 200/202 count as sent."""

    name = NAME
    receiver = RECEIVER

    async def notify(
        self,
        notification: Notification,
        config: MSTeamsV2Config,
        environ: Mapping[str, str],
        clients: Clients,
    ) -> Delivery:
        notification = resolved.shown(notification, config.send_resolved)
        if not notification.alerts:
            return resolved.skipped()
        try:
            url = config.webhook_url.reveal(environ)
        except LookupError:
            return Delivery(Outcome.FAILED, "secret")
        delivery, response = await http.post_json(
            clients.http,
            url,
            payload(notification, config),
            timeout=clients.timeout,
            now=notification.at,
        )
        accepted = response is None or response.status_code in ACCEPTED
        if delivery.outcome is Outcome.SENT and not accepted:
            assert response is not None
            return Delivery(Outcome.FAILED, f"http_{response.status_code}")
        return delivery


NOTIFIER = MSTeamsV2Notifier()
