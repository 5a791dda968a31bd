"""``HopReporter`` producing to the observations topic (``kafka://``) instead of POSTing, against
librdkafka's mock cluster: every observation is one record keyed by its (hashed) event id, in the
push API's item shape that workers decode."""

from __future__ import annotations

import json
from typing import Any

import pytest

pytest.importorskip("confluent_kafka")

from monitor.client import HopReporter
from monitor.client.idhash import IdHasher
from monitor.sources.kafka_mock import MockCluster

TOPIC = "hopwatch-observations"


def _records(bootstrap: str, partitions: int, want: int) -> list[Any]:
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "check", "log_level": 3})
    consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(partitions)])
    out: list[Any] = []
    for _ in range(100):
        out += [m for m in consumer.consume(1000, 0.2) if m.error() is None]
        if len(out) >= want:
            break
    consumer.close()
    return out


@pytest.fixture(scope="module")
def cluster() -> Any:
    c = MockCluster(brokers=1)
    yield c
    c.close()


def test_a_kafka_url_produces_each_observation_keyed_by_event_id(cluster: MockCluster) -> None:
    partitions = cluster.create_topic(TOPIC)
    url = f"kafka://{cluster.bootstrap_servers}/{TOPIC}"
    reporter = HopReporter(url, "signup", "sdk", flush_interval=0.05)
    for i in range(200):
        assert reporter.observe(f"e{i}", "signup", 1_700_000_000 + i, attributes={"region": "eu"})
    assert reporter.close(timeout=30)
    stats = reporter.stats()
    assert (stats.sent, stats.dropped, stats.pending) == (200, 0, 0)
    records = _records(cluster.bootstrap_servers, partitions, 200)
    by_key = {m.key(): json.loads(m.value()) for m in records}
    assert by_key[b"e7"].pop("observed_time") > 1_700_000_007  # when this hop saw it
    assert len(records) == 200 and len(by_key) == 200
    assert by_key[b"e7"] == {
        "pipeline": "signup",
        "hop": "sdk",
        "event_id": "e7",
        "event_type": "signup",
        "event_time": 1_700_000_007,
        "status": "ok",
        "attributes": {"region": "eu"},
    }
    # Every sighting of one id goes to one partition, so one worker joins it.
    assert len({m.partition() for m in records if m.key() == b"e7"}) == 1
    assert repr(reporter) == f"HopReporter({url!r}, 'signup', 'sdk')"


def test_hashed_ids_are_the_keys_so_hops_still_meet(cluster: MockCluster) -> None:
    partitions = cluster.create_topic(TOPIC)
    key = "k" * 32
    before = len(_records(cluster.bootstrap_servers, partitions, 0))
    reporter = HopReporter(
        f"kafka://{cluster.bootstrap_servers}/{TOPIC}", "signup", "crm", id_hash_key=key
    )
    reporter.observe("secret-id", "signup", 1_700_000_000)
    assert reporter.close(timeout=30)
    (record,) = _records(cluster.bootstrap_servers, partitions, before + 1)[before:]
    hashed = IdHasher(key.encode())("secret-id")
    assert record.key() == hashed.encode() and json.loads(record.value())["event_id"] == hashed


@pytest.mark.parametrize(
    "url",
    ["kafka://127.0.0.1:9092", "kafka://broker/topic", "kafka://127.0.0.1:x/topic"],
    ids=["no topic", "no port", "a port that is not a number"],
)
def test_a_kafka_url_that_cannot_work_is_refused_at_once(url: str) -> None:
    with pytest.raises(ValueError, match="kafka://host:port"):
        HopReporter(url, "signup", "sdk")
