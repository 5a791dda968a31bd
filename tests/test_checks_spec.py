"""The Checks file format: every kind of mistake reported exactly, and the example as exact models.

Fixtures ``tests/fixtures/checks/<kind_of_error>.yaml`` sit next to ``<kind_of_error>.expected``,
the exact issue lines (``file:line:col: key.path: message (hint)``) of loading the file against the
example pipeline of ``hopwatch.yaml``. The test runs from the fixture directory so paths are short.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, fixture_id, issue_lines

from monitor.anomaly.load import load_checks, load_checks_file, validate_checks_file
from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.config.errors import ConfigError
from monitor.config.model import Config
from monitor.config.yamlpos import load_yaml_text
from monitor.time_intervals import TimeInterval, TimeRange

FIXTURES = Path(__file__).parent / "fixtures" / "checks"
CASES = sorted(p.name for p in FIXTURES.glob("*.yaml"))
SIGNUP = ROOT / "checks" / "signup.yaml"


@pytest.mark.parametrize("name", CASES, ids=[fixture_id(n) for n in CASES])
def test_fixture_output_is_exact(
    name: str, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(FIXTURES)
    checks, issues = load_checks_file(name, config)
    expected = (FIXTURES / name).with_suffix(".expected").read_text(encoding="utf-8")
    assert issue_lines(issues) == expected
    assert expected  # every fixture shows a mistake
    assert checks is None


@pytest.mark.parametrize("name", CASES, ids=[n.removesuffix(".yaml") for n in CASES])
def test_file_checks_are_the_config_free_part_of_loading(
    name: str, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``hopwatch validate`` reports on its own is a subset of what loading reports."""
    monkeypatch.chdir(FIXTURES)
    doc = load_yaml_text((FIXTURES / name).read_text(encoding="utf-8"), name)
    alone = set(validate_checks_file(Path(name), doc.data, doc.positions))
    assert alone <= set(load_checks_file(name, config)[1])


def test_every_fixture_has_an_expected_file() -> None:
    missing = [n for n in CASES if not (FIXTURES / n).with_suffix(".expected").exists()]
    assert missing == []


# --- the shipped example ---------------------------------------------------------------------


def test_example_validates_without_issues(config: Config) -> None:
    doc = load_yaml_text(SIGNUP.read_text(encoding="utf-8"), str(SIGNUP))
    assert validate_checks_file(SIGNUP, doc.data, doc.positions) == []
    checks, issues = load_checks_file(SIGNUP, config)
    assert issues == []
    assert checks is not None
    assert sorted(c.kind for c in checks) == sorted(CheckKind)


def test_example_maps_to_the_exact_model(config: Config) -> None:
    checks, _ = load_checks_file(SIGNUP, config)
    assert checks is not None
    team = (("team", "growth"),)
    by_name = {c.name: c for c in checks}
    assert by_name["activation-delivery"] == CheckDef(
        name="activation-delivery",
        kind=CheckKind.DIVERGENCE,
        target=Target("signup", edge="identity->activation"),
        warmup=600.0,
        owner="growth-platform",
        labels=team,
        params={"min_missing": 5, "min_loss_ratio": 0.01},
        runbook_url="https://runbooks.example.com/signup/activation-delivery",
        dashboard_url="https://grafana.example.com/d/hopwatch-signup",
    )
    assert by_name["sdk-volume-by-region"] == CheckDef(
        name="sdk-volume-by-region",
        kind=CheckKind.VOLUME,
        target=Target("signup", hop="sdk", segment_by="region"),
        warmup=14 * 86400.0,
        owner="growth-platform",
        labels=team,
        params={"direction": "both", "rollup_below": 5.0},
    )
    assert by_name["ingest-rejections"].min_events == 100
    assert by_name["ingest-rejections"].params == {"reasons": ("schema_invalid",)}
    fresh = by_name["warehouse-freshness"]
    assert (fresh.owner, fresh.labels) == ("data-platform", (("sink", "warehouse"), *team))
    assert fresh.params == {
        "quiet": (TimeInterval(times=(TimeRange(90, 210),), location="Europe/Berlin"),),
        "rollup_below": 5.0,
    }
    assert by_name["identity-consent-mix"].params == {"attribute": "consent"}
    assert by_name["identity-latency"].params == {"quantile": 0.99, "attribution": True}
    assert by_name["identity-merges"].params == {}
    assert by_name["identity-merges"].target == Target("signup", hop="identity")


def test_sensitivity_sets_the_per_bucket_alpha(config: Config) -> None:
    """One false alarm per 30 days on 1-minute buckets is a per-bucket level of 1/43200."""
    checks, _ = load_checks_file(SIGNUP, config)
    assert checks is not None
    assert checks[0].alpha(60.0) == 1 / 43200


def test_load_checks_reads_every_included_checks_file(config: Config, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SIGNUP.read_text(encoding="utf-8"), encoding="utf-8")
    with_one = Config(pipelines=config.pipelines, includes=(SIGNUP,))
    assert [c.name for c in load_checks(with_one)][:2] == [
        "activation-delivery",
        "sdk-volume-by-region",
    ]
    with_two = Config(pipelines=config.pipelines, includes=(SIGNUP, other))
    with pytest.raises(ConfigError) as err:
        load_checks(with_two)
    first = err.value.issues[0]
    assert str(first) == (
        f"{other}:13:5: checks[0].name: duplicate check name 'activation-delivery'; "
        f"first used in {SIGNUP} (check names must be unique across files)"
    )


def test_for_and_keep_firing_for_come_from_the_check_or_the_files_defaults(
    config: Config, tmp_path: Path
) -> None:
    path = tmp_path / "checks.yaml"
    path.write_text(
        "apiVersion: hopwatch/v1\nkind: Checks\nmetadata: {owner: growth}\n"
        "defaults: {keep_firing_for: 10m}\n"
        "checks:\n"
        "  - {name: a, kind: volume, target: {pipeline: signup, hop: sdk}, for: 3m}\n"
        "  - {name: b, kind: volume, target: {pipeline: signup, hop: sdk}, keep_firing_for: 0s}\n",
        encoding="utf-8",
    )
    checks, issues = load_checks_file(path, config)
    assert issues == [] and checks is not None
    assert [(c.name, c.for_, c.keep_firing_for) for c in checks] == [
        ("a", 180.0, 600.0),
        ("b", 0.0, 0.0),
    ]
