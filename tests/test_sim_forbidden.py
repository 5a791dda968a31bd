"""Simulator faults on forbidden edges, caught by hopwatch with exact numbers (seeded).

The example ``signup`` pipeline plus a US-only ad audience sink (``ads_us``) and two rules: no
event without granted consent reaches ``activation`` (consent), no non-US event reaches ``ads_us``
(residency). ``consent_filter_bypass`` lets 1 in 10,000 denied events through to activation;
``residency_breach`` syncs some EU profiles into ``ads_us``. Each leak pages in the first bucket
that closes after it (in fact at the next tick), with the leaked ids, and a clean 30-day run
raises nothing.
"""

from __future__ import annotations

import dataclasses

import pytest

from monitor.config import compile_where
from monitor.config.model import Config, Edge, Expectation, ExpectKind, Hop, Pipeline
from monitor.engine import Engine
from monitor.sim import Bypass, Scenario, Simulator
from monitor.sim.example import example_pipeline
from monitor.sim.scenario import DEFAULT_HOPS, HopModel
from monitor.sim.traffic import TrafficModel

NONE = Expectation(ExpectKind.NONE, 0.0, 0.0)
CONSENT = "identity-/->activation"
RESIDENCY = "identity-/->ads_us"


def guarded_pipeline() -> Pipeline:
    base = example_pipeline()
    edges = (
        *base.edges,
        Edge(
            "identity",
            "ads_us",
            compile_where(
                'status == "ok" and attributes.consent == "granted" and attributes.region == "us"'
            ),
        ),
        Edge("identity", "activation", compile_where('attributes.consent != "granted"'), NONE),
        Edge("identity", "ads_us", compile_where('attributes.region != "us"'), NONE),
    )
    return dataclasses.replace(
        base, hops=(*base.hops, Hop("ads_us", "US-only ad audience sync")), edges=edges
    )


def run(
    scenario: Scenario, hours: float, tick: float, bucket: float = 60.0
) -> tuple[Engine, Simulator, list]:
    pipeline = dataclasses.replace(guarded_pipeline(), bucket_seconds=bucket)
    engine = Engine(Config(pipelines=(pipeline,)))
    sim = Simulator(pipeline, scenario)
    fired = []
    t = scenario.start
    end = scenario.start + hours * 3600
    while t < end:
        engine.observe(sim.observations(t, t + tick))
        t += tick
        out = engine.tick(t)
        fired += [(t, a) for a in out.alerts_changed if a.name == "HopwatchForbiddenFlow"]
    return engine, sim, fired


HOPS = {**DEFAULT_HOPS, "ads_us": HopModel(latency_median=5.0, latency_p95=30.0)}


def test_consent_filter_bypass_one_in_ten_thousand_is_caught_with_its_ids() -> None:
    scenario = Scenario(
        seed=7,
        traffic=TrafficModel(rate_per_minute=1000, diurnal_amplitude=0.0),
        hops=HOPS,
        faults=(Bypass(edge=CONSENT, share=1e-4, start=0.0, label="consent_filter_bypass"),),
    )
    engine, sim, fired = run(scenario, hours=3, tick=60.0)
    leaked = sim.truth.leaked_ids[CONSENT]
    assert len(leaked) == 4  # 1 in 10,000 of the 33,139 denied events of 3 hours
    assert engine.view().edge_totals[("signup", CONSENT)].expected == 33_139
    caught = [i for _, a in fired for i in a.evidence["leaked_event_ids"]]
    assert sorted(caught) == sorted(leaked)
    assert engine.view().ledgers["signup"].forbidden == {CONSENT: 4, RESIDENCY: 0}
    # Each leak is reported by the tick after its activation sighting, before its bucket closes.
    for t, alert in fired:
        for bucket in alert.evidence["bucket_starts"]:
            assert t <= bucket + 60 + 300 + 60
    assert {dict(a.labels)["edge"] for _, a in fired} == {CONSENT}


def test_residency_breach_is_caught_in_the_first_bucket_that_closes() -> None:
    scenario = Scenario(
        seed=11,
        traffic=TrafficModel(rate_per_minute=200),
        hops=HOPS,
        faults=(
            Bypass(
                edge=RESIDENCY, share=0.01, start=1800.0, duration=600.0, label="residency_breach"
            ),
        ),
    )
    engine, sim, fired = run(scenario, hours=1.5, tick=60.0)
    leaked = sim.truth.leaked_ids[RESIDENCY]
    assert len(leaked) == 7
    assert sum(sim.truth.leaked[RESIDENCY].values()) == 7
    first_bucket = min(sim.truth.leaked[RESIDENCY])
    first_t, first = fired[0]
    assert first_t <= first_bucket + 60 + 300  # before that bucket's watermark passed
    assert sorted(i for _, a in fired for i in a.evidence["leaked_event_ids"]) == sorted(leaked)
    assert engine.view().ledgers["signup"].forbidden[RESIDENCY] == 7
    assert dict(first.labels)["from_hop"] == "identity"


@pytest.mark.slow
def test_a_clean_30_day_run_has_no_violation() -> None:
    """30 days at 4 events a minute (172,800 signups). Hour buckets and hourly ticks: the cost of
    a run is mostly per closed bucket (sketches, snapshots, checks), and a forbidden edge is judged
    per event at every tick whatever the bucket width, so this keeps the run near a minute on a
    loaded 2-core machine without weakening what it shows (minute buckets took ~7 s per day)."""
    scenario = Scenario(seed=3, traffic=TrafficModel(rate_per_minute=4), hops=HOPS)
    engine, sim, fired = run(scenario, hours=30 * 24, tick=3600.0, bucket=3600.0)
    assert fired == []
    assert engine.view().ledgers["signup"].forbidden == {CONSENT: 0, RESIDENCY: 0}
    assert sim.truth.leaked == {}
    totals = engine.view().edge_totals
    assert totals[("signup", CONSENT)].arrived == 0
    assert totals[("signup", CONSENT)].expected > 30_000  # every denied event was watched
