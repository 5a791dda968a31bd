"""Files pulled in by ``include:``: each must be a hopwatch document with a known ``kind``.

The kinds belong to other packages (SLO groups to ``slo``, checks to ``anomaly``, routing to
``routing``); they plug their semantic validation into ``KIND_VALIDATORS`` so the config package
never imports them, and ``hopwatch validate`` checks every file the daemon would read.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor.config.document import MISSING_HINTS, type_name
from monitor.config.errors import ConfigIssue
from monitor.config.spec import API_VERSION
from monitor.config.yamlpos import Positions, load_yaml

KindValidator = Callable[[Path, Any, Positions], list[ConfigIssue]]
"""(file, parsed data, positions) → issues; usually ``validate_data`` with the kind's spec."""


def _simulation(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """``kind: Simulation`` (the demo's scenarios): schema, then whether the values fit together."""
    from monitor.config.document import validate_data
    from monitor.sim.spec import SimulationSpec  # the simulator depends on config, not back

    spec, issues = validate_data(path, data, positions, SimulationSpec)
    if spec is not None:
        try:
            spec.to_scenario()
        except ValueError as err:
            line, col = positions.of(())
            issues.append(ConfigIssue(str(path), line, col, "", str(err)))
    return issues


def _slo(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """``kind: SLOGroup`` and OpenSLO ``kind: SLO``: the schema and what needs no main config."""
    from monitor.slo.load import validate_slo_file  # slo depends on config, not back

    return validate_slo_file(path, data, positions)


def _checks(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """``kind: Checks``: the schema and what needs no main config."""
    from monitor.anomaly.load import validate_checks_file  # anomaly depends on config, not back

    return validate_checks_file(path, data, positions)


def _routing(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """``kind: Routing``: the schema, Alertmanager's rules and hopwatch's extensions."""
    from monitor.routing.load import validate_routing_file  # routing depends on config, not back

    return validate_routing_file(path, data, positions)


KIND_VALIDATORS: dict[str, KindValidator] = {
    "SLOGroup": _slo,
    "SLO": _slo,
    "Checks": _checks,
    "Routing": _routing,
    "Simulation": _simulation,
}
OTHER_API_VERSIONS = {"SLO": "openslo/v1"}
"""Kinds that also come in another project's format (plain OpenSLO documents)."""
"""Semantic validators of included files by ``kind``; the owning packages replace their entry."""

YAML_SUFFIXES = (".yaml", ".yml")


def include_files(entry: Path) -> list[Path]:
    """The files an ``include:`` entry stands for: itself, or a directory's YAML files by name."""
    if entry.is_dir():
        return sorted(p for p in entry.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
    return [entry]


def check_included_file(path: Path) -> list[ConfigIssue]:
    """Validate one file of ``include:``: YAML, ``apiVersion``, a known ``kind``, then its kind's
    own validator. Also what ``hopwatch validate`` runs on a standalone included file."""
    doc = load_yaml(path)
    issues = list(doc.issues)
    if not doc.readable:
        return issues
    file, data, pos = str(path), doc.data, doc.positions
    if not isinstance(data, dict):
        line, col = pos.of(())
        issues.append(
            ConfigIssue(
                file,
                line,
                col,
                "",
                f"expected a mapping of keys, got {type_name(data)}",
                f"an included file starts with apiVersion: {API_VERSION} and kind: ...",
            )
        )
        return issues
    known_kinds = ", ".join(sorted(KIND_VALIDATORS))
    ok = True
    for key, hint in (("apiVersion", MISSING_HINTS["apiVersion"]), ("kind", None)):
        if key not in data:
            line, col = pos.of(())
            hint = hint or f"known kinds: {known_kinds}"
            issues.append(ConfigIssue(file, line, col, key, "missing required key", hint))
            ok = False
    accepted = OTHER_API_VERSIONS.get(str(data.get("kind")), API_VERSION)
    if "apiVersion" in data and data["apiVersion"] not in (API_VERSION, accepted):
        line, col = pos.of(("apiVersion",))
        issues.append(
            ConfigIssue(
                file,
                line,
                col,
                "apiVersion",
                f"unsupported apiVersion {data['apiVersion']!r}",
                f"hopwatch accepts {API_VERSION!r}",
            )
        )
        ok = False
    kind = data.get("kind")
    if "kind" in data and kind not in KIND_VALIDATORS:
        line, col = pos.of(("kind",))
        issues.append(
            ConfigIssue(
                file, line, col, "kind", f"unknown kind {kind!r}", f"known kinds: {known_kinds}"
            )
        )
        ok = False
    if ok:
        issues.extend(KIND_VALIDATORS[str(kind)](path, data, pos))
    return issues
