"""The routing model: Alertmanager's routing tree, inhibition, time intervals and receivers, as
immutable records compiled from ``alert_rules/*.yaml`` (``kind: Routing``).

The semantics are Alertmanager's (``dispatch/route.go``, ``pkg/labels/matcher.go``) so a routing
file can be moved between the two and ``hopwatch routes test`` prints what ``amtool config routes
test`` prints. Where hopwatch adds something Alertmanager does not have (delivery mode, Slack
threading, topology-aware inhibition, secrets from environment variables) it lives in
``Extensions``, beside the Alertmanager section, never inside it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol

from monitor.routing.regex import compile_anchored
from monitor.time_intervals import TimeInterval

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


class MatchOp(enum.StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """``name op "value"``; a missing label matches as the empty string, as in Alertmanager.
    Regular expressions are anchored at both ends (``^(?:value)$``)."""

    name: str
    op: MatchOp
    value: str

    @cached_property
    def _regex(self) -> Any:
        return compile_anchored(self.value)

    def matches(self, labels: Mapping[str, str]) -> bool:
        got = labels.get(self.name, "")
        if self.op is MatchOp.EQ:
            return got == self.value
        if self.op is MatchOp.NE:
            return got != self.value
        hit = self._regex.match(got) is not None
        return hit if self.op is MatchOp.RE else not hit

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def matches_all(matchers: tuple[Matcher, ...], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)


@dataclass(frozen=True)
class RouteOpts:
    """What a route decides for the alerts it takes; children inherit what they do not set.

    ``group_by_all`` is Alertmanager's ``group_by: ['...']`` (every label, one alert per group);
    an empty ``group_by`` without it puts every alert of the route in one group."""

    receiver: str
    group_by: tuple[str, ...] = ()
    group_by_all: bool = False
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    """One node of the routing tree. ``key`` identifies it (Alertmanager's ``Route.Key()``: the
    parent's key, then ``/``, then this node's matchers) and is part of every group key."""

    opts: RouteOpts
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    routes: tuple[Route, ...] = ()
    key: str = "{}"
    index: int = 0
    """Position among its siblings: Alertmanager's ``ID()`` uses it to tell apart equal matchers."""

    def match(self, labels: Mapping[str, str]) -> list[Route]:
        """The routes an alert with ``labels`` ends at, in order (Alertmanager's ``Route.Match``).

        Depth first: the first matching child takes the alert unless it has ``continue``; a node
        none of whose children match takes it itself."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            hits = child.match(labels)
            found.extend(hits)
            if hits and not child.continue_:
                break
        return found or [self]

    def walk(self) -> list[Route]:
        out = [self]
        for child in self.routes:
            out.extend(child.walk())
        return out


@dataclass(frozen=True)
class InhibitRule:
    """Alerts matching ``target`` are muted while an alert matching ``source`` fires with the same
    values of the ``equal`` labels (a missing label equals a missing label). An alert never
    inhibits itself (Alertmanager: a target that also matches the source is not muted by itself)."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


class Secret:
    """A credential read when needed from a file or an environment variable (or given inline);
    never part of a repr, a log line or an error message."""

    __slots__ = ("_env", "_file", "_value")

    def __init__(
        self, *, value: str | None = None, env: str | None = None, file: Path | None = None
    ) -> None:
        self._value, self._env, self._file = value, env, file

    @property
    def source(self) -> str:
        """Where it comes from, safe to print: ``env:NAME``, ``file:/path`` or ``inline``."""
        if self._env:
            return f"env:{self._env}"
        if self._file:
            return f"file:{self._file}"
        return "inline"

    def reveal(self, environ: Mapping[str, str]) -> str:
        """The secret itself; raises ``LookupError`` naming the source (not the value) if unset."""
        if self._value is not None:
            return self._value
        if self._env:
            if not environ.get(self._env):
                raise LookupError(f"environment variable {self._env} is not set")
            return environ[self._env]
        if self._file:
            try:
                return self._file.read_text().strip()
            except OSError as exc:
                raise LookupError(f"cannot read {self._file}: {exc.strerror}") from None
        raise LookupError("no secret configured")

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self._value, self._env, self._file) == (
            other._value,
            other._env,
            other._file,
        )

    def __hash__(self) -> int:
        return hash((self._env, self._file))


class SlackMode(enum.StrEnum):
    API = "api"
    """Slack Web API with a bot token: ``chat.postMessage`` then ``chat.update`` (can update)."""
    WEBHOOK = "webhook"
    """Incoming webhook: posts only, cannot update or thread."""


class IntegrationConfig(Protocol):
    """One integration config of a receiver, as its notifier gets it: a frozen record whose
    ``integration`` names the notifier (``monitor.notify.registry``) that delivers with it."""

    integration: ClassVar[str]
    numbered: ClassVar[bool]
    """``slack[0]``, ``slack[1]`` … (Alertmanager's names) or, if false, just the name (``console``)."""

    @property
    def send_resolved(self) -> bool: ...


@dataclass(frozen=True)
class SlackConfig:
    """``slack_configs`` entry. ``api_url`` ending in ``/chat.postMessage`` (with a bot token as
    ``http_config.authorization.credentials``) is API mode; any other URL an incoming webhook."""

    integration: ClassVar[str] = "slack"
    numbered: ClassVar[bool] = True
    channel: str
    mode: SlackMode
    api_url: Secret
    token: Secret | None = None
    send_resolved: bool = True
    """hopwatch departs from Alertmanager here (its default is false for Slack)."""
    title: str = ""
    text: str = ""
    update_on_change: bool = True
    thread_replies: bool = False
    per_channel_rate: float = 1.0
    """Messages per second per channel (Slack's documented limit for chat.postMessage)."""


@dataclass(frozen=True)
class PagerDutyConfig:
    """``pagerduty_configs`` entry, Events API v2."""

    integration: ClassVar[str] = "pagerduty"
    numbered: ClassVar[bool] = True

    routing_key: Secret
    url: str = "https://events.pagerduty.com/v2/enqueue"
    send_resolved: bool = True
    severity: str = "error"
    client: str = "hopwatch"
    client_url: str = ""
    source: str = ""


@dataclass(frozen=True)
class WebhookConfig:
    """``webhook_configs`` entry: Alertmanager's webhook payload, version 4."""

    integration: ClassVar[str] = "webhook"
    numbered: ClassVar[bool] = True

    url: Secret
    send_resolved: bool = True
    max_alerts: int = 0


@dataclass(frozen=True)
class ConsoleConfig:
    """hopwatch extension (``extensions.receivers.<name>.console: true``): write notifications to
    the log (and the demo's console)."""

    integration: ClassVar[str] = "console"
    numbered: ClassVar[bool] = False
    send_resolved: bool = True


@dataclass(frozen=True)
class Receiver:
    """A named receiver and its integration configs, in delivery order (Alertmanager's: Slack,
    PagerDuty, webhook, the plug-ins by name, then hopwatch's console)."""

    name: str
    integrations: tuple[IntegrationConfig, ...] = ()

    def named(self) -> tuple[tuple[str, IntegrationConfig], ...]:
        """``(name, config)`` per integration: ``slack[0]``, ``pagerduty[1]``, ``console``."""
        seen: dict[str, int] = {}
        out = []
        for config in self.integrations:
            kind = config.integration
            index = seen[kind] = seen.get(kind, -1) + 1
            out.append((f"{kind}[{index}]" if config.numbered else kind, config))
        return tuple(out)

    def of(self, integration: str) -> tuple[Any, ...]:
        """The configs of one integration (``"slack"``), in order."""
        return tuple(c for c in self.integrations if c.integration == integration)


class DeliveryMode(enum.StrEnum):
    BUILTIN = "builtin"
    """hopwatch routes, groups and notifies itself (no Alertmanager needed)."""
    FORWARD = "forward"
    """hopwatch posts its alerts to an existing Alertmanager, which does the rest."""


@dataclass(frozen=True)
class Extensions:
    """What Alertmanager does not have."""

    delivery: DeliveryMode = DeliveryMode.BUILTIN
    forward_urls: tuple[str, ...] = ()
    """Alertmanager base URLs for ``forward`` (``POST {url}/api/v2/alerts``)."""
    topology_inhibition: bool = True
    """An incident on an upstream hop or edge mutes the downstream alerts it explains."""
    external_url: str = "http://127.0.0.1:9464"
    """Base of links in notifications (``/api/v1/alerts``, silences)."""


@dataclass(frozen=True)
class RoutingConfig:
    route: Route
    receivers: Mapping[str, Receiver]
    inhibit_rules: tuple[InhibitRule, ...] = ()
    time_intervals: Mapping[str, tuple[TimeInterval, ...]] = field(default_factory=dict)
    extensions: Extensions = Extensions()
    source: Path | None = None
    resolve_timeout: float = 300.0
    """Alertmanager's ``global.resolve_timeout``: an alert received without an end time is
    resolved when it has not been updated for this long (only forwarded alerts lack one)."""


def default_routing() -> RoutingConfig:
    """No routing file: every alert goes to the log, grouped by alert name, Alertmanager's timers."""
    opts = RouteOpts(receiver="log", group_by=("alertname",))
    return RoutingConfig(route=Route(opts), receivers={"log": Receiver("log", (ConsoleConfig(),))})
