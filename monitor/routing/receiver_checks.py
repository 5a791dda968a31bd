"""Whole-file checks of one receiver: Slack modes, secrets that can be found, unused env vars.

hopwatch's own checks (Alertmanager has no Slack Web API mode and no extensions): a Slack config
must have a URL, and in API mode a token and a channel; a PagerDuty or webhook config must name its
secret inline, in a file or through the receiver's extensions; an extension env var that every
config overrides is a warning. ``checks.py`` runs ``check_receiver`` on each receiver.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.config.errors import IssueCollector, KeyPath, format_key_path
from monitor.routing.integrations import IntegrationSpec, receiver_context
from monitor.routing.model import SlackMode
from monitor.routing.secret_sources import ResolvedSlack, resolve_slack
from monitor.routing.spec import (
    SLACK_API_SUFFIX,
    ReceiverExtSpec,
    ReceiverSpec,
    RoutingSpec,
    SlackSpec,
)

_AM: KeyPath = ("alertmanager",)
_EXT: KeyPath = ("extensions",)


def _check_slack(
    config: SlackSpec,
    slack: ResolvedSlack,
    ext: ReceiverExtSpec | None,
    at: KeyPath,
    ext_at: KeyPath,
    out: IssueCollector,
) -> None:
    slack_ext = ext.slack if ext is not None else None
    if slack.url is None:
        out.add(
            at,
            "no Slack API URL set",
            "set api_url (https://slack.com/api/chat.postMessage with a bot token, or an incoming "
            "webhook URL) or api_url_file, or global.slack_api_url",
        )
    if slack.mode is SlackMode.API:
        _check_api_mode(config, slack, at, ext_at, out)
    else:
        _check_webhook_mode(slack, slack_ext, at, ext_at, out)


def _check_api_mode(
    config: SlackSpec, slack: ResolvedSlack, at: KeyPath, ext_at: KeyPath, out: IssueCollector
) -> None:
    if slack.token is None:
        out.add(
            at,
            f"Slack API mode (api_url ends in {SLACK_API_SUFFIX}) needs a bot token",
            "set http_config.authorization.credentials_file, or "
            f"{format_key_path((*ext_at, 'slack', 'token_env'))}",
        )
    if config.channel is None:
        out.add(at, "Slack API mode needs a channel", "e.g. channel: '#alerts'")


def _check_webhook_mode(
    slack: ResolvedSlack, slack_ext: Any, at: KeyPath, ext_at: KeyPath, out: IssueCollector
) -> None:
    if slack_ext is not None:
        for key in ("update_on_change", "thread_replies"):
            if getattr(slack_ext, key):
                out.add(
                    (*ext_at, "slack", key),
                    f"an incoming webhook cannot update or thread messages, so {key} does nothing",
                    f"use api_url https://slack.com/api{SLACK_API_SUFFIX} with a bot token, "
                    f"or remove {key}",
                    severity="warning",
                )
    if slack.token is not None and slack.known_url is not None:
        out.add(
            at,
            "a bot token is only used with Slack's Web API, not an incoming webhook",
            f"use api_url https://slack.com/api{SLACK_API_SUFFIX}, or remove the token",
            severity="warning",
        )


def _check_secret(
    own: list[str],
    spec: Any,
    ext_value: str | None,
    at: KeyPath,
    message: str,
    hint: str,
    out: IssueCollector,
) -> None:
    """One secret of a PagerDuty or webhook config: inline, a file, or the receiver's env var."""
    if ext_value is None and all(getattr(spec, k) is None for k in own):
        out.add(at, message, hint)


_ENV_FALLBACKS: tuple[tuple[str, str, str, Callable[[Any], bool]], ...] = (
    ("slack", "api_url_env", "slack_configs", lambda c: bool(c.api_url or c.api_url_file)),
    ("slack", "token_env", "slack_configs", lambda c: c.token_given),
    (
        "pagerduty",
        "routing_key_env",
        "pagerduty_configs",
        lambda c: bool(c.routing_key or c.routing_key_file),
    ),
    ("webhook", "url_env", "webhook_configs", lambda c: bool(c.url or c.url_file)),
)
"""Extension env vars and the config setting that takes precedence over each."""


def _check_unused_env(
    receiver: ReceiverSpec, ext: ReceiverExtSpec | None, ext_at: KeyPath, out: IssueCollector
) -> None:
    """An env var of the extensions is a fallback for the configs that name no secret of their
    own; one that no config falls back to is almost certainly a mistake."""
    for part, key, configs, has_own in _ENV_FALLBACKS:
        value = getattr(getattr(ext, part, None), key, None)
        items = getattr(receiver, configs)
        if value is not None and items and all(has_own(c) for c in items):
            out.add(
                (*ext_at, part, key),
                f"{key} is never used: every one of {configs} of receiver {receiver.name!r} "
                "sets its own",
                "remove it, or the configs' own setting",
                severity="warning",
            )


def check_receiver(
    receiver: ReceiverSpec,
    i: int,
    spec: RoutingSpec,
    out: IssueCollector,
    base: Path,
    plugins: tuple[IntegrationSpec, ...] = (),
) -> None:
    am, ext = spec.alertmanager, spec.extensions.receivers.get(receiver.name)
    at = (*_AM, "receivers", i)
    ext_at = (*_EXT, "receivers", receiver.name)
    for j, slack in enumerate(receiver.slack_configs):
        resolved = resolve_slack(slack, ext, am, base)
        _check_slack(slack, resolved, ext, (*at, "slack_configs", j), ext_at, out)
    _check_unused_env(receiver, ext, ext_at, out)
    env = ext.pagerduty.routing_key_env if ext and ext.pagerduty else None
    for j, pd in enumerate(receiver.pagerduty_configs):
        _check_secret(
            ["routing_key", "routing_key_file"],
            pd,
            env,
            (*at, "pagerduty_configs", j),
            "missing routing key in PagerDuty config",
            f"set routing_key_file, or {format_key_path((*ext_at, 'pagerduty', 'routing_key_env'))}",
            out,
        )
    env = ext.webhook.url_env if ext and ext.webhook else None
    for j, hook in enumerate(receiver.webhook_configs):
        _check_secret(
            ["url", "url_file"],
            hook,
            env,
            (*at, "webhook_configs", j),
            "one of url or url_file must be configured",
            f"or set {format_key_path((*ext_at, 'webhook', 'url_env'))}",
            out,
        )

    for plugin in plugins:
        configs = getattr(receiver, plugin.key, [])
        ctx = receiver_context(plugin, receiver.name, spec, base, (*at, plugin.key))
        if configs:
            plugin.check(configs, ctx, out)


__all__ = ["check_receiver"]
