"""What an agent ships instead of raw observations: one hop's sightings in one bucket, folded.

An agent (``monitor.agent``) buckets observations next to a hop and sends ``HopAggregate``
records to the server, whose ledger replays them (``PipelineLedger.absorb``) into exactly the
state it would have built from the raw observations. That fixes what an aggregate must carry —
the ledger's own inputs, nothing less:

- counts per (status, attribute set) in first-seen order (the ledger folds attribute sets past
  ``max_attribute_sets`` in the order it first meets them);
- the hop latency sketch (``observed_time - event_time``, DDSketch bins add exactly) and the
  slowest traced event;
- per edge leaving the hop: how many observations passed its filter (``expected_count``), how many
  of those had an id (``ids_seen``), and each sampled id that passed with the time it was first
  seen (an id the ``from`` hop repeats is expected once, so later sightings add nothing);
- for a hop that edges lead to: each sampled id's first sighting time and how many times it was
  seen (the second and later sightings are the edge's duplicates).

Ids are the ledger's join keys: ``id_hash`` (60-bit xxh3) of the id, kept only when it falls in the
pipeline's ``id_sampling`` share. ``from`` ids travel as text (the ledger keeps a few names to show
missing ids, and recomputes the hash), ``to`` sightings as hashes only. ``merge`` adds two
aggregates of the same (pipeline, hop, bucket) as if their observations had come in one batch.
"""

from __future__ import annotations

from typing import Final

import msgspec

from monitor.ledger.records import Exemplar, slower
from monitor.ledger.sketch import LatencySketch
from monitor.records import CountSample

__all__ = [
    "MAX_ID_LENGTH",
    "AggregateBatch",
    "EdgeIds",
    "HopAggregate",
    "SeriesCount",
    "Sighting",
    "merge",
]

MAX_ID_LENGTH: Final = 1024
"""Characters of an event id an aggregate may carry as text (``EdgeIds.ids``), or of a trace id.
The server refuses longer ones (``monitor.sources.agent_batch``), so the agent's bucketer leaves longer
ids out of the join sample: counted in ``ids_seen``, never sent, never joined."""


class SeriesCount(msgspec.Struct, frozen=True, array_like=True):
    """Events of one (status, attribute set) at the hop; attributes sorted as in ``Observation``."""

    status: str
    attributes: tuple[tuple[str, str], ...]
    n: int


class EdgeIds(msgspec.Struct, frozen=True, array_like=True):
    """What the hop contributed to one edge it is the ``from`` of.

    ``ids`` are (event id, first observed milliseconds) of sampled ids that passed the filter,
    each once, in the order first seen.
    """

    edge: str
    expected_count: int
    ids_seen: int
    ids: tuple[tuple[str, int], ...] = ()


class Sighting(msgspec.Struct, frozen=True, array_like=True):
    """A sampled id seen ``n`` times at a ``to`` hop, first at ``ms`` (epoch milliseconds)."""

    h: int
    ms: int
    n: int


class HopAggregate(msgspec.Struct, frozen=True):
    """One hop's observations of one event-time bucket (index ``bucket``), or a delta of them."""

    pipeline: str
    hop: str
    bucket: int
    counts: tuple[SeriesCount, ...] = ()
    latency: bytes = b""
    """``LatencySketch.to_bytes`` of the hop latencies; empty for none."""
    exemplar: tuple[str, float, float] | None = None
    """(trace id, latency seconds, observed time) of the slowest traced event."""
    late: int = 0
    """Events the agent saw after its own watermark for this bucket had passed (informational:
    the server counts lateness against its own watermark, as it would for raw observations)."""
    edges: tuple[EdgeIds, ...] = ()
    sightings: tuple[Sighting, ...] = ()
    bucket_seconds: float | None = None
    """The agent's bucket size: ``bucket`` is an index in buckets of this size, which means other
    times on a server configured with another (the server refuses those). ``None`` from agents
    that predate the field."""

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.pipeline, self.hop, self.bucket)

    @property
    def total(self) -> int:
        return sum(c.n for c in self.counts)

    def sketch(self) -> LatencySketch:
        return LatencySketch.from_bytes(self.latency) if self.latency else LatencySketch()

    def exemplar_record(self) -> Exemplar | None:
        return None if self.exemplar is None else Exemplar(*self.exemplar)


class AggregateBatch(msgspec.Struct, frozen=True):
    """One ``POST /v1/aggregates`` body: applied at most once per (agent, instance, seq).

    ``instance`` is chosen when the agent's spool is created, so an agent whose data dir was wiped
    starts a new sequence instead of having its batches taken for ones already applied.
    ``low_water``: every seq below it was acknowledged or dropped by the agent, so the server may
    forget them (keeps its record of applied seqs small after the agent drops batches).
    ``samples`` are count samples the agent received on ``/v1/counts``, passed through unchanged.
    ``hops``: every (pipeline, hop) the agent serves, so the server knows which hops go unseen
    while the agent is silent (``monitor.ledger.agents``). A batch with no aggregates and no
    samples is a heartbeat: applied once like any batch (it changes nothing but the agent's last
    contact), sent when an agent has nothing else to say.
    """

    agent_id: str
    instance: str
    seq: int
    low_water: int
    aggregates: tuple[HopAggregate, ...] = ()
    samples: tuple[CountSample, ...] = ()
    hops: tuple[tuple[str, str], ...] = ()

    def served_hops(self) -> frozenset[tuple[str, str]]:
        """The hops declared, plus any the batch carries data for (an agent that declares none)."""
        return frozenset(
            {
                *self.hops,
                *((a.pipeline, a.hop) for a in self.aggregates),
                *((s.pipeline, s.hop) for s in self.samples),
            }
        )


def merge(a: HopAggregate, b: HopAggregate) -> HopAggregate:
    """``a`` then ``b`` as one aggregate: the same state the ledger builds from either order of
    applying them, with ``a``'s first sightings winning."""
    if a.key != b.key:
        raise ValueError(f"cannot merge aggregates of {a.key} and {b.key}")
    sizes = {s for s in (a.bucket_seconds, b.bucket_seconds) if s is not None}
    if len(sizes) > 1:
        raise ValueError(f"cannot merge aggregates of {a.key} in buckets of {sorted(sizes)} s")
    counts: dict[tuple[str, tuple[tuple[str, str], ...]], int] = {}
    for c in (*a.counts, *b.counts):
        counts[(c.status, c.attributes)] = counts.get((c.status, c.attributes), 0) + c.n
    sketch = a.sketch()
    sketch.merge(b.sketch())
    best = slower(a.exemplar_record(), b.exemplar_record())
    return HopAggregate(
        pipeline=a.pipeline,
        hop=a.hop,
        bucket=a.bucket,
        counts=tuple(SeriesCount(s, attrs, n) for (s, attrs), n in counts.items()),
        latency=sketch.to_bytes() if sketch.count else b"",
        exemplar=None
        if best is None
        else (best.trace_id, best.latency_seconds, best.observed_time),
        late=a.late + b.late,
        edges=_merge_edges(a.edges, b.edges),
        sightings=_merge_sightings(a.sightings, b.sightings),
        bucket_seconds=a.bucket_seconds if a.bucket_seconds is not None else b.bucket_seconds,
    )


def _merge_edges(a: tuple[EdgeIds, ...], b: tuple[EdgeIds, ...]) -> tuple[EdgeIds, ...]:
    out: dict[str, EdgeIds] = {e.edge: e for e in a}
    for e in b:
        old = out.get(e.edge)
        if old is None:
            out[e.edge] = e
            continue
        ids = dict(old.ids)
        for event_id, ms in e.ids:
            ids.setdefault(event_id, ms)
        out[e.edge] = EdgeIds(
            e.edge,
            old.expected_count + e.expected_count,
            old.ids_seen + e.ids_seen,
            tuple(ids.items()),
        )
    return tuple(out.values())


def _merge_sightings(a: tuple[Sighting, ...], b: tuple[Sighting, ...]) -> tuple[Sighting, ...]:
    out: dict[int, Sighting] = {s.h: s for s in a}
    for s in b:
        old = out.get(s.h)
        out[s.h] = s if old is None else Sighting(s.h, old.ms, old.n + s.n)
    return tuple(out.values())
