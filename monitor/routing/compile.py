"""A checked Routing spec as ``model.RoutingConfig``, with Alertmanager's route semantics.

Route options are inherited down the tree as Alertmanager's ``NewRoute`` does, matchers are sorted
as it sorts them, and time intervals go through the quiet schedules' parsers (the same syntax).
Only specs that passed ``checks.py`` come here, so every secret has a source.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from monitor.anomaly.spec import time_interval
from monitor.routing.integrations import IntegrationSpec, receiver_context, registered
from monitor.routing.matchers import (
    format_matchers,
    legacy_matchers,
    parse_matchers,
    sort_matchers,
)
from monitor.routing.model import (
    ConsoleConfig,
    DeliveryMode,
    Extensions,
    InhibitRule,
    IntegrationConfig,
    Matcher,
    PagerDutyConfig,
    Receiver,
    Route,
    RouteOpts,
    RoutingConfig,
    SlackConfig,
    SlackMode,
    WebhookConfig,
)
from monitor.routing.secret_sources import own_or_ext, resolve_slack
from monitor.routing.spec import (
    AlertmanagerSpec,
    InhibitRuleSpec,
    PagerDutySpec,
    ReceiverExtSpec,
    ReceiverSpec,
    RouteSpec,
    RoutingSpec,
    SlackSpec,
    WebhookSpec,
)

_AM_DEFAULTS = RouteOpts(receiver="")
"""Alertmanager's ``DefaultRouteOpts``: what the root inherits (timers 30s / 5m / 4h)."""


def _opts(spec: RouteSpec, parent: RouteOpts) -> RouteOpts:
    """Alertmanager's inheritance (``NewRoute``): a child starts from its parent's options and
    overrides what it sets. ``group_by: []`` sets nothing (Alertmanager reads it as unset), and
    time intervals are never inherited."""
    opts = replace(
        parent,
        mute_time_intervals=tuple(spec.mute_time_intervals),
        active_time_intervals=tuple(spec.active_time_intervals),
    )
    if spec.receiver is not None:
        opts = replace(opts, receiver=spec.receiver)
    if spec.group_by == ["..."]:
        opts = replace(opts, group_by=(), group_by_all=True)
    elif spec.group_by:
        opts = replace(opts, group_by=tuple(spec.group_by), group_by_all=False)
    for key in ("group_wait", "group_interval", "repeat_interval"):
        value = getattr(spec, key)
        if value is not None:
            opts = replace(opts, **{key: value})
    return opts


def _matchers(
    texts: list[str], equal: dict[str, str] | None, regex: dict[str, str] | None
) -> tuple[Matcher, ...]:
    """Legacy maps first, then the matcher strings, sorted as Alertmanager sorts a route's."""
    found = legacy_matchers(equal or {}, regex or {})
    for text in texts:
        found.extend(parse_matchers(text))
    return sort_matchers(found)


def _route(spec: RouteSpec, parent: RouteOpts, parent_key: str | None, index: int) -> Route:
    opts = _opts(spec, parent)
    matchers = _matchers(spec.matchers, spec.match, spec.match_re)
    key = format_matchers(matchers)
    key = key if parent_key is None else f"{parent_key}/{key}"
    children = tuple(_route(child, opts, key, i) for i, child in enumerate(spec.routes))
    return Route(opts, matchers, spec.continue_, children, key, index)


def _inhibit(spec: InhibitRuleSpec) -> InhibitRule:
    return InhibitRule(
        source=_matchers(spec.source_matchers, spec.source_match, spec.source_match_re),
        target=_matchers(spec.target_matchers, spec.target_match, spec.target_match_re),
        equal=tuple(spec.equal),
    )


def _slack_config(
    spec: SlackSpec, ext: ReceiverExtSpec | None, am: AlertmanagerSpec, base: Path
) -> SlackConfig:
    resolved = resolve_slack(spec, ext, am, base)
    assert resolved.url is not None  # checked in receiver_checks
    slack_ext = ext.slack if ext is not None else None
    can_update = resolved.mode is SlackMode.API
    update = (
        slack_ext.update_on_change if slack_ext and slack_ext.update_on_change is not None else True
    )
    threads = bool(slack_ext and slack_ext.thread_replies)
    return SlackConfig(
        channel=spec.channel or "",
        mode=resolved.mode,
        api_url=resolved.url,
        token=resolved.token if can_update else None,
        send_resolved=spec.send_resolved,
        title=spec.title,
        text=spec.text,
        update_on_change=update and can_update,
        thread_replies=threads and can_update,
    )


def _pagerduty(
    spec: PagerDutySpec,
    ext: ReceiverExtSpec | None,
    am: AlertmanagerSpec,
    external_url: str,
    base: Path,
) -> PagerDutyConfig:
    env = ext.pagerduty.routing_key_env if ext and ext.pagerduty else None
    key = own_or_ext(
        [("routing_key", spec.routing_key), ("routing_key_file", spec.routing_key_file)], env, base
    )
    assert key is not None  # checked in receiver_checks
    return PagerDutyConfig(
        routing_key=key,
        url=spec.url or am.global_.pagerduty_url,
        send_resolved=spec.send_resolved,
        severity=spec.severity,
        client=spec.client or PagerDutyConfig.client,
        client_url=spec.client_url or external_url,
        source=spec.source or "",
    )


def _webhook(spec: WebhookSpec, ext: ReceiverExtSpec | None, base: Path) -> WebhookConfig:
    env = ext.webhook.url_env if ext and ext.webhook else None
    url = own_or_ext([("url", spec.url), ("url_file", spec.url_file)], env, base)
    assert url is not None  # checked in receiver_checks
    return WebhookConfig(url=url, send_resolved=spec.send_resolved, max_alerts=spec.max_alerts)


def _receiver(
    spec: ReceiverSpec, routing: RoutingSpec, base: Path, plugins: tuple[IntegrationSpec, ...]
) -> Receiver:
    am, ext = routing.alertmanager, routing.extensions.receivers.get(spec.name)
    external = routing.extensions.external_url
    configs: list[IntegrationConfig] = [
        *(_slack_config(s, ext, am, base) for s in spec.slack_configs),
        *(_pagerduty(p, ext, am, external, base) for p in spec.pagerduty_configs),
        *(_webhook(w, ext, base) for w in spec.webhook_configs),
    ]
    for plugin in plugins:
        own = getattr(spec, plugin.key, [])
        if own:
            ctx = receiver_context(plugin, spec.name, routing, base, ())
            configs.extend(plugin.compile(own, ctx))
    if ext is not None and ext.console:
        configs.append(ConsoleConfig())
    return Receiver(spec.name, tuple(configs))


def _extensions(spec: RoutingSpec) -> Extensions:
    ext = spec.extensions
    return Extensions(
        delivery=DeliveryMode(ext.delivery),
        forward_urls=tuple(ext.forward.alertmanager_urls) if ext.forward else (),
        topology_inhibition=ext.topology_inhibition,
        external_url=ext.external_url,
    )


def compile_routing(
    spec: RoutingSpec, path: Path, plugins: tuple[IntegrationSpec, ...] | None = None
) -> RoutingConfig:
    """A checked spec as the model; ``path`` is where relative ``*_file`` secrets are read from;
    ``plugins`` the integrations registered from above (``integrations.registered()``)."""
    plugins = registered() if plugins is None else plugins
    am, base = spec.alertmanager, path.parent
    intervals = [*am.time_intervals, *am.mute_time_intervals]
    return RoutingConfig(
        route=_route(am.route, _AM_DEFAULTS, None, 0),
        receivers={r.name: _receiver(r, spec, base, plugins) for r in am.receivers},
        inhibit_rules=tuple(_inhibit(r) for r in am.inhibit_rules),
        time_intervals={
            t.name: tuple(time_interval(i) for i in t.time_intervals) for t in intervals
        },
        extensions=_extensions(spec),
        source=path,
        resolve_timeout=am.global_.resolve_timeout,
    )


__all__ = ["compile_routing"]
