"""A kafka source per hop, against librdkafka's mock cluster (real Kafka protocol over TCP).

The truth is the same simulated observations fed straight to a ledger; the kafka path is the
hop's own topic, consumed in hopwatch's group, mapped by the source's field mapping. A restart
resumes from the offsets saved with the checkpoint: nothing is counted twice, nothing lost.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from kafka_support import HOPS, START, as_record, config_text, results

from monitor.config import load_config
from monitor.config.model import Config
from monitor.ledger.ledger import PipelineLedger
from monitor.ledger.watermark import Gap
from monitor.records import Observation
from monitor.sim import Scenario, Simulator
from monitor.sources.kafka import KafkaRunner, RawRecord, RecordMapper
from monitor.sources.kafka_mock import MockCluster


class LedgerSink:
    def __init__(self, ledger: PipelineLedger) -> None:
        self.ledger = ledger
        self.gaps: list[Gap] = []

    def observe(self, observations: Any) -> None:
        self.ledger.observe(list(observations))

    def set_gap(self, pipeline: str, gap: Gap, replaces: Gap | None = None) -> None:
        self.gaps.append(gap)


def _config(tmp_path: Path, bootstrap: str | None) -> Config:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(config_text(bootstrap))
    return load_config(path)


def _traffic(config: Config, minutes: int) -> list[Observation]:
    pipeline = config.pipelines[0]
    sim = Simulator(pipeline, Scenario(start=START, seed=3))
    return [o for o in sim.observations(START, START + minutes * 60) if o.hop in HOPS]


@pytest.fixture(scope="module")
def cluster() -> Any:
    c = MockCluster()
    yield c
    c.close()


def _produce(cluster: MockCluster, observations: list[Observation], topic_suffix: str) -> None:
    for o in observations:
        key, value, headers = as_record(o)
        cluster.producer.produce(
            f"hop-{o.hop}{topic_suffix}", value=value, key=key, headers=headers
        )
    cluster.producer.flush(30)


def _drain(runner: KafkaRunner, sink: LedgerSink, now: float, want: int, limit: float = 60) -> int:
    got, deadline = 0, time.monotonic() + limit
    while got < want and time.monotonic() < deadline:
        for s in runner.sources:
            messages = s.fetch(5000, 0.2)
            before = s.consumed
            runner.poll(s, messages, sink, now)
            got += s.consumed - before
    return got


def test_mapping_reads_payload_paths_headers_and_counts_bad_records(tmp_path: Path) -> None:
    config = _config(tmp_path, "127.0.0.1:9")
    spec = config.pipelines[0].hops[0].sources[0]
    mapper = RecordMapper(spec, "signup", "sdk", config)  # type: ignore[arg-type]
    good = RawRecord(
        b'{"id": "e1", "type": "signup", "t": 1700000041, "seen": 1700000042, "why": "x",'
        b' "attrs": {"region": "eu", "secret": "no"}}',
        b"e1",
        [("status", b"rejected")],
    )
    out = mapper.observations(
        [good, RawRecord(b"not json"), RawRecord(None), RawRecord(b'{"id": "e2"}')], START
    )
    assert [(o.event_id, o.status, o.reason, o.attributes) for o in out] == [
        ("e1", "rejected", "x", (("region", "eu"),))
    ]
    assert mapper.bad == {"undecodable": 1, "tombstone": 1, "no_event_time": 1}


@pytest.mark.slow  # ~80s on this machine: consumer-group joins against the mock brokers
def test_a_kafka_hop_gives_the_results_of_the_same_observations_fed_to_one_ledger(
    tmp_path: Path, cluster: MockCluster
) -> None:
    for hop in HOPS:
        cluster.create_topic(f"hop-{hop}")
    config = _config(tmp_path, cluster.bootstrap_servers)
    observations = _traffic(config, 6)
    half = len(observations) // 2
    _produce(cluster, observations[:half], "")

    truth = PipelineLedger(config.pipelines[0])
    truth.observe(observations)
    ledger = PipelineLedger(config.pipelines[0])
    sink = LedgerSink(ledger)
    first = KafkaRunner(config)
    assert _drain(first, sink, START + 400, half) == half
    saved = first.to_bytes()  # the checkpoint: ledger and offsets at one instant
    first.commit_saved(saved)
    # Read past the checkpoint, then die before the next one: those reads must not count.
    _produce(cluster, observations[half:], "")
    extra = LedgerSink(PipelineLedger(config.pipelines[0]))
    _drain(first, extra, START + 400, 10, limit=5)
    first.close()

    second = KafkaRunner(config)
    second.restore(saved)
    assert _drain(second, sink, START + 400, len(observations) - half) == len(observations) - half
    time.sleep(0.5)
    assert _drain(second, sink, START + 400, 1, limit=2) == 0  # nothing twice
    offsets = {s.key.hop: dict(s.offsets) for s in second.sources}
    assert sum(sum(o.values()) for o in offsets.values()) == len(observations)
    second.commit_saved(second.to_bytes())
    for s in second.sources:
        s.measure(START + 400)
        assert all(p.lag == 0 for p in s.partitions.values())
    second.close()

    close_at = START + 7 * 60 + 300 + 1
    got, want = results([ledger.close(close_at)]), results([truth.close(close_at)])
    for part_got, part_want in zip(got, want, strict=True):
        diff = {k: (part_got.get(k), v) for k, v in part_want.items() if part_got.get(k) != v}
        assert not diff
    assert ledger.hop_totals() == truth.hop_totals()
    assert not sink.gaps


def test_kafka_metrics_are_exported_and_promtool_clean(tmp_path: Path) -> None:
    import shutil
    import subprocess

    from prometheus_client import CollectorRegistry, generate_latest

    from monitor.export.source_metrics import KafkaCollector
    from monitor.sources.kafka import PartitionStats

    runner = KafkaRunner(_config(tmp_path, "127.0.0.1:9"))
    source = runner.sources[0]
    source.partitions = {0: PartitionStats(lag=5, end_offset=120), 1: PartitionStats(0, 80)}
    source.mapper.bad["undecodable"] = 2
    registry = CollectorRegistry()
    registry.register(KafkaCollector(runner))
    text = generate_latest(registry).decode()
    assert (
        'hopwatch_source_kafka_consumer_lag_records{hop="sdk",partition="0",pipeline="signup",'
        'source="kafka"} 5.0'
    ) in text
    assert "hopwatch_source_kafka_partition_records_total{" in text
    assert 'reason="undecodable"' in text
    if shutil.which("promtool"):
        lint = subprocess.run(
            ["promtool", "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert lint.returncode == 0 and not lint.stdout.strip(), lint.stdout + lint.stderr
