"""``hopwatch validate``: check config files the way CI wants, every problem at once.

The CLI wiring (``monitor/cli.py``) calls ``validate_command``; it takes the output stream so
tests and the CLI share one code path.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from monitor.config.errors import ConfigIssue
from monitor.config.includes import YAML_SUFFIXES, check_included_file, include_files
from monitor.config.loader import check_config
from monitor.config.model import Config
from monitor.config.yamlpos import load_yaml

if TYPE_CHECKING:
    from monitor.routing.model import RoutingConfig

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
        issues = check_included_file(path)
        if kind == "Routing" and not any(i.is_error for i in issues):
            from monitor.routing.load import load_routing_file  # routing depends on config

            routing, _ = load_routing_file(path)
            kind += _routing_counts(routing) if routing is not None else ""
        return issues, kind
    config, issues = check_config(path)
    if config is None:
        return issues, ""
    slos = checks = 0
    routing = ""
    if not any(i.is_error for i in issues):
        # SLO files checked against this config: pipelines, hops and edges they name must exist.
        from monitor.slo.load import SLO_KINDS, load_slo_group  # slo depends on config

        for included in config.includes:
            if _kind_of(included) in SLO_KINDS:
                group, found = load_slo_group(included, config)
                issues.extend(i for i in found if i not in issues)
                slos += len(group.slos) if group is not None else 0
            elif _kind_of(included) == "Checks":
                from monitor.anomaly.load import load_checks_file

                defs, found = load_checks_file(included, config)
                issues.extend(i for i in found if i not in issues)
                checks += len(defs) if defs is not None else 0
        routing = _routing_summary(config, issues)
    summary = _config_summary(config)
    summary += f", {_plural(slos, 'SLO')}" if slos else ""
    summary += f", {_plural(checks, 'check')}" if checks else ""
    return issues, summary + routing


def _routing_summary(config: Config, issues: list[ConfigIssue]) -> str:
    """``, 5 routes, 3 receivers`` for the config's Routing file (none: nothing to add); a
    second Routing file is an error, as the daemon would refuse it."""
    from monitor.config.errors import ConfigError
    from monitor.routing.load import load_routing, routing_files  # routing depends on config

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
