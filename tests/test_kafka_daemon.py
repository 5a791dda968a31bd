"""A whole ``hopwatch run`` whose hops are Kafka topics, killed with ``kill -9`` and restarted.

Real processes: the mock cluster in a process of its own (``process_support.mock_cluster``), the
daemon, and this test producing the simulator's observations as each hop's own records. The truth
is one engine in this process fed the same observations. Bucket times lie a little in the future
so that every bucket closes only after the restart: what differs then is only what a crash can
break (a double count, a loss), never lateness.
"""

from __future__ import annotations

import math
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("confluent_kafka")

from kafka_support import HOPS, as_record, config_text, item
from process_support import ROOT, mock_cluster, start
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import load_config
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.records import Observation
from monitor.sim import Scenario, Simulator
from monitor.sim.traffic import TrafficModel
from monitor.testing import free_port

BUCKET, LATENESS, SPAN = 10, 40, 30
FAST_GROUP = "{session.timeout.ms: 6000, heartbeat.interval.ms: 500}"
FAST_WORKER = ("session.timeout.ms=6000", "heartbeat.interval.ms=500")
TOPIC = "observations"
EDGE_COUNTS = ("expected", "arrived", "missing", "duplicates", "late")
EDGES = ("sdk->ingest", "ingest->crm")


def metrics(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of ``/metrics`` by (name, sorted labels)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def hop_counts(sample: dict[tuple[str, Any], float]) -> dict[tuple[str, str], int]:
    return {
        (dict(labels)["hop"], dict(labels)["status"]): int(v)
        for (name, labels), v in sample.items()
        if name == "hopwatch_hop_events_total" and v
    }


def edge_buckets(port: int) -> dict[tuple[str, float], tuple[int, ...]]:
    """Every closed bucket of every edge, as ``GET /api/v1/edges/signup/<edge>`` gives it."""
    out = {}
    for edge in EDGES:
        r = httpx.get(f"http://127.0.0.1:{port}/api/v1/edges/signup/{edge}", timeout=10)
        for b in r.json():
            out[(edge, b["bucket_start"])] = tuple(b[k] for k in EDGE_COUNTS)
    return out


def wait_for(what: str, done: Callable[[], bool], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def traffic(config: Config, start: float) -> list[Observation]:
    scenario = Scenario(start=start, seed=11, traffic=TrafficModel(rate_per_minute=4000))
    sim = Simulator(config.pipelines[0], scenario)
    return [o for o in sim.observations(start, start + SPAN) if o.hop in HOPS]


def produce(bootstrap: str, observations: list[Observation]) -> None:
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "log_level": 3})
    for o in observations:
        key, value, headers = as_record(o)
        producer.produce(f"hop-{o.hop}", value=value, key=key, headers=headers)
    assert producer.flush(30) == 0


def equal_to_one_engine(
    port: int, config: Config, observations: list[Observation], start_at: float
) -> dict[tuple[str, float], tuple[int, ...]]:
    """Wait for every bucket to close, then assert the daemon's hop totals and edge buckets (its
    HTTP API) are one engine's fed ``observations``; returns the edge buckets."""
    close_at = start_at + SPAN + LATENESS + BUCKET
    assert time.time() < start_at + BUCKET + LATENESS, "a bucket closed before everything was read"
    wait_for(
        "every bucket to close",
        lambda: len(edge_buckets(port)) == len(EDGES) * SPAN // BUCKET,
        close_at - time.time() + 30,
    )
    want = truth(config, observations, close_at).view()
    assert hop_counts(metrics(port)) == {
        (hop, status): n for (_, hop, status), n in want.hop_totals.items()
    }
    want_edges = {
        (edge, r.bucket_start): (r.expected, r.arrived, r.missing, r.duplicates, r.late)
        for (_, edge), results in want.recent_edges.items()
        for r in results
    }
    assert edge_buckets(port) == want_edges
    return want_edges


def truth(config: Config, observations: list[Observation], close_at: float) -> Engine:
    engine = Engine(config)
    engine.observe(observations)
    engine.tick(close_at)
    return engine


@pytest.mark.slow  # ~2 minutes, mostly waiting for buckets a few seconds in the future to close
def test_a_kafka_hop_daemon_killed_and_restarted_counts_every_record_once(tmp_path: Path) -> None:
    with mock_cluster(*(f"hop-{h}" for h in HOPS)) as bootstrap:
        path = tmp_path / "hopwatch.yaml"
        path.write_text(
            config_text(
                bootstrap, timing=f"bucket: {BUCKET}s\nallowed_lateness: {LATENESS}s",
                consumer=FAST_GROUP,
            )
        )  # fmt: skip
        config = load_config(path)
        # Every bucket closes at least ~70 s from now: after the kill, restart and re-read.
        start_at = math.ceil(time.time() / BUCKET) * BUCKET + 30
        observations = traffic(config, start_at)
        half = len(observations) // 2
        data, port = tmp_path / "data", free_port()
        log = (tmp_path / "daemon.log").open("w")

        produce(bootstrap, observations[:half])
        proc = start(path, data, port, stderr=log)
        try:
            wait_for("the first half", lambda: sum(hop_counts(metrics(port)).values()) == half, 60)
            checkpoint = data / "checkpoint.bin"
            read_at = time.time()
            wait_for(
                "a checkpoint holding the first half",
                lambda: checkpoint.exists() and checkpoint.stat().st_mtime > read_at,
                30,
            )
            produce(bootstrap, observations[half:])
            wait_for(
                "all records",
                lambda: sum(hop_counts(metrics(port)).values()) == len(observations),
                60,
            )
            proc.send_signal(signal.SIGKILL)  # read past the checkpoint: must be read again
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()

        proc = start(path, data, port, stderr=log)
        try:
            restored = sum(hop_counts(metrics(port)).values())
            assert half <= restored <= len(observations)
            wait_for(
                "the records after the checkpoint, again",
                lambda: sum(hop_counts(metrics(port)).values()) >= len(observations),
                90,
            )
            want_edges = equal_to_one_engine(port, config, observations, start_at)
            assert sum(n[0] for (e, _), n in want_edges.items() if e == EDGES[0]) > 1000
            sample = metrics(port)
            lags = [
                v
                for (n, _), v in sample.items()
                if n.startswith("hopwatch_source_kafka_consumer_lag")
            ]
            assert lags and not any(lags)
            proc.send_signal(signal.SIGTERM)  # a clean stop checkpoints and commits
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
        assert committed(bootstrap, config) == {
            f"hop-{hop}": sum(1 for o in observations if o.hop == hop) for hop in HOPS
        }


def committed(bootstrap: str, config: Config) -> dict[str, int]:
    """The offsets the daemon's groups committed, summed per topic."""
    from confluent_kafka import Consumer, TopicPartition

    out = {}
    for hop in config.pipelines[0].hops:
        spec = hop.sources[0]
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": spec.group_id})  # type: ignore[union-attr]
        meta = consumer.list_topics(spec.topic, timeout=10)  # type: ignore[union-attr]
        parts = [TopicPartition(spec.topic, p) for p in meta.topics[spec.topic].partitions]  # type: ignore[union-attr]
        out[spec.topic] = sum(max(0, tp.offset) for tp in consumer.committed(parts, timeout=10))  # type: ignore[union-attr]
        consumer.close()
    return out


def worker(path: Path, bootstrap: str, port: int, log: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--mode", "worker", "--config", str(path),
         "--kafka", bootstrap, "--topic", TOPIC, "--group", "hopwatch-workers",
         "--server", f"http://127.0.0.1:{port}", "--agent-id", "workers",
         *(a for kv in FAST_WORKER for a in ("--consumer", kv))],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log, text=True,
    )  # fmt: skip


@pytest.mark.slow  # ~2 minutes: group joins, a session timeout, buckets closing
def test_two_worker_processes_one_killed_mid_stream_give_the_results_of_one_engine(
    tmp_path: Path,
) -> None:
    from monitor.client.kafka import KafkaTransport

    with mock_cluster(TOPIC) as bootstrap:
        path = tmp_path / "hopwatch.yaml"
        path.write_text(
            config_text(
                None, extra="agent:\n  flush_interval: 1s\n",
                timing=f"bucket: {BUCKET}s\nallowed_lateness: {LATENESS}s",
            )
        )  # fmt: skip
        config = load_config(path)
        start_at = math.ceil(time.time() / BUCKET) * BUCKET + 30
        observations = traffic(config, start_at)
        third = len(observations) // 3
        data, port = tmp_path / "data", free_port()
        log = (tmp_path / "processes.log").open("w")
        transport = KafkaTransport(bootstrap, TOPIC)

        def counted() -> int:
            return sum(hop_counts(metrics(port)).values())

        judge = start(path, data, port, stderr=log)
        workers = [worker(path, bootstrap, port, log) for _ in range(2)]
        try:
            transport.send(item(o) for o in observations[:third])
            assert transport.flush() == 0
            wait_for("the first third", lambda: counted() == third, 90)
            transport.send(item(o) for o in observations[third : 2 * third])
            assert transport.flush() == 0
            time.sleep(0.5)  # mid-stream: read, not all of it acknowledged
            workers[0].send_signal(signal.SIGKILL)
            workers[0].wait(10)
            transport.send(item(o) for o in observations[2 * third :])
            assert transport.flush() == 0
            wait_for("every observation", lambda: counted() >= len(observations), 120)
            equal_to_one_engine(port, config, observations, start_at)
            workers[1].send_signal(signal.SIGTERM)
            assert workers[1].wait(30) == 0
            judge.send_signal(signal.SIGTERM)
            assert judge.wait(30) == 0
        finally:
            for p in (*workers, judge):
                if p.poll() is None:
                    p.kill()
