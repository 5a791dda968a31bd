"""The store gives back exactly the ledger records it was given: judges replay history from them.

Every test runs on both stores: SQLite in a data dir, and PostgreSQL (``storage.postgres``) on a
fresh database of the session's real server (``pg_support``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from monitor.ledger.records import Completeness, EdgeResult, HopBucket, JoinMode, SeriesKey
from monitor.ledger.sketch import LatencySketch
from monitor.records import Status
from monitor.store import Store, StoreError, open_store

T0 = 1_715_000_040.0


@pytest.fixture(params=["sqlite", "postgres"])
def store(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    if request.param == "sqlite":
        with open_store(tmp_path / "data") as s:
            yield s
        return
    from pg_support import pg_url

    from monitor.store.pg_connection import PgTarget
    from monitor.store.postgres import PostgresStore

    port, db = request.getfixturevalue("postgres"), request.getfixturevalue("pg_database")
    with PostgresStore(PgTarget(pg_url(port, db))) as pg:
        yield pg


def sketch(*seconds: float) -> LatencySketch:
    out = LatencySketch()
    for s in seconds:
        out.add(s)
    return out


def bucket(
    hop: str = "ingest",
    start: float = T0,
    counts: tuple[tuple[SeriesKey, int], ...] = ((SeriesKey(Status.OK), 10),),
    pipeline: str = "signup",
    **kw: object,
) -> HopBucket:
    return HopBucket(pipeline, hop, start, 60.0, counts, **kw)  # type: ignore[arg-type]


def edge(name: str = "ingest->identity", start: float = T0, **kw: object) -> EdgeResult:
    fields: dict[str, object] = {
        "pipeline": "signup",
        "edge": name,
        "from_hop": "ingest",
        "to_hop": "identity",
        "bucket_start": start,
        "bucket_seconds": 60.0,
        "expected": 100,
        "arrived": 97,
        "missing": 3,
    }
    fields.update(kw)
    return EdgeResult(**fields)  # type: ignore[arg-type]


EU = (("consent", "granted"), ("region", "eu"))
US = (("consent", "denied"), ("region", "us"))

BUCKET_CASES = {
    "a bucket with one ok series and no attributes": bucket(),
    "a bucket with no series at all": bucket(counts=()),
    "several statuses and attribute sets keep the ledger's order": bucket(
        counts=(
            (SeriesKey(Status.REJECTED, US), 4),
            (SeriesKey(Status.OK, EU), 1_000_000),
            (SeriesKey(Status.OK, US), 7),
            (SeriesKey(Status.DROPPED, ()), 1),
            (SeriesKey(Status.FAILED, EU), 2),
        )
    ),
    "late arrivals, a latency sketch and the incomplete flag survive": bucket(
        late=12,
        latency=sketch(0.004, 0.25, 1.5, 18.0, 3600.0),
        completeness=Completeness.INCOMPLETE,
    ),
    "fractional bucket times are kept to the last bit": bucket(start=T0 + 0.1 + 0.2),
    "non-ascii attribute values and quotes in names are kept": bucket(
        hop='sink "crm"',
        counts=((SeriesKey(Status.OK, (("region", "São Paulo ✓"),)), 3),),
    ),
    "a counter above 2**53 is kept exactly": bucket(counts=((SeriesKey(Status.OK), 2**62 + 1),)),
}

EDGE_CASES = {
    "an id join with a sample of missing ids and a latency sketch": edge(
        missing_ids=("evt-1", "evt-2", "evt-ü"),
        latency=sketch(0.5, 0.75, 61.25),
        closed_at=T0 + 360.125,
    ),
    "a counts-only result on a 1% id sample": edge(
        mode=JoinMode.COUNTS, sample_rate=0.01, expected=5, arrived=5, missing=0
    ),
    "an incomplete result while the monitor was down": edge(completeness=Completeness.INCOMPLETE),
    "duplicates and late arrivals are kept": edge(duplicates=4, late=9, closed_at=T0 + 0.1 + 0.2),
    "nothing expected, nothing arrived": edge(expected=0, arrived=0, missing=0),
    "an odd sample rate is kept to the last bit": edge(sample_rate=1 / 3),
}


def assert_same_bucket(got: HopBucket, want: HopBucket) -> None:
    assert got == want
    assert got.latency == want.latency  # excluded from dataclass equality
    assert type(got.counts) is tuple
    for key, n in got.counts:
        assert type(key.status) is Status
        assert type(key.attributes) is tuple
        assert all(type(pair) is tuple for pair in key.attributes)
        assert type(n) is int
    assert type(got.completeness) is Completeness
    assert type(got.bucket_start) is float


def assert_same_edge(got: EdgeResult, want: EdgeResult) -> None:
    assert got == want
    assert got.latency == want.latency
    assert type(got.missing_ids) is tuple
    assert type(got.mode) is JoinMode
    assert type(got.completeness) is Completeness


@pytest.mark.parametrize("want", BUCKET_CASES.values(), ids=BUCKET_CASES.keys())
def test_hop_bucket_round_trips_every_field(store: Store, want: HopBucket) -> None:
    store.save_hop_buckets([want])
    [got] = store.hop_buckets("signup")
    assert_same_bucket(got, want)


@pytest.mark.parametrize("want", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_result_round_trips_every_field(store: Store, want: EdgeResult) -> None:
    store.save_edge_results([want])
    [got] = store.edge_results("signup")
    assert_same_edge(got, want)


def test_a_sketch_fed_integer_latencies_keeps_its_quantiles(store: Store) -> None:
    want = sketch(1, 2, 30)
    store.save_hop_buckets([bucket(latency=want)])
    [got] = store.hop_buckets("signup")
    assert got.latency.count == want.count
    assert got.latency.sum == want.sum
    for q in (0.0, 0.5, 0.99, 1.0):
        assert got.latency.quantile(q) == want.quantile(q)


def test_an_amended_bucket_replaces_the_earlier_row(store: Store) -> None:
    first = bucket(counts=((SeriesKey(Status.OK, EU), 10),), latency=sketch(1.0))
    amended = bucket(
        counts=((SeriesKey(Status.OK, EU), 13), (SeriesKey(Status.REJECTED, US), 1)),
        late=4,
        latency=sketch(1.0, 2.0, 3.0, 4.0),
        completeness=Completeness.INCOMPLETE,
    )
    store.save_hop_buckets([first])
    store.save_hop_buckets([amended])
    [got] = store.hop_buckets("signup")
    assert_same_bucket(got, amended)


def test_the_last_of_two_versions_in_one_batch_wins(store: Store) -> None:
    store.save_hop_buckets([bucket(late=1), bucket(late=2)])
    assert [b.late for b in store.hop_buckets("signup")] == [2]


def test_a_re_reconciled_edge_result_replaces_the_earlier_row(store: Store) -> None:
    store.save_edge_results([edge(arrived=90, missing=10, missing_ids=("a", "b"))])
    amended = edge(arrived=99, missing=1, late=9, missing_ids=("b",), closed_at=T0 + 900)
    store.save_edge_results([amended])
    [got] = store.edge_results("signup")
    assert_same_edge(got, amended)


def test_buckets_at_other_hops_and_pipelines_are_separate_rows(store: Store) -> None:
    store.save_hop_buckets(
        [bucket("ingest"), bucket("identity"), bucket("ingest", pipeline="orders")]
    )
    assert [b.hop for b in store.hop_buckets("signup")] == ["identity", "ingest"]
    assert [b.hop for b in store.hop_buckets("orders")] == ["ingest"]


@pytest.fixture
def history(store: Store) -> Store:
    """Four minutes at two hops and two edges of ``signup``, and one bucket of another pipeline."""
    store.save_hop_buckets(
        [bucket(hop, T0 + 60 * i) for i in range(4) for hop in ("identity", "ingest")]
        + [bucket("ingest", T0, pipeline="orders")]
    )
    store.save_edge_results(
        [edge(name, T0 + 60 * i) for i in range(4) for name in ("b->c", "a->b")]
        + [edge("a->b", T0, pipeline="orders")]
    )
    return store


RANGE_CASES = {
    "everything, ordered by time then name": (None, None, None, [0, 0, 1, 1, 2, 2, 3, 3]),
    "one name only": ("ingest", None, None, [0, 1, 2, 3]),
    "since is inclusive": (None, T0 + 120, None, [2, 2, 3, 3]),
    "until is exclusive": (None, None, T0 + 120, [0, 0, 1, 1]),
    "since and until together, for one name": ("identity", T0 + 60, T0 + 180, [1, 2]),
    "an empty window": (None, T0 + 60, T0 + 60, []),
    "a window before any data": (None, T0 - 600, T0, []),
    "an unknown name": ("nowhere", None, None, []),
}


@pytest.mark.parametrize(
    ("hop", "since", "until", "minutes"), RANGE_CASES.values(), ids=RANGE_CASES.keys()
)
def test_hop_bucket_range_queries(
    history: Store, hop: str | None, since: float | None, until: float | None, minutes: list[int]
) -> None:
    got = history.hop_buckets("signup", hop=hop, since=since, until=until)
    assert [b.bucket_start for b in got] == [T0 + 60 * m for m in minutes]
    if hop is None and minutes:
        assert [b.hop for b in got[:2]] == ["identity", "ingest"]


EDGE_NAMES = {"ingest": "a->b", "identity": "b->c", "nowhere": "nowhere", None: None}


@pytest.mark.parametrize(
    ("hop", "since", "until", "minutes"), RANGE_CASES.values(), ids=RANGE_CASES.keys()
)
def test_edge_result_range_queries(
    history: Store, hop: str | None, since: float | None, until: float | None, minutes: list[int]
) -> None:
    name = EDGE_NAMES[hop]
    got = history.edge_results("signup", edge=name, since=since, until=until)
    assert [r.bucket_start for r in got] == [T0 + 60 * m for m in minutes]
    if name is None and minutes:
        assert [r.edge for r in got[:2]] == ["a->b", "b->c"]


def test_a_batch_that_fails_half_way_writes_nothing(store: Store) -> None:
    broken = replace(bucket(start=T0 + 60), pipeline=None)  # violates NOT NULL on the second row
    with pytest.raises(StoreError, match=r"(hopwatch\.db|PostgreSQL \S+): cannot save hop buckets"):
        store.save_hop_buckets([bucket(), broken])
    assert store.hop_buckets("signup") == []


def test_an_empty_batch_is_a_no_op(store: Store) -> None:
    store.save_hop_buckets([])
    store.save_edge_results(iter(()))
    assert store.hop_buckets("signup") == []
    assert store.edge_results("signup") == []
