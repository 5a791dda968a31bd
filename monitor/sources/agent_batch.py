"""Agent batches checked against the server's config before anything of them is applied.

An agent's batch reaches the ledger without passing the push API's checks on the server, yet what
it carries becomes label values, counters and checkpoint contents just as pushed items do. So
``BatchGate.admit`` holds it to the same rules — on the server's config, not the agent's: statuses
of the closed set, counts that cannot go negative or overflow, attributes through the pipeline's
allow-list (keys not allow-listed are dropped and counted, never stored), bucket times in the push
window, edges the pipeline has — plus what only an aggregate can get wrong: a latency sketch that
must decode into sane bins, sampled ids of bounded length, sightings the ledger can replay cheaply.

All or nothing, like the check for unknown hops: one bad value refuses the whole batch (a half
applied batch could never be completed, since exactly-once ignores its resend). A refusal is a
result (``Refusal``) naming the batch, the field path (``aggregates[2].counts[0].status``) and what
to do; the handler in ``monitor.server.aggregates`` answers it with a 400 and counts it. Dropped
attribute keys are not a refusal: the batch is admitted without them (``Admitted``). Pure: ``now``
is passed in; build one gate per config.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

import msgspec

from monitor.config.model import Config
from monitor.config.spec import AGENT_ID_PATTERN
from monitor.ledger.aggregate import (
    MAX_ID_LENGTH,
    AggregateBatch,
    EdgeIds,
    HopAggregate,
    SeriesCount,
)
from monitor.ledger.sampling import HASH_MASK
from monitor.records import Attributes, CountSample, Status
from monitor.sources.attributes import AttributeFilter, NotText
from monitor.sources.bounds import MAX_COUNT, TimeBounds, aligned
from monitor.sources.rejection import format_time
from monitor.sources.sketch_check import MAX_LATENCY_SECONDS, sketch_problem
from monitor.timeutil import format_duration

__all__ = [
    "MAX_ID_LENGTH",
    "MAX_INSTANCE_LENGTH",
    "MAX_SEQ",
    "MAX_SIGHTINGS",
    "Admitted",
    "BatchGate",
    "Refusal",
]

MAX_INSTANCE_LENGTH: Final = 64
"""Characters of a spool instance id (agents send 32 hex digits); kept in the checkpoint."""

MAX_SEQ: Final = 2**63 - 1
"""Largest batch seq: the applied-seq record is checkpointed as 64-bit integers."""

MAX_SIGHTINGS: Final = 2**24
"""Sightings (summed ``n``) per batch. The ledger replays each one, so this bounds the work a batch
costs; an agent sends one batch per flush interval, far below it."""

STATUSES: Final = frozenset(s.value for s in Status)
_STATUS_LIST: Final = ", ".join(s.value for s in Status)

SAME_CONFIG: Final = (
    "the agent and the server must run the same hopwatch version and pipelines config"
)


@dataclass(frozen=True)
class Refusal:
    """Why a batch is refused whole: what is wrong at ``field`` and what to do about it."""

    seq: int
    agent: str
    field: str
    message: str
    hint: str

    @property
    def error(self) -> str:
        """The message of the 400: the batch, the field path, what is wrong."""
        agent = self.agent if len(self.agent) <= 64 else self.agent[:64] + "…"
        if not self.field:
            return f"batch {self.seq} of agent {agent!r} {self.message}"
        return f"batch {self.seq} of agent {agent!r}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Admitted:
    """A batch that may be applied: ``batch`` with attribute keys off the allow-list removed,
    and how many keys were removed per pipeline (the push path's ``dropped_attributes``)."""

    batch: AggregateBatch
    dropped_attributes: Mapping[str, int] = field(default_factory=dict)


class _Refused(Exception):
    """Raised inside this module only, to leave the nested checks; ``admit`` returns it."""

    def __init__(self, where: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.where, self.message, self.hint = where, message, hint


class BatchGate:
    """Admits or refuses agent batches by one server ``Config`` (rebuild it on a reload)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.hops = {p.name: frozenset(p.hop_names) for p in config.pipelines}
        self.bucket = {p.name: p.bucket_seconds for p in config.pipelines}
        self.edges_from = {
            (p.name, h): frozenset(e.name for e in p.edges_from(h))
            for p in config.pipelines
            for h in p.hop_names
        }
        self.attributes = {p.name: AttributeFilter(p.attributes) for p in config.pipelines}
        self.bounds = TimeBounds(config.server.max_future_skew, config.storage.retention)

    def admit(self, batch: AggregateBatch, now: float) -> Admitted | Refusal:
        """The batch to apply (attributes filtered) or why none of it may be applied."""
        try:
            self._check_header(batch)
            unknown = self.unknown_names(batch)
            if unknown:
                # Every unknown name at once, and no field path: the list says where.
                raise _Refused("", f"names unknown {', '.join(unknown)}", SAME_CONFIG)
            dropped: Counter[str] = Counter()
            sightings = 0
            aggregates: list[HopAggregate] = []
            for i, agg in enumerate(batch.aggregates):
                aggregates.append(self._aggregate(agg, f"aggregates[{i}]", now, dropped))
                sightings += sum(s.n for s in agg.sightings)
            if sightings > MAX_SIGHTINGS:
                raise _Refused(
                    "aggregates[].sightings",
                    f"{sightings} sightings in one batch, more than {MAX_SIGHTINGS}",
                    "an agent sends one batch per flush interval; shorten agent.flush_interval",
                )
            samples = [
                self._sample(s, f"samples[{i}]", now, dropped) for i, s in enumerate(batch.samples)
            ]
        except _Refused as refused:
            return Refusal(batch.seq, batch.agent_id, refused.where, refused.message, refused.hint)
        changed = any(a is not b for a, b in zip(aggregates, batch.aggregates, strict=True)) or any(
            a is not b for a, b in zip(samples, batch.samples, strict=True)
        )
        if changed:
            batch = msgspec.structs.replace(
                batch, aggregates=tuple(aggregates), samples=tuple(samples)
            )
        return Admitted(batch, dict(dropped))

    def unknown_names(self, batch: AggregateBatch) -> list[str]:
        """What the batch names that this server is not configured for (empty: all known)."""
        out: list[str] = []
        for agg in batch.aggregates:
            hops = self.hops.get(agg.pipeline)
            if hops is None:
                out.append(f"pipeline {agg.pipeline!r}")
            elif agg.hop not in hops:
                out.append(f"hop {agg.pipeline}/{agg.hop}")
        for name, hop in (*((s.pipeline, s.hop) for s in batch.samples), *batch.hops):
            if hop not in self.hops.get(name, ()):
                out.append(f"hop {name}/{hop}")
        return sorted(set(out))

    # --- the parts of a batch -------------------------------------------------------------------

    def _check_header(self, batch: AggregateBatch) -> None:
        if not AGENT_ID_PATTERN.fullmatch(batch.agent_id):
            raise _Refused(
                "agent_id",
                "not a valid agent id: up to 63 letters, digits, '.', '_' or '-', starting with "
                "a letter or digit (it becomes a label value)",
                "set agent.id or --agent-id on the agent",
            )
        if not 0 < len(batch.instance) <= MAX_INSTANCE_LENGTH:
            raise _Refused(
                "instance",
                f"{len(batch.instance)} characters; a spool instance id has 1 to "
                f"{MAX_INSTANCE_LENGTH}",
                SAME_CONFIG,
            )
        if not 1 <= batch.seq <= MAX_SEQ:
            raise _Refused(
                "seq", f"{batch.seq} is not between 1 and 2**63-1", "send seqs from the spool"
            )
        if not 0 <= batch.low_water <= batch.seq:
            raise _Refused(
                "low_water",
                f"{batch.low_water} is not between 0 and the batch's seq {batch.seq}: the batch "
                "itself is not acknowledged yet",
                "send the spool's lowest held seq",
            )

    def _aggregate(
        self, agg: HopAggregate, where: str, now: float, dropped: Counter[str]
    ) -> HopAggregate:
        """The aggregate with its attributes filtered, once every value in it is checked."""
        size = self.bucket[agg.pipeline]
        if agg.bucket_seconds is not None and agg.bucket_seconds != size:
            raise _Refused(
                f"{where}.bucket_seconds",
                f"{agg.bucket_seconds!r} is not the bucket size of pipeline {agg.pipeline!r} "
                f"({format_duration(size)}, {size!r} s), so its bucket indexes mean other times",
                SAME_CONFIG,
            )
        self._bucket_time(agg.bucket * size, size, f"{where}.bucket", agg.bucket, now)
        counts = tuple(
            self._count(c, agg.pipeline, f"{where}.counts[{j}]", dropped)
            for j, c in enumerate(agg.counts)
        )
        total = agg.total
        if total > MAX_COUNT:
            raise _Refused(
                f"{where}.counts", f"{total} events in one bucket, more than 2**53", SAME_CONFIG
            )
        _count_field(f"{where}.late", agg.late)
        problem = sketch_problem(agg.latency) if agg.latency else None
        if problem is not None:
            raise _Refused(
                f"{where}.latency",
                problem,
                "agents send LatencySketch.to_bytes of their hop latencies; " + SAME_CONFIG,
            )
        if agg.exemplar is not None:
            self._exemplar(agg.exemplar, f"{where}.exemplar", now)
        for k, edge in enumerate(agg.edges):
            self._edge(edge, agg, total, f"{where}.edges[{k}]", now)
        seen = 0
        for k, s in enumerate(agg.sightings):
            w = f"{where}.sightings[{k}]"
            if not 0 <= s.h <= HASH_MASK:
                raise _Refused(f"{w}.h", f"{s.h} is not a 60-bit id hash", SAME_CONFIG)
            self._millis(s.ms, f"{w}.ms", now)
            _count_field(f"{w}.n", s.n)
            seen += s.n
        if seen > total:
            raise _Refused(
                f"{where}.sightings",
                f"{seen} sightings but {total} events counted at the hop: each sighting is one "
                "of its events",
                SAME_CONFIG,
            )
        if counts == agg.counts:
            return agg
        return msgspec.structs.replace(agg, counts=counts)

    def _count(
        self, c: SeriesCount, pipeline: str, where: str, dropped: Counter[str]
    ) -> SeriesCount:
        if c.status not in STATUSES:
            raise _Refused(
                f"{where}.status",
                f"{c.status!r} is not a hop status ({_STATUS_LIST})",
                "agents send the statuses the push API accepts; " + SAME_CONFIG,
            )
        _count_field(f"{where}.n", c.n)
        attributes = self._attributes(c.attributes, pipeline, where, dropped)
        return c if attributes == c.attributes else SeriesCount(c.status, attributes, c.n)

    def _attributes(
        self, raw: Attributes, pipeline: str, where: str, dropped: Counter[str]
    ) -> Attributes:
        """Allow-listed keys, sorted, as the push path keeps them; the others dropped, counted."""
        if not raw:
            return raw
        result = self.attributes[pipeline].filter(dict(raw))
        if isinstance(result, NotText):  # values are typed str on the wire: cannot happen
            raise _Refused(f"{where}.{result.field}", result.message, SAME_CONFIG)
        attributes, n = result
        if n:
            dropped[pipeline] += n
        return attributes

    def _edge(self, edge: EdgeIds, agg: HopAggregate, total: int, where: str, now: float) -> None:
        known = self.edges_from[(agg.pipeline, agg.hop)]
        if edge.edge not in known:
            leaving = ", ".join(sorted(known)) or "none"
            raise _Refused(
                f"{where}.edge",
                f"{edge.edge!r} is not an edge leaving hop {agg.pipeline}/{agg.hop} "
                f"(edges leaving it: {leaving})",
                SAME_CONFIG,
            )
        _count_field(f"{where}.expected_count", edge.expected_count)
        _count_field(f"{where}.ids_seen", edge.ids_seen)
        if not len(edge.ids) <= edge.ids_seen <= edge.expected_count <= total:
            raise _Refused(
                where,
                f"{len(edge.ids)} ids, {edge.ids_seen} ids_seen, {edge.expected_count} "
                f"expected_count, {total} events at the hop: each must be at most the next",
                SAME_CONFIG,
            )
        for n, (event_id, ms) in enumerate(edge.ids):
            if len(event_id) > MAX_ID_LENGTH:
                raise _Refused(
                    f"{where}.ids[{n}]",
                    f"an event id of {len(event_id)} characters, more than {MAX_ID_LENGTH}",
                    "agents leave longer ids out of the join sample; " + SAME_CONFIG,
                )
            self._millis(ms, f"{where}.ids[{n}]", now)

    def _exemplar(self, exemplar: tuple[str, float, float], where: str, now: float) -> None:
        trace_id, latency, observed = exemplar
        if not 0 < len(trace_id) <= MAX_ID_LENGTH:
            raise _Refused(
                where,
                f"a trace id of {len(trace_id)} characters (1 to {MAX_ID_LENGTH})",
                SAME_CONFIG,
            )
        if not abs(latency) <= MAX_LATENCY_SECONDS:  # written so that NaN is out too
            raise _Refused(where, f"latency {latency!r} s is not a plausible latency", SAME_CONFIG)
        if not 0 <= observed <= now + self.bounds.skew:
            raise _Refused(
                where,
                f"observed time {format_time(observed)} is not between the epoch and "
                f"{format_duration(self.bounds.skew)} ahead of hopwatch's clock",
                "check the agent's clock",
            )

    def _sample(self, s: CountSample, where: str, now: float, dropped: Counter[str]) -> CountSample:
        """A count sample passed through the agent: the checks ``/v1/counts`` makes."""
        if s.status not in STATUSES:
            raise _Refused(
                f"{where}.status",
                f"{s.status!r} is not a hop status ({_STATUS_LIST})",
                "agents send the statuses the push API accepts; " + SAME_CONFIG,
            )
        _count_field(f"{where}.count", s.count)
        size = self.bucket[s.pipeline]
        if s.bucket_seconds != size:
            raise _Refused(
                f"{where}.bucket_seconds",
                f"{s.bucket_seconds!r} is not the bucket size of pipeline {s.pipeline!r} "
                f"({format_duration(size)}, {size!r} s)",
                SAME_CONFIG,
            )
        self._bucket_time(s.bucket_start, size, f"{where}.bucket_start", None, now)
        if not aligned(s.bucket_start, size):
            raise _Refused(
                f"{where}.bucket_start",
                f"{format_time(s.bucket_start)} is not the start of a {format_duration(size)} "
                "bucket",
                SAME_CONFIG,
            )
        attributes = self._attributes(s.attributes, s.pipeline, where, dropped)
        return (
            s if attributes == s.attributes else msgspec.structs.replace(s, attributes=attributes)
        )

    # --- times ----------------------------------------------------------------------------------

    def _bucket_time(
        self, start: float, size: float, where: str, index: int | None, now: float
    ) -> None:
        """A bucket may hold an event the push API accepts: it ends after ``now - retention`` and
        starts at most ``max_future_skew`` ahead of ``now``."""
        earliest, latest = now - self.bounds.retention, now + self.bounds.skew
        if earliest < start + size and start <= latest:  # written so that NaN is out too
            return
        what = (
            f"index {index} (start {format_time(start)})"
            if index is not None
            else format_time(start)
        )
        if start > latest:
            message = (
                f"bucket {what} is {format_duration(start - now)} ahead of hopwatch's clock "
                f"(more than server.max_future_skew {format_duration(self.bounds.skew)})"
            )
            hint = "check the agent's clock, and that it sends bucket indexes, not times"
        else:
            message = (
                f"bucket {what} ended more than storage.retention "
                f"({format_duration(self.bounds.retention)}) ago; it can no longer be counted"
            )
            hint = "an agent cut off for longer than storage.retention cannot deliver its spool"
        raise _Refused(where, message, hint)

    def _millis(self, ms: int, where: str, now: float) -> None:
        """A sighting time (epoch ms): not before 1970, not past the future skew."""
        if not 0 <= ms <= (now + self.bounds.skew) * 1000.0:
            raise _Refused(
                where,
                f"sighting time {ms} ms is not between the epoch and "
                f"{format_duration(self.bounds.skew)} ahead of hopwatch's clock",
                "check the agent's clock, and that times are epoch milliseconds",
            )


def _count_field(where: str, n: int) -> None:
    if not 0 <= n <= MAX_COUNT:
        what = "negative" if n < 0 else "larger than 2**53"
        raise _Refused(where, f"{n} is {what}; counts are of events, 0 to 2**53", SAME_CONFIG)
