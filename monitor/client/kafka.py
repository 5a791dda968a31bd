"""A Kafka transport for observations: produce to the workers' topic instead of POSTing.

Why keyed by event id: every sighting of one event (at every hop) must land in the same partition,
so the one worker that owns it can join them (``monitor.agent.worker``). Values are the push API's
JSON observation (``ObservationIn``), so workers validate them with the server's own decoder.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from monitor.client.transport import Answer, Verdict

__all__ = ["KafkaPoster", "KafkaTransport"]


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


class KafkaPoster:
    """``HopReporter``'s delivery to the observations topic (a ``kafka://`` URL) instead of
    ``POST /v1/observations``: the same batches, encoding, retries and counters (``Poster``'s
    interface), each line produced as one record keyed by its event id.

    Retries never duplicate: the producer is idempotent (librdkafka's own retries are
    deduplicated by the broker), and a batch that is retried produces again only the records
    whose delivery failed. ``timeout`` bounds the wait for the brokers' acknowledgements."""

    def __init__(
        self, bootstrap_servers: str, topic: str, *, timeout: float, config: Mapping[str, Any]
    ) -> None:
        from confluent_kafka import Producer

        self.topic = topic
        self._timeout = timeout
        self.producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "linger.ms": 20,
                "enable.idempotence": True,
                "log_level": 3,
                **config,
            }
        )

    def prepare(self, lines: Sequence[bytes]) -> list[tuple[bytes | None, bytes]]:
        """(key, value) per line: the key is the event id (hashed already when the reporter
        hashes ids), so every sighting of an event lands in one partition."""
        out = []
        for line in lines:
            try:
                event_id = json.loads(line).get("event_id")
            except (ValueError, AttributeError):
                event_id = None
            out.append((None if event_id is None else str(event_id).encode(), line))
        return out

    def post(
        self, body: list[tuple[bytes | None, bytes]], items: int, key: str | None = None
    ) -> Answer:
        """Produce what of ``body`` is not delivered yet and wait for the acknowledgements;
        ``body`` keeps only the records that failed, for the retry. Never raises."""
        failed: list[tuple[bytes | None, bytes]] = []
        errors: list[str] = []

        def delivered(record: tuple[bytes | None, bytes]) -> Callable[[Any, Any], None]:
            def report(err: Any, _msg: Any) -> None:
                if err is not None:
                    failed.append(record)
                    errors.append(str(err))

            return report

        try:
            for record in body:
                while True:
                    try:
                        self.producer.produce(
                            self.topic,
                            value=record[1],
                            key=record[0],
                            on_delivery=delivered(record),
                        )
                        break
                    except BufferError:
                        self.producer.poll(0.05)
            waiting = self.producer.flush(self._timeout)
        except Exception as exc:  # KafkaException: a bad setting, a fatal producer error
            return Answer(Verdict.RETRY, detail=f"kafka: {exc}")
        if waiting or failed:
            sent = len(body) - len(failed) - waiting
            del body[:]
            body.extend(failed)
            detail = (
                errors[0] if errors else f"{waiting} records unacknowledged after {self._timeout} s"
            )
            return Answer(Verdict.RETRY, accepted=sent, detail=f"kafka: {detail}")
        return Answer(Verdict.DELIVERED, accepted=items)

    def close(self) -> None:
        self.producer.flush(self._timeout)
