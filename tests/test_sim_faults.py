"""Each injected fault does exactly what ground truth says, and nothing else.

Every test compares a faulty run with the clean run of the same seed: the simulator draws the same
random numbers whatever the faults, so the difference between the two runs is the fault's effect.
"""

from __future__ import annotations

from collections import Counter

import pytest
from test_sim_support import DOWNSTREAM, START, buckets, ids_at, missing, run

from monitor.records import Observation, Status
from monitor.sim import (
    Duplicates,
    GroundTruth,
    Latency,
    Loss,
    RejectionSpike,
    Stall,
    VolumeDrop,
)
from monitor.sim.faults import Fault

N = 6000
"""Events per run: about 55 simulated minutes from Monday 00:00 UTC at 200/min, past the window."""
WINDOW = {"start": 300.0, "duration": 600.0}
"""The fault window: 5 to 15 minutes into the run."""
W_START, W_END = START + 300.0, START + 900.0

_clean_cache: list[Observation] = []


def clean() -> list[Observation]:
    if not _clean_cache:
        _clean_cache.extend(run().first_events(N))
    return _clean_cache


def faulty(fault: Fault) -> tuple[list[Observation], GroundTruth]:
    truth = GroundTruth()
    return run(fault).first_events(N, truth=truth), truth


def observed_at(observations: list[Observation], hop: str) -> dict[str, Observation]:
    return {o.event_id: o for o in observations if o.hop == hop}


def hits(truth: GroundTruth) -> dict[str, dict[str, int]]:
    """Non-empty truth tables, as totals per key."""
    tables = ("dropped", "duplicated", "rejected", "delayed", "slowed", "suppressed")
    out = {}
    for name in tables:
        totals = {k: sum(v.values()) for k, v in getattr(truth, name).items() if sum(v.values())}
        if totals:
            out[name] = totals
    return out


ALL_KINDS = [
    Loss(edge="identity->activation", share=0.1, **WINDOW),
    Loss(edge="broker->identity", share=0.3, **WINDOW),
    Stall(hop="identity", lose=True, **WINDOW),
    Stall(hop="crm", **WINDOW),
    Latency(hop="identity", seconds=18.0, **WINDOW),
    VolumeDrop(attribute="region", value="eu", share=0.5, **WINDOW),
    RejectionSpike(hop="ingest", share=0.2, reason="schema_invalid", **WINDOW),
    RejectionSpike(hop="identity", share=0.1, reason="consent_denied", **WINDOW),
    Duplicates(hop="warehouse", share=0.05, **WINDOW),
    Duplicates(hop="sdk", share=0.05, **WINDOW),
]
ALL_IDS = [
    "10% loss on identity->activation",
    "30% loss on broker->identity",
    "a stall at identity that loses events",
    "a stall at crm that delays events",
    "18 s of latency at identity",
    "half of eu traffic never created",
    "a 20% schema rejection spike at ingest",
    "a 10% consent rejection spike at identity",
    "5% duplicates at the warehouse",
    "5% duplicates at the sdk",
]


@pytest.mark.parametrize("fault", ALL_KINDS, ids=ALL_IDS)
def test_nothing_changes_before_the_fault_starts(fault):
    before = [o for o in clean() if o.observed_time < W_START]
    obs, _ = faulty(fault)
    assert [o for o in obs if o.observed_time < W_START] == before


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (ALL_KINDS[0], {"dropped": {"identity->activation": 96}}),
        (ALL_KINDS[1], {"dropped": {"broker->identity": 396}}),
        (ALL_KINDS[2], {"dropped": {"broker->identity": 1324}}),
        (ALL_KINDS[3], {"delayed": {"crm": 228}}),
        (ALL_KINDS[4], {"slowed": {"identity": 1327}}),
        (ALL_KINDS[5], {"suppressed": {"region=eu": 268}}),
        (ALL_KINDS[6], {"rejected": {"ingest": 261}}),
        (ALL_KINDS[7], {"rejected": {"identity": 128}}),
        (ALL_KINDS[8], {"duplicated": {"warehouse": 77}}),
        (ALL_KINDS[9], {"duplicated": {"sdk": 74}}),
    ],
    ids=ALL_IDS,
)
def test_ground_truth_names_only_the_faulted_target(fault, expected):
    _, truth = faulty(fault)
    assert hits(truth) == expected


# -- loss ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "edge"),
    [
        (ALL_KINDS[0], "identity->activation"),
        (ALL_KINDS[1], "broker->identity"),
        (ALL_KINDS[2], "broker->identity"),
    ],
    ids=[ALL_IDS[0], ALL_IDS[1], ALL_IDS[2]],
)
def test_lost_events_are_exactly_the_missing_ids_on_that_edge_alone(fault, edge):
    obs, truth = faulty(fault)
    gone = missing(obs)
    dropped = set(truth.dropped_ids[edge])
    assert len(dropped) == len(truth.dropped_ids[edge])
    assert gone == {e: (dropped if e == edge else set()) for e in gone}
    assert buckets(obs, dropped) == truth.dropped[edge]


@pytest.mark.parametrize(
    ("fault", "edge"),
    [(ALL_KINDS[0], "identity->activation"), (ALL_KINDS[1], "broker->identity")],
    ids=[ALL_IDS[0], ALL_IDS[1]],
)
def test_loss_removes_the_events_from_the_to_hop_and_everything_after_it(fault, edge):
    obs, truth = faulty(fault)
    dropped = set(truth.dropped_ids[edge])
    after = DOWNSTREAM[edge.split("->")[1]]
    kept = [o for o in clean() if not (o.hop in after and o.event_id in dropped)]
    assert obs == kept


@pytest.mark.parametrize(
    ("fault", "edge", "low", "high"),
    [
        (ALL_KINDS[0], "identity->activation", 0.07, 0.13),
        (ALL_KINDS[1], "broker->identity", 0.25, 0.35),
    ],
    ids=[ALL_IDS[0], ALL_IDS[1]],
)
def test_loss_takes_its_share_of_the_events_crossing_the_edge_in_the_window(fault, edge, low, high):
    _, truth = faulty(fault)
    src, _ = edge.split("->")
    crossing = [
        o
        for o in clean()
        if o.hop == src
        and W_START <= o.observed_time < W_END
        and o.status == Status.OK
        and (edge != "identity->activation" or dict(o.attributes)["consent"] == "granted")
    ]
    dropped = set(truth.dropped_ids[edge])
    assert dropped <= {o.event_id for o in crossing}
    assert low < len(dropped) / len(crossing) < high


def test_a_losing_stall_drops_what_the_hop_would_have_seen_in_the_window():
    obs, truth = faulty(ALL_KINDS[2])
    would = {
        e for e, o in observed_at(clean(), "identity").items() if W_START <= o.observed_time < W_END
    }
    assert set(truth.dropped_ids["broker->identity"]) == would
    assert not would & ids_at(obs, "identity")


# -- faults that lose nothing ---------------------------------------------------------------------


@pytest.mark.parametrize("fault", ALL_KINDS[3:], ids=ALL_IDS[3:])
def test_faults_other_than_loss_keep_every_edge_whole(fault):
    obs, _ = faulty(fault)
    assert missing(obs) == {e: set() for e in missing(obs)}


def test_a_delaying_stall_observes_nothing_in_the_window_then_catches_up():
    obs, truth = faulty(ALL_KINDS[3])
    before, after = observed_at(clean(), "crm"), observed_at(obs, "crm")
    assert before.keys() == after.keys()
    assert not [o for o in after.values() if W_START <= o.observed_time < W_END]
    held = {e for e, o in before.items() if W_START <= o.observed_time < W_END}
    assert {e for e in held if after[e].observed_time >= W_END} == held
    assert {e for e in before if before[e] != after[e]} == held
    assert buckets(obs, held) == truth.delayed["crm"]


def test_latency_adds_its_seconds_at_the_hop_and_shifts_everything_after_it():
    obs, truth = faulty(ALL_KINDS[4])
    broker, slow_before, slow_after = (
        observed_at(clean(), "broker"),
        observed_at(clean(), "identity"),
        observed_at(obs, "identity"),
    )
    slowed = {e for e in slow_before if W_START <= broker[e].observed_time < W_END}
    for e, o in slow_before.items():
        shift = 18.0 if e in slowed else 0.0
        assert slow_after[e].observed_time == o.observed_time + shift
    for hop in ("activation", "crm"):
        a, b = observed_at(clean(), hop), observed_at(obs, hop)
        for e in a:
            assert b[e].observed_time == pytest.approx(a[e].observed_time + 18.0 * (e in slowed))
    for hop in ("sdk", "ingest", "broker", "warehouse"):
        assert observed_at(obs, hop) == observed_at(clean(), hop)
    assert buckets(obs, slowed) == truth.slowed["identity"]


def test_volume_drop_suppresses_only_its_segment_in_its_window():
    obs, truth = faulty(ALL_KINDS[5])
    sdk_before = observed_at(clean(), "sdk")
    never = sdk_before.keys() - ids_at(obs, "sdk")
    assert never
    for e in never:
        o = sdk_before[e]
        assert dict(o.attributes)["region"] == "eu"
        assert W_START <= o.event_time < W_END
    assert buckets(clean(), never) == truth.suppressed["region=eu"]
    # The run still creates N events: the ones after the last clean event make up the difference.
    assert len(ids_at(obs, "sdk")) == N


@pytest.mark.parametrize(
    ("fault", "hop", "reason", "next_hops"),
    [
        (ALL_KINDS[6], "ingest", "schema_invalid", {"broker"}),
        (ALL_KINDS[7], "identity", "consent_denied", {"activation", "crm"}),
    ],
    ids=[ALL_IDS[6], ALL_IDS[7]],
)
def test_a_rejection_spike_rejects_its_share_and_the_edges_filter_them(
    fault, hop, reason, next_hops
):
    obs, truth = faulty(fault)
    before, after = observed_at(clean(), hop), observed_at(obs, hop)
    extra = {
        e
        for e, o in after.items()
        if o.status == Status.REJECTED and e in before and before[e].status == Status.OK
    }
    assert {after[e].reason for e in extra} == {reason}
    assert buckets(obs, extra) == truth.rejected[hop]
    for nxt in next_hops:
        assert not extra & ids_at(obs, nxt)


@pytest.mark.parametrize(
    ("fault", "hop"),
    [(ALL_KINDS[8], "warehouse"), (ALL_KINDS[9], "sdk")],
    ids=[ALL_IDS[8], ALL_IDS[9]],
)
def test_duplicates_are_second_observations_of_the_same_event(fault, hop):
    obs, truth = faulty(fault)
    at_hop = [o for o in obs if o.hop == hop]
    twice = {e for e, n in Counter(o.event_id for o in at_hop).items() if n == 2}
    assert len(at_hop) - len({o.event_id for o in at_hop}) == len(twice)
    assert buckets(obs, twice) == truth.duplicated[hop]
    firsts = observed_at(clean(), hop)
    for o in at_hop:
        if o.event_id in twice and o != firsts[o.event_id]:
            delay = o.observed_time - firsts[o.event_id].observed_time
            assert 1.0 <= delay < 60.0
            assert o.event_time == firsts[o.event_id].event_time
    others = [o for o in obs if o.hop != hop]
    assert others == [o for o in clean() if o.hop != hop]


# -- composition and the stream ------------------------------------------------------------------


def test_the_stream_counts_the_same_truth_as_first_events():
    fault = Loss(edge="identity->activation", share=0.1, **WINDOW)
    sim = run(fault)
    sim.observations(START, START + 3600)
    _, truth = faulty(fault)
    assert set(sim.truth.dropped_ids["identity->activation"]) == set(
        truth.dropped_ids["identity->activation"]
    )


def test_overlapping_losses_on_one_edge_take_the_larger_share():
    small = Loss(edge="identity->activation", share=0.05, **WINDOW)
    large = Loss(edge="identity->activation", share=0.1, **WINDOW)
    truth = GroundTruth()
    run(small, large).first_events(N, truth=truth)
    _, alone = faulty(large)
    assert truth.dropped == alone.dropped
