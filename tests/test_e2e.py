"""End to end through real HTTP: the simulator's observations posted to the daemon's own server.

The daemon runs with a fake clock so buckets close exactly when the test says; the HTTP server is
uvicorn on a loopback port; the store is SQLite in a temporary directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from monitor.config import load_config
from monitor.config.auth import AuthPolicy, Credential, Scope
from monitor.config.model import Config, StorageConfig
from monitor.daemon import Daemon
from monitor.demo import ndjson
from monitor.ledger.records import Completeness
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.sim import DEFAULT_HOPS, HopModel, Loss, Scenario, Simulator
from monitor.store import open_store
from monitor.testing import FakeClock, serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
START = 1_700_000_040.0  # a minute boundary
EDGE = "identity->activation"
PUSH_TOKEN = "e2e-push-token"
NDJSON = {"content-type": "application/x-ndjson", "authorization": f"Bearer {PUSH_TOKEN}"}
# The example warehouse loads in batches (p95 2 min), so a few of its sightings come after the
# 5-minute lateness and amend their bucket later; these tests want every bucket final when it closes.
HOPS = {**DEFAULT_HOPS, "warehouse": HopModel(latency_median=5.0, latency_p95=20.0)}


def example_config(data_dir: Path) -> Config:
    """The example config as shipped (writes closed), plus a push token the posts send."""
    config = load_config(ROOT / "hopwatch.yaml")
    push = Credential("e2e", frozenset({Scope.PUSH}), PUSH_TOKEN)
    server = dataclasses.replace(config.server, auth=AuthPolicy((push,)))
    return dataclasses.replace(config, server=server, storage=StorageConfig(data_dir=data_dir))


@contextmanager
def running(config: Config, clock: FakeClock) -> Iterator[tuple[Daemon, str]]:
    daemon = Daemon(config, clock, open_store(config.storage.data_dir))
    daemon.start()
    with serve_in_thread(create_app(daemon)) as url:
        yield daemon, url
    daemon.stop()


def post(url: str, observations: list[Observation]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        for i in range(0, len(observations), 1000):
            r = client.post(
                "/v1/observations", content=ndjson(observations[i : i + 1000]), headers=NDJSON
            )
            assert r.status_code == 202, r.text
            assert r.json()["rejected"] == 0, r.json()["errors"][:3]


def events_before(sim: Simulator, end: float, margin: float = 120.0) -> list[Observation]:
    """Every observation of the events created before ``end`` (their hops report within ``margin``)."""
    return [o for o in sim.observations(sim.start, end + margin) if o.event_time < end]


def test_ten_percent_loss_on_one_edge_is_counted_exactly_and_alerted(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    scenario = Scenario(
        start=START, seed=5, hops=HOPS, faults=(Loss(edge=EDGE, share=0.10, start=0.0),)
    )
    sim = Simulator(pipeline, scenario)
    end = START + 4 * 60
    observations = events_before(sim, end)
    assert len(observations) >= 10_000
    injected = {b: n for b, n in sim.truth.dropped[EDGE].items() if b < end}
    assert sum(injected.values()) > 0
    clock = FakeClock(end + 120)

    with running(config, clock) as (daemon, url):
        post(url, observations)
        clock.advance(400)
        daemon.tick()
        results = daemon.store.edge_results("signup")
        alerts = httpx.get(url + "/api/v1/alerts").json()

    missing: dict[str, dict[float, int]] = {}
    # A forbidden edge's "missing" events are the restricted ones that were blocked: not loss.
    forbidden = {e.name for e in pipeline.forbidden_edges}
    for r in results:
        assert r.completeness is Completeness.COMPLETE
        if r.missing and r.edge not in forbidden:
            missing.setdefault(r.edge, {})[r.bucket_start] = r.missing
    assert missing == {EDGE: injected}
    assert sum(r.duplicates for r in results) == 0
    firing = [a for a in alerts if a["state"] == "firing"]
    assert {a["labels"]["edge"] for a in firing} == {EDGE}
    assert firing[0]["labels"]["alertname"] == "HopwatchEdgeDataLoss"
    evidence = firing[0]["evidence"]
    assert evidence["missing"] == injected[evidence["bucket_start"]]
    assert set(evidence["missing_ids"]) <= set(sim.truth.dropped_ids[EDGE])
    assert 0 < len(evidence["missing_ids"]) <= 20


def test_a_restart_keeps_closed_buckets_and_never_reports_its_gap_as_loss(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    # A forbidden edge's "missing" events are the restricted ones that were blocked: not loss.
    forbidden = {e.name for e in pipeline.forbidden_edges}
    sim = Simulator(pipeline, Scenario(start=START, seed=9, hops=HOPS))
    stop_at = START + 10 * 60
    before = sim.observations(START, stop_at)  # what the hops reported while hopwatch ran
    sim.observations(stop_at, stop_at + 15 * 60)  # reported while hopwatch was down: lost
    restart_at = stop_at + 15 * 60
    clock = FakeClock(stop_at)

    with running(config, clock) as (daemon, url):
        post(url, before)
        daemon.tick()
        closed_first = [r for r in daemon.store.edge_results("signup") if r.edge not in forbidden]
    assert closed_first, "some buckets closed before the stop"
    assert all(r.missing == 0 for r in closed_first)

    clock.set(restart_at)
    with running(config, clock) as (daemon, url):
        assert daemon.store.gaps()[-1].start == pytest.approx(stop_at)
        for minute in range(16):  # the hops report as time passes; hopwatch ticks along
            window_start = restart_at + minute * 60
            clock.set(window_start + 60)
            post(url, sim.observations(window_start, window_start + 60))
            daemon.tick()
        results = daemon.store.edge_results("signup")
        alerts = httpx.get(url + "/api/v1/alerts").json()

    assert {r.key for r in closed_first} <= {r.key for r in results}
    results = [r for r in results if r.edge not in forbidden]
    incomplete = [r for r in results if r.completeness is Completeness.INCOMPLETE]
    complete = [r for r in results if r.completeness is Completeness.COMPLETE]
    # the bucket being filled when hopwatch stopped did lose its downstream sightings ...
    assert sum(r.missing for r in incomplete) > 0
    # ... but it is incomplete, and every complete bucket reconciles exactly
    assert sum(r.missing for r in complete) == 0
    assert alerts == []
