"""The ``sql`` source against SQLite and a real PostgreSQL: exact counts, late rows picked up
before the watermark, a dropped connection retried, the password kept out of sight.

Times are explicit: rows carry event times around ``T0`` and the runner is polled at chosen
``now`` values, so the watermark (bucket 60 s + lateness 2 m) is where the test puts it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from pg_support import pg_query
from sources_support import T0, write_config

from monitor.engine import Engine
from monitor.records import CountSample
from monitor.sources.pull import SourceRunner
from monitor.sources.sql import SqlPull

SQLITE_SOURCE = """
          - kind: sql
            url: sqlite:///{db}
            time_params: epoch
            attributes: [region]
            query: >-
              SELECT (event_time / 60) * 60 AS bucket_start, count(*) AS count, region
              FROM deliveries WHERE event_time >= :start AND event_time < :end
              GROUP BY 1, 3
"""
PG_SOURCE = """
          - kind: sql
            url: postgresql+psycopg://postgres@127.0.0.1:{port}/{db}
            password_env: SINK_PASSWORD
            attributes: [region]
            query: >-
              SELECT date_bin('60 seconds', event_time, TIMESTAMPTZ '1970-01-01') AS bucket_start,
                     count(*) AS count, region
              FROM deliveries WHERE event_time >= :start AND event_time < :end
              GROUP BY 1, 3
"""
PASSWORD = "pg-s3cret"

Insert = Callable[[list[tuple[float, str]]], None]


def _expect_exact_counts_and_late_rows(
    engine: Engine, runner: SourceRunner, insert: Insert
) -> None:
    """The shared scenario: 6 + 4 rows, then 3 late rows of the first bucket before it closes."""
    source = runner.sources[0]
    engine.observe_counts(
        [
            CountSample("signup", "ingest", T0, 60.0, 9),
            CountSample("signup", "ingest", T0 + 60, 60.0, 4),
        ]
    )
    insert([(T0 + i, "eu") for i in range(5)] + [(T0 + 59, "us")])
    insert([(T0 + 60 + i, "eu") for i in range(4)])

    async def polls() -> None:
        assert await runner.poll(source, engine, T0 + 90)
        insert([(T0 + 30, "eu")] * 3)  # committed late, before bucket T0 closes at T0 + 180
        assert await runner.poll(source, engine, T0 + 150)
        assert await runner.poll(source, engine, T0 + 179)
        await source.aclose()

    asyncio.run(polls())
    out = engine.tick(T0 + 241)
    warehouse = {
        b.bucket_start - T0: {dict(k.attributes)["region"]: n for k, n in b.counts}
        for b in out.closed["signup"].hop_buckets
        if b.hop == "warehouse"
    }
    assert warehouse == {0: {"eu": 8, "us": 1}, 60: {"eu": 4}}
    edges = {r.bucket_start - T0: (r.expected, r.arrived, r.missing) for r in out.edge_results}
    assert edges == {0: (9, 9, 0), 60: (4, 4, 0)}


# --- SQLite ------------------------------------------------------------------------------------


def test_sqlite_counts_are_exact_and_late_rows_are_picked_up(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "sink.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE deliveries (event_time INTEGER, region TEXT)")
    config = write_config(tmp_path, SQLITE_SOURCE.format(db=db))

    def insert(rows: list[tuple[float, str]]) -> None:
        with sqlite3.connect(db) as conn:
            conn.executemany("INSERT INTO deliveries VALUES (?, ?)", [(int(t), r) for t, r in rows])

    _expect_exact_counts_and_late_rows(Engine(config), SourceRunner.from_config(config), insert)


def test_a_query_the_database_refuses_is_a_query_failure(tmp_path: Path) -> None:
    config = write_config(tmp_path, SQLITE_SOURCE.format(db=tmp_path / "empty.db"))
    engine, runner = Engine(config), SourceRunner.from_config(config)
    assert not asyncio.run(runner.poll(runner.sources[0], engine, T0))
    health = runner.health[runner.sources[0].key]
    assert dict(health.errors) == {"query": 1}
    assert health.last_error == "query: no such table: deliveries"


# --- PostgreSQL --------------------------------------------------------------------------------


def _pg(port: int, db: str, sql: str, params: list | None = None) -> list:
    return pg_query(port, sql, params, dbname=db)


@pytest.mark.slow
def test_postgresql_counts_are_exact_and_late_rows_are_picked_up(
    tmp_path: Path, postgres: int, pg_database: str
) -> None:
    db = pg_database
    _pg(postgres, db, "CREATE TABLE deliveries (event_time timestamptz, region text)")
    source = PG_SOURCE.format(port=postgres, db=db)
    config = write_config(tmp_path, source, {"SINK_PASSWORD": PASSWORD})

    def insert(rows: list[tuple[float, str]]) -> None:
        for t, region in rows:
            _pg(postgres, db, "INSERT INTO deliveries VALUES (to_timestamp(%s), %s)", [t, region])

    runner = SourceRunner.from_config(config)
    assert PASSWORD not in repr(runner.sources[0])
    _expect_exact_counts_and_late_rows(Engine(config), runner, insert)


@pytest.mark.slow
def test_postgresql_dropped_connection_is_retried(
    tmp_path: Path, postgres: int, pg_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = pg_database
    _pg(postgres, db, "CREATE TABLE deliveries (event_time timestamptz, region text)")
    _pg(postgres, db, "INSERT INTO deliveries VALUES (to_timestamp(%s), 'eu')", [T0 + 1])
    source_yaml = PG_SOURCE.format(port=postgres, db=db)
    config = write_config(tmp_path, source_yaml, {"SINK_PASSWORD": PASSWORD})
    engine, runner = Engine(config), SourceRunner.from_config(config)
    source = runner.sources[0]
    assert isinstance(source, SqlPull)

    async def polls() -> None:
        assert await runner.poll(source, engine, T0 + 30)
        killed = _pg(
            postgres,
            db,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' "
            "AND datname = current_database()",
        )
        assert killed == [(True,)]  # the source's pooled connection
        _pg(postgres, db, "INSERT INTO deliveries VALUES (to_timestamp(%s), 'eu')", [T0 + 2])
        assert await runner.poll(source, engine, T0 + 60)
        await source.aclose()

    asyncio.run(polls())
    assert source.reconnects == 1
    health = runner.health[source.key]
    assert (health.up, sum(health.errors.values())) == (True, 0)
    assert runner._reported[source.key].total(T0) == 2
    assert PASSWORD not in caplog.text
