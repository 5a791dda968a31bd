"""Whole-file checks of a Routing file: what ``hopwatch validate`` runs past the schema.

Alertmanager's own rules (``config/config.go``): the root route takes every alert, so it has a
receiver and no matchers, ``continue`` or time intervals; every route names receivers and time
intervals the file defines; receiver and time interval names are unique. Then hopwatch's: each
receiver's secrets and Slack mode (``receiver_checks.py``) and the extensions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from monitor.config.errors import IssueCollector, KeyPath
from monitor.config.suggest import known_hint
from monitor.routing.integrations import IntegrationSpec
from monitor.routing.receiver_checks import check_receiver
from monitor.routing.spec import AlertmanagerSpec, RouteSpec, RoutingSpec

_AM: KeyPath = ("alertmanager",)
_EXT: KeyPath = ("extensions",)


def _check_root(route: RouteSpec, out: IssueCollector) -> None:
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
    route: RouteSpec, at: KeyPath, receivers: list[str], intervals: list[str], out: IssueCollector
) -> None:
    """Every route names receivers and time intervals the file defines."""
    if route.receiver is not None and route.receiver not in receivers:
        out.add(
            (*at, "receiver"),
            f"undefined receiver {route.receiver!r} used in route",
            known_hint(route.receiver, receivers, "receivers"),
        )
    for key in ("mute_time_intervals", "active_time_intervals"):
        for k, name in enumerate(getattr(route, key)):
            if name not in intervals:
                out.add(
                    (*at, key, k),
                    f"undefined time interval {name!r} used in route",
                    known_hint(name, intervals, "time intervals"),
                )
    for i, child in enumerate(route.routes):
        _check_routes(child, (*at, "routes", i), receivers, intervals, out)


def _unique_names(items: list[Any], at: KeyPath, what: str, out: IssueCollector) -> list[str]:
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


def _interval_names(am: AlertmanagerSpec, out: IssueCollector) -> list[str]:
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


_EXT_NEEDS = {
    "slack": "slack_configs",
    "pagerduty": "pagerduty_configs",
    "webhook": "webhook_configs",
}


def _check_extensions(
    spec: RoutingSpec,
    receivers: list[str],
    out: IssueCollector,
    plugins: tuple[IntegrationSpec, ...] = (),
) -> None:
    ext = spec.extensions
    needs = {**_EXT_NEEDS, **{p.name: p.key for p in plugins if p.extension is not None}}
    by_name = {r.name: r for r in spec.alertmanager.receivers}
    for name, extra in ext.receivers.items():
        at = (*_EXT, "receivers", name)
        if name not in by_name:
            out.add(at, f"unknown receiver {name!r}", known_hint(name, receivers, "receivers"))
            continue
        for key, configs in needs.items():
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


def check_file(
    spec: RoutingSpec, out: IssueCollector, base: Path, plugins: tuple[IntegrationSpec, ...] = ()
) -> None:
    am = spec.alertmanager
    receivers = _unique_names(am.receivers, (*_AM, "receivers"), "receiver", out)
    intervals = _interval_names(am, out)
    _check_root(am.route, out)
    _check_routes(am.route, (*_AM, "route"), receivers, intervals, out)
    for i, receiver in enumerate(am.receivers):
        check_receiver(receiver, i, spec, out, base, plugins)
    _check_extensions(spec, receivers, out, plugins)


__all__ = ["check_file"]
