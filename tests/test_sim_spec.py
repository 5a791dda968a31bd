"""The ``kind: Simulation`` file: the shipped demo scenario, its mapping, and the errors a typo gets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from test_sim_support import START

from monitor.config import ConfigError, load_config
from monitor.sim import (
    DEFAULT_START,
    Duplicates,
    HopModel,
    Latency,
    Loss,
    RejectionSpike,
    Scenario,
    Simulator,
    Stall,
    VolumeDrop,
    example_pipeline,
)
from monitor.sim.spec import SimulationSpec, load_simulation

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "monitor" / "examples" / "demo-sim.yaml"


def test_the_demo_scenario_loads_with_its_incidents():
    spec = load_simulation(DEMO)
    scenario = spec.to_scenario()
    assert (scenario.seed, scenario.speed, scenario.start) == (42, 60.0, DEFAULT_START)
    assert scenario.traffic.rate_per_minute == 600.0
    assert scenario.faults == (
        Loss(edge="identity->activation", share=0.1, start=600.0, duration=1800.0),
        Latency(hop="identity", seconds=18.0, start=3000.0, duration=900.0),
        VolumeDrop(attribute="region", value="eu", share=0.5, start=5400.0, duration=1200.0),
        RejectionSpike(
            hop="ingest", share=0.2, reason="schema_invalid", start=7200.0, duration=600.0
        ),
        Duplicates(hop="warehouse", share=0.05, start=9000.0, duration=900.0),
        Stall(hop="crm", start=10800.0, duration=600.0),
    )
    assert scenario.hop_model("ingest") == HopModel(0.05, 0.3, 0.005, "schema_invalid")


def test_the_demo_scenario_fits_the_example_pipeline():
    sim = Simulator(example_pipeline(), load_simulation(DEMO).to_scenario(start=START))
    assert sim.seed == 42
    assert sim.observations(START, START + 60)


def test_the_example_pipeline_is_the_one_hopwatch_yaml_describes():
    assert load_config(REPO / "hopwatch.yaml").pipeline("signup") == example_pipeline()


def test_a_minimal_file_gets_the_defaults():
    spec = SimulationSpec.model_validate({"apiVersion": "hopwatch/v1", "kind": "Simulation"})
    scenario = spec.to_scenario()
    assert scenario == Scenario(hops=scenario.hops)
    assert dict(scenario.hops) == dict(Scenario().hops)


def test_start_and_overrides_map_into_the_scenario():
    spec = SimulationSpec.model_validate(
        {
            "apiVersion": "hopwatch/v1",
            "kind": "Simulation",
            "start": "2024-03-02T12:00:00Z",
            "traffic": {"regions": {"eu": {"share": 1.0, "utc_offset": 1}}, "dispersion": 5},
            "hops": {"crm": {"latency": {"median": "1s", "p95": "4s"}}},
            "faults": [{"kind": "stall", "hop": "crm", "start": "0s", "lose": True}],
        }
    )
    scenario = spec.to_scenario()
    assert scenario.start == 1709380800.0
    assert [r.name for r in scenario.traffic.regions] == ["eu"]
    assert scenario.traffic.dispersion == 5
    assert scenario.hop_model("crm") == HopModel(1.0, 4.0)
    assert scenario.faults == (Stall(hop="crm", start=0.0, duration=math.inf, lose=True),)
    assert spec.to_scenario(start=START).start == START


HEADER = "apiVersion: hopwatch/v1\nkind: Simulation\n"


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        ("seed: -1\n", "seed", "-1 is out of range: it must be at least 0"),
        ("sped: 60\n", "sped", "unknown key 'sped'"),
        ("start: yesterday\n", "start", "'yesterday' is not a timestamp"),
        (
            "faults:\n  - {kind: loss, edge: identity->activation, precent: 10, start: 1m}\n",
            "faults[0]",
            "unknown key 'precent'",
        ),
        (
            "faults:\n  - {kind: loss, edge: identity activation, percent: 10, start: 1m}\n",
            "faults[0]",
            "'identity activation' is not an edge",
        ),
        (
            "faults:\n  - {kind: loss, edge: a->b, percent: 150, start: 1m}\n",
            "faults[0]",
            "150 is out of range: it must be at most 100",
        ),
        (
            "faults:\n  - {kind: volume_drop, segment: eu, percent: 50, start: 1m}\n",
            "faults[0]",
            "'eu' is not a segment",
        ),
        (
            "faults:\n  - {kind: stall, hop: crm, start: 10 minutes}\n",
            "faults[0]",
            "'10 minutes' is not a duration",
        ),
        ("faults:\n  - {kind: explode, hop: crm, start: 1m}\n", "faults[0]", "'explode'"),
        (
            "edges:\n  identity->activation: {pass_percent: 170}\n",
            "edges.identity->activation.pass_percent",
            "170 is out of range: it must be at most 100",
        ),
        (
            "edges:\n  identity->activation: {pass_percent: 70, daily_swing_percent: 40}\n",
            "edges.identity->activation",
            "daily_swing_percent: ±40 around 70% leaves 0-100%",
        ),
        (
            "edges:\n  identity->activation: {pass_percent: 70, spread_percent: 50}\n",
            "edges.identity->activation",
            "spread_percent: a standard deviation of 50 points is too wide for a share of 70%",
        ),
        (
            "edges:\n  identity->activation:\n    pass_percent: 70\n"
            "    steps: [{at: 2d, pass_percent: 62}, {at: 1d, pass_percent: 50}]\n",
            "edges.identity->activation",
            "steps: not in time order",
        ),
        (
            "edges:\n  identity->activation: {pass_precent: 70}\n",
            "edges.identity->activation",
            "unknown key 'pass_precent'",
        ),
        (
            "edges:\n  identity activation: {pass_percent: 70}\n",
            "edges",
            "'identity activation' is not an edge",
        ),
    ],
    ids=[
        "a negative seed",
        "a misspelt top-level key",
        "a start that is not a timestamp",
        "a misspelt fault key",
        "an edge without an arrow",
        "a percent above 100",
        "a segment without attribute=value",
        "a duration in words",
        "an unknown fault kind",
        "an edge's pass share above 100%",
        "a daily swing that leaves 0-100%",
        "a spread too wide for a Beta",
        "steps out of order",
        "a misspelt key of an edge's share",
        "a shaped edge without an arrow",
    ],
)
def test_a_bad_file_is_refused_with_where_and_what(tmp_path, body, path, message):
    file = tmp_path / "sim.yaml"
    file.write_text(HEADER + body)
    with pytest.raises(ConfigError) as caught:
        load_simulation(file)
    [issue] = [i for i in caught.value.issues if message in i.message]
    assert issue.file == str(file)
    assert issue.line == (4 if path.startswith(("faults", "edges")) else 3)
    assert issue.path.startswith(path)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            Loss(edge="identity->billing", share=0.1, start=0),
            "faults[0] (loss): 'identity->billing' is not an edge of pipeline signup; edges are "
            "['broker->identity', 'broker->warehouse', 'identity-/->activation', "
            "'identity->activation', 'identity->crm', 'ingest->broker', 'sdk->ingest']",
        ),
        (
            Latency(hop="billing", seconds=1, start=0),
            "faults[0] (latency): 'billing' is not a hop of pipeline signup; hops are "
            "['activation', 'broker', 'crm', 'identity', 'ingest', 'sdk', 'warehouse']",
        ),
        (
            VolumeDrop(attribute="segment", value="paid", share=0.5, start=0),
            "faults[0] (volumedrop): segment attribute 'segment' is not simulated; use one of "
            "['consent', 'event_type', 'region', 'schema_version', 'source']",
        ),
        (
            VolumeDrop(attribute="region", value="fr", share=0.5, start=0),
            "faults[0] (volumedrop): region is never 'fr'; values are ['eu', 'us', 'uk']",
        ),
        (
            Stall(hop="sdk", lose=True, start=0),
            "faults[0] (stall): 'sdk' is the first hop, so a stall there cannot lose events that "
            "were never sent; use volume_drop to keep events from being created",
        ),
    ],
    ids=[
        "loss on an edge the pipeline does not have",
        "latency at a hop the pipeline does not have",
        "a volume drop of an attribute the simulator does not make",
        "a volume drop of a value the attribute never takes",
        "a losing stall at the first hop",
    ],
)
def test_a_fault_that_does_not_fit_the_pipeline_is_refused(fault, message):
    with pytest.raises(ValueError) as caught:
        Simulator(example_pipeline(), Scenario(faults=(fault,)))
    assert str(caught.value) == message
