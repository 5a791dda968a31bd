"""The demo's scoreboard against the simulator's ground truth, on a fast fake clock in-process
(``monitor.demo.simulate``: the demo's config, checks, SLOs, scenario and scoreboard, the engine
fed and ticked directly)."""

from __future__ import annotations

from monitor.demo import DEFAULT_SCENARIO, PACKAGED_CONFIG, simulate
from monitor.sim.faults import Loss, Stall
from monitor.sim.scoreboard import GRACE, Row, fault_target
from monitor.validate import load_config

ORIGIN = 1_767_225_600.0


def test_the_scoreboard_matches_the_simulators_ground_truth() -> None:
    text, rows = simulate(
        load_config(PACKAGED_CONFIG), DEFAULT_SCENARIO, 3.25 * 3600, step=20.0, start=ORIGIN
    )
    by_kind: dict[type, Row] = {type(r.fault): r for r in rows}

    # every scheduled fault has a row, in schedule order, with its true effect counted
    assert len(rows) == 6
    assert all(r.truth and not r.truth.startswith("0 ") for r in rows), text
    # the loss is found on its own edge, inside its window, a few minutes after it started
    loss = by_kind[Loss]
    assert loss.verdict == "detected", text
    assert loss.detection is not None and loss.delay is not None
    assert loss.detection.labels.get("edge") == fault_target(loss.fault)[1]
    assert 0 < loss.delay <= loss.fault.duration + GRACE
    assert "events dropped on identity->activation" in loss.truth
    # the stall shows as missing events on the edge into the stalled hop
    stall = by_kind[Stall]
    assert stall.verdict == "detected", text
    assert stall.detection is not None
    assert stall.detection.labels.get("to_hop") == "crm"
    # what the bundled checks cannot see in a short run is said so, not counted as a miss
    others = [r for r in rows if not isinstance(r.fault, Loss | Stall)]
    assert {r.verdict for r in others} == {"not expected in a short demo"}, text
    assert "2 of 2 faults the demo's checks could see were detected" in text


def test_faults_the_demo_did_not_reach_are_listed_so() -> None:
    text, rows = simulate(load_config(PACKAGED_CONFIG), DEFAULT_SCENARIO, 1200, step=20.0)

    assert [r.verdict for r in rows[1:]] == ["not reached"] * 5
    assert "not reached: the demo stopped before it" in text
