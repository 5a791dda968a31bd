"""Where each secret of a Routing file comes from: inline, a ``*_file``, or an extension env var.

The secrets themselves are never read here (the notifiers read them when they send), only where
they will be found; so ``hopwatch validate`` passes in CI where the secrets do not exist. A Slack
config's URL and token also decide its mode (Web API or incoming webhook). Both the whole-file
checks (``receiver_checks.py``) and the mapping (``compile.py``) resolve secrets through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor.routing.model import Secret, SlackMode
from monitor.routing.spec import SLACK_API_SUFFIX, AlertmanagerSpec, ReceiverExtSpec, SlackSpec


@dataclass(frozen=True)
class ResolvedSlack:
    """What one ``slack_configs`` entry resolves to, before it becomes a ``SlackConfig``."""

    url: Secret | None
    known_url: str | None
    token: Secret | None
    mode: SlackMode


def own_or_ext(own: list[tuple[str, Any]], ext_value: str | None, base: Path) -> Secret | None:
    """The secret an integration config names itself (inline or a file) or through extensions."""
    for key, value in own:
        if value is not None:
            return (
                Secret(file=_relative(value, base))
                if key.endswith("_file")
                else Secret(value=value)
            )
    return Secret(env=ext_value) if ext_value is not None else None


def _relative(name: str, base: Path) -> Path:
    """Alertmanager reads relative ``*_file`` paths from the config file's directory."""
    path = Path(name)
    return path if path.is_absolute() else base / path


def resolve_slack(
    config: SlackSpec, ext: ReceiverExtSpec | None, am: AlertmanagerSpec, base: Path
) -> ResolvedSlack:
    """Where the URL and token come from, and the mode they make (see ``SlackConfig``)."""
    slack_ext = ext.slack if ext is not None else None
    auth = config.http_config.authorization if config.http_config else None
    url = own_or_ext(
        [("api_url", config.api_url), ("api_url_file", config.api_url_file)],
        slack_ext.api_url_env if slack_ext else None,
        base,
    )
    known_url = config.api_url
    if url is None:
        g = am.global_
        url = own_or_ext(
            [("api_url", g.slack_api_url), ("api_url_file", g.slack_api_url_file)], None, base
        )
        known_url = g.slack_api_url
    token = own_or_ext(
        [
            ("credentials", auth.credentials if auth else None),
            ("credentials_file", auth.credentials_file if auth else None),
        ],
        slack_ext.token_env if slack_ext else None,
        base,
    )
    if known_url is not None:
        api = known_url.rstrip("/").endswith(SLACK_API_SUFFIX)
    else:
        api = token is not None
    return ResolvedSlack(url, known_url, token, SlackMode.API if api else SlackMode.WEBHOOK)


__all__ = ["ResolvedSlack", "own_or_ext", "resolve_slack"]
