"""Check kinds are plug-ins: each is one module, the registry finds them, and a kind defined
outside the package runs end to end (YAML → ``CheckDef`` → detector → firing verdict → replay)
with no edit to any other file."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
import threshold_kind

from monitor.anomaly import kinds as kinds_package
from monitor.anomaly.kind import KindRegistry
from monitor.anomaly.kinds import BUILTIN_KINDS
from monitor.anomaly.load import load_checks_file
from monitor.anomaly.model import CheckKind
from monitor.anomaly.runner import CheckRunner
from monitor.anomaly.spec import CheckSpec
from monitor.config.model import Config
from monitor.ledger.records import HopBucket, SeriesKey
from monitor.records import Status
from monitor.replay.history import replay_buckets, select
from monitor.verdict import Judgement

THRESHOLD_CHECKS = """\
apiVersion: hopwatch/v1
kind: Checks
metadata: {owner: data-platform}
checks:
  - name: warehouse-trickle
    kind: threshold
    target: {pipeline: signup, hop: warehouse}
    below: 10
"""


def _bucket(start: float, events: int) -> HopBucket:
    return HopBucket("signup", "warehouse", start, 60.0, ((SeriesKey(Status.OK), events),))


# --- the built-in kinds ------------------------------------------------------------------------


def test_check_kind_enum_and_registry_agree() -> None:
    """``CheckKind`` (kept for existing callers and pickled checkpoints) names exactly the kinds
    the registry lists first, in its order, and each plug-in's name is the enum member itself."""
    legacy = list(CheckKind)
    assert BUILTIN_KINDS.names[: len(legacy)] == tuple(str(k) for k in legacy)
    assert [BUILTIN_KINDS[k].name for k in legacy] == legacy
    assert all(BUILTIN_KINDS[k].name is k for k in legacy)


def test_every_module_of_the_kinds_package_is_a_kind_named_for_its_file() -> None:
    modules = [
        m.name for m in pkgutil.iter_modules(kinds_package.__path__) if not m.name.startswith("_")
    ]
    for name in modules:
        plugin = importlib.import_module(f"monitor.anomaly.kinds.{name}").KIND
        assert plugin.name == name
        assert issubclass(plugin.spec, CheckSpec)
    assert sorted(BUILTIN_KINDS.names) == sorted(modules)


def test_a_kind_cannot_be_registered_twice() -> None:
    with pytest.raises(ValueError, match="'volume' is registered twice"):
        BUILTIN_KINDS.with_kind(BUILTIN_KINDS["volume"])


def test_an_unregistered_kind_says_which_kinds_exist() -> None:
    with pytest.raises(KeyError, match="no check kind 'threshold'; known kinds: divergence, "):
        BUILTIN_KINDS["threshold"]


# --- a kind from outside the package -----------------------------------------------------------


@pytest.fixture
def kinds() -> KindRegistry:
    return BUILTIN_KINDS.with_kind(threshold_kind.KIND)


@pytest.fixture
def checks_file(tmp_path: Path) -> Path:
    path = tmp_path / "threshold.yaml"
    path.write_text(THRESHOLD_CHECKS, encoding="utf-8")
    return path


def test_a_registered_kind_loads_runs_and_fires(
    kinds: KindRegistry, checks_file: Path, config: Config
) -> None:
    checks, issues = load_checks_file(checks_file, config, kinds)
    assert issues == []
    assert checks is not None
    [check] = checks
    assert (check.kind, dict(check.params)) == ("threshold", {"below": 10})

    runner = CheckRunner(checks, config, kinds.detector_for, kinds)
    [healthy] = runner.feed([_bucket(0.0, 40)], [], now=400.0)
    [low] = runner.feed([_bucket(60.0, 3)], [], now=460.0)

    assert healthy.judgement is Judgement.OK
    assert low.judgement is Judgement.FIRING
    assert low.check == "threshold"
    assert dict(low.labels)["kind"] == "threshold"
    assert low.summary == (
        "warehouse-trickle: threshold anomaly on warehouse: observed 3 vs expected >= 10"
    )


def test_a_registered_kind_is_replayed_with_its_own_row_values(
    kinds: KindRegistry, checks_file: Path, config: Config
) -> None:
    checks, _ = load_checks_file(checks_file, config, kinds)
    assert checks is not None
    selection = select(config, checks, (), names=["warehouse-trickle"])
    buckets = [_bucket(0.0, 40), _bucket(60.0, 3), _bucket(120.0, 2), _bucket(180.0, 50)]
    replay = replay_buckets(config, selection, buckets, (), kinds=kinds)
    assert [(r.value, r.alert) for r in replay.rows] == [
        (40.0, False),
        (3.0, True),
        (2.0, True),
        (50.0, False),
    ]
    [alert] = replay.alerts
    assert (alert.start, alert.end, alert.buckets) == (60.0, 180.0, 2)


def test_without_the_plug_in_the_kind_is_an_unknown_kind(checks_file: Path, config: Config) -> None:
    checks, issues = load_checks_file(checks_file, config)
    assert checks is None
    assert [i.message for i in issues] == ["'threshold' is not a check kind"]


def test_a_kinds_settings_are_its_own(kinds: KindRegistry, tmp_path: Path, config: Config) -> None:
    """A ``below`` on a volume check is refused, and the hint names the kind it belongs to."""
    path = tmp_path / "volume.yaml"
    path.write_text(THRESHOLD_CHECKS.replace("kind: threshold", "kind: volume"), encoding="utf-8")
    _, issues = load_checks_file(path, config, kinds)
    [issue] = issues
    assert issue.message == "unknown key 'below'"
    assert issue.hint is not None and issue.hint.startswith(
        "below is a setting of threshold checks"
    )
