"""Files pulled in by ``include:``: each must be a hopwatch document with a known ``kind``.

The kinds belong to other packages (SLO groups to ``slo``, checks to ``anomaly``, routing to
``routing``, scenarios to ``sim``); ``monitor/validate.py`` passes their semantic validators in
(``KINDS``) so the config package never imports them, and ``hopwatch validate`` checks every file
the daemon would read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from monitor.config.document import MISSING_HINTS, type_name
from monitor.config.errors import ConfigIssue
from monitor.config.spec import API_VERSION
from monitor.config.yamlpos import Positions, load_yaml

KindValidator = Callable[[Path, Any, Positions], list[ConfigIssue]]
"""(file, parsed data, positions) → issues; usually ``validate_data`` with the kind's spec."""


KNOWN_KINDS = ("Checks", "Routing", "SLO", "SLOGroup", "Simulation")
"""The ``kind`` values an included file may have. Each kind's own validation lives with the package
that owns it; ``monitor/validate.py`` wires them (``KINDS``) so this package imports none of them."""
OTHER_API_VERSIONS = {"SLO": "openslo/v1"}
"""Kinds that also come in another project's format (plain OpenSLO documents)."""

YAML_SUFFIXES = (".yaml", ".yml")


def include_files(entry: Path) -> list[Path]:
    """The files an ``include:`` entry stands for: itself, or a directory's YAML files by name."""
    if entry.is_dir():
        return sorted(p for p in entry.iterdir() if p.suffix in YAML_SUFFIXES and p.is_file())
    return [entry]


def check_included_file(
    path: Path, kinds: Mapping[str, KindValidator] | None = None
) -> list[ConfigIssue]:
    """Validate one file of ``include:``: YAML, ``apiVersion``, a known ``kind``, then its kind's
    own validator from ``kinds`` (``monitor.validate.KINDS``; without it, only the structure is
    checked). Also what ``hopwatch validate`` runs on a standalone included file."""
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
    known_kinds = ", ".join(sorted(KNOWN_KINDS))
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
    if "kind" in data and kind not in KNOWN_KINDS:
        line, col = pos.of(("kind",))
        issues.append(
            ConfigIssue(
                file, line, col, "kind", f"unknown kind {kind!r}", f"known kinds: {known_kinds}"
            )
        )
        ok = False
    validator = (kinds or {}).get(str(kind))
    if ok and validator is not None:
        issues.extend(validator(path, data, pos))
    return issues
