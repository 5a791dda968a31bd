"""From ``kind: Checks`` files to ``model.CheckDef``: schema, whole-file checks, checks against the
config, mapping.

Three passes, each reporting ``ConfigIssue`` values with file:line:col like the main config:
1. The strict schema (``spec.checks_spec`` of the registered kinds, via
   ``monitor.config.document``).
2. Checks one file can answer alone (``validate_checks_file``, what ``hopwatch validate`` runs):
   unique names, a hop or an edge as the kind's plug-in says (``targets``), and what each kind's
   spec reports itself (``CheckSpec.issues``: a mix attribute that is not also the segment).
3. Checks against the main ``Config`` (``load_checks``): pipelines, hops, edges, allow-listed
   attributes (``segment_by`` and each kind's ``CheckSpec.attributes``), warm-up within storage
   retention.
Every entry point takes the ``KindRegistry`` whose kinds a file may use (the built-in ones unless
given). Nothing past this module sees YAML or the spec.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from monitor.anomaly.kind import KindRegistry, Targets
from monitor.anomaly.kinds import BUILTIN_KINDS
from monitor.anomaly.model import CheckDef, Target
from monitor.anomaly.spec import CHECKS_KIND, CheckSpec, ChecksSpec, checks_spec
from monitor.config.document import inner_model, validate_data
from monitor.config.errors import (
    ConfigError,
    ConfigIssue,
    IssueCollector,
    KeyPath,
    parse_key_path,
)
from monitor.config.model import Config
from monitor.config.suggest import known_hint
from monitor.config.yamlpos import Positions, YamlDocument, load_yaml
from monitor.timeutil import format_duration

DEFAULT_WARMUP = 86400.0
DEFAULT_MIN_EVENTS = 20


_Issues = IssueCollector


# --- schema ----------------------------------------------------------------------------------


def _unknown_key_hint(model: type[BaseModel] | None, path: KeyPath) -> str | None:
    """The ``did you mean`` of an unknown key at ``path`` below the kind model ``model``."""
    for part in path[:-1]:
        if model is None or isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        model = inner_model(field.annotation) if field is not None else None
    if model is None:
        return None
    known = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(path[-1]), known, n=1)
    return f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(known)}"


def _other_kinds(key: str, kinds: KindRegistry) -> list[str]:
    return [p.name for p in kinds if key in p.spec.model_fields]


def _kind_hints(issues: list[ConfigIssue], data: Any, kinds: KindRegistry) -> list[ConfigIssue]:
    """Hints that need the check's kind: the generic unknown-key hint looks at the first kind's
    model, and a missing kind deserves the list of kinds."""
    out = []
    for issue in issues:
        path = parse_key_path(issue.path)
        if (
            issue.message == "missing required key"
            and path[:1] == ("checks",)
            and path[2:] == ("kind",)
        ):
            issue = replace(issue, hint=f"one of {', '.join(kinds.names)}")
        elif issue.message.startswith("unknown key") and path[:1] == ("checks",) and len(path) > 2:
            check = data["checks"][path[1]]
            kind = check.get("kind") if isinstance(check, dict) else None
            model = kinds[kind].spec if isinstance(kind, str) and kind in kinds else None
            if model is not None:
                hint = _unknown_key_hint(model, path[2:])
                owners = _other_kinds(str(path[2]), kinds) if len(path) == 3 else []
                if owners:
                    hint = f"{path[2]} is a setting of {' and '.join(owners)} checks; {hint}"
                issue = replace(issue, hint=hint)
        out.append(issue)
    return out


# --- whole-file checks -----------------------------------------------------------------------


def _check_file(spec: ChecksSpec, out: _Issues, kinds: KindRegistry) -> None:
    seen: dict[str, int] = {}
    for i, check in enumerate(spec.checks):
        assert isinstance(check, CheckSpec)
        at: KeyPath = ("checks", i)
        if check.name in seen:
            out.add(
                (*at, "name"),
                f"duplicate check name {check.name!r}; first used by checks[{seen[check.name]}]",
                "check names must be unique",
            )
        seen.setdefault(check.name, i)
        kind, target = check.kind, check.target
        targets = kinds[kind].targets
        if targets is Targets.EDGE and target.edge is None:
            hint = "e.g. edge: identity->activation"
            if target.hop is not None:
                out.add((*at, "target", "hop"), f"a {kind} check watches an edge, not a hop", hint)
            else:
                out.add((*at, "target"), f"a {kind} check needs target.edge", hint)
        elif targets is Targets.HOP and target.hop is None:
            hint = "e.g. hop: identity"
            if target.edge is not None:
                out.add((*at, "target", "edge"), f"a {kind} check watches a hop, not an edge", hint)
            else:
                out.add((*at, "target"), f"a {kind} check needs target.hop", hint)
        elif targets is Targets.EITHER and target.hop is None and target.edge is None:
            out.add((*at, "target"), f"a {kind} check needs target.hop or target.edge")
        for setting, message, fix in check.issues():
            out.add((*at, setting), message, fix)


def _check_against(spec: ChecksSpec, config: Config, out: _Issues) -> None:
    """Names against the pipelines of ``config``; warm-ups against its retention."""
    known_pipelines = [p.name for p in config.pipelines]
    for i, check in enumerate(spec.checks):
        assert isinstance(check, CheckSpec)
        at: KeyPath = ("checks", i, "target")
        target = check.target
        pipeline = config.pipeline(target.pipeline)
        if pipeline is None:
            out.add(
                (*at, "pipeline"),
                f"unknown pipeline {target.pipeline!r}",
                known_hint(target.pipeline, known_pipelines, "pipelines"),
            )
            continue
        where = f"in pipeline {pipeline.name!r}"
        if target.hop is not None and target.hop not in pipeline.hop_names:
            hops = list(pipeline.hop_names)
            out.add(
                (*at, "hop"),
                f"unknown hop {target.hop!r} {where}",
                known_hint(target.hop, hops, "hops"),
            )
        edges = [e.name for e in pipeline.edges]
        if target.edge is not None and target.edge not in edges:
            out.add(
                (*at, "edge"),
                f"unknown edge {target.edge!r} {where}",
                known_hint(target.edge, edges, "edges"),
            )
        attributes = sorted(pipeline.attributes)
        named: list[tuple[KeyPath, str | None]] = [((*at, "segment_by"), target.segment_by)]
        named += [(("checks", i, k), a) for k, a in check.attributes().items()]
        for path, attribute in named:
            if attribute is not None and attribute not in pipeline.attributes:
                out.add(
                    path,
                    f"attribute {attribute!r} is not in the attributes of pipeline "
                    f"{pipeline.name!r}",
                    "series become label values, so only allow-listed attributes qualify: "
                    f"{', '.join(attributes) or 'none'}",
                )
        warmup = check.warmup or spec.defaults.warmup or DEFAULT_WARMUP
        if warmup > config.storage.retention:
            path = ("checks", i, "warmup") if check.warmup else ("defaults", "warmup")
            out.add(
                path,
                f"warm-up {format_duration(warmup)} is longer than storage.retention "
                f"{format_duration(config.storage.retention)}, so replay could never finish it",
                "shorten the warm-up or raise storage.retention in the main config",
            )


# --- mapping ---------------------------------------------------------------------------------


def _check_def(check: CheckSpec, spec: ChecksSpec, kinds: KindRegistry) -> CheckDef:
    defaults, meta = spec.defaults, spec.metadata
    sensitivity = check.sensitivity or defaults.sensitivity
    min_events = check.min_events if check.min_events is not None else defaults.min_events
    return CheckDef(
        name=check.name,
        kind=kinds[check.kind].name,  # ``CheckKind`` members for the original seven
        target=Target(
            check.target.pipeline, check.target.hop, check.target.edge, check.target.segment_by
        ),
        false_alarms_per_30d=sensitivity.false_alarms_per_30d if sensitivity else 1.0,
        min_events=DEFAULT_MIN_EVENTS if min_events is None else min_events,
        warmup=check.warmup or defaults.warmup or DEFAULT_WARMUP,
        owner=check.owner or meta.owner,
        labels=tuple(sorted({**meta.labels, **defaults.labels, **check.labels}.items())),
        params=check.params(),
        for_=_first(check.for_, defaults.for_, 0.0),
        keep_firing_for=_first(check.keep_firing_for, defaults.keep_firing_for, 0.0),
        runbook_url=check.runbook_url or defaults.runbook_url or "",
        dashboard_url=check.dashboard_url or defaults.dashboard_url or "",
    )


def _first(*values: float | None) -> float:
    """The check's own value, else the file's default, else the last (hopwatch's default)."""
    return next(v for v in values if v is not None)


# --- entry points ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    spec: ChecksSpec | None
    out: _Issues


def _read(path: Path, data: Any, positions: Positions, kinds: KindRegistry) -> _Read:
    out = _Issues(str(path), positions)
    spec, issues = validate_data(path, data, positions, checks_spec(kinds))
    out.items.extend(_kind_hints(issues, data, kinds))
    if spec is not None:
        _check_file(spec, out, kinds)
    return _Read(spec, out)


def validate_checks_file(
    path: Path, data: Any, positions: Positions, kinds: KindRegistry = BUILTIN_KINDS
) -> list[ConfigIssue]:
    """Every problem one Checks file shows without the main config: the ``monitor.validate.KINDS``
    entry for ``Checks``; ``load_checks`` adds the checks that need the pipelines."""
    return _read(path, data, positions, kinds).out.items


def _load(
    path: Path, doc: YamlDocument, config: Config, kinds: KindRegistry
) -> tuple[tuple[CheckDef, ...] | None, list[ConfigIssue]]:
    issues = list(doc.issues)
    if not doc.readable:
        return None, issues
    read = _read(path, doc.data, doc.positions, kinds)
    if read.spec is not None and not read.out.items:
        _check_against(read.spec, config, read.out)
    issues.extend(read.out.items)
    if read.spec is None or any(i.is_error for i in issues):
        return None, issues
    checks = tuple(
        _check_def(c, read.spec, kinds) for c in read.spec.checks if isinstance(c, CheckSpec)
    )
    return checks, issues


def load_checks_file(
    path: Path | str, config: Config, kinds: KindRegistry = BUILTIN_KINDS
) -> tuple[tuple[CheckDef, ...] | None, list[ConfigIssue]]:
    """One Checks file checked against ``config``: its checks when nothing is an error, and
    every issue. ``kinds`` are the check kinds the file may use."""
    path = Path(path)
    return _load(path, load_yaml(path), config, kinds)


def load_checks(config: Config, kinds: KindRegistry = BUILTIN_KINDS) -> tuple[CheckDef, ...]:
    """The checks of every included ``kind: Checks`` file, in include order.

    Raises ``ConfigError`` with every issue of every file when any is an error, including a
    check name used in two files (names key metrics and alerts)."""
    checks: list[CheckDef] = []
    issues: list[ConfigIssue] = []
    first: dict[str, str] = {}
    for path in config.includes:
        doc = load_yaml(path)
        # Unreadable files and other kinds are the config loader's to report.
        if not doc.readable or not isinstance(doc.data, dict):
            continue
        if doc.data.get("kind") != CHECKS_KIND:
            continue
        found, file_issues = _load(path, doc, config, kinds)
        issues.extend(file_issues)
        for i, check in enumerate(found or ()):
            if check.name in first:
                line, col = doc.positions.of(("checks", i, "name"))
                issues.append(
                    ConfigIssue(
                        str(path),
                        line,
                        col,
                        f"checks[{i}].name",
                        f"duplicate check name {check.name!r}; first used in {first[check.name]}",
                        "check names must be unique across files",
                    )
                )
            first.setdefault(check.name, str(path))
            checks.append(check)
    if any(i.is_error for i in issues):
        raise ConfigError(sorted(issues, key=ConfigIssue.sort_key))
    return tuple(checks)


__all__ = ["CHECKS_KIND", "load_checks", "load_checks_file", "validate_checks_file"]
