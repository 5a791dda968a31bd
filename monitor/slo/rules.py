"""Prometheus recording and alerting rules for an SLO group, over the counters hopwatch exports.

``hopwatch export prometheus-rules`` writes one file per group (``<service>.rules.yml``) so a
Prometheus-compatible cluster (Prometheus, Thanos, Mimir) evaluates the same SLOs as hopwatch
(``evaluate.py``). Like Sloth, per SLO: an error-ratio recording rule per alert window and for the
period, metadata recordings (objective, error budget, period burn rate and budget left) and one
multi-window burn-rate alert per enabled tier.

The error ratio over a window ``W`` is recorded as::

    sum(increase(hopwatch_slo_events_total{outcome="bad"}[W]))
      / sum(increase(hopwatch_slo_events_total{outcome=~"good|bad"}[W]))

which is hopwatch's own Σbad / Σ(good + bad) over the per-minute counts in ``(now − W, now]``
when the counters are scraped at the times hopwatch counts: a Prometheus 2.x range selector
includes its left boundary, so ``[W]`` holds the samples at ``now − W … now`` and the raw delta
is exactly the events of ``(now − W, now]``; ``increase`` then extrapolates by
``(W + gaps at both ends) / W``, which is 1 when samples sit on both boundaries (or the counter
starts at 0 inside the window) and otherwise the same factor for both counters, so it cancels in
the ratio. Prometheus 3 made range selectors left-open: there ``[W]`` misses the oldest minute.
The period ratio slides by the minute here, by the hour in hopwatch (its period ring is hourly).

Thresholds are written ``(burn × (1 − target) × (1 + EPS))`` with the model's own numbers, so
PromQL computes the same float64 as ``evaluate.py`` (``tier.burn_rate * slo.error_budget`` with
its relative slack ``outcomes.EPS``: 1 bad in 10 is on a 90% budget), ties included. Recordings and
alerts of an SLO share one rule group: rules of a group run in order at one timestamp, so each
alert reads the ratios recorded in the same evaluation rather than the previous one.

``--format prometheus-operator`` wraps the same groups in one ``PrometheusRule`` object per SLO file
(``monitoring.coreos.com/v1``, ``<file>.prometheusrule.yaml``), so a cluster run by the Prometheus
Operator loads them with ``kubectl apply`` and no file mounts; its ``spec.groups`` are the rule
groups above, byte for byte the same expressions.

Not expressible over these counters (stated in the file header when an SLO uses them): the
binomial low-traffic test, the Wilson bound of sampled indicators, timeslice budgeting and
calendar-aligned periods (the nominal length is used as a rolling period).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from monitor.slo import names
from monitor.slo.model import (
    SLO,
    BudgetingMethod,
    SampledIndicator,
    SLOGroup,
    Tier,
    WindowKind,
)
from monitor.slo.outcomes import EPS
from monitor.timeutil import format_duration

__all__ = [
    "FORMATS",
    "prometheus_operator_rule",
    "prometheus_rules",
    "rules_filename",
    "write_rules",
]

#: ``hopwatch export prometheus-rules --format``: a Prometheus rule file, or a PrometheusRule.
FORMATS = ("prometheus", "prometheus-operator")

_DECIDED = "|".join(names.DECIDED_OUTCOMES)
_FILENAME_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_NOT_DNS = re.compile(r"[^a-z0-9.-]+")


def prometheus_rules(group: SLOGroup) -> str:
    """The rule file for ``group`` as YAML text; the same group always gives the same bytes."""
    doc = {"groups": [_rule_group(slo) for slo in group.slos]}
    return _header(group) + yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000
    )


def prometheus_operator_rule(group: SLOGroup) -> str:
    """The group as one ``PrometheusRule`` object (YAML text, deterministic like the rule file).

    The Prometheus Operator selects rule objects by label (``ruleSelector``), so the object
    carries the usual ``app.kubernetes.io`` labels to match on; its name follows the SLO file so
    re-exporting replaces the object instead of adding a second copy of every alert. No
    namespace: ``kubectl apply -n`` (or a kustomization) places it.
    """
    stem = _stem(group)
    name = _NOT_DNS.sub("-", f"hopwatch-slo-{stem}".lower()).strip("-.")[:253]
    doc = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/name": "hopwatch",
                "app.kubernetes.io/component": "slo-rules",
                "app.kubernetes.io/managed-by": "hopwatch",
            },
        },
        "spec": {"groups": [_rule_group(slo) for slo in group.slos]},
    }
    return _header(group) + yaml.dump(
        doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000
    )


def rules_filename(group: SLOGroup, format: str = "prometheus") -> str:
    """``<file>.rules.yml`` after the SLO file the group came from (``<service>.rules.yml`` for a
    group built in code), so one group is one file; ``<file>.prometheusrule.yaml`` for the
    ``prometheus-operator`` format (a Kubernetes manifest, named as manifests are). ValueError
    when that cannot be a file name or the format is unknown."""
    if format not in FORMATS:
        raise ValueError(f"unknown rules format {format!r} (known: {', '.join(FORMATS)})")
    stem = _stem(group)
    return f"{stem}.prometheusrule.yaml" if format == "prometheus-operator" else f"{stem}.rules.yml"


def _stem(group: SLOGroup) -> str:
    stem = Path(group.source).stem if group.source else group.service
    if not _FILENAME_SAFE.fullmatch(stem):
        raise ValueError(
            f"{group.source or 'SLO group'}: {stem!r} cannot name a rules file; "
            "use letters, digits, '_', '.' and '-'"
        )
    return stem


def write_rules(
    groups: Iterable[SLOGroup], out_dir: Path, format: str = "prometheus"
) -> list[Path]:
    """Write one rule file (or ``PrometheusRule`` manifest, by ``format``) per group into
    ``out_dir`` (created if needed); the paths, in order.

    Two groups for the same service would overwrite each other's file, so that is an error
    raised before anything is written.
    """
    groups = list(groups)
    render = prometheus_operator_rule if format == "prometheus-operator" else prometheus_rules
    seen: dict[str, SLOGroup] = {}
    for group in groups:
        name = rules_filename(group, format)
        if name in seen:
            raise ValueError(
                f"{group.source or 'SLO group'} and {seen[name].source or 'another group'} "
                f"would both be written to {name}; rename one of the files"
            )
        seen[name] = group
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, group in seen.items():
        path = out_dir / name
        path.write_text(render(group), encoding="utf-8", newline="\n")
        paths.append(path)
    return paths


# --- one SLO ------------------------------------------------------------------------------------


def _rule_group(slo: SLO) -> dict[str, Any]:
    tiers = [t for t in slo.tiers if t.enabled]
    windows = sorted({w for t in tiers for w in (t.long_window, t.short_window)})
    if slo.window.duration not in windows:
        windows.append(slo.window.duration)
    rules: list[dict[str, Any]] = [_error_ratio(slo, w) for w in windows]
    rules += _metadata(slo)
    rules += [_alert(slo, t) for t in tiers]
    return {"name": f"hopwatch-slo-{slo.service}-{slo.name}", "rules": rules}


def _error_ratio(slo: SLO, window: float) -> dict[str, Any]:
    w = format_duration(window)
    bad = _events(slo, w, outcome=f'outcome="{names.OUTCOME_BAD}"')
    decided = _events(slo, w, outcome=f'outcome=~"{_DECIDED}"')
    # Static labels repeat what the expression yields, so rules of several SLOs in one file are
    # distinct to ``promtool check rules`` (it lints same-name rules without labels as duplicates).
    return {
        "record": names.error_ratio_record(w),
        "expr": f"{bad}\n/\n{decided}\n",
        "labels": _slo_labels(slo),
    }


def _metadata(slo: SLO) -> list[dict[str, Any]]:
    labels = _slo_labels(slo)
    sel = _selector(slo)
    period = format_duration(slo.window.duration)
    return [
        {"record": names.OBJECTIVE_RECORD, "expr": f"vector({_num(slo.target)})", "labels": labels},
        {
            "record": names.ERROR_BUDGET_RECORD,
            "expr": f"vector(1 - {_num(slo.target)})",
            "labels": labels,
        },
        {
            "record": names.PERIOD_DAYS_RECORD,
            "expr": f"vector({_num(slo.window.duration / 86400)})",
            "labels": labels,
        },
        {
            "record": names.PERIOD_BURN_RATE_RECORD,
            "expr": f"{names.error_ratio_record(period)}{sel}\n"
            f"/ on ({names.SLO}, {names.SERVICE})\n"
            f"{names.ERROR_BUDGET_RECORD}{sel}\n",
            "labels": labels,
        },
        {
            "record": names.PERIOD_BUDGET_REMAINING_RECORD,
            "expr": f"1 - {names.PERIOD_BURN_RATE_RECORD}{sel}",
            "labels": labels,
        },
    ]


def _alert(slo: SLO, tier: Tier) -> dict[str, Any]:
    long, short = format_duration(tier.long_window), format_duration(tier.short_window)
    sel = _selector(slo)
    threshold = f"({_num(tier.burn_rate)} * (1 - {_num(slo.target)}) * (1 + {_num(EPS)}))"
    expr = (
        "(\n"
        f"  {names.error_ratio_record(long)}{sel} > {threshold}\n"
        "and\n"
        f"  {names.error_ratio_record(short)}{sel} > {threshold}\n"
        ")\n"
    )
    if slo.low_traffic.min_events > 0:
        decided = _events(slo, long, outcome=f'outcome=~"{_DECIDED}"')
        expr += (
            f"and on ({names.SLO}, {names.SERVICE})\n  {decided} >= {slo.low_traffic.min_events}\n"
        )
    rule: dict[str, Any] = {"alert": names.BURN_RATE_ALERT, "expr": expr}
    if tier.for_ > 0:
        rule["for"] = format_duration(tier.for_)
    if tier.keep_firing_for > 0:
        rule["keep_firing_for"] = format_duration(tier.keep_firing_for)
    rule["labels"] = {
        **_slo_labels(slo),
        names.TIER: tier.name,
        names.SEVERITY: str(tier.severity),
        names.LONG: long,
        names.SHORT: short,
    }
    rule["annotations"] = _annotations(slo, tier, long, short)
    return rule


def _annotations(slo: SLO, tier: Tier, long: str, short: str) -> dict[str, str]:
    period = format_duration(slo.window.duration)
    share = tier.budget_share(slo.window.duration)
    short_ratio = _query_pct(names.error_ratio_record(short))
    left = _query_pct(names.PERIOD_BUDGET_REMAINING_RECORD)
    description = (
        f"{{{{ $value | humanizePercentage }}}} of events were bad over the last {long} and "
        f"{short_ratio} over the last {short}, above {_num(tier.burn_rate)}× the error budget of "
        f"{_pct(slo.error_budget)} ({_pct(tier.burn_rate * slo.error_budget)}). "
        f"At this rate {_pct(share)} of the {period} budget goes in {long}; "
        f"{left} of it is left."
    )
    if slo.description:
        description += " " + _literal(slo.description)
    out = {
        "summary": f"{slo.service}/{slo.name} is spending its error budget over "
        f"{_num(tier.burn_rate)}× as fast as it allows ({long} and {short})",
        "description": description,
    }
    if slo.runbook:
        out["runbook_url"] = _literal(slo.runbook)
    return out


# --- helpers ------------------------------------------------------------------------------------


def _header(group: SLOGroup) -> str:
    lines = [
        f"# Prometheus rules for the SLOs of service {group.service!r}, generated by hopwatch"
        + (f" from {group.source}" if group.source else "")
        + ".",
        "# Do not edit: change the SLO definitions and run `hopwatch export prometheus-rules`.",
        "# Error ratios are sum(bad) / sum(good + bad) of hopwatch_slo_events_total over [W], as",
        "# hopwatch computes them over (now - W, now] when Prometheus (2.x: range selectors include",
        "# their left boundary) scrapes the counters at the minutes hopwatch counts them.",
        "# Each SLO's recordings and alerts share a group so alerts read this evaluation's ratios.",
        "# The period ratio slides by the minute here; hopwatch's period slides by the hour.",
    ]
    for slo in group.slos:
        lines += [f"# {slo.name}: {note}" for note in _not_expressible(slo)]
    return "\n".join(lines) + "\n"


def _not_expressible(slo: SLO) -> list[str]:
    notes = []
    if slo.window.kind == WindowKind.CALENDAR:
        notes.append(
            f"calendar {slo.window.calendar_unit or 'period'} in {slo.window.timezone} "
            f"approximated by a rolling {format_duration(slo.window.duration)}"
        )
    if slo.budgeting == BudgetingMethod.TIMESLICES:
        notes.append("timeslice budgeting is not expressible here; ratios count events")
    if slo.low_traffic.binomial_alpha is not None:
        notes.append("the binomial low-traffic test is not expressible here; only min_events gates")
    if isinstance(slo.indicator, SampledIndicator):
        notes.append("alerts use the observed ratio, not hopwatch's Wilson bound")
    return notes


def _selector(slo: SLO, outcome: str = "") -> str:
    matchers = [f"{names.SLO}={_quote(slo.name)}", f"{names.SERVICE}={_quote(slo.service)}"]
    if outcome:
        matchers.append(outcome)
    return "{" + ",".join(matchers) + "}"


def _events(slo: SLO, window: str, outcome: str) -> str:
    series = f"{names.EVENTS.name}{_selector(slo, outcome)}"
    return f"sum by ({names.SLO}, {names.SERVICE}) (increase({series}[{window}]))"


def _slo_labels(slo: SLO) -> dict[str, str]:
    return {names.SLO: slo.name, names.SERVICE: slo.service}


def _query_pct(record: str) -> str:
    """A template fragment: the record's value for this alert's SLO, as a percentage."""
    return (
        f'{{{{ with printf "{record}{{{names.SLO}=%q,{names.SERVICE}=%q}}" '
        f"$labels.{names.SLO} $labels.{names.SERVICE} | query }}}}"
        "{{ . | first | value | humanizePercentage }}{{ else }}no data{{ end }}"
    )


def _quote(value: str) -> str:
    """A PromQL string literal (double-quoted, Go escapes)."""
    return json.dumps(value, ensure_ascii=False)


def _literal(text: str) -> str:
    """User text inside an annotation template, with ``{{`` kept literal."""
    return text.replace("{{", '{{ "{{" }}')


def _num(x: float) -> str:
    """The shortest literal that parses back to the same float64 (``6.0`` → ``6``)."""
    text = repr(float(x))
    return text[:-2] if text.endswith(".0") else text


def _pct(x: float) -> str:
    return f"{x * 100:.3g}%"


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (PromQL expressions) as literal blocks, lists indented under their key."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)
