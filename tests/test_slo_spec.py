"""The SLO file formats: every kind of mistake reported exactly, and the examples as exact models.

Fixtures ``tests/fixtures/slo/<kind_of_error>.yaml`` sit next to ``<kind_of_error>.expected``, the
exact issue lines (``file:line:col: key.path: message (hint)``) of loading the file against the
example pipeline of ``hopwatch.yaml``. The test runs from the fixture directory so paths are short.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, fixture_id, issue_lines

from monitor.config.errors import ConfigError, ConfigIssue
from monitor.config.model import Config
from monitor.config.yamlpos import load_yaml_text
from monitor.slo import load_slo_group, load_slos, validate_slo_file
from monitor.slo.model import (
    BudgetingMethod,
    IndicatorKind,
    LatencyIndicator,
    LowTraffic,
    RatioIndicator,
    SampledIndicator,
    TimeWindow,
    WindowKind,
    workbook_tiers,
)
from monitor.slo.spec import SLOGroupSpec

FIXTURES = Path(__file__).parent / "fixtures" / "slo"
CASES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
SIGNUP = ROOT / "slo_definitions" / "signup.yaml"
OPENSLO = ROOT / "slo_definitions" / "openslo-example.yaml"


@pytest.mark.parametrize("name", CASES, ids=[fixture_id(n) for n in CASES])
def test_fixture_output_is_exact(
    name: str, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES)
    group, issues = load_slo_group(name, config)
    expected = (FIXTURES / name).with_suffix(".expected").read_text(encoding="utf-8")
    assert issue_lines(issues) == expected
    assert (group is None) == any(i.is_error for i in issues)


@pytest.mark.parametrize("name", CASES, ids=[n.removesuffix(".yaml") for n in CASES])
def test_file_checks_are_the_config_free_part_of_loading(
    name: str, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``hopwatch validate`` reports on its own is a subset of what loading reports."""
    monkeypatch.chdir(FIXTURES)
    doc = load_yaml_text((FIXTURES / name).read_text(encoding="utf-8"), name)
    alone = set(validate_slo_file(Path(name), doc.data, doc.positions))
    assert alone <= set(load_slo_group(name, config)[1])


def test_every_fixture_has_an_expected_file() -> None:
    missing = [n for n in CASES if not (FIXTURES / n).with_suffix(".expected").exists()]
    assert missing == []


# --- the shipped examples --------------------------------------------------------------------


def test_examples_validate_without_errors(config: Config) -> None:
    for path in (SIGNUP, OPENSLO):
        doc = load_yaml_text(path.read_text(encoding="utf-8"), str(path))
        assert validate_slo_file(path, doc.data, doc.positions) == []
        group, issues = load_slo_group(path, config)
        assert group is not None
        assert [i for i in issues if i.is_error] == []


def test_signup_group_maps_to_the_exact_model(config: Config) -> None:
    group, _ = load_slo_group(SIGNUP, config)
    assert group is not None
    assert (group.service, group.owner, group.labels) == (
        "signup",
        "growth-platform",
        (("team", "growth"),),
    )
    latency, merges, delivery = group.slos
    assert latency.name == "signup-activation-latency"
    assert latency.target == 0.99
    assert isinstance(latency.indicator, LatencyIndicator)
    assert (latency.indicator.from_hop, latency.indicator.to_hop) == ("sdk", "activation")
    assert latency.indicator.threshold == 60.0
    assert latency.indicator.where.source == (
        'event_type == "user_signed_up" and attributes.consent == "granted"'
    )
    assert latency.segment_by == "region"
    assert latency.low_traffic == LowTraffic(min_events=100)
    assert isinstance(merges.indicator, SampledIndicator)
    assert merges.indicator.where.source == 'attributes.identity_action == "merged"'
    assert merges.indicator.bad.source == 'attributes.audit == "false_merge"'
    assert (merges.indicator.maturity, merges.indicator.confidence) == (3600.0, 0.95)
    assert merges.target == 0.995
    assert [t.name for t in merges.tiers if not t.enabled] == ["page-1h"]
    assert merges.low_traffic == LowTraffic(min_events=200, binomial_alpha=0.05)
    assert isinstance(delivery.indicator, RatioIndicator)
    assert delivery.indicator.hop == "warehouse"
    assert delivery.indicator.total.matches_all
    assert (
        delivery.indicator.good is not None and delivery.indicator.good.source == 'status == "ok"'
    )
    assert delivery.indicator.bad is None
    assert delivery.labels == (("sink", "warehouse"),)


def test_openslo_example_maps_to_a_ratio_indicator(config: Config) -> None:
    group, _ = load_slo_group(OPENSLO, config)
    assert group is not None
    (slo,) = group.slos
    assert (group.service, slo.name, slo.service) == ("signup", "crm-delivery", "signup")
    assert slo.target == 0.99
    assert slo.window == TimeWindow()
    assert slo.budgeting is BudgetingMethod.OCCURRENCES
    assert slo.tiers == workbook_tiers()
    assert slo.indicator.kind is IndicatorKind.RATIO
    assert isinstance(slo.indicator, RatioIndicator)
    assert (slo.indicator.pipeline, slo.indicator.hop) == ("signup", "crm")
    assert slo.indicator.total.matches_all
    assert slo.indicator.good is not None and slo.indicator.good.source == 'status == "ok"'
    assert slo.labels == (("sink", "crm"),)


def test_load_slos_reads_every_included_slo_file(config: Config) -> None:
    with_examples = dataclasses.replace(config, includes=(SIGNUP, OPENSLO))
    groups = load_slos(with_examples)
    assert [[s.name for s in g.slos] for g in groups] == [
        ["signup-activation-latency", "identity-merge-precision", "warehouse-delivery"],
        ["crm-delivery"],
    ]


def test_load_slos_raises_with_every_issue_of_every_file(config: Config) -> None:
    bad = (FIXTURES / "unknown_hop.yaml", FIXTURES / "unknown_edge.yaml")
    with pytest.raises(ConfigError) as caught:
        load_slos(dataclasses.replace(config, includes=bad))
    assert [i.path for i in caught.value.issues] == [
        "slos[0].indicator.completeness.edge",
        "slos[0].indicator.latency.to",
    ]


# --- defaults and equivalences ---------------------------------------------------------------

MINIMAL = """\
apiVersion: hopwatch/v1
kind: SLOGroup
metadata: {{service: signup}}
slos:
  - name: delivery
    {objective}
    indicator:
      ratio: {{pipeline: signup, hop: warehouse, good: status == "ok"}}
"""


def _load_text(text: str, config: Config, tmp_path: Path) -> tuple[object, list[ConfigIssue]]:
    path = tmp_path / "slo.yaml"
    path.write_text(text, encoding="utf-8")
    return load_slo_group(path, config)


def test_an_slo_without_window_or_alerting_gets_28_days_and_the_workbook_tiers(
    config: Config, tmp_path: Path
) -> None:
    group, issues = _load_text(MINIMAL.format(objective="objective: 99.5"), config, tmp_path)
    assert issues == []
    (slo,) = group.slos  # type: ignore[attr-defined]
    assert slo.window == TimeWindow(duration=28 * 86400.0, kind=WindowKind.ROLLING)
    assert slo.budgeting is BudgetingMethod.OCCURRENCES
    assert slo.tiers == workbook_tiers()
    assert slo.low_traffic == LowTraffic()
    assert slo.exclusions == ()


@pytest.mark.parametrize(
    ("objective", "target"),
    [
        ("99.5", "0.995"),
        ("99", "0.99"),
        ("99.9", "0.999"),
        ("95", "0.95"),
        ("99.99", "0.9999"),
        ("99.95", "0.9995"),
        ("97.3", "0.973"),
    ],
    ids=lambda v: v,
)
def test_objective_percent_and_target_ratio_are_the_same_slo(
    objective: str, target: str, config: Config, tmp_path: Path
) -> None:
    by_objective, _ = _load_text(
        MINIMAL.format(objective=f"objective: {objective}"), config, tmp_path
    )
    by_target, _ = _load_text(MINIMAL.format(objective=f"target: {target}"), config, tmp_path)
    assert by_objective.slos[0].target == float(target)  # type: ignore[attr-defined]
    assert by_target.slos[0].target == float(target)  # type: ignore[attr-defined]


def test_defaults_apply_unless_an_slo_sets_the_key_and_labels_merge(
    config: Config, tmp_path: Path
) -> None:
    text = """\
apiVersion: hopwatch/v1
kind: SLOGroup
metadata: {service: signup}
defaults:
  time_window: {calendar: month, timezone: Europe/Berlin}
  budgeting_method: timeslices
  timeslice: 5m
  alerting: {preset: none}
  labels: {team: growth, tier: gold}
slos:
  - name: inherits
    objective: 99
    indicator: {completeness: {pipeline: signup, edge: "broker -> warehouse"}}
  - name: overrides
    objective: 99
    time_window: {rolling: 7d}
    alerting: {preset: 30d}
    labels: {tier: silver}
    indicator: {completeness: {pipeline: signup, edge: broker->warehouse}}
"""
    group, issues = _load_text(text, config, tmp_path)
    assert issues == []
    inherits, overrides = group.slos  # type: ignore[attr-defined]
    assert inherits.window == TimeWindow(
        30 * 86400.0, WindowKind.CALENDAR, "Europe/Berlin", "month"
    )
    assert (inherits.budgeting, inherits.timeslice) == (BudgetingMethod.TIMESLICES, 300.0)
    assert inherits.tiers == ()
    assert inherits.indicator.edge == "broker->warehouse"
    assert inherits.labels == (("team", "growth"), ("tier", "gold"))
    assert overrides.window == TimeWindow(7 * 86400.0)
    assert overrides.tiers == workbook_tiers()
    assert overrides.labels == (("team", "growth"), ("tier", "silver"))


def test_an_objective_below_one_percent_is_a_warning(config: Config, tmp_path: Path) -> None:
    _, issues = _load_text(MINIMAL.format(objective="objective: 0.995"), config, tmp_path)
    warnings = [i for i in issues if not i.is_error]
    assert [(i.path, i.hint) for i in warnings] == [
        ("slos[0].objective", "for 99.5% write objective: 99.5 or target: 0.995")
    ]


def test_the_spec_is_strict_about_types() -> None:
    with pytest.raises(ValueError, match="expected a percentage"):
        SLOGroupSpec.model_validate(yaml.safe_load(MINIMAL.format(objective='objective: "99.5"')))


ALERTING = """\
apiVersion: hopwatch/v1
kind: SLOGroup
metadata: {{service: signup}}
slos:
  - name: delivery
    objective: 99
    indicator:
      ratio: {{pipeline: signup, hop: warehouse, good: status == "ok"}}
    alerting:
{alerting}
"""


@pytest.mark.parametrize(
    ("alerting", "expected"),
    [
        (
            "      tiers: {page-1h: {for: 2m}}",
            [("page-1h", 120.0, 300.0), ("page-6h", 0.0, 1800.0)],
        ),
        (
            "      tiers: {page-1h: {enabled: false}, page-6h: {keep_firing_for: 0s}}",
            [("page-1h", 0.0, 300.0), ("page-6h", 0.0, 0.0)],
        ),
        (
            "      tiers:\n"
            "        - {name: fast, severity: page, burn_rate: 10, long: 1h, short: 5m}\n"
            "        - {name: slow, severity: ticket, burn_rate: 2, long: 1d, short: 2h,"
            " keep_firing_for: 15m}",
            [("fast", 0.0, 300.0), ("slow", 0.0, 900.0)],
        ),
    ],
    ids=[
        "a preset override without keep_firing_for keeps the preset's (the short window)",
        "keep_firing_for: 0s restores Prometheus's default; enabled: false keeps the rest",
        "a custom tier keeps firing for its short window unless it says otherwise",
    ],
)
def test_tiers_keep_firing_for_their_short_window_unless_told(
    alerting: str, expected: list[tuple[str, float, float]], config: Config, tmp_path: Path
) -> None:
    group, issues = _load_text(ALERTING.format(alerting=alerting), config, tmp_path)
    assert [i for i in issues if i.is_error] == []
    (slo,) = group.slos  # type: ignore[attr-defined]
    got = [(t.name, t.for_, t.keep_firing_for) for t in slo.tiers]
    assert got[: len(expected)] == expected


def test_the_workbook_tiers_keep_firing_for_their_short_window() -> None:
    assert [(t.name, t.keep_firing_for) for t in workbook_tiers()] == [
        ("page-1h", 300.0),
        ("page-6h", 1800.0),
        ("ticket-1d", 7200.0),
        ("ticket-3d", 21600.0),
    ]
