"""The agent's compiled bucketing loop against its Python reference: same streams, same deltas.

Random streams (hypothesis) go through two ``Bucketer``s of the same config, one running the
Python loop of ``_PipelineBucketer.observe`` and one the compiled ``monitor.agent._bucket``; after
every batch, every ``take`` (the ``HopAggregate`` deltas: counts in order, latency sketch bytes,
exemplars, local lateness, edge ids and sightings) and the hops served must be equal. The streams
mix two pipelines, late, duplicate and out-of-order sightings, ids inside and outside the sample,
ids too long to join, missing ids, a filter that reads the event id (never memoised), whole-second
int times (CPython's own arithmetic) and watermark moves at random moments.
"""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_compiled_core import observations as ledger_observations
from test_compiled_core import run_pure_python

from monitor.agent import bucketer as bucketer_module
from monitor.agent.bucketer import Bucketer
from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.config.where import compile_where
from monitor.ledger.aggregate import MAX_ID_LENGTH, HopAggregate
from monitor.records import CountSample, Observation

T0 = 1_800_000_000.0
"""A bucket boundary (a multiple of 60 s)."""

compiled_only = pytest.mark.skipif(
    bucketer_module._compiled is None,
    reason="the agent's compiled loop is not built (python setup.py build_ext -i)",
)


def pipeline(name: str, sampling: float) -> Pipeline:
    return Pipeline(
        name=name,
        hops=(Hop("a"), Hop("b"), Hop("c")),
        edges=(
            Edge("a", "b", compile_where('status == "ok"')),
            Edge("a", "c", compile_where('attributes.region == "eu" or event_type == "t1"')),
            Edge("b", "c", compile_where('event_id != "e3"')),  # reads the id: never memoised
        ),
        attributes=frozenset({"region", "consent"}),
        bucket_seconds=60.0,
        allowed_lateness=120.0,
        id_sampling=sampling,
    )


def config(sampling: float) -> Config:
    return Config(pipelines=(pipeline("p", sampling), pipeline("q", 1.0)))


LONG_ID = "x" * (MAX_ID_LENGTH + 1)

# The ledger's differential test's observations (late, duplicate, out-of-order, ids or none, int
# and float times, equal copies of attribute sets), spread over two pipelines and three hops, and
# now and then with an id too long to join.
observations = st.builds(
    lambda o, pipe, hop, long_id: msgspec.structs.replace(
        o, pipeline=pipe, hop=hop, event_id=LONG_ID if long_id == 0 else o.event_id
    ),
    ledger_observations,
    pipe=st.sampled_from(("p", "p", "q")),
    hop=st.sampled_from("abc"),
    long_id=st.integers(0, 9),
)

steps = st.lists(
    st.tuples(
        st.lists(observations, max_size=30),
        st.none() | st.floats(0.0, 1200.0),  # advance the local watermark to T0 + this
        st.booleans(),  # take (flush) after this batch
    ),
    min_size=1,
    max_size=8,
)


def python_loop(bucketer: Bucketer, batch: list[Observation]) -> None:
    saved = bucketer_module._compiled
    bucketer_module._compiled = None
    try:
        bucketer.observe(batch)
    finally:
        bucketer_module._compiled = saved


@compiled_only
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=steps, sampling=st.sampled_from((1.0, 0.5)))
def test_the_compiled_loop_makes_exactly_the_python_deltas(
    steps: list[tuple[list[Observation], float | None, bool]], sampling: float
) -> None:
    py, cc = Bucketer(config(sampling)), Bucketer(config(sampling))
    for batch, advance, take in steps:
        python_loop(py, batch)
        cc.observe(batch)
        if advance is not None:
            py.advance(T0 + advance)
            cc.advance(T0 + advance)
        if take:
            assert py.take(T0 + 2000.0) == cc.take(T0 + 2000.0)
            assert py.served == cc.served
    final = py.take(T0), cc.take(T0)
    assert final[0] == final[1]


def obs(hop: str, eid: str | None, t: float, lag: float, **kw: object) -> Observation:
    return Observation("p", hop, "t1", T0 + t, T0 + t + lag, event_id=eid, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled loop", "python loop"])
def test_one_flush_of_a_small_stream_gives_these_exact_deltas(compiled: bool) -> None:
    """Worked by hand: e1 leaves a (ok, so both edges) and reaches b twice; e2 is rejected at
    a (only the a->c edge, by event type); the id too long to join is counted, never sampled."""
    if compiled and bucketer_module._compiled is None:
        pytest.skip("the agent's compiled loop is not built")
    b = Bucketer(config(1.0))
    batch = [
        obs("a", "e1", 1.0, 0.5, trace_id="f" * 32),
        obs("a", "e2", 2.0, 0.25, status="rejected"),
        obs("a", LONG_ID, 3.0, 1.0),
        obs("b", "e1", 1.0, 2.0),
        obs("b", "e1", 1.0, 3.0),
        obs("b", None, 61.0, 1.0),
    ]
    if compiled:
        b.observe(batch)
    else:
        python_loop(b, batch)
    b.observe_counts([CountSample("q", "c", T0, 60.0, 7)])
    aggregates, samples = b.take(T0 + 60.0)
    assert [(a.pipeline, a.hop, a.bucket) for a in aggregates] == [
        ("p", "a", 30_000_000),
        ("p", "b", 30_000_000),
        ("p", "b", 30_000_001),
    ]
    a, b0, b1 = aggregates
    assert [(c.status, c.n) for c in a.counts] == [("ok", 2), ("rejected", 1)]
    assert a.exemplar == ("f" * 32, 0.5, T0 + 1.5)
    edges = {e.edge: e for e in a.edges}
    assert sorted(edges) == ["a->b", "a->c"]
    assert (edges["a->b"].expected_count, edges["a->b"].ids_seen) == (2, 2)
    assert edges["a->b"].ids == (("e1", int((T0 + 1.5) * 1000.0)),)
    assert (edges["a->c"].expected_count, edges["a->c"].ids_seen) == (3, 3)
    assert [i for i, _ in edges["a->c"].ids] == ["e1", "e2"]
    assert a.sightings == () and a.late == 0
    assert [(c.status, c.n) for c in b0.counts] == [("ok", 2)]
    assert [(s.n, s.ms) for s in b0.sightings] == [(2, int((T0 + 3.0) * 1000.0))]
    assert [(e.edge, e.expected_count, e.ids_seen) for e in b0.edges] == [("b->c", 2, 2)]
    assert [(e.edge, e.expected_count, e.ids_seen) for e in b1.edges] == [("b->c", 1, 0)]
    assert samples == [CountSample("q", "c", T0, 60.0, 7)]
    assert all(isinstance(x, HopAggregate) for x in aggregates)


def test_with_pure_python_set_the_agent_buckets_with_the_python_loop() -> None:
    """``HOPWATCH_PURE_PYTHON=1`` (or no extension built): the Python loop runs, same results."""
    script = (
        "from monitor.agent import bucketer;"
        "from monitor.config.model import Config, Edge, Hop, Pipeline;"
        "from monitor.records import Observation;"
        "p = Pipeline('p', (Hop('a'), Hop('b')), (Edge('a', 'b'),));"
        "b = bucketer.Bucketer(Config(pipelines=(p,)));"
        "b.observe([Observation('p', 'a', 't', 60.0, 61.0, event_id='x'),"
        " Observation('p', 'b', 't', 60.0, 62.5, event_id='x')]);"
        "a = b.take(200.0)[0];"
        "print(bucketer._compiled, len(a), a[0].edges[0].ids, [(s.ms, s.n) for s in a[1].sightings])"
    )
    assert run_pure_python(script).strip() == "None 2 (('x', 61000),) [(62500, 1)]"
