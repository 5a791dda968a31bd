"""``hopwatch export prometheus-rules --format prometheus-operator``: PrometheusRule objects.

A cluster run by the Prometheus Operator loads rules from ``PrometheusRule`` objects, not files,
so the export wraps the very rule groups of the plain format in one object per SLO file:

- golden file ``tests/golden/rules/<file>.prometheusrule.yaml`` byte for byte (refresh with
  ``HOPWATCH_UPDATE_GOLDEN=1`` after an intended change, and review the diff);
- ``spec.groups`` equal the plain rule file's ``groups``, so both formats alert alike;
- the object is a valid Kubernetes object name and kind, through the real CLI.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import yaml

from monitor.cli import main
from monitor.slo.model import SLOGroup
from monitor.slo.rules import (
    prometheus_operator_rule,
    prometheus_rules,
    rules_filename,
    write_rules,
)
from monitor.slo_cli import export_rules_command
from tests.test_slo_rules import GOLDEN, UPDATE_GOLDEN, signup_group

ROOT = Path(__file__).parent.parent
DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")


def test_the_prometheus_rule_matches_the_golden_file() -> None:
    group = signup_group()
    golden = GOLDEN / rules_filename(group, "prometheus-operator")
    text = prometheus_operator_rule(group)
    if UPDATE_GOLDEN:
        golden.write_text(text, encoding="utf-8", newline="\n")
    assert golden.exists(), f"{golden} is missing; create it with HOPWATCH_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), (
        "the exported PrometheusRule changed; if that is intended, refresh the golden file "
        "with HOPWATCH_UPDATE_GOLDEN=1 and review the diff"
    )


def test_spec_groups_are_the_plain_rule_groups() -> None:
    group = signup_group()
    obj = yaml.safe_load(prometheus_operator_rule(group))
    plain = yaml.safe_load(prometheus_rules(group))
    assert obj["apiVersion"] == "monitoring.coreos.com/v1"
    assert obj["kind"] == "PrometheusRule"
    assert obj["spec"]["groups"] == plain["groups"]
    assert DNS_SUBDOMAIN.fullmatch(obj["metadata"]["name"])
    assert "namespace" not in obj["metadata"]


def test_the_name_is_a_dns_subdomain_even_for_an_underscored_file() -> None:
    group = SLOGroup(signup_group().service, signup_group().slos, source="slo/My_Team.yaml")
    name = yaml.safe_load(prometheus_operator_rule(group))["metadata"]["name"]
    assert name == "hopwatch-slo-my-team"
    assert rules_filename(group, "prometheus-operator") == "My_Team.prometheusrule.yaml"


def test_an_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown rules format"):
        rules_filename(signup_group(), "thanos")


def test_write_rules_writes_manifests(tmp_path: Path) -> None:
    paths = write_rules([signup_group()], tmp_path, "prometheus-operator")
    assert [p.name for p in paths] == ["signup.prometheusrule.yaml"]
    assert yaml.safe_load(paths[0].read_text(encoding="utf-8"))["kind"] == "PrometheusRule"


def test_the_cli_flag_exports_the_repository_slos(tmp_path: Path) -> None:
    out = io.StringIO()
    config = str(ROOT / "hopwatch.yaml")
    assert export_rules_command(config, tmp_path, out, format="prometheus-operator") == 0
    written = sorted(Path(line).name for line in out.getvalue().split())
    assert written == sorted(
        f"{p.stem}.prometheusrule.yaml" for p in (ROOT / "slo_definitions").glob("*.yaml")
    )
    args = ["export", "prometheus-rules", "--config", config, "--out", str(tmp_path / "cli")]
    code = main([*args, "--format", "prometheus-operator"])
    assert code == 0
    for path in (tmp_path / "cli").iterdir():
        assert yaml.safe_load(path.read_text(encoding="utf-8"))["kind"] == "PrometheusRule"
