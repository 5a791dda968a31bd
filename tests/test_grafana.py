"""``hopwatch export grafana``: the committed dashboards match the generator, and validate.

- Golden: ``grafana/provisioning/dashboards/hopwatch/`` is regenerated from the bundled
  ``hopwatch.yaml`` and compared byte for byte; refresh with ``HOPWATCH_UPDATE_GOLDEN=1``.
- Schema: every dashboard validates against the JSON Schema generated from Grafana's own
  TypeScript types (``tests/fixtures/grafana/``, README there says how), with exactly the two
  documented SDK extras admitted.
- Content: topology order, a datasource variable (no hard-coded uid), edge links, runbooks.
The queries themselves are run against a real Prometheus in ``test_grafana_prometheus.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.anomaly.load import load_checks
from monitor.cli import main
from monitor.config import load_config
from monitor.export.grafana import build_dashboards, dashboard_json, panel_targets
from monitor.export.grafana.pipeline import topology
from monitor.slo.load import load_slos

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = ROOT / "grafana" / "provisioning" / "dashboards" / "hopwatch"
SCHEMA = ROOT / "tests" / "fixtures" / "grafana" / "dashboard.schema.json"
UPDATE_GOLDEN = os.environ.get("HOPWATCH_UPDATE_GOLDEN") == "1"


def bundled() -> dict[str, dict[str, Any]]:
    config = load_config(ROOT / "hopwatch.yaml")
    slos = [slo for group in load_slos(config) for slo in group.slos]
    return build_dashboards(config, slos, load_checks(config))


def test_committed_dashboards_match_the_generator(tmp_path: Path) -> None:
    assert (
        main(["export", "grafana", "--config", str(ROOT / "hopwatch.yaml"), "--out", str(tmp_path)])
        == 0
    )
    generated = {p.name: p.read_bytes() for p in sorted(tmp_path.iterdir())}
    assert set(generated) == {
        "pipeline-signup.json",
        "pipeline-privacy.json",
        "slos.json",
        "checks.json",
        "hopwatch.json",
    }
    if UPDATE_GOLDEN:
        DASHBOARDS.mkdir(parents=True, exist_ok=True)
        for old in DASHBOARDS.glob("*.json"):
            old.unlink()
        for name, data in generated.items():
            (DASHBOARDS / name).write_bytes(data)
    committed = {p.name: p.read_bytes() for p in sorted(DASHBOARDS.glob("*.json"))}
    assert committed == generated, (
        "grafana/ is out of step with the generator; refresh with HOPWATCH_UPDATE_GOLDEN=1 "
        "and review the diff"
    )


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    defs = schema["definitions"]
    # The two documented SDK extras (tests/fixtures/grafana/README.md), and nothing else.
    for key in ("auto", "auto_count", "auto_min"):
        defs["VariableModel"]["properties"][key] = {"type": ["boolean", "number", "string"]}
    defs["AnnotationQuery"]["properties"]["expr"] = {"type": "string"}
    return schema


@pytest.mark.parametrize("name", sorted(bundled()))
def test_dashboards_validate_against_grafanas_own_types(name: str) -> None:
    data = bundled()[name]
    assert data["schemaVersion"] == 41
    errors = sorted(
        jsonschema.Draft7Validator(_schema()).iter_errors(data), key=lambda e: list(e.path)
    )
    assert not errors, [f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]]


def test_the_schema_is_strict_enough_to_catch_a_typo() -> None:
    data = bundled()["hopwatch.json"]
    data["panels"][1]["gridPos"]["width"] = 3
    assert list(jsonschema.Draft7Validator(_schema()).iter_errors(data))


def test_every_query_goes_through_the_datasource_variable() -> None:
    for name, data in bundled().items():
        text = dashboard_json(data)
        variables = {v["name"]: v for v in data["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        for panel in data["panels"]:
            for target in panel.get("targets", []):
                assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert '"uid": "prometheus"' not in text
        assert panel_targets(data), name


def test_pipeline_dashboard_reads_in_topology_order_and_links_each_edge() -> None:
    config = load_config(ROOT / "hopwatch.yaml")
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    hops, edges = topology(pipeline)
    assert hops == ["sdk", "ingest", "broker", "identity", "activation", "crm", "warehouse"]
    data = bundled()["pipeline-signup.json"]
    rows = [p["title"] for p in data["panels"] if p["type"] == "row"]
    edge_rows = [r for r in rows if r.startswith(("Edge ", "Forbidden "))]
    assert edge_rows == [
        f"Forbidden {e.from_hop} -/-> {e.to_hop}"
        if e.forbidden
        else f"Edge {e.from_hop} → {e.to_hop}"
        for e in edges
    ]
    # A forbidden edge shows its leaks, not expected/missing: blocked events are its success.
    leaks = next(p for p in data["panels"] if p["title"] == "identity-/->activation: leaked events")
    assert "hopwatch_edge_forbidden_events_total" in leaks["targets"][0]["expr"]
    assert not any(p["title"].startswith("identity-/->activation: loss") for p in data["panels"])
    assert [r.split(":")[0] for r in rows if r.startswith("Hop ")] == [f"Hop {h}" for h in hops]
    loss = next(p for p in data["panels"] if p["title"] == "identity->activation: loss ratio")
    assert loss["links"][0]["url"] == "${hopwatch_url}/edges/signup/identity-%3Eactivation"
    assert loss["fieldConfig"]["defaults"]["custom"]["spanNulls"] is False
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["edge"]["query"] == ",".join(e.name for e in edges)
    assert variables["hopwatch_url"]["query"] == "http://127.0.0.1:9464"
    assert {a["name"] for a in data["annotations"]["list"]} >= {
        "Check alerts",
        "SLO burn-rate alerts",
    }


def test_slo_and_check_dashboards_carry_thresholds_and_runbooks_from_the_config() -> None:
    slos = bundled()["slos.json"]
    rows = [p["title"] for p in slos["panels"] if p["type"] == "row"]
    assert "SLO signup-activation-latency (99% over 28d)" in rows
    panels = slos["panels"]
    start = panels.index(next(p for p in panels if p["title"].startswith("SLO signup-activation")))
    sli = next(p for p in panels[start:] if p["title"] == "SLI over 28d")
    assert sli["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"] == 0.99
    assert (
        sli["links"][0]["url"] == "https://runbooks.example.com/hopwatch/signup-activation-latency"
    )
    burn = next(p for p in slos["panels"] if p["title"] == "Burn rate per alert window")
    assert [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        None,
        1,
        3,
        6,
        14.4,
    ]
    checks = bundled()["checks.json"]
    score = next(p for p in checks["panels"] if p["title"] == "activation-delivery: score")
    assert [s["value"] for s in score["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [
        None,
        0.25,
        0.5,
    ]
    assert score["links"][0]["url"] == "https://runbooks.example.com/signup/activation-delivery"
