"""From SLO files to ``model.SLOGroup``: schema, whole-group checks, checks against the config, mapping.

Three passes, each reporting ``ConfigIssue`` values with file:line:col like the main config:
1. The strict schema (``spec.py`` via ``monitor.config.document``) of ``kind: SLOGroup`` or OpenSLO
   ``kind: SLO``.
2. Checks one file can answer alone (``validate_slo_file``, what ``hopwatch validate`` runs): unique
   names, ``where`` syntax, preset tier names, and tiers that can never fire at the objective.
3. Checks against the main ``Config`` (``load_slo_group``): pipelines, hops, edges, allow-listed
   attributes, windows within storage retention.
Both formats are first resolved into ``_Draft`` values (one per SLO, defaults applied, with the key
path of every part), so passes 2 and 3 and the mapping treat them alike. Nothing past this module
sees YAML or the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from monitor.config.document import validate_data
from monitor.config.errors import ConfigError, ConfigIssue, IssueCollector, KeyPath
from monitor.config.model import FORBIDDEN_ARROW, Config
from monitor.config.where import (
    ATTRIBUTE_PREFIX,
    WhereSyntaxError,
    compile_where,
    parse_where,
    referenced_fields,
)
from monitor.config.yamlpos import Positions, YamlDocument, load_yaml
from monitor.slo.model import (
    SLO,
    BlockedIndicator,
    BudgetingMethod,
    CompletenessIndicator,
    Exclusion,
    Indicator,
    LatencyIndicator,
    LowTraffic,
    RatioIndicator,
    SampledIndicator,
    SLOGroup,
    Tier,
    TimeWindow,
    WindowKind,
    default_keep_firing_for,
    workbook_tiers,
)
from monitor.slo.model import (
    Severity as TierSeverity,
)
from monitor.slo.spec import (
    AlertingSpec,
    IndicatorSpec,
    LowTrafficSpec,
    OpenSLOSpec,
    SLOGroupSpec,
    TimeWindowSpec,
)
from monitor.timeutil import format_duration, parse_duration

SLO_KINDS = ("SLOGroup", "SLO")
"""The ``kind`` values this package reads (``SLO`` is OpenSLO v1's)."""

DAY = 86400.0
CALENDAR_DAYS = {"week": 7 * DAY, "month": 30 * DAY}
NEVER_FIRES_SLACK = 1e-9
"""Thresholds this close to 100% count as 100%, so ``10 × (100% − 90%)`` is caught despite floats."""


# --- drafts ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Ref:
    """A name or filter in an SLO that must make sense in the pipeline it is written for."""

    kind: str  # "pipeline" | "hop" | "edge" | "where" | "segment_by"
    path: KeyPath
    value: str
    pipeline: str


@dataclass(frozen=True)
class _Draft:
    """One SLO of either format, defaults applied, with where its parts are written.

    ``fields`` are the ``SLO`` arguments except ``indicator``; ``indicator`` compiles the filters
    and may only be called once every ``where`` ref has parsed."""

    fields: dict[str, Any]
    indicator: Callable[[], Indicator]
    refs: tuple[_Ref, ...]
    target_at: KeyPath
    window_at: KeyPath
    tiers_at: tuple[KeyPath | None, ...]  # a custom tier written in this SLO, else None
    tier_hint: str  # how to fix a custom tier that can never fire
    preset_hint: str  # the same for a preset tier; ``{tier}`` is its name


class _Issues(IssueCollector):
    def at_where(self, path: KeyPath, offset: int) -> tuple[int, int] | None:
        """The position of character ``offset`` of the filter at ``path``, when known."""
        scalar = self.pos.value_of(path)
        return scalar.column_of(offset) if scalar is not None and offset >= 0 else None


def _pct(ratio: float) -> str:
    return f"{round(ratio * 100, 6):g}%"


def _window(spec: TimeWindowSpec | None) -> TimeWindow:
    if spec is None:
        return TimeWindow()
    if spec.rolling is not None:
        return TimeWindow(duration=spec.rolling)
    assert spec.calendar is not None
    return TimeWindow(
        duration=CALENDAR_DAYS[spec.calendar],
        kind=WindowKind.CALENDAR,
        timezone=spec.timezone or "UTC",
        calendar_unit=spec.calendar,
    )


def _tiers(
    alerting: AlertingSpec, at: KeyPath | None, out: _Issues
) -> tuple[tuple[Tier, ...], tuple[KeyPath | None, ...]]:
    """The tiers ``alerting`` stands for; with paths of custom tiers when ``at`` is this SLO's."""
    if isinstance(alerting.tiers, list):
        tiers: list[Tier] = []
        paths: list[KeyPath | None] = []
        seen: set[str] = set()
        for j, t in enumerate(alerting.tiers):
            here = None if at is None else (*at, "tiers", j)
            if t.name in seen and here is not None:
                out.add((*here, "name"), f"duplicate tier name {t.name!r}", "tier names are unique")
            seen.add(t.name)
            sev = TierSeverity(t.severity)
            keep = (
                default_keep_firing_for(t.short) if t.keep_firing_for is None else t.keep_firing_for
            )
            tiers.append(Tier(t.name, sev, t.burn_rate, t.long, t.short, t.enabled, t.for_, keep))
            paths.append(here)
        return tuple(tiers), tuple(paths)
    preset = alerting.preset or "28d"
    if preset == "none":
        return (), ()
    base = workbook_tiers()
    overrides = alerting.tiers or {}
    names = [t.name for t in base]
    for name in overrides:
        if name not in names:
            where = (
                (*at, "tiers", name) if at is not None else ("defaults", "alerting", "tiers", name)
            )
            out.add(
                where, f"unknown tier {name!r} in preset {preset}", f"known: {', '.join(names)}"
            )
    chosen = tuple(
        replace(
            t,
            enabled=o.enabled,
            for_=t.for_ if o.for_ is None else o.for_,
            keep_firing_for=t.keep_firing_for if o.keep_firing_for is None else o.keep_firing_for,
        )
        if (o := overrides.get(t.name)) is not None
        else t
        for t in base
    )
    return chosen, (None,) * len(chosen)


_REF_KEYS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # indicator kind → (spec attribute, YAML key, ref kind)
    "latency": (("from_", "from", "hop"), ("to", "to", "hop"), ("where", "where", "where")),
    "ratio": (
        ("hop", "hop", "hop"),
        ("total", "total", "where"),
        ("good", "good", "where"),
        ("bad", "bad", "where"),
    ),
    "completeness": (("edge", "edge", "edge"),),
    "blocked": (("edge", "edge", "forbidden_edge"),),
    "sampled": (("hop", "hop", "hop"), ("where", "where", "where"), ("bad", "bad", "where")),
}


def _indicator_refs(spec: IndicatorSpec, at: KeyPath) -> list[_Ref]:
    kind = next(k for k in _REF_KEYS if getattr(spec, k) is not None)
    chosen = spec.chosen
    here = (*at, kind)
    pipeline = chosen.pipeline
    refs = [_Ref("pipeline", (*here, "pipeline"), pipeline, pipeline)]
    for attr, key, ref_kind in _REF_KEYS[kind]:
        value = getattr(chosen, attr)
        if isinstance(value, str):
            refs.append(_Ref(ref_kind, (*here, key), value, pipeline))
    return refs


def _group_indicator(spec: IndicatorSpec) -> Callable[[], Indicator]:
    def build() -> Indicator:
        if (lat := spec.latency) is not None:
            return LatencyIndicator(
                lat.pipeline, lat.from_, lat.to, lat.threshold, compile_where(lat.where)
            )
        if (rat := spec.ratio) is not None:
            return RatioIndicator(
                rat.pipeline,
                rat.hop,
                compile_where(rat.total),
                None if rat.good is None else compile_where(rat.good),
                None if rat.bad is None else compile_where(rat.bad),
            )
        if (com := spec.completeness) is not None:
            return CompletenessIndicator(com.pipeline, com.edge)
        if (blo := spec.blocked) is not None:
            return BlockedIndicator(blo.pipeline, forbidden_edge_name(blo.edge))
        sam = spec.sampled
        assert sam is not None
        return SampledIndicator(
            sam.pipeline,
            sam.hop,
            compile_where(sam.bad),
            compile_where(sam.where),
            sam.maturity,
            sam.confidence,
        )

    return build


def _group_drafts(spec: SLOGroupSpec, out: _Issues) -> list[_Draft]:
    defaults = spec.defaults
    if defaults.timeslice is not None and defaults.budgeting_method != "timeslices":
        out.add(
            ("defaults", "timeslice"),
            "timeslice only applies to budgeting_method: timeslices",
            "set defaults.budgeting_method: timeslices, or remove timeslice",
        )
    drafts: list[_Draft] = []
    seen: dict[str, int] = {}
    for i, slo in enumerate(spec.slos):
        at: KeyPath = ("slos", i)
        if slo.name in seen:
            out.add(
                (*at, "name"),
                f"duplicate SLO name {slo.name!r}; first used by slos[{seen[slo.name]}]",
                "SLO names must be unique in a group",
            )
        seen.setdefault(slo.name, i)
        if slo.time_window is not None:
            window_spec, window_at = slo.time_window, (*at, "time_window")
        elif defaults.time_window is not None:
            window_spec, window_at = defaults.time_window, ("defaults", "time_window")
        else:
            window_spec, window_at = None, at
        method = slo.budgeting_method or defaults.budgeting_method or "occurrences"
        if slo.timeslice is not None and method != "timeslices":
            out.add(
                (*at, "timeslice"),
                "timeslice only applies to budgeting_method: timeslices",
                "set budgeting_method: timeslices, or remove timeslice",
            )
        if slo.alerting is not None:
            tiers, tiers_at = _tiers(slo.alerting, (*at, "alerting"), out)
        else:
            tiers, tiers_at = _tiers(defaults.alerting or AlertingSpec(), None, out)
        target_key = "objective" if slo.objective is not None else "target"
        if slo.objective is not None and slo.objective < 1:
            out.add(
                (*at, "objective"),
                f"objective {slo.objective:g} is a percentage, so this SLO promises "
                f"{slo.objective:g}% good events",
                f"for {slo.objective * 100:g}% write objective: {slo.objective * 100:g} "
                f"or target: {slo.objective:g}",
                severity="warning",
            )
        low = slo.low_traffic or defaults.low_traffic or LowTrafficSpec()
        refs = _indicator_refs(slo.indicator, (*at, "indicator"))
        if slo.segment_by is not None:
            pipeline = slo.indicator.chosen.pipeline
            refs.append(_Ref("segment_by", (*at, "segment_by"), slo.segment_by, pipeline))
        fields = {
            "name": slo.name,
            "service": spec.metadata.service,
            "target": slo.target_ratio,
            "window": _window(window_spec),
            "budgeting": BudgetingMethod(method),
            "timeslice": slo.timeslice or defaults.timeslice or 60.0,
            "tiers": tiers,
            "low_traffic": LowTraffic(low.min_events, low.binomial_alpha),
            "exclusions": tuple(Exclusion(e.start, e.end, e.reason) for e in slo.exclusions),
            "owner": spec.metadata.owner,
            "description": slo.description,
            "labels": tuple(sorted({**defaults.labels, **slo.labels}.items())),
            "segment_by": slo.segment_by,
            "runbook": slo.runbook,
        }
        drafts.append(
            _Draft(
                fields,
                _group_indicator(slo.indicator),
                tuple(refs),
                (*at, target_key),
                window_at,
                tiers_at,
                "lower the burn rate or raise the objective",
                "raise the objective, or switch the tier off: alerting.tiers.{tier}.enabled: false",
            )
        )
    return drafts


def _openslo_draft(spec: OpenSLOSpec, out: _Issues) -> _Draft:
    """OpenSLO → one SLO with a ratio indicator and the 28d preset tiers (see docs/slo.md)."""
    body = spec.spec
    ratio = body.indicator.spec.ratio_metric
    base: KeyPath = ("spec", "indicator", "spec", "ratioMetric")
    total = ratio.total.metric_source.spec
    parts = [("total", total)]
    good_or_bad = "good" if ratio.good is not None else "bad"
    other = (ratio.good or ratio.bad).metric_source.spec  # type: ignore[union-attr]
    parts.append((good_or_bad, other))
    refs: list[_Ref] = []
    for key, part in parts:
        src: KeyPath = (*base, key, "metricSource", "spec")
        refs.append(_Ref("pipeline", (*src, "pipeline"), part.pipeline, part.pipeline))
        refs.append(_Ref("hop", (*src, "hop"), part.hop, part.pipeline))
        refs.append(_Ref("where", (*src, "query"), part.query, part.pipeline))
    for key in ("pipeline", "hop"):
        if getattr(other, key) != getattr(total, key):
            out.add(
                (*base, good_or_bad, "metricSource", "spec", key),
                f"{good_or_bad} counts at {key} {getattr(other, key)!r} "
                f"but total at {getattr(total, key)!r}",
                "a ratio compares counts at one hop; narrow total with its query instead",
            )
    window_at: KeyPath = ("spec", "timeWindow", 0)
    raw = body.time_window[0]
    if raw.calendar is not None:
        unit = "week" if raw.duration == "1w" else "month"
        window = TimeWindow(CALENDAR_DAYS[unit], WindowKind.CALENDAR, raw.calendar.time_zone, unit)
    else:
        try:
            seconds = parse_duration(raw.duration)
        except ValueError:
            seconds = 0.0
        if seconds <= 0:
            out.add(
                (*window_at, "duration"),
                f"{raw.duration!r} is not a rolling window length",
                "use a number and a unit: d or w, e.g. 28d",
            )
            seconds = TimeWindow().duration
        window = TimeWindow(duration=seconds)
    objective = body.objectives[0]

    def build() -> Indicator:
        good = None if ratio.good is None else compile_where(other.query)
        bad = None if ratio.bad is None else compile_where(other.query)
        return RatioIndicator(total.pipeline, total.hop, compile_where(total.query), good, bad)

    tiers = workbook_tiers()
    fields = {
        "name": spec.metadata.name,
        "service": body.service,
        "target": objective.target,
        "window": window,
        "budgeting": BudgetingMethod(body.budgeting_method.lower()),
        "timeslice": objective.time_slice_window or 60.0,
        "tiers": tiers,
        "description": body.description or spec.metadata.display_name,
        "labels": tuple(sorted(spec.metadata.labels.items())),
    }
    return _Draft(
        fields,
        build,
        tuple(refs),
        ("spec", "objectives", 0, "target"),
        window_at,
        (None,) * len(tiers),
        "",
        "raise the objective, or write a kind: SLOGroup to choose the tiers",
    )


# --- checks ----------------------------------------------------------------------------------


def _check_filters(draft: _Draft, out: _Issues) -> None:
    for ref in draft.refs:
        if ref.kind != "where" or not ref.value.strip():
            continue
        try:
            parse_where(ref.value)
        except WhereSyntaxError as exc:
            out.add(
                ref.path,
                exc.message,
                exc.hint,
                at=out.at_where(ref.path, exc.column - 1),
            )


def _check_tiers(draft: _Draft, out: _Issues) -> None:
    """A tier fires when the error ratio exceeds ``burn_rate × (1 − target)``; at or above 100%
    it never can, which would leave the SLO silently without that alert."""
    target = draft.fields["target"]
    for tier, tier_at in zip(draft.fields["tiers"], draft.tiers_at, strict=True):
        threshold = tier.burn_rate * (1.0 - target)
        if not tier.enabled or threshold < 1.0 - NEVER_FIRES_SLACK:
            continue
        message = (
            f"tier {tier.name} can never fire: {tier.burn_rate:g} × (100% − {_pct(target)}) = "
            f"{_pct(threshold)} of events would have to be bad"
        )
        if tier_at is not None:
            out.add((*tier_at, "burn_rate"), message, draft.tier_hint)
        else:
            out.add(draft.target_at, message, draft.preset_hint.format(tier=tier.name))


def forbidden_edge_name(edge: str) -> str:
    """``identity->activation`` (or already ``identity-/->activation``) → the name of the
    forbidden edge between those hops, so a ``blocked`` SLO can name the pair as people say it."""
    if FORBIDDEN_ARROW in edge:
        return edge
    return edge.replace("->", FORBIDDEN_ARROW, 1)


def _check_against(draft: _Draft, config: Config, out: _Issues) -> None:
    """Names and filters against the pipelines of ``config``; windows against its retention."""
    for ref in draft.refs:
        pipeline = config.pipeline(ref.pipeline)
        if ref.kind == "pipeline" and pipeline is None:
            known = ", ".join(p.name for p in config.pipelines) or "none"
            out.add(ref.path, f"unknown pipeline {ref.value!r}", f"known pipelines: {known}")
        if pipeline is None:
            continue
        if ref.kind == "hop" and ref.value not in pipeline.hop_names:
            out.add(
                ref.path,
                f"unknown hop {ref.value!r} in pipeline {pipeline.name!r}",
                f"known hops: {', '.join(pipeline.hop_names)}",
            )
        elif ref.kind == "edge" and ref.value in {e.name for e in pipeline.forbidden_edges}:
            out.add(
                ref.path,
                f"{ref.value!r} is a forbidden edge (expect: none): its arrivals are leaks, "
                "not deliveries",
                "measure it with indicator: {blocked: {pipeline, edge}}",
            )
        elif ref.kind == "forbidden_edge" and forbidden_edge_name(ref.value) not in {
            e.name for e in pipeline.forbidden_edges
        }:
            known = ", ".join(e.name for e in pipeline.forbidden_edges) or "none"
            out.add(
                ref.path,
                f"no forbidden edge {ref.value!r} in pipeline {pipeline.name!r}",
                "add an edge with expect: none and a where saying which events must not "
                f"cross it; forbidden edges: {known}",
            )
        elif ref.kind == "edge" and ref.value not in {e.name for e in pipeline.edges}:
            known = ", ".join(e.name for e in pipeline.edges) or "none"
            out.add(
                ref.path,
                f"unknown edge {ref.value!r} in pipeline {pipeline.name!r}",
                f"known edges: {known}",
            )
        elif ref.kind == "segment_by" and ref.value not in pipeline.attributes:
            out.add(
                ref.path,
                f"attribute {ref.value!r} is not in the attributes of pipeline {pipeline.name!r}",
                "segments become label values, so only allow-listed attributes qualify: "
                f"{', '.join(sorted(pipeline.attributes)) or 'none'}",
            )
        elif ref.kind == "where" and ref.value.strip():
            for name in sorted(referenced_fields(parse_where(ref.value))):
                attr = (
                    name.removeprefix(ATTRIBUTE_PREFIX)
                    if name.startswith(ATTRIBUTE_PREFIX)
                    else None
                )
                if attr is not None and attr not in pipeline.attributes:
                    out.add(
                        ref.path,
                        f"attribute {attr!r} is not in the attributes of pipeline {pipeline.name!r}, "
                        "so it is always null here",
                        "add it to the pipeline's attributes in the main config",
                        at=out.at_where(ref.path, ref.value.find(name)),
                        severity="warning",
                    )
    window: TimeWindow = draft.fields["window"]
    retention = config.storage.retention
    if window.duration > retention:
        out.add(
            draft.window_at,
            f"time window {format_duration(window.duration)} is longer than storage.retention "
            f"{format_duration(retention)}, so the oldest counts would be gone",
            "shorten the window or raise storage.retention in the main config",
        )


# --- entry points ----------------------------------------------------------------------------


def _read(path: Path, data: Any, positions: Positions) -> tuple[Any, list[_Draft], _Issues]:
    """Schema and file-level checks; drafts only when the schema passed."""
    out = _Issues(str(path), positions)
    kind = data.get("kind") if isinstance(data, dict) else None
    spec_cls = OpenSLOSpec if kind == "SLO" else SLOGroupSpec
    spec, schema_issues = validate_data(path, data, positions, spec_cls)
    out.items.extend(schema_issues)
    if spec is None:
        return None, [], out
    if isinstance(spec, SLOGroupSpec):
        drafts = _group_drafts(spec, out)
    else:
        assert isinstance(spec, OpenSLOSpec)
        drafts = [_openslo_draft(spec, out)]
    for draft in drafts:
        _check_filters(draft, out)
        _check_tiers(draft, out)
    return spec, drafts, out


def _unique(issues: Iterable[ConfigIssue]) -> list[ConfigIssue]:
    """Issues of the defaults are found once per SLO; report each once."""
    return list(dict.fromkeys(issues))


def validate_slo_file(path: Path, data: Any, positions: Positions) -> list[ConfigIssue]:
    """Every problem one SLOGroup or OpenSLO SLO file shows without the main config.

    The ``monitor.validate.KINDS`` entry for ``SLOGroup`` and ``SLO``; ``load_slo_group`` adds the checks
    that need the pipelines."""
    _, _, out = _read(path, data, positions)
    return _unique(out.items)


def _group(spec: Any, drafts: list[_Draft], source: str) -> SLOGroup:
    slos = tuple(SLO(indicator=d.indicator(), **d.fields) for d in drafts)
    if isinstance(spec, SLOGroupSpec):
        meta = spec.metadata
        return SLOGroup(meta.service, slos, meta.owner, tuple(sorted(meta.labels.items())), source)
    return SLOGroup(spec.spec.service, slos, "", (), source)


def _load(
    path: Path, doc: YamlDocument, config: Config
) -> tuple[SLOGroup | None, list[ConfigIssue]]:
    issues = list(doc.issues)
    if not doc.readable:
        return None, issues
    spec, drafts, out = _read(path, doc.data, doc.positions)
    if not any(i.is_error for i in out.items):
        for draft in drafts:
            _check_against(draft, config, out)
    issues = _unique([*issues, *out.items])
    if spec is None or any(i.is_error for i in issues):
        return None, issues
    return _group(spec, drafts, str(path)), issues


def load_slo_group(path: Path | str, config: Config) -> tuple[SLOGroup | None, list[ConfigIssue]]:
    """One SLO file checked against ``config``: the group when nothing is an error, and every
    issue (warnings included). An OpenSLO ``SLO`` becomes a group of one."""
    path = Path(path)
    return _load(path, load_yaml(path), config)


def load_slos(config: Config) -> tuple[SLOGroup, ...]:
    """The SLO groups of every included SLOGroup or OpenSLO SLO file, in include order.

    Raises ``ConfigError`` with every issue of every file when any is an error."""
    groups: list[SLOGroup] = []
    issues: list[ConfigIssue] = []
    for path in config.includes:
        doc = load_yaml(path)
        # Unreadable files and other kinds are the config loader's to report.
        if not doc.readable or not isinstance(doc.data, dict):
            continue
        if doc.data.get("kind") not in SLO_KINDS:
            continue
        group, found = _load(path, doc, config)
        issues.extend(found)
        if group is not None:
            groups.append(group)
    if any(i.is_error for i in issues):
        raise ConfigError(sorted(issues, key=ConfigIssue.sort_key))
    return tuple(groups)


__all__ = ["SLO_KINDS", "load_slo_group", "load_slos", "validate_slo_file"]
