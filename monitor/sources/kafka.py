"""A Kafka topic as one hop: records become observations, offsets are saved with the checkpoint.

Why not commit offsets the usual way: the engine's ledger is made durable by the daemon's
checkpoint, not when a record is consumed. If the consumer committed on consumption, a crash
between the commit and the next checkpoint would lose what the ledger had not saved; if it never
committed, a restart would count everything since the group's last commit twice. So, exactly as
pulled sources save the counts they reported (``monitor.sources.reported``), ``KafkaRunner`` saves
the next offset of every partition with the sources' checkpoint (same instant as the engine's),
seeks to those offsets whenever a partition is assigned (restart or rebalance), and commits them
to the group only after that checkpoint is written (``commit_saved``; ``kafka_journal`` keeps
the offsets of every begun checkpoint until it is) — the group's offsets are then
what monitoring tools read as hopwatch's lag, never ahead of what hopwatch holds.

Mapping (``RecordMapper``): each record's payload is decoded by a named decoder (``DECODERS``;
``json`` is built in, Avro/Protobuf register with ``register_decoder``), the configured fields are
read from payload paths, headers, the key or the record timestamp, and the result goes through the
push API's own validation (``PushDecoder``), so limits, times and the attribute allow-list are the
same as for ``POST /v1/observations``. A record that cannot be mapped is counted by reason and
skipped: a poison record must never stop a hop from being watched.

Health: a source whose consumer errors, or whose lag (seconds since the newest consumed record's
timestamp while records wait) passes ``max_lag`` (default: the pipeline's allowed lateness), is
failing; its hop's buckets get a ``Gap`` (``incomplete``, never loss) and after ``grace`` the
pulled sources' ``HopwatchSourceDown`` fires — the same ``SourceHealth`` machinery.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from monitor.config.model import Config, KafkaSource, Pipeline
from monitor.ledger.watermark import Gap
from monitor.records import Observation
from monitor.sources.health import FailureReason, SourceError, SourceHealth, SourceKey
from monitor.sources.kafka_lag import EndOffsets, HopLag, hop_lag
from monitor.sources.push import PushDecoder
from monitor.verdict import Verdict

__all__ = [
    "DECODERS",
    "KafkaHopSource",
    "KafkaRunner",
    "RecordMapper",
    "register_decoder",
]

log = logging.getLogger("hopwatch.sources.kafka")

Decoder = Callable[[bytes], Any]
"""Payload bytes → a mapping (or anything ``RecordMapper`` paths can walk); raise on bad input."""

DECODERS: dict[str, Decoder] = {"json": msgspec.json.decode}
"""The extension point for payload formats: an Avro or Protobuf decoder registers here (e.g. from
a plugin imported before the daemon starts) under the name a source's ``format`` gives."""


def register_decoder(name: str, decoder: Decoder) -> None:
    """Make ``format: name`` available to kafka sources (replaces an earlier one of that name)."""
    DECODERS[name] = decoder


@dataclass(frozen=True, slots=True)
class RawRecord:
    """What the mapper needs of a ``confluent_kafka.Message`` (so it is testable without one)."""

    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes | None]] = ()
    timestamp_ms: int | None = None


class RecordMapper:
    """One kafka source's field mapping: records → ``ObservationIn``-shaped dicts → observations."""

    def __init__(self, spec: KafkaSource, pipeline: str, hop: str, config: Config) -> None:
        if spec.format not in DECODERS:
            raise ValueError(
                f"kafka source {spec.name!r}: no decoder registered for format {spec.format!r} "
                f"(known: {', '.join(sorted(DECODERS))})"
            )
        self.spec = spec
        self.pipeline = pipeline
        self.hop = hop
        self.decode = DECODERS[spec.format]
        self._push = PushDecoder(config)
        self.bad: Counter[str] = Counter()

    def item(self, record: RawRecord) -> dict[str, Any] | None:
        """The observation a record describes, unvalidated; None (counted) when unreadable."""
        if record.value is None:
            self.bad["tombstone"] += 1
            return None
        try:
            payload = self.decode(record.value)
        except Exception:
            self.bad["undecodable"] += 1
            return None
        f = self.spec.fields
        get = _Getter(payload, record)
        event_time = get(f.event_time)
        if event_time is None:
            self.bad["no_event_time"] += 1
            return None
        item: dict[str, Any] = {
            "pipeline": self.pipeline,
            "hop": self.hop,
            "event_type": (get(f.event_type) if f.event_type else None) or self.spec.event_type,
            "event_time": event_time,
            "status": (get(f.status) if f.status else None) or self.spec.status,
        }
        event_id = get(f.event_id)
        if event_id is not None:
            item["event_id"] = str(event_id)
        if f.reason:
            reason = get(f.reason)
            if reason is not None:
                item["reason"] = str(reason)
        if f.observed_time:
            observed = get(f.observed_time)
            if observed is not None:
                item["observed_time"] = observed
        attributes = {k: get(path) for k, path in f.attributes}
        item["attributes"] = {k: v for k, v in attributes.items() if v is not None}
        return item

    def observations(self, records: Iterable[RawRecord], now: float) -> list[Observation]:
        """Map and validate a batch; rejected items are counted by the push API's reasons."""
        items = [i for i in (self.item(r) for r in records) if i is not None]
        if not items:
            return []
        batch = self._push.observations(
            msgspec.json.encode(items), content_type="application/json", now=now
        )
        for reason, n in batch.rejected.items():
            self.bad[reason] += n
        return list(batch.accepted)


class _Getter:
    __slots__ = ("payload", "record")

    def __init__(self, payload: Any, record: RawRecord) -> None:
        self.payload = payload
        self.record = record

    def __call__(self, path: str) -> Any:
        if path == "@key":
            return None if self.record.key is None else self.record.key.decode("utf-8", "replace")
        if path == "@timestamp":
            ts = self.record.timestamp_ms
            return None if ts is None or ts <= 0 else ts / 1000.0
        if path.startswith("header:"):
            name = path[len("header:") :]
            for k, v in self.record.headers:
                if k == name and v is not None:
                    return v.decode("utf-8", "replace")
            return None
        node = self.payload
        for part in path.split("."):
            if not isinstance(node, Mapping):
                return None
            node = node.get(part)
        return node


class Sink(Protocol):
    """What a kafka source feeds (``monitor.engine.Engine`` satisfies it)."""

    def observe(self, observations: Iterable[Observation]) -> None: ...

    def set_gap(self, pipeline: str, gap: Gap, replaces: Gap | None = None) -> None: ...


@dataclass
class PartitionStats:
    """Read at scrape time: lag in records and in seconds, the end offset (its rate is the
    topic's)."""

    lag: int = 0
    end_offset: int = 0
    lag_seconds: float = 0.0


@dataclass
class KafkaHopSource:
    """One consumer in hopwatch's group, on one hop's topic."""

    key: SourceKey
    spec: KafkaSource
    mapper: RecordMapper
    max_lag: float
    consumer: Any = None
    offsets: dict[int, int] = field(default_factory=dict)
    """partition → next offset to read, for everything handed to the engine."""
    partitions: dict[int, PartitionStats] = field(default_factory=dict)
    ends: dict[int, EndOffsets] = field(default_factory=dict)
    """partition → its recent end offsets, for the lag in seconds (``kafka_lag``)."""
    lag: HopLag | None = None
    """The last ``measure``'s; None before the first."""
    measured_at: float | None = None
    consumed: int = 0

    def open(self) -> None:
        """Create the consumer and subscribe; assignment seeks to the checkpointed offsets."""
        from confluent_kafka import Consumer

        self.consumer = Consumer(
            {
                "bootstrap.servers": self.spec.bootstrap_servers,
                "group.id": self.spec.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "client.id": f"hopwatch-{self.key}",
                **dict(self.spec.consumer),
            }
        )
        self.consumer.subscribe([self.spec.topic], on_assign=self._on_assign)

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        for tp in partitions:
            saved = self.offsets.get(tp.partition)
            if saved is not None:
                tp.offset = saved  # what the checkpoint holds wins over the group's commit
        consumer.assign(partitions)

    def fetch(self, max_records: int = 10_000, timeout: float = 0.5) -> list[Any]:
        """Blocking: up to ``max_records`` messages (run it off the event loop)."""
        if self.consumer is None:
            self.open()
        messages: list[Any] = self.consumer.consume(max_records, timeout)
        return messages

    def feed(self, messages: Sequence[Any], sink: Sink, now: float) -> int:
        """Map ``messages`` into ``sink`` and advance the offsets; raises ``SourceError`` on a
        consumer error (after feeding what came before it)."""
        good: list[RawRecord] = []
        error: Any = None
        for m in messages:
            err = m.error()
            if err is not None:
                if err.code() == -191:  # _PARTITION_EOF: not an error
                    continue
                error = err
                continue
            if m.topic() != self.spec.topic:
                continue
            ts_type, ts = m.timestamp()
            good.append(RawRecord(m.value(), m.key(), m.headers() or (), ts if ts_type else None))
            self.offsets[m.partition()] = m.offset() + 1
        observations = self.mapper.observations(good, now)
        sink.observe(observations)
        self.consumed += len(good)
        if error is not None and error.fatal():
            raise SourceError(FailureReason.CONNECTION, f"kafka: {error.str()}")
        return len(observations)

    def due(self, now: float) -> bool:
        """Whether lag is to be measured again (every ``schedule.interval``: each measure asks
        the brokers for every partition's end offset)."""
        return self.measured_at is None or now - self.measured_at >= self.spec.schedule.interval

    def measure(self, now: float) -> None:
        """Per-partition lag (records and seconds) and end offsets at ``now``."""
        if self.consumer is None:
            return
        from confluent_kafka import TopicPartition

        try:
            assigned = self.consumer.assignment()
        except Exception as exc:
            raise SourceError(FailureReason.CONNECTION, f"kafka: {exc}") from None
        positions = []
        for tp in assigned:
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=2.0, cached=False
                )
            except Exception as exc:
                raise SourceError(FailureReason.CONNECTION, f"kafka: {exc}") from None
            positions.append((tp.partition, self.offsets.get(tp.partition, low), high))
        self.record(positions, now)

    def record(self, positions: Sequence[tuple[int, int, int]], now: float) -> HopLag:
        """Pure: (partition, next offset to read, end offset) as measured at ``now`` → the
        partitions' stats and the hop's lag (``lag``)."""
        spacing = max(self.spec.schedule.interval, self.max_lag / 60)
        parts = []
        for partition, position, end in positions:
            ends = self.ends.setdefault(partition, EndOffsets(spacing=spacing))
            ends.add(now, end)
            stats = self.partitions.setdefault(partition, PartitionStats())
            stats.end_offset, stats.lag = end, max(0, end - position)
            stats.lag_seconds = hop_lag([(position, ends)], now).seconds
            parts.append((position, ends))
        self.lag = hop_lag(parts, now)
        self.measured_at = now
        return self.lag

    def lag_error(self) -> SourceError | None:
        """A ``LAG`` failure while the last measured lag, plus what it can grow by before the
        next measurement (``schedule.interval``), is past ``max_lag`` (at most the pipeline's
        allowed lateness: beyond it, buckets would close without records the topic holds)."""
        lag = self.lag
        if (
            lag is None
            or lag.records == 0
            or lag.seconds + self.spec.schedule.interval <= self.max_lag
        ):
            return None
        return SourceError(
            FailureReason.LAG,
            f"{lag.records} records behind, the oldest unread appended {lag.seconds:.0f}s ago: "
            f"within {self.spec.schedule.interval:g}s of max_lag {self.max_lag:g}s",
        )

    def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit offsets a written checkpoint holds, for this group's lag in other tools."""
        if self.consumer is None or not offsets:
            return
        from confluent_kafka import TopicPartition

        tps = [TopicPartition(self.spec.topic, p, o) for p, o in sorted(offsets.items())]
        try:
            self.consumer.commit(offsets=tps, asynchronous=False)
        except Exception as exc:  # harmless: the checkpoint is the truth, retried next time
            log.warning(
                "kafka offset commit failed", extra={"source": str(self.key), "error": str(exc)}
            )

    def close(self) -> None:
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None


class KafkaRunner:
    """Every configured kafka source: feeding, health, and offsets saved with the checkpoint."""

    def __init__(self, config: Config) -> None:
        self.sources: list[KafkaHopSource] = []
        for p in config.pipelines:
            for hop in p.hops:
                for spec in hop.sources:
                    if isinstance(spec, KafkaSource):
                        self.sources.append(_source(config, p, hop.name, spec))
        self.health = {
            s.key: SourceHealth(s.key, grace=s.spec.schedule.grace) for s in self.sources
        }
        self._gaps: dict[SourceKey, Gap] = {}

    def to_bytes(self) -> bytes:
        """Every source's next offsets, to be saved with the engine's checkpoint of this instant
        (``monitor.sources.kafka_journal`` keeps the two together)."""
        return msgspec.msgpack.encode(
            [
                [s.key.pipeline, s.key.hop, s.key.source, s.spec.topic, s.offsets]
                for s in self.sources
            ]
        )

    @staticmethod
    def _decode(data: bytes) -> dict[tuple[str, str, str, str], dict[int, int]]:
        return {
            (p, h, n, t): {int(k): int(v) for k, v in o.items()}
            for p, h, n, t, o in msgspec.msgpack.decode(data)
        }

    def restore(self, data: bytes) -> None:
        """Resume from ``to_bytes``; a source whose topic changed starts from the group's offsets."""
        saved = self._decode(data)
        for s in self.sources:
            offsets = saved.get((s.key.pipeline, s.key.hop, s.key.source, s.spec.topic))
            if offsets is not None:
                s.offsets = offsets

    def commit_saved(self, data: bytes) -> None:
        """The checkpoint holding ``data`` (a ``to_bytes``) is written: the group may know those
        offsets (what monitoring tools read as hopwatch's lag, never ahead of what it holds)."""
        saved = self._decode(data)
        for s in self.sources:
            offsets = saved.get((s.key.pipeline, s.key.hop, s.key.source, s.spec.topic))
            if offsets:
                s.commit(offsets)

    async def run(self, sink: Sink, now: Callable[[], float]) -> None:
        """Fetch (off the loop) and feed every source until cancelled; closes them on the way out."""
        import asyncio

        try:
            while True:
                for s in self.sources:
                    try:
                        messages = await asyncio.to_thread(s.fetch, 10_000, 0.2)
                    except Exception as exc:
                        self._failed(
                            s, sink, now(), SourceError(FailureReason.CONNECTION, str(exc))
                        )
                        await asyncio.sleep(s.spec.schedule.interval)
                        continue
                    # The lag too off the loop: it asks the brokers for every end offset.
                    error = await asyncio.to_thread(_measure_if_due, s, now())
                    self.poll(s, messages, sink, now(), measure=False, error=error)
                await asyncio.sleep(0.05)
        finally:
            await asyncio.to_thread(self.close)

    def verdicts(self, now: float) -> list[Verdict]:
        return [h.down_verdict(now) for _, h in sorted(self.health.items())]

    def poll(
        self,
        source: KafkaHopSource,
        messages: Sequence[Any],
        sink: Sink,
        now: float,
        *,
        measure: bool = True,
        error: SourceError | None = None,
    ) -> bool:
        """Feed fetched ``messages`` and judge the source's health at ``now`` (measuring its lag
        when due, unless ``measure`` is off because the caller did: ``error`` is then what that
        measurement raised). Never raises."""
        key = source.key
        try:
            source.feed(messages, sink, now)
            if error is not None:
                raise error
            if measure and source.due(now):
                source.measure(now)
            lagging = source.lag_error()
            if lagging is not None:
                raise lagging
        except SourceError as exc:
            self._failed(source, sink, now, exc)
            return False
        except Exception as exc:
            log.exception("kafka source failed", extra={"source": str(key)})
            self._failed(source, sink, now, SourceError(FailureReason.INTERNAL, type(exc).__name__))
            return False
        ended = self.health[key].succeeded(now)
        if ended is not None:
            old = self._gaps[key]
            gap = Gap(min(ended, old.start), now, old.reason, frozenset({key.hop}))
            sink.set_gap(key.pipeline, gap, replaces=self._gaps.get(key))
            self._gaps[key] = gap
        return True

    def _failed(self, source: KafkaHopSource, sink: Sink, now: float, error: SourceError) -> None:
        key, health = source.key, self.health[source.key]
        outage = self._gaps.get(key) if health.down_since is not None else None
        health.failed(now, error)
        assert health.down_since is not None
        until = now + source.spec.schedule.interval + source.spec.schedule.timeout
        reason = f"source {key.source} of hop {key.hop} down ({error.reason})"
        # Not observed since: when it went down, or for a lagging consumer the instant it has read
        # the topic through (earlier), so every bucket still missing records comes out incomplete.
        since = health.down_since
        if error.reason is FailureReason.LAG and source.lag is not None:
            since = min(since, source.lag.read_through)
        if outage is not None:
            since = min(since, outage.start)  # one outage, one gap
        gap = Gap(since, until, reason, frozenset({key.hop}))
        sink.set_gap(key.pipeline, gap, replaces=self._gaps.get(key))
        self._gaps[key] = gap

    def close(self) -> None:
        for s in self.sources:
            s.close()


def _source(config: Config, pipeline: Pipeline, hop: str, spec: KafkaSource) -> KafkaHopSource:
    return KafkaHopSource(
        key=SourceKey(pipeline.name, hop, spec.name),
        spec=spec,
        mapper=RecordMapper(spec, pipeline.name, hop, config),
        max_lag=min(spec.max_lag or pipeline.allowed_lateness, pipeline.allowed_lateness),
    )


def _measure_if_due(source: KafkaHopSource, now: float) -> SourceError | None:
    """``source.measure`` when due (in a thread), its failure returned rather than raised."""
    if not source.due(now):
        return None
    try:
        source.measure(now)
    except SourceError as exc:
        return exc
    except Exception as exc:
        log.exception("kafka lag measurement failed", extra={"source": str(source.key)})
        return SourceError(FailureReason.INTERNAL, type(exc).__name__)
    return None
