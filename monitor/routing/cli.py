"""``hopwatch routes test`` and ``hopwatch routes show``: amtool's route commands, offline.

``routes test label=value ...`` prints the receivers an alert with those labels reaches, comma
separated, byte for byte what ``amtool config routes test --config.file=... label=value ...``
prints for the same ``alertmanager:`` section (``--tree`` and ``--verify.receivers`` included),
so an Alertmanager user's habits and CI scripts carry over. ``routes show`` prints the tree as
``amtool config routes`` does. ``--config`` takes the main config (its included Routing file is
used) or one Routing file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from monitor.config.errors import ConfigError, ConfigIssue
from monitor.config.loader import check_config
from monitor.config.yamlpos import load_yaml
from monitor.routing.load import load_routing, load_routing_file
from monitor.routing.matchers import MatcherError, format_matchers, parse_matcher
from monitor.routing.model import MatchOp, Route, RoutingConfig
from monitor.routing.spec import ROUTING_KIND

_BRANCH, _LAST = "├── ", "└── "
_PIPE, _SPACE = "│\u00a0\u00a0 ", "    "
"""treeprint's edges (amtool prints its trees with it), no-break spaces included."""


def read_routing(path: Path) -> tuple[RoutingConfig | None, list[ConfigIssue]]:
    """The routing of a main config (its Routing include, or the default) or of a Routing file."""
    doc = load_yaml(path)
    kind = doc.data.get("kind") if doc.readable and isinstance(doc.data, dict) else None
    if kind == ROUTING_KIND:
        return load_routing_file(path)
    if kind is not None:
        issue = ConfigIssue(
            str(path),
            1,
            1,
            "kind",
            f"expected a main config or kind: {ROUTING_KIND}, got kind {kind!r}",
        )
        return None, [issue]
    config, issues = check_config(path)
    if config is None:
        return None, issues
    try:
        return load_routing(config), issues
    except ConfigError as err:
        return None, list(err.issues)


def parse_labels(args: list[str]) -> dict[str, str]:
    """``name=value`` arguments as amtool reads them (a quoted value may hold spaces and ``=``);
    a later label of the same name wins."""
    labels: dict[str, str] = {}
    for arg in args:
        matcher = parse_matcher(arg)
        if matcher.op is not MatchOp.EQ:
            raise MatcherError("labels must be specified as key=value pairs")
        labels[matcher.name] = matcher.value
    return labels


def receivers_for(route: Route, labels: dict[str, str]) -> list[str]:
    """The receivers, in routing order and with repeats, as ``amtool config routes test``."""
    return [r.opts.receiver for r in route.match(labels)]


def _slug(route: Route, show_continue: bool, show_receiver: bool) -> str:
    """One tree line as amtool's ``getRouteTreeSlug`` writes it."""
    text = format_matchers(route.matchers) if route.matchers else "default-route"
    if route.continue_ and show_continue:
        text += "  continue: true"
    if show_receiver:
        text += f"  receiver: {route.opts.receiver}"
    return text


def _tree(lines: list[tuple[str, list]], prefix: str = "") -> str:
    """``lines`` is ``[(text, children)]``; rendered below a ``.`` root like treeprint."""
    out = ""
    for i, (text, children) in enumerate(lines):
        last = i == len(lines) - 1
        out += f"{prefix}{_LAST if last else _BRANCH}{text}\n"
        out += _tree(children, prefix + (_SPACE if last else _PIPE))
    return out


def _full(route: Route) -> tuple[str, list]:
    return (_slug(route, True, True), [_full(child) for child in route.routes])


def _matching(route: Route, labels: dict[str, str]) -> tuple[str, list]:
    """The matched paths only; receivers shown where an alert stops (amtool's ``--tree``)."""
    children = []
    for child in route.routes:
        if child.match(labels):
            children.append(_matching(child, labels))
            if not child.continue_:
                break
    return (_slug(route, False, not children), children)


def _load(config: Path, err: TextIO) -> RoutingConfig | None:
    routing, issues = read_routing(config)
    if routing is None:
        for issue in sorted(issues, key=ConfigIssue.sort_key):
            print(issue, file=err)
    return routing


def routes_test_command(
    config: Path,
    args: list[str],
    out: TextIO,
    err: TextIO,
    *,
    verify: str | None = None,
    tree: bool = False,
) -> int:
    """Exit 0; 1 when the config has errors or the receivers differ from ``verify`` (after
    printing them and amtool's warning); 2 when a label is not ``name=value``."""
    routing = _load(config, err)
    if routing is None:
        return 1
    try:
        labels = parse_labels(args)
    except MatcherError as exc:
        print(f"hopwatch routes test: cannot parse labels: {str(exc).partition('; ')[0]}", file=err)
        return 2
    if tree:
        print(f"Matching routes:\n.\n{_tree([_matching(routing.route, labels)])}\n", file=out)
    found = ",".join(receivers_for(routing.route, labels))
    print(found, file=out)
    if verify is not None and verify != found:
        print("WARNING: Expected receivers did not match resolved receivers.", file=out)
        return 1
    return 0


def routes_show_command(config: Path, out: TextIO, err: TextIO) -> int:
    """The routing tree as ``amtool config routes`` prints it."""
    routing = _load(config, err)
    if routing is None:
        return 1
    print(f"Routing tree:\n.\n{_tree([_full(routing.route)])}", file=out)
    return 0


__all__ = [
    "parse_labels",
    "read_routing",
    "receivers_for",
    "routes_show_command",
    "routes_test_command",
]
