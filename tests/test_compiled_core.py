"""The compiled cores (issue 16) against the Python reference: same inputs, exactly the same outputs.

Random streams (hypothesis) go through two ledgers of the same pipeline, one fed by
``PipelineLedger.observe_python`` and one by the compiled ``_batch.observe``; after every batch
and every ``close`` everything either can tell differs is compared: the too-late count, the stats,
closed hop buckets and edge results (counts, missing / late / duplicate, latency sketches),
leaks, pending ids and the checkpoint bytes. The streams mix late, duplicate and out-of-order
sightings, ids inside and outside the sample, missing ids, a forbidden edge, a filter that reads
the event id (never memoised), several attribute sets past the cap, exemplars and closes at
random moments. The body scan of push validation is held to its numpy reference the same way.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config.model import Edge, Expectation, ExpectKind, Hop, Pipeline
from monitor.config.where import compile_where
from monitor.ledger import core
from monitor.ledger.ledger import PipelineLedger
from monitor.ledger.sampling import id_hash_python
from monitor.records import Observation
from monitor.sources import limits

ROOT = Path(__file__).resolve().parents[1]


def run_pure_python(script: str) -> str:
    """What ``script`` prints in a fresh interpreter with the compiled cores switched off (an
    environment variable read at import, so it needs a process of its own)."""
    env = {**os.environ, core.PURE_PYTHON_ENV: "1"}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


T0 = 1_800_000_000.0
"""A bucket boundary (a multiple of 60 s)."""

compiled_only = pytest.mark.skipif(
    core.batch is None, reason="the compiled core is not built (python setup.py build_ext -i)"
)


def pipeline(sampling: float, cap: int, max_pending: int) -> Pipeline:
    return Pipeline(
        name="p",
        hops=(Hop("a"), Hop("b"), Hop("c"), Hop("d")),
        edges=(
            Edge("a", "b", compile_where('status == "ok"')),
            Edge("a", "c", compile_where('attributes.region == "eu" or event_type == "t1"')),
            Edge("b", "c"),
            Edge("b", "d", compile_where('event_id != "e3"')),  # reads the id: never memoised
            Edge(
                "c",
                "d",
                compile_where('attributes.consent == "denied"'),
                Expectation(ExpectKind.NONE),
            ),
        ),
        attributes=frozenset({"region", "consent"}),
        bucket_seconds=60.0,
        allowed_lateness=120.0,
        id_sampling=sampling,
        max_attribute_sets=cap,
        max_pending_ids=max_pending,
    )


ATTRIBUTE_SETS = (
    (),
    (("region", "eu"),),
    (("region", "us"),),
    (("consent", "denied"), ("region", "eu")),
    (("consent", "granted"), ("region", "us")),
)

observations = st.builds(
    lambda hop, eid, t, lag, status, etype, attrs, trace, reason: Observation(
        pipeline="p",
        hop=hop,
        event_type=etype,
        event_time=int(T0) + t if isinstance(t, int) else T0 + t,
        observed_time=T0 + t + lag,
        status=status,
        event_id=None if eid is None else f"e{eid}",
        reason=reason,
        attributes=attrs,
        trace_id=trace,
    ),
    hop=st.sampled_from("abcd"),
    eid=st.none() | st.integers(0, 40),
    # whole seconds as ints too: times that are not floats take CPython's own arithmetic
    t=st.floats(-30.0, 900.0, allow_nan=False) | st.integers(-30, 900),
    lag=st.floats(-1.0, 400.0, allow_nan=False),
    status=st.sampled_from(("ok", "ok", "rejected", "failed")),
    etype=st.sampled_from(("t1", "t2")),
    # the same attribute sets as the push decoder's memo gives them, and equal copies
    attrs=st.sampled_from(ATTRIBUTE_SETS) | st.sampled_from(ATTRIBUTE_SETS).map(lambda a: (*a,)),
    trace=st.none() | st.sampled_from(("0" * 32, "f" * 32)),
    reason=st.none() | st.just("consent_denied"),
)

steps = st.lists(
    st.tuples(st.lists(observations, max_size=25), st.none() | st.floats(0.0, 5000.0)),
    min_size=1,
    max_size=8,
)


def same_state(py: PipelineLedger, cc: PipelineLedger) -> None:
    assert py.stats == cc.stats
    assert py.pending_ids == cc.pending_ids
    assert py.hop_totals() == cc.hop_totals()
    assert py.open_buckets() == cc.open_buckets()
    assert py.to_bytes() == cc.to_bytes()


@compiled_only
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=steps,
    sampling=st.sampled_from((1.0, 0.5)),
    cap=st.sampled_from((2, 1000)),
    max_pending=st.sampled_from((8, 1_000_000)),
)
def test_compiled_ledger_matches_the_python_ledger_on_random_streams(
    steps, sampling, cap, max_pending
) -> None:
    config = pipeline(sampling, cap, max_pending)
    py, cc = PipelineLedger(config, compiled=False), PipelineLedger(config, compiled=True)
    for batch, close_at in steps:
        assert py.observe(batch) == cc.observe(batch)
        same_state(py, cc)
        if close_at is not None:
            assert py.close(T0 + close_at) == cc.close(T0 + close_at)
            assert py.drain_leaks() == cc.drain_leaks()
            same_state(py, cc)


@compiled_only
def test_a_bucket_with_more_shapes_than_the_compiled_core_tracks_counts_the_same() -> None:
    """Past 256 shapes in one (hop, bucket) of a batch the compiled core counts each observation
    directly; the counts, their order and the folding past the attribute-set cap still match."""
    config = pipeline(1.0, 40, 1_000_000)
    batch = [
        Observation(
            "p",
            "a",
            f"type-{i % 300}",
            T0 + 1.0,
            T0 + 2.0,
            status=("ok", "failed")[i % 2],
            event_id=f"e{i}",
            attributes=(("region", f"r{i % 50}"),),
        )
        for i in range(900)
    ]
    py, cc = PipelineLedger(config, compiled=False), PipelineLedger(config, compiled=True)
    assert py.observe(batch) == cc.observe(batch)
    same_state(py, cc)
    assert py.close(T0 + 1000.0) == cc.close(T0 + 1000.0)


@compiled_only
def test_more_pending_ids_than_name_slots_keep_the_same_names() -> None:
    """Past ``NAME_SLOTS`` pending ids an edge keeps the names of the smallest hashes; arrivals
    free slots (the largest among them too). Both cores keep the same names, in the same order."""
    config = pipeline(1.0, 1000, 1_000_000)

    def seen(hop: str, ids: range, lag: float) -> list[Observation]:
        return [Observation("p", hop, "t2", T0 + 1.0, T0 + lag, event_id=f"e{i}") for i in ids]

    py, cc = PipelineLedger(config, compiled=False), PipelineLedger(config, compiled=True)
    for batch in (
        seen("a", range(600), 2.0),
        seen("b", range(0, 600, 3), 3.0),
        seen("a", range(600, 900), 4.0),
        seen("b", range(1, 900, 2), 5.0),
    ):
        assert py.observe(batch) == cc.observe(batch)
        same_state(py, cc)
    assert py.close(T0 + 1000.0) == cc.close(T0 + 1000.0)


@compiled_only
def test_compiled_ledger_resumes_from_a_python_checkpoint_and_back() -> None:
    config = pipeline(1.0, 1000, 1_000_000)
    first = [Observation("p", "a", "t1", T0 + i, T0 + i + 1, event_id=f"e{i}") for i in range(9)]
    then = [Observation("p", "b", "t1", T0 + i, T0 + i + 2, event_id=f"e{i}") for i in range(5)]
    py, cc = PipelineLedger(config, compiled=False), PipelineLedger(config, compiled=True)
    py.observe(first)
    cc.restore(py.to_bytes())
    cc.observe(then)
    py.observe(then)
    assert cc.to_bytes() == py.to_bytes()
    closed = cc.close(T0 + 600.0)
    assert closed == py.close(T0 + 600.0)
    ab = next(r for r in closed.edge_results if r.edge == "a->b")
    assert (ab.expected, ab.arrived, ab.missing) == (9, 5, 4)


@compiled_only
def test_the_compiled_id_hash_is_the_python_one() -> None:
    ids = ["", "e1", "evt-9f2c", "é" * 40, "x" * 256, "\U0001f600-id", "a\x00b"]
    assert [core.batch.id_hash60(i) for i in ids] == [id_hash_python(i) for i in ids]


@compiled_only
@pytest.mark.parametrize(
    "event_time",
    [T0 + 59.99999999999999, T0 - 1e-9, 0.3, -0.0, 1e-300, 59.999999999999996, -60.0],
    ids=["just below a boundary", "just below T0", "0.3", "minus zero", "tiny", "near 60", "-60"],
)
def test_the_compiled_bucket_index_is_pythons_floor_division(event_time: float) -> None:
    config = pipeline(1.0, 1000, 1_000_000)
    py, cc = PipelineLedger(config, compiled=False), PipelineLedger(config, compiled=True)
    batch = [Observation("p", "a", "t1", event_time, event_time + 1.0, event_id="e1")]
    assert py.observe(batch) == cc.observe(batch)
    assert py.to_bytes() == cc.to_bytes()


def test_ledgers_run_the_python_core_when_the_compiled_one_is_absent() -> None:
    """``HOPWATCH_PURE_PYTHON=1`` stands for a machine where the build failed: the import
    finds no compiled core, the ledger says so and gives the same answer."""
    script = (
        "from monitor.ledger import core; from monitor.sources import limits;"
        "from monitor.ledger.ledger import PipelineLedger;"
        "from monitor.config.model import Edge, Hop, Pipeline;"
        "from monitor.records import Observation;"
        "p = Pipeline('p', (Hop('a'), Hop('b')), (Edge('a', 'b'),));"
        "led = PipelineLedger(p);"
        "led.observe([Observation('p', 'a', 't', 60.0, 61.0, event_id='x'),"
        " Observation('p', 'b', 't', 60.0, 62.5, event_id='x')]);"
        "r = led.close(10_000.0).edge_results[0];"
        "from monitor.sources import push; from monitor.slo import indicators;"
        "print(core.NAME, core.batch, limits._compiled, push._compiled, indicators._compiled,"
        " r.expected, r.arrived, r.latency.sum)"
    )
    assert run_pure_python(script).split() == [
        "python",
        "None",
        "None",
        "None",
        "None",
        "1",
        "1",
        "1.5",
    ]


# --- the nesting scan of push validation ------------------------------------------------------

bodies = st.lists(st.sampled_from(list(b'{}[]"\\\na ,:')), max_size=300).map(bytes)


@pytest.mark.skipif(limits._compiled is None, reason="the compiled nesting scan is not built")
@settings(max_examples=500, deadline=None)
@given(body=bodies, limit=st.integers(0, 6), per_line=st.booleans())
def test_the_compiled_nesting_scan_finds_what_the_numpy_scan_finds(body, limit, per_line) -> None:
    assert limits._compiled.first_too_deep(body, limit, per_line) == limits.first_too_deep(
        body, limit, per_line
    )


@pytest.mark.skipif(limits._compiled is None, reason="the compiled nesting scan is not built")
def test_the_compiled_nesting_scan_reads_past_a_mebibyte_like_the_chunked_one() -> None:
    body = b'{"a": "' + b"x" * (1 << 20) + b'"}\n' + b"[" * 40
    assert limits._compiled.first_too_deep(body, 32, True) == limits.first_too_deep(body, 32, True)
    assert limits.nesting_error(body, 32, per_line=True) == (
        f"body nests arrays/objects deeper than 32 levels at byte {len(body) - 8} (line 2); "
        "send flat items (attributes as an object of strings)"
    )


operations = st.lists(
    st.tuples(
        st.sampled_from(("set", "set", "set", "pop", "popitem", "fitted", "get")),
        st.integers(0, 300) | st.integers(0, (1 << 60) - 1),
        st.integers(-(1 << 40), 1 << 40),
    ),
    max_size=400,
)


@compiled_only
@settings(max_examples=200, deadline=None)
@given(ops=operations)
def test_the_compiled_id_table_behaves_as_a_dict(ops) -> None:
    """``IdMap`` (the pending, early and arrived ids of a compiled join) against a dict: the
    same answers and the same order, through growth, removals and compaction."""
    table, reference = core.batch.IdMap(), {}
    for op, key, value in ops:
        if op == "set":
            table[key] = value
            reference[key] = value
        elif op == "pop":
            assert table.pop(key) == reference.pop(key, None)
        elif op == "popitem":
            if reference:
                assert table.popitem() == reference.popitem()
            else:
                with pytest.raises(KeyError):
                    table.popitem()
        elif op == "fitted":
            table = table.fitted()
        else:
            assert table.get(key) == reference.get(key)
        assert (key in table) == (key in reference)
    assert table.items() == list(reference.items())
    assert list(table) == list(reference) and len(table) == len(reference)


ALLOWED_IN_COMPILED = ("libc.", "cpython.", "posix.mman", "numpy", "monitor.ledger.")
"""What the compiled cores may import: C and CPython headers, memory mappings, numpy and their
own layer; no clock, file, socket or upper layer (``tests/test_architecture.py`` reads only
``.py`` files, so the Cython sources are held to the pure core's rule here)."""


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "monitor").rglob("*.pyx")) + sorted((ROOT / "monitor").rglob("*.pxi")),
    ids=lambda p: p.name,
)
def test_the_compiled_cores_import_only_c_numpy_and_their_own_layer(path: Path) -> None:
    imported = [
        line.split()[1]
        for line in path.read_text().splitlines()
        if line.startswith(("import ", "from ", "cimport "))
    ]
    bad = [name for name in imported if not name.startswith(ALLOWED_IN_COMPILED)]
    assert not bad, f"{path.name} imports {bad}"


def test_a_compiled_core_that_is_there_but_broken_falls_back_and_says_why(monkeypatch) -> None:
    def broken(name: str) -> None:
        raise ImportError(f"{name}: undefined symbol: XXH3_64bits")

    monkeypatch.setattr(core.importlib, "import_module", broken)
    monkeypatch.setattr(core, "UNLOADABLE", {})
    monkeypatch.delenv(core.PURE_PYTHON_ENV, raising=False)  # the fallback run sets it
    assert core.compiled("monitor.ledger._batch") is None
    assert core.UNLOADABLE == {
        "monitor.ledger._batch": "ImportError: monitor.ledger._batch: undefined symbol: XXH3_64bits"
    }
