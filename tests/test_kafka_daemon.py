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
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("confluent_kafka")

from kafka_support import HOPS, as_record, config_text
from process_support import mock_cluster, start
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
            close_at = start_at + SPAN + LATENESS + BUCKET
            assert time.time() < start_at + BUCKET + LATENESS, "a bucket closed before the re-read"
            buckets = SPAN // BUCKET
            wait_for(
                "every bucket to close",
                lambda: len(edge_buckets(port)) == len(EDGES) * buckets,
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
            assert (
                sum(want_edges[(EDGES[0], start_at + i * BUCKET)][0] for i in range(buckets)) > 1000
            )
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
