"""From ``kind: Routing`` files to ``model.RoutingConfig``: schema, whole-file checks, mapping.

Three passes, each reporting ``ConfigIssue`` values with file:line:col like the rest of the config:
1. The strict schema (``spec.py`` via ``monitor.config.document``); keys Alertmanager knows but
   hopwatch does not implement are called that, with what is supported, not "unknown".
2. Checks that need the whole file (``validate_routing_file``, what ``hopwatch validate`` runs):
   Alertmanager's own (``config/config.go``: the root route, receivers and time intervals that
   exist and are unique) and hopwatch's (secrets that can be found, Slack modes, extensions).
3. Mapping into the model, with Alertmanager's inheritance of route options (``NewRoute``).
Nothing past this module sees YAML or the spec. Secrets are never read here: the notifiers read
them when they send, so ``validate`` passes in CI where the secrets do not exist.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from monitor.anomaly import quiet
from monitor.anomaly.spec import QuietSpec
from monitor.config.document import validate_data
from monitor.config.errors import (
    ConfigError,
    ConfigIssue,
    IssueCollector,
    KeyPath,
    format_key_path,
)
from monitor.config.model import Config
from monitor.config.yamlpos import Positions, YamlDocument, load_yaml
from monitor.routing.matchers import (
    format_matchers,
    legacy_matchers,
    parse_matchers,
    sort_matchers,
)
from monitor.routing.model import (
    DeliveryMode,
    Extensions,
    InhibitRule,
    Matcher,
    PagerDutyConfig,
    Receiver,
    Route,
    RouteOpts,
    RoutingConfig,
    Secret,
    SlackConfig,
    SlackMode,
    WebhookConfig,
    default_routing,
)
from monitor.routing.spec import (
    ROUTING_KIND,
    SLACK_API_SUFFIX,
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

_Issues = IssueCollector
_AM: KeyPath = ("alertmanager",)
_EXT: KeyPath = ("extensions",)


def _did_you_mean(value: str, known: list[str], what: str) -> str:
    close = difflib.get_close_matches(value, known, n=1)
    listed = f"known {what}: {', '.join(known) or 'none'}"
    return f"did you mean {close[0]!r}? {listed}" if close else listed


# --- schema: Alertmanager keys hopwatch does not implement -----------------------------------

_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def _parse_path(text: str) -> KeyPath:
    return tuple(int(i) if i else name for i, name in _PATH_PART.findall(text))


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _model_at(path: KeyPath) -> type[BaseModel] | None:
    """The spec model of the mapping at ``path`` of a Routing document (list indexes skipped)."""
    model: type[BaseModel] | None = RoutingSpec
    for part in path:
        if isinstance(part, int) or model is None:
            continue
        field = next((f for n, f in model.model_fields.items() if (f.alias or n) == part), None)
        model = _model_of(field.annotation) if field is not None else None
    return model


_MISSING_HINTS = {
    "alertmanager": "the Alertmanager configuration: route, receivers and optionally "
    "inhibit_rules and time_intervals",
    "route": "the routing tree, e.g. route: {receiver: console}",
}


_SECRET_KEYS = frozenset({"api_url", "slack_api_url", "credentials", "routing_key", "url"})
"""Keys whose values are secrets: a type error about them must not show the value."""


def _unsupported(issue: ConfigIssue) -> ConfigIssue:
    """Schema issues reworded for this format: an "unknown key" that Alertmanager knows says
    hopwatch does not implement it (and what it does); a secret's value is never shown."""
    path = _parse_path(issue.path)
    if path and path[-1] in _SECRET_KEYS and issue.message.startswith("expected a string"):
        return replace(issue, message="expected a string", hint="quote the value")
    if issue.message == "missing required key" and issue.hint is None and path:
        return replace(issue, hint=_MISSING_HINTS.get(str(path[-1])))
    if not issue.message.startswith("unknown key"):
        return issue
    model = _model_at(path[:-1])
    reasons: dict[str, str] = getattr(model, "UNSUPPORTED", {})
    key = str(path[-1])
    if model is None or key not in reasons:
        return issue
    known = ", ".join(f.alias or n for n, f in model.model_fields.items())
    return replace(
        issue,
        message=f"{key} is an Alertmanager setting hopwatch does not implement",
        hint=f"{reasons[key]}; supported here: {known}",
    )


# --- whole-file checks: Alertmanager's rules --------------------------------------------------


def _check_root(route: RouteSpec, out: _Issues) -> None:
    """Alertmanager's rules for the root route, which takes every alert no child takes."""
    at = (*_AM, "route")
    if route.receiver is None:
        out.add(
            at,
            "root route must specify a default receiver",
            "alerts no child route takes go there, e.g. receiver: console",
        )
    for key in ("matchers", "match", "match_re"):
        if getattr(route, key):
            out.add(
                (*at, key),
                "root route must not have any matchers",
                "the root route takes every alert; put matchers on a child route under routes:",
            )
    if route.continue_:
        out.add((*at, "continue"), "cannot have continue in root route", "remove it")
    for key in ("mute_time_intervals", "active_time_intervals"):
        if getattr(route, key):
            out.add(
                (*at, key),
                f"root route must not have any {key}",
                "set them on the child routes they should mute",
            )


def _check_routes(
    route: RouteSpec, at: KeyPath, receivers: list[str], intervals: list[str], out: _Issues
) -> None:
    """Every route names receivers and time intervals the file defines."""
    if route.receiver is not None and route.receiver not in receivers:
        out.add(
            (*at, "receiver"),
            f"undefined receiver {route.receiver!r} used in route",
            _did_you_mean(route.receiver, receivers, "receivers"),
        )
    for key in ("mute_time_intervals", "active_time_intervals"):
        for k, name in enumerate(getattr(route, key)):
            if name not in intervals:
                out.add(
                    (*at, key, k),
                    f"undefined time interval {name!r} used in route",
                    _did_you_mean(name, intervals, "time intervals"),
                )
    for i, child in enumerate(route.routes):
        _check_routes(child, (*at, "routes", i), receivers, intervals, out)


def _unique_names(items: list[Any], at: KeyPath, what: str, out: _Issues) -> list[str]:
    """Names of ``items`` (receivers, time intervals) in order; a repeated one is an error."""
    first: dict[str, int] = {}
    for i, item in enumerate(items):
        if item.name in first:
            out.add(
                (*at[:-1], at[-1], i, "name"),
                f"{what} name {item.name!r} is not unique; first defined at "
                f"{at[-1]}[{first[item.name]}]",
                f"{what} names must be unique",
            )
        first.setdefault(item.name, i)
    return list(first)


def _interval_names(am: AlertmanagerSpec, out: _Issues) -> list[str]:
    names = _unique_names(am.time_intervals, (*_AM, "time_intervals"), "time interval", out)
    older = _unique_names(
        am.mute_time_intervals, (*_AM, "mute_time_intervals"), "time interval", out
    )
    for i, name in enumerate(older):
        if name in names:
            out.add(
                (*_AM, "mute_time_intervals", i, "name"),
                f"time interval name {name!r} is also defined under time_intervals",
                "time interval names must be unique",
            )
    return names + [n for n in older if n not in names]


# --- whole-file checks: secrets, Slack modes, extensions --------------------------------------


@dataclass(frozen=True)
class _Slack:
    """What one ``slack_configs`` entry resolves to, before it becomes a ``SlackConfig``."""

    url: Secret | None
    known_url: str | None
    token: Secret | None
    mode: SlackMode


def _own_or_ext(own: list[tuple[str, Any]], ext_value: str | None, base: Path) -> Secret | None:
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


def _slack(
    config: SlackSpec, ext: ReceiverExtSpec | None, am: AlertmanagerSpec, base: Path
) -> _Slack:
    """Where the URL and token come from, and the mode they make (see ``SlackConfig``)."""
    slack_ext = ext.slack if ext is not None else None
    auth = config.http_config.authorization if config.http_config else None
    url = _own_or_ext(
        [("api_url", config.api_url), ("api_url_file", config.api_url_file)],
        slack_ext.api_url_env if slack_ext else None,
        base,
    )
    known_url = config.api_url
    if url is None:
        g = am.global_
        url = _own_or_ext(
            [("api_url", g.slack_api_url), ("api_url_file", g.slack_api_url_file)], None, base
        )
        known_url = g.slack_api_url
    token = _own_or_ext(
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
    return _Slack(url, known_url, token, SlackMode.API if api else SlackMode.WEBHOOK)


def _check_slack(
    config: SlackSpec,
    slack: _Slack,
    ext: ReceiverExtSpec | None,
    at: KeyPath,
    ext_at: KeyPath,
    out: _Issues,
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
    config: SlackSpec, slack: _Slack, at: KeyPath, ext_at: KeyPath, out: _Issues
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
    slack: _Slack, slack_ext: Any, at: KeyPath, ext_at: KeyPath, out: _Issues
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
    out: _Issues,
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
    receiver: ReceiverSpec, ext: ReceiverExtSpec | None, ext_at: KeyPath, out: _Issues
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


def _check_receiver(
    receiver: ReceiverSpec, i: int, spec: RoutingSpec, out: _Issues, base: Path
) -> None:
    am, ext = spec.alertmanager, spec.extensions.receivers.get(receiver.name)
    at = (*_AM, "receivers", i)
    ext_at = (*_EXT, "receivers", receiver.name)
    for j, slack in enumerate(receiver.slack_configs):
        resolved = _slack(slack, ext, am, base)
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


_EXT_NEEDS = {
    "slack": "slack_configs",
    "pagerduty": "pagerduty_configs",
    "webhook": "webhook_configs",
}


def _check_extensions(spec: RoutingSpec, receivers: list[str], out: _Issues) -> None:
    ext = spec.extensions
    by_name = {r.name: r for r in spec.alertmanager.receivers}
    for name, extra in ext.receivers.items():
        at = (*_EXT, "receivers", name)
        if name not in by_name:
            out.add(at, f"unknown receiver {name!r}", _did_you_mean(name, receivers, "receivers"))
            continue
        for key, configs in _EXT_NEEDS.items():
            if getattr(extra, key) is not None and not getattr(by_name[name], configs):
                out.add(
                    (*at, key),
                    f"receiver {name!r} has no {configs}",
                    f"add {configs} to it, or remove {key}",
                )
    if ext.delivery == "forward" and ext.forward is None:
        out.add(
            (*_EXT, "delivery"),
            "delivery: forward needs forward.alertmanager_urls",
            "e.g. forward: {alertmanager_urls: ['http://alertmanager:9093']}",
        )
    if ext.delivery == "builtin" and ext.forward is not None:
        out.add(
            (*_EXT, "forward"),
            "forward is only used with delivery: forward",
            "set delivery: forward, or remove forward",
            severity="warning",
        )


def _check_file(spec: RoutingSpec, out: _Issues, base: Path) -> None:
    am = spec.alertmanager
    receivers = _unique_names(am.receivers, (*_AM, "receivers"), "receiver", out)
    intervals = _interval_names(am, out)
    _check_root(am.route, out)
    _check_routes(am.route, (*_AM, "route"), receivers, intervals, out)
    for i, receiver in enumerate(am.receivers):
        _check_receiver(receiver, i, spec, out, base)
    _check_extensions(spec, receivers, out)


# --- mapping ---------------------------------------------------------------------------------

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


def _interval(spec: QuietSpec) -> quiet.TimeInterval:
    """One ``time_intervals`` entry through the quiet schedules' parsers (same syntax)."""

    def spans(items: list[str] | None, parser: Callable[[str], quiet.Span]) -> Any:
        return None if items is None else tuple(parser(i) for i in items)

    times = None
    if spec.times is not None:
        times = tuple(quiet.time_range(t.start_time, t.end_time) for t in spec.times)
    return quiet.TimeInterval(
        times=times,
        weekdays=spans(spec.weekdays, quiet.weekday_span),
        days_of_month=spans(spec.days_of_month, quiet.day_of_month_span),
        months=spans(spec.months, quiet.month_span),
        years=spans(spec.years, quiet.year_span),
        location=spec.location,
    )


def _slack_config(
    spec: SlackSpec, ext: ReceiverExtSpec | None, am: AlertmanagerSpec, base: Path
) -> SlackConfig:
    resolved = _slack(spec, ext, am, base)
    assert resolved.url is not None  # checked in _check_slack
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
    key = _own_or_ext(
        [("routing_key", spec.routing_key), ("routing_key_file", spec.routing_key_file)], env, base
    )
    assert key is not None  # checked in _check_receiver
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
    url = _own_or_ext([("url", spec.url), ("url_file", spec.url_file)], env, base)
    assert url is not None  # checked in _check_receiver
    return WebhookConfig(url=url, send_resolved=spec.send_resolved, max_alerts=spec.max_alerts)


def _receiver(spec: ReceiverSpec, routing: RoutingSpec, base: Path) -> Receiver:
    am, ext = routing.alertmanager, routing.extensions.receivers.get(spec.name)
    external = routing.extensions.external_url
    return Receiver(
        name=spec.name,
        slack=tuple(_slack_config(s, ext, am, base) for s in spec.slack_configs),
        pagerduty=tuple(_pagerduty(p, ext, am, external, base) for p in spec.pagerduty_configs),
        webhook=tuple(_webhook(w, ext, base) for w in spec.webhook_configs),
        console=ext.console if ext is not None else False,
    )


def _extensions(spec: RoutingSpec) -> Extensions:
    ext = spec.extensions
    return Extensions(
        delivery=DeliveryMode(ext.delivery),
        forward_urls=tuple(ext.forward.alertmanager_urls) if ext.forward else (),
        topology_inhibition=ext.topology_inhibition,
        external_url=ext.external_url,
    )


def compile_routing(spec: RoutingSpec, path: Path) -> RoutingConfig:
    """A checked spec as the model; ``path`` is where relative ``*_file`` secrets are read from."""
    am, base = spec.alertmanager, path.parent
    intervals = [*am.time_intervals, *am.mute_time_intervals]
    return RoutingConfig(
        route=_route(am.route, _AM_DEFAULTS, None, 0),
        receivers={r.name: _receiver(r, spec, base) for r in am.receivers},
        inhibit_rules=tuple(_inhibit(r) for r in am.inhibit_rules),
        time_intervals={t.name: tuple(_interval(i) for i in t.time_intervals) for t in intervals},
        extensions=_extensions(spec),
        source=path,
        resolve_timeout=am.global_.resolve_timeout,
    )


# --- entry points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    spec: RoutingSpec | None
    out: _Issues


def _read(path: Path, data: Any, positions: Positions) -> _Read:
    out = _Issues(str(path), positions)
    spec, issues = validate_data(path, data, positions, RoutingSpec)
    out.items.extend(_unsupported(i) for i in issues)
    if spec is not None:
        _check_file(spec, out, path.parent)
    return _Read(spec, out)


def validate_routing_file(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """Every problem of one Routing file: the ``KIND_VALIDATORS`` entry for ``Routing``."""
    return _read(path, data, positions).out.items


def _load(path: Path, doc: YamlDocument) -> tuple[RoutingConfig | None, list[ConfigIssue]]:
    issues = list(doc.issues)
    if not doc.readable:
        return None, issues
    read = _read(path, doc.data, doc.positions)
    issues.extend(read.out.items)
    if read.spec is None or any(i.is_error for i in issues):
        return None, issues
    return compile_routing(read.spec, path), issues


def load_routing_file(path: Path | str) -> tuple[RoutingConfig | None, list[ConfigIssue]]:
    """One Routing file: its model when nothing is an error, and every issue."""
    path = Path(path)
    return _load(path, load_yaml(path))


def routing_files(config: Config) -> list[Path]:
    """The included files of ``kind: Routing``, in include order."""
    found = []
    for path in config.includes:
        doc = load_yaml(path)
        if doc.readable and isinstance(doc.data, dict) and doc.data.get("kind") == ROUTING_KIND:
            found.append(path)
    return found


def load_routing(config: Config) -> RoutingConfig:
    """The routing of ``config``: its one Routing file, or ``default_routing()`` without one.

    Raises ``ConfigError`` with every issue when the file has an error, or when there are two
    Routing files (Alertmanager has one tree; merging two silently would hide routes)."""
    files = routing_files(config)
    if not files:
        return default_routing()
    routing, issues = load_routing_file(files[0])
    for extra in files[1:]:
        line, col = load_yaml(extra).positions.of(("kind",))
        issues.append(
            ConfigIssue(
                str(extra),
                line,
                col,
                "kind",
                f"a second kind: Routing file; the routing tree is in {files[0]}",
                "Alertmanager has one routing tree: merge the routes into one file",
            )
        )
    if routing is None or any(i.is_error for i in issues):
        raise ConfigError(sorted(issues, key=ConfigIssue.sort_key))
    return routing


__all__ = [
    "compile_routing",
    "load_routing",
    "load_routing_file",
    "routing_files",
    "validate_routing_file",
]
