"""Learned-ratio edges in the simulator: a share that cycles by hour, spreads per minute, steps.

The scenario file's ``edges:`` section, its errors, and what the simulated edge then passes
(seeded, exact counts)."""

from __future__ import annotations

import numpy as np
import pytest
from test_sim_support import START

from monitor.sim import PassShare, Scenario, Simulator, TrafficModel, example_pipeline
from monitor.sim.spec import SimulationSpec

EDGE = "identity->activation"


def _spec(edges: dict) -> SimulationSpec:
    return SimulationSpec.model_validate(
        {"apiVersion": "hopwatch/v1", "kind": "Simulation", "edges": edges}
    )


def test_an_edges_section_maps_to_a_pass_share():
    spec = _spec(
        {
            "identity -> activation": {
                "pass_percent": 70,
                "daily_swing_percent": 8,
                "spread_percent": 3,
                "steps": [{"at": "2d", "pass_percent": 62}],
            }
        }
    )
    assert spec.to_scenario().edges == {EDGE: PassShare(0.7, 0.08, 6.0, 0.03, ((172800.0, 0.62),))}


def test_the_share_cycles_by_hour_and_scales_with_a_step():
    share = PassShare(0.7, 0.08, 6.0, 0.0, ((86400.0, 0.62),))
    hours = START + 3600.0 * np.array([6, 18, 24 + 6, 24 + 18])
    assert np.round(share.mean(hours, START), 6).tolist() == [0.78, 0.62, 0.690857, 0.549143]


def test_a_spread_draws_a_beta_share_per_minute_with_the_stated_mean_and_sd():
    share = PassShare(0.7, spread=0.03)
    draws = share.draw(np.random.default_rng(1), np.full(20000, START), START)
    assert round(float(draws.mean()), 3) == 0.7
    assert round(float(draws.std()), 3) == 0.03


def _passed(share: PassShare, hours: float, seed: int = 3) -> tuple[int, int]:
    """Events the edge passed and filtered over ``hours`` at 100 events/min."""
    sim = Simulator(
        example_pipeline(),
        Scenario(start=START, traffic=TrafficModel(rate_per_minute=100.0), edges={EDGE: share}),
        seed=seed,
    )
    obs = sim.observations(START, START + hours * 3600.0)
    arrived = sum(1 for o in obs if o.hop == "activation" and o.event_time < START + hours * 3600)
    return arrived, sum(sim.truth.filtered[EDGE].values())


def test_the_simulated_edge_passes_its_share_and_counts_the_rest_as_filtered():
    arrived, filtered = _passed(PassShare(0.7), 6.0)
    assert (arrived, filtered) == (11423, 4823)
    assert round(arrived / (arrived + filtered), 3) == 0.703


def test_a_pass_share_is_behaviour_not_loss_and_leaves_other_draws_alone():
    share = Scenario(start=START, traffic=TrafficModel(rate_per_minute=100.0))
    plain = Simulator(example_pipeline(), share, seed=3)
    shaped = Simulator(
        example_pipeline(),
        Scenario(
            start=START, traffic=TrafficModel(rate_per_minute=100.0), edges={EDGE: PassShare(0.7)}
        ),
        seed=3,
    )
    a = plain.observations(START, START + 3600.0)
    b = shaped.observations(START, START + 3600.0)
    assert [o for o in a if o.hop != "activation"] == [o for o in b if o.hop != "activation"]
    assert not shaped.truth.dropped


def test_a_share_on_an_edge_the_pipeline_does_not_have_is_refused():
    with pytest.raises(ValueError) as caught:
        Simulator(example_pipeline(), Scenario(edges={"identity->billing": PassShare(0.7)}))
    assert str(caught.value).startswith(
        "edges['identity->billing']: not an edge that carries events in pipeline signup; edges "
        "are ['broker->identity', 'broker->warehouse', 'identity->activation'"
    )


def test_a_share_with_steps_within_the_day_follows_the_clock():
    """The held-out shape of the divergence bench: 0.62 from 09:20 to 17:40 UTC, 0.70 otherwise."""
    office = PassShare(0.70, daily_steps=((9 + 1 / 3, 0.62 / 0.70), (17 + 2 / 3, 1.0)))
    day = 1_700_438_400.0  # a midnight UTC
    at = day + 3600.0 * np.array([0.0, 9.3, 9.34, 12.0, 17.66, 17.67, 23.9])
    assert np.round(office.mean(at, day), 4).tolist() == [0.7, 0.7, 0.62, 0.62, 0.62, 0.7, 0.7]
    with pytest.raises(ValueError, match="distinct hours in \\[0, 24\\)"):
        PassShare(0.7, daily_steps=((25.0, 1.0),))
    with pytest.raises(ValueError, match="leaves \\[0, 1\\]"):
        PassShare(0.7, daily_steps=((1.0, 1.5),))
