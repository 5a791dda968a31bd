"""librdkafka's built-in mock cluster, for tests and ``bench/scale.py``.

Why a helper: the mock brokers live exactly as long as the client that created them, so the
cluster is an object to hold (and close), and topics must be created on it before a consumer
group subscribes (a subscription to a missing topic is an error the tests should not race).
The brokers are real TCP listeners on 127.0.0.1, so consumers in other processes can join; to
share one cluster between processes (a ``hopwatch run`` under test, workers, a producer), run
``python -m monitor.sources.kafka_mock --topics a,b``: it prints the bootstrap servers on one line
and holds the cluster until its stdin closes or it gets SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["MOCK_PARTITIONS", "MockCluster"]

MOCK_PARTITIONS = 4
"""Partitions of a topic the mock cluster auto-creates."""


class MockCluster:
    """``test.mock.num.brokers`` brokers; ``bootstrap_servers`` for every other client."""

    def __init__(self, brokers: int = 3) -> None:
        from confluent_kafka import Producer

        self._owner = Producer({"test.mock.num.brokers": brokers, "log_level": 3})
        metadata = self._owner.list_topics(timeout=10)
        self.bootstrap_servers = ",".join(
            f"{b.host}:{b.port}" for b in sorted(metadata.brokers.values(), key=lambda b: b.id)
        )
        self.producer = self.new_producer()

    def new_producer(self, **extra: Any) -> Any:
        from confluent_kafka import Producer

        return Producer(
            {"bootstrap.servers": self.bootstrap_servers, "linger.ms": 5, "log_level": 3, **extra}
        )

    def create_topic(self, name: str) -> int:
        """Create ``name`` with the mock's default partition count; returns that count.

        The mock cluster answers CreateTopics with a timeout here, so topics are auto-created by
        a metadata request instead (librdkafka's mock gives them ``MOCK_PARTITIONS``)."""
        for _ in range(50):
            topic = self._owner.list_topics(name, timeout=10).topics.get(name)
            if topic is not None and topic.error is None and topic.partitions:
                return len(topic.partitions)
            time.sleep(0.1)
        raise RuntimeError(f"mock cluster did not create topic {name!r}")

    def produce(
        self, topic: str, records: Iterable[tuple[bytes | None, bytes]], flush: bool = True
    ) -> int:
        """(key, value) pairs in order; returns how many were produced."""
        n = 0
        for key, value in records:
            while True:
                try:
                    self.producer.produce(topic, value=value, key=key)
                    break
                except BufferError:
                    self.producer.poll(0.05)
            n += 1
        if flush:
            self.producer.flush(30)
        return n

    def close(self) -> None:
        self.producer.flush(10)
        self._owner.flush(1)


def main(argv: Sequence[str] | None = None) -> int:
    """Hold a mock cluster for other processes: print its bootstrap servers, wait, close."""
    parser = argparse.ArgumentParser(prog="python -m monitor.sources.kafka_mock")
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--topics", default="", help="comma-separated topics to create first")
    args = parser.parse_args(argv)
    cluster = MockCluster(args.brokers)
    for topic in filter(None, args.topics.split(",")):
        cluster.create_topic(topic)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())

    def _until_stdin_closes() -> None:
        sys.stdin.read()
        done.set()

    threading.Thread(target=_until_stdin_closes, daemon=True).start()
    print(cluster.bootstrap_servers, flush=True)
    done.wait()
    cluster.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
