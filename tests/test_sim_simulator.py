"""The simulator without faults: deterministic, honest to every edge promise, shaped like real traffic."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_sim_support import DOWNSTREAM, EDGE_RULES, START, edge_sets, ids_at, run

from monitor.config.model import Hop, Pipeline
from monitor.records import Status
from monitor.sim import Region, Scenario, Simulator, TrafficModel, example_pipeline

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clean():
    """20,000 events of a clean run, every observation of each."""
    return run(seed=11).first_events(20_000)


def test_the_same_seed_gives_the_same_observations():
    assert run(seed=3).first_events(2000) == run(seed=3).first_events(2000)


def test_another_seed_gives_other_observations():
    a, b = run(seed=3).first_events(500, hops={"sdk"}), run(seed=4).first_events(500, hops={"sdk"})
    assert [o.event_time for o in a] != [o.event_time for o in b]


@pytest.mark.parametrize(
    "cuts",
    [
        [0, 3600],
        [0, 1, 59.5, 60, 61, 600, 1799.999, 3600],
        [0, *np.arange(7.3, 3600, 7.3).tolist(), 3600],
    ],
    ids=["one window", "uneven windows around minute edges", "hundreds of 7.3 s windows"],
)
def test_successive_windows_yield_each_observation_once_in_order(cuts):
    reference = run(seed=5).observations(START, START + 3600)
    sim = run(seed=5)
    got = []
    for a, b in itertools.pairwise(cuts):
        window = sim.observations(START + a, START + b)
        assert all(START + a <= o.observed_time < START + b for o in window)
        got.extend(window)
    assert got == reference
    assert [o.observed_time for o in got] == sorted(o.observed_time for o in got)
    assert len(set(got)) == len(got)


def test_events_created_earlier_come_out_in_the_window_that_observes_them():
    sim = run(seed=5)
    first = sim.observations(START, START + 600)
    later = sim.observations(START + 600, START + 1200)
    carried = [o for o in later if o.event_time < START + 600]
    assert carried, "warehouse latency should carry events across the window edge"
    assert {o.hop for o in carried} >= {"warehouse"}
    assert not {(o.event_id, o.hop) for o in carried} & {(o.event_id, o.hop) for o in first}


def test_a_skipped_gap_is_discarded_not_replayed():
    sim = run(seed=5)
    sim.observations(START, START + 60)
    after_gap = sim.observations(START + 120, START + 180)
    assert all(START + 120 <= o.observed_time < START + 180 for o in after_gap)


def test_first_events_counts_events_not_observations(clean):
    assert len(ids_at(clean, "sdk")) == 20_000
    assert len(run(seed=11).first_events(10_000, hops={"sdk"})) == 10_000
    assert Counter(o.hop for o in clean)["sdk"] == 20_000


def test_first_events_are_the_events_the_stream_starts_with():
    sim = run(seed=9)
    head = sim.first_events(300, hops={"sdk"})
    stream = [o for o in sim.observations(START, head[-1].observed_time + 1) if o.hop == "sdk"]
    assert stream[:300] == head


def test_example_pipeline_filters_are_the_ones_in_hopwatch_yaml():
    doc = yaml.safe_load((REPO / "hopwatch.yaml").read_text())
    signup = next(p for p in doc["pipelines"] if p["name"] == "signup")
    arrow = {True: "-/->", False: "->"}
    written = {
        f"{e['from']}{arrow[e.get('expect') == 'none']}{e['to']}": e.get("where", "")
        for e in signup["edges"]
    }
    built = {e.name: e.where.source for e in example_pipeline().edges}
    assert built == written
    assert [h.name for h in example_pipeline().hops] == [h["name"] for h in signup["hops"]]
    assert set(EDGE_RULES) == {e for e in written if "-/->" not in e}


@pytest.mark.parametrize("edge", sorted(EDGE_RULES), ids=lambda e: f"{e} loses nothing")
def test_a_clean_run_keeps_every_edge_promise(clean, edge):
    expected, arrived = edge_sets(clean)[edge]
    assert expected, "every edge should carry traffic"
    assert expected == arrived


def test_a_clean_run_agrees_with_the_pipelines_own_filters(clean):
    by_hop = {h: [o for o in clean if o.hop == h] for h in example_pipeline().hop_names}
    for edge in example_pipeline().edges:
        passing = {o.event_id for o in by_hop[edge.from_hop] if edge.where(o)}
        if edge.forbidden:  # expect: none: on a clean run no restricted event gets through
            assert passing and not passing & {o.event_id for o in by_hop[edge.to_hop]}, edge.name
            continue
        assert passing == {o.event_id for o in by_hop[edge.to_hop]}, edge.name


def test_a_clean_run_records_no_fault_effects():
    sim = run(seed=11)
    sim.observations(START, START + 1800)
    truth = sim.truth
    assert truth.dropped == truth.duplicated == truth.rejected == {}
    assert truth.delayed == truth.slowed == truth.suppressed == {}
    assert sum(truth.created.values()) > 0


def test_each_event_is_observed_at_most_once_per_hop(clean):
    assert len({(o.event_id, o.hop) for o in clean}) == len(clean)


def test_time_only_moves_forward_along_the_path(clean):
    seen = {(o.event_id, o.hop): o.observed_time for o in clean}
    for o in clean:
        assert o.observed_time >= o.event_time
    for edge in example_pipeline().edges:
        for (event, hop), t in seen.items():
            if hop == edge.to_hop:
                assert t >= seen[(event, edge.from_hop)]


def test_sdk_observes_each_event_when_it_is_created(clean):
    assert all(o.observed_time == o.event_time for o in clean if o.hop == "sdk")


def test_ingest_rejects_a_small_share_as_schema_invalid(clean):
    ingest = [o for o in clean if o.hop == "ingest"]
    rejected = [o for o in ingest if o.status == Status.REJECTED]
    assert {o.reason for o in rejected} == {"schema_invalid"}
    assert 0.002 < len(rejected) / len(ingest) < 0.01
    assert not {o.event_id for o in rejected} & ids_at(clean, "broker")
    others = [o for o in clean if o.hop != "ingest"]
    assert all(o.status == Status.OK and o.reason is None for o in others)


def test_identity_says_what_it_did_and_that_travels_downstream(clean):
    actions = Counter(dict(o.attributes)["identity_action"] for o in clean if o.hop == "identity")
    assert set(actions) == {"new", "matched", "merged", "split"}
    assert actions["merged"] < actions["new"] and actions["split"] < actions["merged"]
    for o in clean:
        has = "identity_action" in dict(o.attributes)
        assert has == (o.hop in DOWNSTREAM["identity"])


def test_only_consented_events_reach_activation_and_crm(clean):
    for o in clean:
        if o.hop in ("activation", "crm"):
            assert dict(o.attributes)["consent"] == "granted"
        if o.hop == "crm":
            assert o.event_type in ("user_signed_up", "plan_upgraded")
    sdk = [o for o in clean if o.hop == "sdk"]
    granted = sum(dict(o.attributes)["consent"] == "granted" for o in sdk) / len(sdk)
    assert 0.78 < granted < 0.82


def test_events_carry_the_documented_attributes_and_opaque_ids(clean):
    sdk = [o for o in clean if o.hop == "sdk"]
    assert {k for o in sdk for k, _ in o.attributes} == {
        "region",
        "consent",
        "source",
        "schema_version",
    }
    assert {dict(o.attributes)["region"] for o in sdk} == {"eu", "us", "uk"}
    assert {o.event_type for o in sdk} == {
        "user_signed_up",
        "email_opt_in_granted",
        "trial_started",
        "plan_upgraded",
        "feature_used",
    }
    assert all(re.fullmatch(r"evt-b-[0-9a-f]+-[0-9a-f]{4,}", o.event_id) for o in clean)
    assert all(o.pipeline == "signup" for o in clean)
    assert all(list(o.attributes) == sorted(o.attributes) for o in clean)


def test_attributes_outside_the_allow_list_are_not_reported():
    narrow = Pipeline(
        "p",
        example_pipeline().hops,
        example_pipeline().edges,
        attributes=frozenset({"region", "consent"}),
    )
    obs = Simulator(narrow, Scenario(start=START), seed=1).first_events(200)
    assert {k for o in obs for k, _ in o.attributes} == {"region", "consent"}


# -- volume -----------------------------------------------------------------------------------

MONDAY = START
SATURDAY = START + 5 * 86400
SDK_ONLY = Pipeline("volume", (Hop("sdk"),))
"""Volume tests only look at the first hop; skipping the rest keeps them fast."""


def sdk_event_times(traffic: TrafficModel, start: float, end: float, seed: int = 2) -> list[float]:
    sim = Simulator(SDK_ONLY, Scenario(start=start, traffic=traffic), seed=seed)
    return [o.event_time for o in sim.observations(start, end)]


@pytest.mark.parametrize(
    ("t", "offset", "expected"),
    [
        (MONDAY + 15 * 3600, 0.0, 1.6 * 1.12),
        (MONDAY + 3 * 3600, 0.0, 0.4 * 1.12),
        (MONDAY + 9 * 3600, 0.0, 1.0 * 1.12),
        (SATURDAY + 15 * 3600, 0.0, 1.6 * 0.7),
        (MONDAY + 20 * 3600, -5.0, 1.6 * 1.12),
    ],
    ids=[
        "a weekday afternoon is the peak",
        "a weekday night is at 40 percent of the weekday mean",
        "a weekday morning is at the weekday mean",
        "a weekend afternoon is quieter than a weekday one",
        "the us peaks at 15h local which is 20h UTC",
    ],
)
def test_seasonality_follows_local_time_of_day_and_day_of_week(t, offset, expected):
    assert float(TrafficModel().seasonality(t, offset)) == pytest.approx(expected)


def test_seasonality_averages_to_one_over_a_week():
    week = np.arange(MONDAY, MONDAY + 7 * 86400, 60.0) + 30
    assert TrafficModel().seasonality(week).mean() == pytest.approx(1.0)


def test_simulated_nights_are_quieter_than_days():
    uk_only = TrafficModel(rate_per_minute=300, regions=(Region("uk", 1.0, 0.0),))
    night = len(sdk_event_times(uk_only, START + 2 * 3600, START + 4 * 3600))
    day = len(sdk_event_times(uk_only, START + 14 * 3600, START + 16 * 3600))
    # Expected 300 * 1.12 * 120 min * (0.43 night, 1.57 day on average over those hours).
    assert 0.2 < night / day < 0.35


def test_minute_counts_are_over_dispersed():
    flat = TrafficModel(
        rate_per_minute=500, diurnal_amplitude=0.0, weekend_factor=1.0, dispersion=10.0
    )
    times = sdk_event_times(flat, START, START + 6 * 3600, seed=4)
    per_minute = np.array(list(Counter(int(t // 60) for t in times).values()))
    assert per_minute.mean() == pytest.approx(500, rel=0.05)
    # Poisson would give variance 500; a gamma rate with shape 10 adds 500**2 / 10.
    assert per_minute.var() > 10 * per_minute.mean()


def test_region_shares_follow_the_traffic_model(clean):
    sdk = [o for o in clean if o.hop == "sdk"]
    share = Counter(dict(o.attributes)["region"] for o in sdk)
    # At Monday 00:00-02:00 UTC the us (19:00 local) is busier than the eu (01:00 local).
    assert share["us"] > share["eu"] > share["uk"]
