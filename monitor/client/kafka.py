"""A Kafka transport for observations: produce to the workers' topic instead of POSTing.

Why keyed by event id: every sighting of one event (at every hop) must land in the same partition,
so the one worker that owns it can join them (``monitor.agent.worker``). Values are the push API's
JSON observation (``ObservationIn``), so workers validate them with the server's own decoder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["KafkaTransport"]


class KafkaTransport:
    """Produces observation dicts (the ``POST /v1/observations`` item shape) to ``topic``."""

    def __init__(self, bootstrap_servers: str, topic: str, **producer_config: Any) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self.producer = Producer(
            {"bootstrap.servers": bootstrap_servers, "linger.ms": 20, **producer_config}
        )

    def send(self, observations: Iterable[dict[str, Any]]) -> int:
        """Queue every observation item (the push API's JSON shape); returns how many."""
        n = 0
        for o in observations:
            event_id = o.get("event_id")
            value = json.dumps(o, separators=(",", ":")).encode()
            key = None if event_id is None else str(event_id).encode()
            while True:
                try:
                    self.producer.produce(self.topic, value=value, key=key)
                    break
                except BufferError:  # the local queue is full: let the delivery thread drain
                    self.producer.poll(0.05)
            n += 1
        self.producer.poll(0)
        return n

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for delivery; returns how many are still undelivered."""
        remaining: int = self.producer.flush(timeout)
        return remaining
