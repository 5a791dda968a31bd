"""Pulled sources without real servers: counter arithmetic, re-query semantics, the runner's
health, gaps and alerts, the metrics, the config and its secrets.

The runner is driven directly with an ``Engine`` and explicit times, as the daemon's task would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from sources_support import T0, ScriptedSource, promtool_errors, write_config

from monitor.alerting.alert import AlertState
from monitor.config.model import HttpJsonSource, PrometheusSource, SqlSource
from monitor.engine import Engine
from monitor.export.source_metrics import SourceCollector
from monitor.ledger.records import Completeness
from monitor.ledger.watermark import Watermark
from monitor.records import CountSample
from monitor.sources.counter_math import Point, bucket_increments
from monitor.sources.health import FailureReason, SourceError
from monitor.sources.pull import SourceRunner, pull_window
from monitor.sources.reported import BucketCount, ReportedCounts

# --- counter arithmetic ------------------------------------------------------------------------

P = Point
COUNTER_CASES = [
    (
        "increases land in the bucket whose (start, end] holds the point",
        [P(0, 5), P(10, 8), P(60, 10), P(70, 14)],
        None,
        {0: 5, 60: 4},
    ),
    (
        "a value below the previous one is a reset: the new value is all increase",
        [P(0, 100), P(10, 110), P(20, 3), P(30, 7)],
        None,
        {0: 17},
    ),
    (
        "a stale stretch (no points) is bridged from the last value before it",
        [P(0, 100), P(10, 104), P(70, 120)],
        None,
        {0: 4, 60: 16},
    ),
    (
        "a series back from staleness after a restart counts from zero",
        [P(0, 100), P(10, 104), P(70, 6)],
        None,
        {0: 4, 60: 6},
    ),
    ("a series born inside the window counted from zero", [P(20, 3), P(30, 5)], None, {0: 5}),
    (
        "a series stale at the window's start uses the value carried from earlier pulls",
        [P(20, 53), P(30, 55)],
        50.0,
        {0: 5},
    ),
    (
        "points before the window only set the baseline",
        [P(-60, 1), P(-10, 40), P(0, 42), P(10, 45)],
        None,
        {0: 3},
    ),
]


@pytest.mark.parametrize(
    ("points", "baseline", "expected"),
    [c[1:] for c in COUNTER_CASES],
    ids=[c[0] for c in COUNTER_CASES],
)
def test_counter_increments_per_bucket(points, baseline, expected) -> None:
    got = bucket_increments(points, window_start=0.0, bucket_seconds=60.0, baseline=baseline)
    assert got == expected


# --- re-queried buckets replace ---------------------------------------------------------------


def _deltas(reported: ReportedCounts, counts: dict[float, int], open_from: float) -> list[int]:
    out = reported.deltas([BucketCount(b, n) for b, n in counts.items()], 0.0, open_from)
    return [s.count for s in out]


def test_requeried_buckets_send_only_the_difference() -> None:
    reported = ReportedCounts("signup", "warehouse", 60.0)
    assert _deltas(reported, {0: 10, 60: 3}, 0.0) == [10, 3]
    assert _deltas(reported, {0: 10, 60: 5}, 0.0) == [2]
    assert _deltas(reported, {0: 10}, 0.0) == [-5]  # the rows of bucket 60 were deleted
    assert reported.total(0) == 10 and reported.total(60) == 0


def test_a_closed_bucket_only_gains() -> None:
    reported = ReportedCounts("signup", "warehouse", 60.0)
    _deltas(reported, {0: 10}, 0.0)
    assert _deltas(reported, {0: 7}, 60.0) == []
    assert _deltas(reported, {0: 12}, 60.0) == [2]


def test_the_window_covers_open_buckets_and_those_closed_since_the_last_pull() -> None:
    mark = Watermark(60.0, 120.0)
    window = pull_window(mark, T0 + 200.0, 30.0)
    assert window.open_from == T0 + 60.0  # bucket T0 closed at T0 + 180
    assert window.start == T0  # ... after the previous pull at T0 + 170, so it is read once more
    assert window.end == T0 + 200.0


# --- the runner, driven with an engine and explicit times --------------------------------------


def _engine_and_runner(tmp_path: Path, source: ScriptedSource) -> tuple[Engine, SourceRunner]:
    config = write_config(tmp_path, "[]")
    runner = SourceRunner([source], config)
    return Engine(config, verdict_sources=[runner.verdicts]), runner


def _push(engine: Engine, hop: str, start: float, n: int) -> None:
    engine.observe_counts([CountSample("signup", hop, start, 60.0, n)])


def _edge_at(engine: Engine, start: float):
    results = [r for c in engine.tick(start + 60 + 120 + 1).closed.values() for r in c.edge_results]
    return next(r for r in results if r.bucket_start == start)


def test_pulled_counts_are_exact_however_often_a_bucket_is_read(tmp_path: Path) -> None:
    source = ScriptedSource(counts={T0: 4})
    engine, runner = _engine_and_runner(tmp_path, source)
    _push(engine, "ingest", T0, 9)
    for at, count in ((T0 + 30, 4), (T0 + 60, 7), (T0 + 90, 9), (T0 + 120, 9)):
        source.counts[T0] = count
        assert asyncio.run(runner.poll(source, engine, at))
    result = _edge_at(engine, T0)
    assert (result.expected, result.arrived, result.missing) == (9, 9, 0)
    assert result.completeness is Completeness.COMPLETE


def test_late_rows_before_the_watermark_are_counted_in_their_bucket(tmp_path: Path) -> None:
    source = ScriptedSource(counts={T0: 5})
    engine, runner = _engine_and_runner(tmp_path, source)
    _push(engine, "ingest", T0, 8)
    asyncio.run(runner.poll(source, engine, T0 + 61))
    source.counts[T0] = 8  # three rows committed late, two minutes later
    asyncio.run(runner.poll(source, engine, T0 + 170))
    result = _edge_at(engine, T0)
    assert (result.arrived, result.missing, result.late) == (8, 0, 0)


def test_a_failing_source_makes_buckets_incomplete_not_lost(tmp_path: Path) -> None:
    source = ScriptedSource(counts={T0: 10})
    engine, runner = _engine_and_runner(tmp_path, source)
    _push(engine, "ingest", T0, 10)
    source.failure = FailureReason.CONNECTION
    for at in (T0 + 30, T0 + 60, T0 + 90, T0 + 120, T0 + 150):
        assert not asyncio.run(runner.poll(source, engine, at))
    closed = list(engine.tick(T0 + 60 + 120 + 1).closed.values())
    [result] = [r for c in closed for r in c.edge_results if r.bucket_start == T0]
    assert result.completeness is Completeness.INCOMPLETE
    assert result.arrived == 0
    # Only the source's own hop (and edges touching it) went unobserved; ingest is complete.
    hops = {h.hop: h.completeness for c in closed for h in c.hop_buckets if h.bucket_start == T0}
    assert hops == {"ingest": Completeness.COMPLETE, "warehouse": Completeness.INCOMPLETE}
    totals = engine.view().edge_totals[("signup", "ingest->warehouse")]
    assert (totals.missing, totals.incomplete_buckets) == (0, 1)
    health = runner.health[source.key]
    assert (health.up, health.consecutive_failures) == (False, 5)
    assert health.errors[FailureReason.CONNECTION] == 5
    assert len(engine._ledgers["signup"].gaps) == 1  # one outage, one gap
    restored = Engine(engine.config)
    restored.restore(engine.checkpoint())
    assert restored._ledgers["signup"].gaps == engine._ledgers["signup"].gaps
    assert restored._ledgers["signup"].gaps[0].hops == frozenset({"warehouse"})


def test_a_slow_source_times_out_and_counts_as_failed(tmp_path: Path) -> None:
    class Slow(ScriptedSource):
        async def pull(self, window):  # type: ignore[no-untyped-def]
            await asyncio.sleep(1.0)
            return []

    source = Slow()
    source.schedule = type(source.schedule)(interval=1.0, timeout=0.05, grace=0.0)
    engine, runner = _engine_and_runner(tmp_path, source)
    assert not asyncio.run(runner.poll(source, engine, T0))
    assert runner.health[source.key].errors[FailureReason.TIMEOUT] == 1


def test_source_down_fires_after_the_grace_period_and_resolves(tmp_path: Path) -> None:
    source = ScriptedSource(failure=FailureReason.HTTP_STATUS)  # grace 60s
    engine, runner = _engine_and_runner(tmp_path, source)

    def alert_state(at: float) -> AlertState | None:
        engine.tick(at)
        alerts = [a for a in engine._book.alerts() if a.name == "HopwatchSourceDown"]
        return alerts[0].state if alerts else None

    asyncio.run(runner.poll(source, engine, T0))
    assert alert_state(T0 + 59) is None
    asyncio.run(runner.poll(source, engine, T0 + 30))
    assert alert_state(T0 + 60) is AlertState.FIRING
    alert = engine._book.firing()[0]
    assert dict(alert.labels) == {
        "alertname": "HopwatchSourceDown",
        "check": "source_down",
        "pipeline": "signup",
        "hop": "warehouse",
        "source": "scripted",
        "severity": "ticket",
    }
    assert "incomplete, not lost" in dict(alert.annotations)["summary"]
    source.failure = None
    asyncio.run(runner.poll(source, engine, T0 + 90))
    assert alert_state(T0 + 91) is AlertState.RESOLVED
    gap = engine._ledgers["signup"].gaps[0]
    assert (gap.start, gap.end) == (T0, T0 + 90)


def test_source_metrics_are_exposed_and_promtool_clean(tmp_path: Path) -> None:
    source = ScriptedSource(counts={T0: 1})
    engine, runner = _engine_and_runner(tmp_path, source)
    asyncio.run(runner.poll(source, engine, T0 + 5))
    source.failure = FailureReason.TIMEOUT
    asyncio.run(runner.poll(source, engine, T0 + 35))
    registry = CollectorRegistry()
    registry.register(SourceCollector(runner))
    text = generate_latest(registry).decode()
    labels = 'hop="warehouse",pipeline="signup",source="scripted"'
    assert f"hopwatch_source_up{{{labels}}} 0.0" in text
    assert f"hopwatch_source_last_success_timestamp_seconds{{{labels}}} {T0 + 5:.9e}" in text
    errors_of = 'hopwatch_source_errors_total{{hop="warehouse",pipeline="signup",reason="{}",source="scripted"}}'
    assert errors_of.format("timeout") + " 1.0" in text
    assert errors_of.format("connection") + " 0.0" in text
    assert f"hopwatch_source_consecutive_failures{{{labels}}} 1.0" in text
    errors = promtool_errors(text)
    if errors is None:
        pytest.skip("promtool not installed (Debian package 'prometheus')")
    assert errors == ""


# --- config ------------------------------------------------------------------------------------

SOURCES = """
          - kind: prometheus
            url: http://127.0.0.1:9090
            query: signup_events_total
            labels: {region: region}
            auth: {bearer_token_env: PROM_TOKEN}
          - kind: sql
            name: sink_rows
            url: postgresql+psycopg://hopwatch@127.0.0.1:5432/sink
            password_env: SINK_PASSWORD
            query: SELECT 1
            interval: 1m
            timeout: 20s
            grace: 5m
            attributes: [region]
          - kind: http_json
            url: https://vendor.example/deliveries?from={start}&to={end}
            items: data.buckets
            fields: {bucket_start: minute, count: stats.delivered, attributes: {region: geo}}
"""
SECRETS = {"PROM_TOKEN": "prom-s3cret", "SINK_PASSWORD": "pg-s3cret"}


def test_sources_load_into_the_model_with_their_secrets(tmp_path: Path) -> None:
    config = write_config(tmp_path, SOURCES, SECRETS)
    prom, sql, http = config.pipelines[0].hops[1].sources
    assert isinstance(prom, PrometheusSource) and prom.name == "prometheus"
    assert (prom.step, prom.labels, prom.bearer_token) == (
        15.0,
        (("region", "region"),),
        "prom-s3cret",
    )
    assert isinstance(sql, SqlSource) and sql.name == "sink_rows"
    assert (sql.schedule.interval, sql.schedule.timeout, sql.schedule.grace) == (60, 20, 300)
    assert sql.password == "pg-s3cret" and "s3cret" not in sql.url
    assert isinstance(http, HttpJsonSource)
    assert (http.items, http.count_field, http.attributes) == (
        "data.buckets",
        "stats.delivered",
        (("region", "geo"),),
    )


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    from monitor.sources.pull import build_sources

    config = write_config(tmp_path, SOURCES, SECRETS)
    shown = repr(config) + "".join(repr(s) for s in build_sources(config))
    assert "s3cret" not in shown
    assert "sink_rows" in shown


def test_sql_url_shown_masks_the_password(tmp_path: Path) -> None:
    from monitor.sources.pull import build_sources

    config = write_config(tmp_path, SOURCES, SECRETS)
    sql = build_sources(config)[1]
    assert repr(sql) == (
        "SqlPull(signup/warehouse/sink_rows, "
        "url='postgresql+psycopg://hopwatch:***@127.0.0.1:5432/sink')"
    )


def test_run_pulls_on_schedule_until_cancelled_and_closes_sources(tmp_path: Path) -> None:
    from monitor.testing import FakeClock

    source = ScriptedSource(counts={T0: 1})
    engine, runner = _engine_and_runner(tmp_path, source)
    clock = FakeClock(T0 + 10)
    closed: list[bool] = []

    async def aclose() -> None:
        closed.append(True)

    async def sleep(seconds: float) -> None:
        assert seconds == source.schedule.interval
        if clock.advance(seconds) > T0 + 60:
            raise asyncio.CancelledError

    source.aclose = aclose  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(runner.run(engine, clock, sleep))
    assert [w.end for w in source.windows] == [T0 + 10, T0 + 40]
    assert closed == [True]


def test_a_restart_resumes_what_was_reported_so_open_buckets_are_not_counted_twice(
    tmp_path: Path,
) -> None:
    """The runner's memory goes into the checkpoint with the engine's, at the same instant."""
    source = ScriptedSource(counts={T0: 4})
    engine, runner = _engine_and_runner(tmp_path, source)
    _push(engine, "ingest", T0, 9)
    assert asyncio.run(runner.poll(source, engine, T0 + 30))
    saved_engine, saved_runner = engine.checkpoint(), runner.to_bytes()

    restarted, runner2 = _engine_and_runner(tmp_path, source)
    restarted.restore(saved_engine)
    runner2.restore(saved_runner)
    source.counts[T0] = 9  # the bucket is still open and is read again in full
    assert asyncio.run(runner2.poll(source, restarted, T0 + 60))
    result = _edge_at(restarted, T0)
    assert (result.expected, result.arrived, result.missing) == (9, 9, 0)


def test_a_daemon_saves_the_sources_checkpoint_and_restores_it_on_start(tmp_path: Path) -> None:
    from monitor.daemon import SOURCES_CHECKPOINT, Daemon
    from monitor.store import open_store
    from monitor.testing import FakeClock

    source = """
          - kind: http_json
            url: http://127.0.0.1:9/counts
            items: buckets
            fields: {bucket_start: minute, count: n}
"""
    config = write_config(tmp_path, source)
    first = Daemon(config, FakeClock(T0), open_store(tmp_path / "data"))
    first.start()
    [key] = first.sources._reported
    first.sources._reported[key].deltas([BucketCount(T0, 7)], T0, T0)
    first.stop()
    second = Daemon(config, FakeClock(T0 + 10), open_store(tmp_path / "data"))
    assert second.store.load_checkpoint(SOURCES_CHECKPOINT) is not None
    second.start()
    assert second.sources._reported[key].total(T0) == 7
    second.stop()


def test_the_daemon_judges_its_sources_health_on_each_tick(tmp_path: Path) -> None:
    """The daemon hands its runner's verdicts to the engine: a source down past its grace
    fires ``HopwatchSourceDown`` from the daemon's own tick, no attaching needed."""
    from monitor.daemon import Daemon
    from monitor.store import open_store
    from monitor.testing import FakeClock

    source = """
          - kind: http_json
            url: http://127.0.0.1:9/counts
            items: buckets
            fields: {bucket_start: minute, count: n}
"""
    config = write_config(tmp_path, source)
    clock = FakeClock(T0)
    daemon = Daemon(config, clock, open_store(tmp_path / "data"))
    daemon.start()
    [health] = daemon.sources.health.values()
    health.failed(T0, SourceError(FailureReason.CONNECTION, "refused"))
    clock.advance(health.grace + 1)
    daemon.tick()
    assert [a.name for a in daemon.engine.view().alerts] == ["HopwatchSourceDown"]
    daemon.stop()
