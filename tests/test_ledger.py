"""The ledger, with exact numbers: buckets, watermarks, late amendment, joins, sampling, caps."""

from __future__ import annotations

import pytest

from monitor.config.model import Edge, Hop, Pipeline, Where
from monitor.ledger.bucket import OVERFLOW
from monitor.ledger.ledger import PipelineLedger
from monitor.ledger.records import Completeness, JoinMode
from monitor.ledger.sampling import IdSampler, id_hash
from monitor.ledger.watermark import Gap
from monitor.records import CountSample, Observation, Status

OK_ONLY = Where('status == "ok"', lambda o: o.status == Status.OK)


def pipeline(**overrides) -> Pipeline:
    base = dict(
        name="p",
        hops=(Hop("a"), Hop("b"), Hop("c")),
        edges=(Edge("a", "b", OK_ONLY), Edge("b", "c")),
        attributes=frozenset({"region"}),
        bucket_seconds=60.0,
        allowed_lateness=300.0,
    )
    base.update(overrides)
    return Pipeline(**base)


def obs(hop, eid, t, seen=None, status=Status.OK, attrs=()) -> Observation:
    return Observation(
        pipeline="p",
        hop=hop,
        event_type="user_signed_up",
        event_time=t,
        observed_time=t if seen is None else seen,
        status=status,
        event_id=eid,
        attributes=attrs,
    )


def edge(closed, name):
    return {r.edge: r for r in closed.edge_results}[name]


def hop(closed, name):
    return {b.hop: b for b in closed.hop_buckets}[name]


def test_bucket_closes_exactly_when_its_watermark_passes():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", "e1", 0.0), obs("a", "e2", 59.9)])
    assert ledger.close(359.9).hop_buckets == ()
    closed = ledger.close(360.0)
    assert [(b.hop, b.bucket_start, b.total) for b in closed.hop_buckets] == [
        ("a", 0.0, 2),
        ("b", 0.0, 0),
        ("c", 0.0, 0),
    ]
    assert ledger.close(361.0).hop_buckets == ()


def test_edge_join_counts_expected_arrived_missing_and_names_missing_ids():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", f"e{i}", 10.0) for i in range(10)])
    ledger.observe([obs("a", "rej", 10.0, status=Status.REJECTED)])
    ledger.observe([obs("b", f"e{i}", 10.0, seen=10.5) for i in range(7)])
    result = edge(ledger.close(360.0), "a->b")
    assert (result.expected, result.arrived, result.missing, result.duplicates, result.late) == (
        10,
        7,
        3,
        0,
        0,
    )
    assert result.mode is JoinMode.IDS
    assert sorted(result.missing_ids) == ["e7", "e8", "e9"]
    assert result.latency.count == 7
    assert result.latency.quantile(0.5) == pytest.approx(0.5, rel=0.01)


def test_late_arrival_amends_the_closed_bucket_and_counts_as_late():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", "e1", 10.0), obs("a", "e2", 10.0), obs("b", "e1", 10.0)])
    first = edge(ledger.close(360.0), "a->b")
    assert (first.expected, first.arrived, first.missing, first.late) == (2, 1, 1, 0)
    ledger.observe([obs("b", "e2", 10.0, seen=400.0)])
    amended = ledger.close(401.0)
    result = edge(amended, "a->b")
    assert (result.expected, result.arrived, result.missing, result.late) == (2, 2, 0, 1)
    assert hop(amended, "b").late == 1
    assert hop(amended, "b").total == 2
    assert ledger.stats.late_observations == 1


def test_duplicates_at_the_to_hop_are_counted_once_as_arrived():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", "e1", 1.0), obs("b", "e1", 1.0), obs("b", "e1", 2.0)])
    ledger.observe([obs("b", "e1", 3.0)])
    result = edge(ledger.close(360.0), "a->b")
    assert (result.expected, result.arrived, result.missing, result.duplicates) == (1, 1, 0, 2)


def test_arrival_reported_before_departure_still_joins():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("b", "e1", 1.0, seen=5.0)])
    ledger.observe([obs("a", "e1", 1.0, seen=2.0)])
    result = edge(ledger.close(360.0), "a->b")
    assert (result.expected, result.arrived, result.missing) == (1, 1, 0)
    assert result.latency.quantile(0.5) == pytest.approx(3.0, rel=0.01)


def test_events_outside_the_edge_filter_are_not_expected():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", "e1", 1.0, status=Status.REJECTED)])
    result = edge(ledger.close(360.0), "a->b")
    assert (result.expected, result.arrived, result.missing) == (0, 0, 0)
    assert result.loss_ratio is None


def test_repeated_departures_are_expected_once():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", "e1", 1.0), obs("a", "e1", 2.0)])
    assert edge(ledger.close(360.0), "a->b").expected == 1


def test_id_sampling_keeps_the_same_ids_at_every_hop():
    sampler = IdSampler(0.1)
    ids = [f"evt-{i}" for i in range(20_000)]
    kept = {i for i in ids if sampler.keeps(id_hash(i))}
    assert {i for i in ids if sampler.keeps(id_hash(i))} == kept
    assert 1_800 < len(kept) < 2_200
    ledger = PipelineLedger(pipeline(id_sampling=0.1))
    ledger.observe([obs("a", i, 1.0) for i in ids])
    ledger.observe([obs("b", i, 1.0) for i in ids[:10_000]])
    result = edge(ledger.close(360.0), "a->b")
    assert result.expected == len(kept)
    assert result.arrived == len(kept & set(ids[:10_000]))
    assert result.sample_rate == 0.1


def test_sampling_rate_outside_zero_one_is_refused():
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        IdSampler(0.0)


def test_attribute_sets_beyond_the_cap_fold_into_other_and_are_counted():
    ledger = PipelineLedger(pipeline(max_attribute_sets=3))
    regions = ["eu", "us", "uk", "de", "fr"]
    ledger.observe(
        [obs("a", f"e{i}", 1.0, attrs=(("region", r),)) for i, r in enumerate(regions * 2)]
    )
    bucket = hop(ledger.close(360.0), "a")
    counts = {k.attributes: n for k, n in bucket.counts}
    assert counts == {
        (("region", "eu"),): 2,
        (("region", "us"),): 2,
        (("region", "uk"),): 2,
        OVERFLOW: 4,
    }
    assert ledger.stats.overflow_observations == 4


def test_buckets_overlapping_a_monitor_gap_are_incomplete_and_others_complete():
    ledger = PipelineLedger(pipeline())
    ledger.add_gap(Gap(1000.0, 1100.0))
    ledger.observe(
        [obs("a", i, t) for i, t in (("x", 30.0), ("w", 610.0), ("y", 1030.0), ("z", 2000.0))]
    )
    closed = ledger.close(3000.0)
    state = {(r.bucket_start, r.edge): r.completeness for r in closed.edge_results}
    assert state[(0.0, "a->b")] is Completeness.COMPLETE
    # bucket 600 accepts arrivals until 660 + 300 = 960, before the gap began
    assert state[(600.0, "a->b")] is Completeness.COMPLETE
    # bucket 1020 accepts arrivals in [1020, 1380): overlaps the gap
    assert state[(1020.0, "a->b")] is Completeness.INCOMPLETE
    assert state[(1980.0, "a->b")] is Completeness.COMPLETE


def test_pending_ids_beyond_the_cap_are_given_up_and_counted():
    ledger = PipelineLedger(pipeline(max_pending_ids=5))
    ledger.observe([obs("a", f"e{i}", 1.0) for i in range(8)])
    assert ledger.pending_ids == 5
    assert ledger.stats.pending_evicted == 3
    assert edge(ledger.close(360.0), "a->b").expected == 5


def test_counts_without_ids_reconcile_by_count():
    ledger = PipelineLedger(pipeline())
    ledger.observe_counts(
        [
            CountSample("p", "a", 0.0, 60.0, 100),
            CountSample("p", "a", 0.0, 60.0, 7, status=Status.REJECTED),
            CountSample("p", "b", 0.0, 60.0, 90),
        ]
    )
    result = edge(ledger.close(360.0), "a->b")
    assert result.mode is JoinMode.COUNTS
    assert (result.expected, result.arrived, result.missing) == (100, 90, 10)
    assert result.missing_ids == ()


def test_a_checkpoint_restores_open_buckets_and_joins_exactly():
    first = PipelineLedger(pipeline())
    first.observe([obs("a", f"e{i}", 10.0) for i in range(5)] + [obs("b", "e1", 10.0)])
    second = PipelineLedger(pipeline())
    second.restore(first.to_bytes())
    second.observe([obs("b", "e2", 11.0)])
    result = edge(second.close(360.0), "a->b")
    assert (result.expected, result.arrived, result.missing) == (5, 2, 3)


def test_late_arrivals_after_eviction_come_out_as_partial_buckets():
    ledger = PipelineLedger(pipeline(), amend_horizon=60.0)
    ledger.observe([obs("a", "e1", 10.0)])
    ledger.close(360.0)
    ledger.close(1000.0)  # bucket 0 evicted
    ledger.observe([obs("a", "e9", 10.0, seen=1001.0)])
    closed = ledger.close(1002.0)
    assert closed.hop_buckets == ()
    assert [(b.hop, b.total, b.late) for b in closed.partial_hop_buckets] == [("a", 1, 1)]
    assert ledger.stats.too_late_for_edges == 1


def test_hop_totals_are_monotonic_across_eviction_and_checkpoints():
    ledger = PipelineLedger(pipeline(), amend_horizon=60.0)
    ledger.observe([obs("a", "e1", 10.0), obs("a", "e2", 10.0, status=Status.REJECTED)])
    ledger.observe([obs("a", "e3", 500.0)])
    ledger.close(1000.0)  # bucket 0 evicted, bucket 480 still held
    assert ledger.hop_totals() == {("a", "ok"): 2, ("a", "rejected"): 1}
    restored = PipelineLedger(pipeline(), amend_horizon=60.0)
    restored.restore(ledger.to_bytes())
    assert restored.hop_totals() == {("a", "ok"): 2, ("a", "rejected"): 1}


def test_a_from_hop_repeating_itself_after_the_close_is_not_new_expected_loss():
    ledger = PipelineLedger(pipeline())
    ids = [f"e{i}" for i in range(10)]
    ledger.observe([obs("a", i, 10.0) for i in ids] + [obs("b", i, 10.0) for i in ids])
    first = edge(ledger.close(360.0), "a->b")
    ledger.observe([obs("a", i, 10.0, seen=400.0) for i in ids])  # a replay
    ledger.observe([obs("b", "e1", 10.0, seen=401.0)])  # and one duplicate downstream
    amended = {r.edge: r for r in ledger.close(402.0).edge_results}
    assert (first.expected, first.arrived, first.missing) == (10, 10, 0)
    result = amended["a->b"]
    assert (result.expected, result.arrived, result.missing, result.duplicates) == (10, 10, 0, 1)


def test_a_genuinely_late_departure_amends_expected_and_missing():
    ledger = PipelineLedger(pipeline())
    ledger.observe([obs("a", "e1", 10.0)])
    ledger.close(360.0)
    ledger.observe([obs("a", "e2", 10.0, seen=400.0)])
    result = edge(ledger.close(401.0), "a->b")
    assert (result.expected, result.arrived, result.missing) == (2, 0, 2)


def test_unsampled_ids_keep_an_edge_in_id_mode():
    ledger = PipelineLedger(pipeline(id_sampling=0.001))
    kept = IdSampler(0.001)
    ids = [f"evt-{i}" for i in range(50) if not kept.keeps(id_hash(f"evt-{i}"))][:20]
    ledger.observe([obs("a", i, 10.0) for i in ids] + [obs("b", i, 10.0) for i in ids * 2])
    result = edge(ledger.close(360.0), "a->b")
    assert result.mode is JoinMode.IDS
    assert (result.expected, result.arrived, result.missing) == (0, 0, 0)


def test_to_hop_sightings_nothing_expected_count_towards_the_cap_and_go_first():
    ledger = PipelineLedger(pipeline(max_pending_ids=5, edges=(Edge("a", "b"),)))
    ledger.observe([obs("a", "e1", 1.0), obs("a", "e2", 1.0)])
    ledger.observe([obs("b", f"x{i}", 1.0) for i in range(6)])
    assert ledger.pending_ids == 5
    assert ledger.stats.pending_evicted == 3
    assert edge(ledger.close(360.0), "a->b").expected == 2
