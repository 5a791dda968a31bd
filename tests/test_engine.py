"""The engine's accounting: counters that only go up, amendments across restarts, gaps."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.engine import Engine
from monitor.ledger.watermark import Gap
from monitor.records import Observation

PIPELINE = Pipeline(name="p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),))
CONFIG = Config(pipelines=(PIPELINE,))


def obs(hop: str, eid: str, t: float, seen: float | None = None) -> Observation:
    return Observation("p", hop, "x", t, t if seen is None else seen, event_id=eid)


def totals(engine: Engine) -> tuple[int, ...]:
    return dataclasses.astuple(engine.view().edge_totals[("p", "a->b")])


def test_a_late_arrival_raises_late_and_arrived_and_never_lowers_missing():
    engine = Engine(CONFIG)
    engine.observe([obs("a", "e1", 10.0), obs("a", "e2", 10.0), obs("b", "e1", 10.0)])
    engine.tick(360.0)
    assert totals(engine) == (2, 1, 1, 0, 0, 0)
    engine.observe([obs("b", "e2", 10.0, seen=400.0)])
    engine.tick(401.0)
    assert totals(engine) == (2, 2, 1, 0, 1, 0)


def test_an_amendment_after_a_restart_is_not_counted_twice():
    first = Engine(CONFIG)
    first.observe([obs("a", f"e{i}", 10.0) for i in range(10)])
    first.tick(360.0)
    second = Engine(CONFIG)
    second.restore(first.checkpoint())
    second.observe([obs("b", "e3", 10.0, seen=370.0)])
    second.tick(371.0)
    assert totals(second) == (10, 1, 10, 0, 1, 0)


def test_incomplete_buckets_count_as_incomplete_not_as_missing():
    engine = Engine(CONFIG)
    engine.mark_gap(Gap(0.0, 100.0))
    engine.observe([obs("a", f"e{i}", 10.0) for i in range(10)])
    out = engine.tick(360.0)
    assert totals(engine) == (0, 0, 0, 0, 0, 1)
    assert engine._book.firing() == []
    assert out.verdicts == ()  # an incomplete bucket is never judged, not even as clean


def test_an_amendment_of_an_older_bucket_does_not_resolve_a_newer_alert():
    engine = Engine(CONFIG)
    engine.observe([obs("a", f"old{i}", 10.0) for i in range(20)])
    engine.observe([obs("a", f"new{i}", 70.0) for i in range(20)])
    engine.tick(430.0)  # both buckets close with 20 of 20 missing
    assert len(engine._book.firing()) == 1
    for i in range(20):  # the old bucket heals twice over through late arrivals
        engine.observe([obs("b", f"old{i}", 10.0, seen=431.0 + i)])
        engine.tick(431.0 + i)
    assert len(engine._book.firing()) == 1


sighting = st.tuples(
    st.sampled_from(["a", "b"]),
    st.integers(min_value=0, max_value=15),
    st.integers(min_value=0, max_value=2),  # bucket 0, 1 or 2
    st.booleans(),  # a tick before this sighting
)


@settings(max_examples=150, deadline=None)
@given(st.lists(sighting, max_size=60))
def test_reconciliation_holds_and_counters_never_decrease(sightings):
    engine = Engine(CONFIG)
    now = 0.0
    seen: list[tuple[int, ...]] = [totals(engine)]
    for hop, n, bucket, tick_first in sightings:
        if tick_first:
            now += 120.0
            engine.tick(now)
            seen.append(totals(engine))
        t = bucket * 60.0 + 1.0
        engine.observe([obs(hop, f"e{bucket}-{n}", t, seen=max(t, now))])
    for _ in range(10):
        now += 400.0
        out = engine.tick(now)
        seen.append(totals(engine))
        for r in out.edge_results:
            assert r.expected == r.arrived + r.missing
            assert r.missing >= 0
    for before, after in itertools.pairwise(seen):
        assert all(x <= y for x, y in zip(before, after, strict=True))


def test_a_view_is_a_frozen_snapshot_that_later_ticks_do_not_change():
    engine = Engine(CONFIG)
    engine.observe([obs("a", "1", 5.0), obs("a", "2", 6.0), obs("b", "1", 7.0)])
    engine.tick(360.0)
    before = engine.view()
    key = ("p", "a->b")
    assert (before.edge_totals[key].expected, before.edge_totals[key].missing) == (2, 1)
    assert before.last_tick == 360.0
    engine.observe([obs("a", "3", 370.0)])
    engine.tick(720.0)
    after = engine.view()
    assert (before.edge_totals[key].expected, before.last_tick) == (2, 360.0), "unchanged"
    assert (after.edge_totals[key].expected, after.last_tick) == (3, 720.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        before.last_tick = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        before.edge_totals[key] = before.edge_totals[key]  # type: ignore[index]
