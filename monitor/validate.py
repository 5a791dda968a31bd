"""Every kind of config file wired to its validator, and ``hopwatch validate`` over them.

``monitor.config`` knows the main file and the structure of included files; the kinds belong to
the packages above it (SLO groups to ``slo``, checks to ``anomaly``, routing to ``routing``,
scenarios to ``sim``; notifier plug-ins' receiver configs to ``routing``, through
``notify.registry.discover``). This module sits above them all and passes ``KINDS`` down, so the daemon
and ``hopwatch validate`` see every problem at once while ``config`` imports none of them.
``validate_command`` takes the output stream so tests and the CLI share one code path.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from monitor.anomaly.load import load_checks_file, validate_checks_file
from monitor.config import loader
from monitor.config.document import validate_data
from monitor.config.errors import ConfigError, ConfigIssue
from monitor.config.includes import (
    YAML_SUFFIXES,
    KindValidator,
    check_included_file,
    include_files,
)
from monitor.config.model import Config
from monitor.config.yamlpos import Positions, load_yaml
from monitor.notify.registry import discover
from monitor.routing.load import (
    load_routing,
    load_routing_file,
    routing_files,
    validate_routing_file,
)
from monitor.routing.model import RoutingConfig
from monitor.sim.spec import SimulationSpec
from monitor.slo.load import SLO_KINDS, load_slo_group, validate_slo_file


def _simulation(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """``kind: Simulation`` (the demo's scenarios): schema, then whether the values fit together."""
    spec, issues = validate_data(path, data, positions, SimulationSpec)
    if spec is not None:
        try:
            spec.to_scenario()
        except ValueError as err:
            line, col = positions.of(())
            issues.append(ConfigIssue(str(path), line, col, "", str(err)))
    return issues


NOTIFIERS = discover()
"""Every notifier plug-in, found before any Routing file is read: their receiver configs are
registered with routing's loader (which sits below ``monitor.notify`` and cannot look them up)."""

KINDS: Mapping[str, KindValidator] = {
    "SLOGroup": validate_slo_file,
    "SLO": validate_slo_file,
    "Checks": validate_checks_file,
    "Routing": validate_routing_file,
    "Simulation": _simulation,
}
"""Semantic validators of included files by ``kind`` (``config.includes.KNOWN_KINDS``)."""


def check_config(
    path: Path | str, environ: Mapping[str, str] | None = None
) -> tuple[Config | None, list[ConfigIssue]]:
    """``monitor.config.check_config`` with every kind's validator: what the daemon relies on."""
    return loader.check_config(path, environ, KINDS)


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """The runtime config with every included file checked by its kind, or ``ConfigError``."""
    return loader.load_config(path, environ, KINDS)


DEFAULT_PATH = "hopwatch.yaml"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _config_summary(config: Config) -> str:
    hops = sum(len(p.hops) for p in config.pipelines)
    edges = sum(len(p.edges) for p in config.pipelines)
    return ", ".join(
        (
            _plural(len(config.pipelines), "pipeline"),
            _plural(hops, "hop"),
            _plural(edges, "edge"),
            _plural(len(config.includes), "included file"),
        )
    )


def _kind_of(path: Path) -> str | None:
    """The ``kind`` of a standalone file, or None for a main config (which has no ``kind``)."""
    doc = load_yaml(path)
    if doc.readable and isinstance(doc.data, dict) and "kind" in doc.data:
        return str(doc.data["kind"])
    return None


def check_path(path: Path) -> tuple[list[ConfigIssue], str]:
    """Issues of one file, and the summary to print when none of them is an error."""
    kind = _kind_of(path)
    if kind is not None:
        issues = check_included_file(path, KINDS)
        if kind == "Routing" and not any(i.is_error for i in issues):
            routing, _ = load_routing_file(path)
            kind += _routing_counts(routing) if routing is not None else ""
        return issues, kind
    config, issues = check_config(path)
    if config is None:
        return issues, ""
    slos = checks = 0
    routing_text = ""
    if not any(i.is_error for i in issues):
        # SLO files checked against this config: pipelines, hops and edges they name must exist.
        for included in config.includes:
            if _kind_of(included) in SLO_KINDS:
                group, found = load_slo_group(included, config)
                issues.extend(i for i in found if i not in issues)
                slos += len(group.slos) if group is not None else 0
            elif _kind_of(included) == "Checks":
                defs, found = load_checks_file(included, config)
                issues.extend(i for i in found if i not in issues)
                checks += len(defs) if defs is not None else 0
        routing_text = _routing_summary(config, issues)
    summary = _config_summary(config)
    summary += f", {_plural(slos, 'SLO')}" if slos else ""
    summary += f", {_plural(checks, 'check')}" if checks else ""
    return issues, summary + routing_text


def _routing_summary(config: Config, issues: list[ConfigIssue]) -> str:
    """``, 5 routes, 3 receivers`` for the config's Routing file (none: nothing to add); a
    second Routing file is an error, as the daemon would refuse it."""
    if not routing_files(config):
        return ""
    try:
        routing = load_routing(config)
    except ConfigError as err:
        issues.extend(i for i in err.issues if i not in issues)
        return ""
    return _routing_counts(routing)


def _routing_counts(routing: RoutingConfig) -> str:
    """Every node of the tree, the root included, is a route."""
    routes = len(routing.route.walk())
    return f", {_plural(routes, 'route')}, {_plural(len(routing.receivers), 'receiver')}"


def _expand(paths: list[str]) -> tuple[list[str], list[ConfigIssue]]:
    """A directory stands for its YAML files, so ``hopwatch validate slo_definitions/`` works;
    one without any is an error, since checking nothing must not pass CI."""
    out: list[str] = []
    issues: list[ConfigIssue] = []
    for name in paths:
        path = Path(name)
        if not path.is_dir():
            out.append(name)
            continue
        files = include_files(path)
        if not files:
            patterns = ", ".join(f"*{suffix}" for suffix in YAML_SUFFIXES)
            issues.append(ConfigIssue(str(path), 0, 0, "", f"no YAML files ({patterns}) here"))
        out.extend(str(p) for p in files)
    return out, issues


def validate_command(paths: list[str], out: TextIO = sys.stdout) -> int:
    """Print every issue (sorted by file, line, column), then one ``ok`` line per clean file.

    Exit status 1 when any issue is an error; warnings alone still pass, so CI can adopt a new
    warning without breaking builds."""
    names, issues = _expand(paths or [DEFAULT_PATH])
    summaries: list[str] = []
    for name in names:
        found, summary = check_path(Path(name))
        issues.extend(found)
        warnings = sum(1 for i in found if not i.is_error)
        if warnings:
            summary += f", {_plural(warnings, 'warning')}"
        summaries.append(f"{name}: ok — {summary}")
    for issue in sorted(issues, key=ConfigIssue.sort_key):
        print(issue, file=out)
    if any(i.is_error for i in issues):
        return 1
    for line in summaries:
        print(line, file=out)
    return 0
