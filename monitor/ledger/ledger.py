"""The ledger of one pipeline: observations in, closed hop buckets and edge reconciliations out.

Pure: every method that depends on time takes ``now``; nothing here does I/O. The engine feeds it
validated observations, calls ``close`` on each tick and hands what comes out to the store and the
judges. Buckets stay in memory for ``amend_horizon`` after they close so late arrivals amend them;
later still, a hop's late counts come out as partial buckets that the store adds to what it holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from monitor.config.model import Edge, Pipeline
from monitor.config.where import reads_event_id
from monitor.ledger import core
from monitor.ledger.aggregate import HopAggregate
from monitor.ledger.bucket import OVERFLOW, HopCounts
from monitor.ledger.forbidden import LeakBatch, LeakLog, hash_name
from monitor.ledger.join import EdgeJoin, fitted
from monitor.ledger.records import Completeness, EdgeResult, Exemplar, HopBucket, JoinMode
from monitor.ledger.sampling import HASH_MASK, IdSampler, id_hash, xxh3_64
from monitor.ledger.watermark import Gap, Watermark
from monitor.records import CountSample, Observation

DEFAULT_AMEND_HORIZON = 3600.0


@dataclass(frozen=True)
class Closed:
    """What one ``close`` call produced: new or amended results, and partial counts to add."""

    hop_buckets: tuple[HopBucket, ...] = ()
    edge_results: tuple[EdgeResult, ...] = ()
    partial_hop_buckets: tuple[HopBucket, ...] = ()


@dataclass
class LedgerStats:
    """Running totals the exporters read; all monotonic counters."""

    late_observations: int = 0
    overflow_observations: int = 0
    pending_evicted: int = 0
    too_late_for_edges: int = 0


class PipelineLedger:
    def __init__(
        self,
        pipeline: Pipeline,
        amend_horizon: float = DEFAULT_AMEND_HORIZON,
        compiled: bool | None = None,
    ) -> None:
        """``compiled``: run the compiled core (True), the Python one (False), or the compiled
        one when it is built (None: ``monitor.ledger.core``)."""
        if compiled and core.batch is None:
            raise ValueError("the compiled ledger core is not built (see monitor.ledger.core)")
        self._core = core.batch if compiled is not False else None
        self._join_type: type[EdgeJoin] = EdgeJoin if self._core is None else self._core.CEdgeJoin
        self.pipeline = pipeline
        self.watermark = Watermark(pipeline.bucket_seconds, pipeline.allowed_lateness)
        self.amend_horizon = amend_horizon
        self.sampler = IdSampler(pipeline.id_sampling)
        self.stats = LedgerStats()
        self.closed_through: int | None = None
        self.gaps: list[Gap] = []
        self._hops: dict[str, dict[int, HopCounts]] = {h: {} for h in pipeline.hop_names}
        self._edges: dict[Edge, dict[int, EdgeJoin]] = {e: {} for e in pipeline.edges}
        self.leaks: dict[str, LeakLog] = {e.name: LeakLog() for e in pipeline.forbidden_edges}
        """Leaks of forbidden edges (``expect: none``) by edge name (``monitor.ledger.forbidden``)."""
        # Hot-path views: (filter, joins-by-bucket, leak log of a forbidden edge) per hop, so
        # ingest never hashes an Edge.
        self._out_edges = {
            h: tuple(
                (e.where.predicate, self._edges[e], self.leaks.get(e.name))
                for e in pipeline.edges_from(h)
            )
            for h in pipeline.hop_names
        }
        self._in_edges = {
            h: tuple(self._edges[e] for e in pipeline.edges_to(h) if not e.forbidden)
            for h in pipeline.hop_names
        }
        self._in_forbidden = {
            h: tuple(
                (self._edges[e], self.leaks[e.name]) for e in pipeline.edges_to(h) if e.forbidden
            )
            for h in pipeline.hop_names
        }
        # The compiled core's memo of edge filters (``_batch.observe``): per observation shape,
        # the bit mask of the hop's edges it passes; only for hops none of whose filters reads
        # the event id. ``_shapes_for`` is what it was built for (a reload replaces the edges).
        self._by_shape = {
            h: not any(reads_event_id(e.where) for e in pipeline.edges_from(h))
            for h in pipeline.hop_names
        }
        self._shapes: dict[tuple[object, ...], int] = {}
        self._shapes_for: object = None
        self._buckets: set[int] = set()
        self._evicted_totals: Counter[tuple[str, str]] = Counter()

    # --- ingest -------------------------------------------------------------------------------

    def observe(self, observations: Iterable[Observation]) -> int:
        """Count each observation in its event-time bucket and feed the edge joins.

        Returns how many observations were too late for edge reconciliation (their bucket was
        closed and evicted, so they count in hop totals but join no edge): the push API tells
        the sender, who should backfill such history with ``hopwatch reconcile`` instead.

        Runs the compiled core (``monitor.ledger.core``, ``compiled`` above) or
        ``observe_python``: the same state changes either way.
        """
        if self._core is not None:
            too_late: int = self._core.observe(self, observations, OVERFLOW)
            return too_late
        return self.observe_python(observations)

    def observe_python(self, observations: Iterable[Observation]) -> int:
        """``observe`` in Python: the reference the compiled core is tested against, and the
        fallback where it is not built.

        The hot path of ingest: locals instead of attribute lookups, no Enum or dataclass hashing,
        and latency sketches that only append to a buffer (folded when read or compacted).
        """
        size = self.watermark.bucket_seconds
        cap = self.pipeline.max_attribute_sets
        threshold = self.sampler.threshold
        hops = self._hops
        out_edges, in_edges, in_forbidden = self._out_edges, self._in_edges, self._in_forbidden
        buckets = self._buckets
        stats = self.stats
        too_late = 0
        counted: Observation | None = None  # the last observation counted in too_late
        for obs in observations:
            event_time = obs.event_time
            b = int(event_time // size)
            hop_buckets = hops[obs.hop]
            acc = hop_buckets.get(b)
            if acc is None:
                acc = hop_buckets[b] = self._new_hop_counts(b)
                buckets.add(b)
            if acc.add(obs.status, obs.attributes, 1, cap):
                stats.overflow_observations += 1
            if acc.closed:
                stats.late_observations += 1
            observed = obs.observed_time
            latency = observed - event_time
            acc.latency.add(latency)
            if obs.trace_id is not None:
                acc.note_trace(latency, obs.trace_id, observed)
            event_id = obs.event_id
            if event_id is None:
                h = full = -1
            else:
                h = full = xxh3_64(event_id.encode()) & HASH_MASK
                if h >= threshold:
                    h = -1
            observed_ms = int(observed * 1000.0)
            for where, joins, leaks in out_edges[obs.hop]:
                if not where(obs):
                    continue
                join = joins.get(b) or self._join(joins, b)
                if join is None:
                    if counted is not obs:
                        too_late, counted = too_late + 1, obs
                    continue
                join.expected_count += 1
                if event_id is None:
                    continue
                join.ids_seen += 1
                if leaks is not None:  # forbidden flows are never sampled: a leak of one is a leak
                    before = join.arrived_n
                    join.seen_at_from(full, event_id, observed_ms)
                    if join.arrived_n != before:
                        leaks.add(event_id, observed, b * size)
                elif h >= 0:
                    join.seen_at_from(h, event_id, observed_ms)
            if h >= 0:
                for joins in in_edges[obs.hop]:
                    join = joins.get(b) or self._join(joins, b)
                    if join is not None:
                        join.seen_at_to(h, observed_ms)
                    elif counted is not obs:
                        too_late, counted = too_late + 1, obs
            if full >= 0:
                for joins, leaks in in_forbidden[obs.hop]:
                    join = joins.get(b) or self._join(joins, b)
                    if join is not None:
                        before = join.arrived_n
                        join.seen_at_to(full, observed_ms)
                        if join.arrived_n != before:
                            leaks.add(event_id, observed, b * size)  # type: ignore[arg-type]
        self._evict_ids_over_cap()
        return too_late

    def observe_counts(self, samples: Iterable[CountSample]) -> None:
        """Aggregates from hops that cannot report single events: counts only, no id join."""
        size = self.watermark.bucket_seconds
        cap = self.pipeline.max_attribute_sets
        for sample in samples:
            b = self.watermark.bucket_of(sample.bucket_start + min(sample.bucket_seconds, size) / 2)
            acc = self._hops[sample.hop].get(b)
            if acc is None:
                acc = self._hops[sample.hop][b] = self._new_hop_counts(b)
                self._buckets.add(b)
            if acc.add(sample.status, sample.attributes, sample.count, cap):
                self.stats.overflow_observations += sample.count
            if acc.closed:
                self.stats.late_observations += sample.count
            probe = Observation(
                pipeline=sample.pipeline,
                hop=sample.hop,
                event_type=sample.event_type or "",
                event_time=sample.bucket_start,
                observed_time=sample.bucket_start,
                status=sample.status,
                attributes=sample.attributes,
            )
            for where, joins, _leaks in self._out_edges[sample.hop]:
                if where(probe):
                    join = self._join(joins, b)
                    if join is not None:
                        join.expected_count += sample.count

    def absorb(self, aggregates: Iterable[HopAggregate]) -> None:
        """Agents' aggregates (``monitor.ledger.aggregate``) in place of their raw observations.

        Each is replayed through the same accumulators ``observe`` uses, so the buckets, joins,
        late counts and overflow folding come out as if the observations had arrived here.
        """
        cap = self.pipeline.max_attribute_sets
        size = self.watermark.bucket_seconds
        by_name = {e.name: joins for e, joins in self._edges.items()}
        for agg in aggregates:
            b = agg.bucket
            hop_buckets = self._hops[agg.hop]
            acc = hop_buckets.get(b)
            if acc is None:
                acc = hop_buckets[b] = self._new_hop_counts(b)
                self._buckets.add(b)
            for c in agg.counts:
                if acc.add(c.status, c.attributes, c.n, cap):
                    self.stats.overflow_observations += c.n
                if acc.closed:
                    self.stats.late_observations += c.n
            if agg.latency:
                acc.latency.merge(agg.sketch())
            if agg.exemplar is not None:
                acc.note_trace(agg.exemplar[1], agg.exemplar[0], agg.exemplar[2])
            for edge in agg.edges:
                joins = by_name.get(edge.edge)
                join = None if joins is None else self._join(joins, b)
                if join is None:
                    continue
                join.expected_count += edge.expected_count
                join.ids_seen += edge.ids_seen
                leaks = self.leaks.get(edge.edge)
                for event_id, ms in edge.ids:
                    before = join.arrived_n
                    join.seen_at_from(id_hash(event_id), event_id, ms)
                    if leaks is not None and join.arrived_n != before:
                        leaks.add(event_id, ms / 1000.0, b * size)
            for joins in self._in_edges[agg.hop] if agg.sightings else ():
                join = self._join(joins, b)
                if join is None:
                    continue
                for s in agg.sightings:
                    for _ in range(s.n):
                        join.seen_at_to(s.h, s.ms)
            for joins, leaks in self._in_forbidden[agg.hop] if agg.sightings else ():
                join = self._join(joins, b)
                if join is None:
                    continue
                for s in agg.sightings:
                    name = join.names.get(s.h) or hash_name(s.h)
                    for _ in range(s.n):
                        before = join.arrived_n
                        join.seen_at_to(s.h, s.ms)
                        if join.arrived_n != before:
                            leaks.add(name, s.ms / 1000.0, b * size)
        self._evict_ids_over_cap()

    def _new_hop_counts(self, b: int) -> HopCounts:
        if self.closed_through is not None and b <= self.closed_through:
            # Arrived after its bucket was closed and evicted: only the late delta is kept.
            return HopCounts(partial=True)
        return HopCounts()

    def _join(self, joins: dict[int, EdgeJoin], b: int) -> EdgeJoin | None:
        join = joins.get(b)
        if join is None:
            if self.closed_through is not None and b <= self.closed_through:
                self.stats.too_late_for_edges += 1
                return None
            join = joins[b] = self._join_type()
        return join

    def _held_ids(self) -> int:
        return sum(
            len(j.pending) + len(j.early) for js in self._edges.values() for j in js.values()
        )

    def _evict_ids_over_cap(self) -> None:
        """Bound memory: past ``max_pending_ids`` held ids of the oldest buckets are given up.

        Sightings at a ``to`` hop that nothing expected yet go first, then pending ids; each is
        counted in ``stats.pending_evicted`` and no longer reported as missing.
        """
        over = self._held_ids() - self.pipeline.max_pending_ids
        if over <= 0:
            return
        for attr in ("early", "pending"):
            for b in sorted(self._buckets):
                for joins in self._edges.values():
                    join = joins.get(b)
                    held = getattr(join, attr) if join is not None else None
                    if not held or over <= 0:
                        continue
                    while held and over > 0:
                        h, _ = held.popitem()
                        if attr == "pending":
                            join.names.pop(h, None)  # type: ignore[union-attr]
                            join.names_max = -1  # type: ignore[union-attr]
                            join.expected -= 1  # type: ignore[union-attr]
                            join.dirty = join.closed  # type: ignore[union-attr]
                        over -= 1
                        self.stats.pending_evicted += 1
                    setattr(join, attr, fitted(held))  # give back the evicted ids' slots
                if over <= 0:
                    return

    # --- closing ------------------------------------------------------------------------------

    def add_gap(self, gap: Gap) -> None:
        """Record a period the monitor could not observe; buckets overlapping it become incomplete."""
        self.gaps.append(gap)

    def completeness(self, b: int, hops: frozenset[str] | None = None) -> Completeness:
        """Incomplete when a gap overlaps bucket ``b`` and covers one of ``hops`` (a hop's own
        bucket, or an edge's two ends); ``None`` asks about the pipeline as a whole."""
        if any(g.covers(hops) and self.watermark.overlaps(b, g) for g in self.gaps):
            return Completeness.INCOMPLETE
        return Completeness.COMPLETE

    def close(self, now: float) -> Closed:
        """Close every bucket whose watermark has passed, emit amendments, evict old buckets."""
        last = self.watermark.last_closable(now)
        hop_out: list[HopBucket] = []
        edge_out: list[EdgeResult] = []
        partial_out: list[HopBucket] = []
        for b in sorted(self._buckets):
            newly = b <= last and (self.closed_through is None or b > self.closed_through)
            if newly:
                self._close_bucket(b)
            hop_out.extend(self._hop_snapshots(b, newly, partial_out))
            edge_out.extend(self._edge_snapshots(b, newly, now))
        if self.closed_through is None or last > self.closed_through:
            self.closed_through = last
        self._evict(now)
        self._compact()
        return Closed(tuple(hop_out), tuple(edge_out), tuple(partial_out))

    def _close_bucket(self, b: int) -> None:
        for hop_buckets in self._hops.values():
            acc = hop_buckets.get(b)
            if acc is None:
                acc = hop_buckets[b] = HopCounts()
            acc.closed = True
        for edge, joins in self._edges.items():
            join = joins.get(b)
            if join is None:
                join = joins[b] = self._join_type()
            join.close()
            if edge.forbidden:
                # Downstream sightings nothing restricted claimed are the edge's allowed traffic;
                # holding them past the watermark would cost memory for every allowed event.
                join.early.clear()

    def _hop_snapshots(self, b: int, newly: bool, partial_out: list[HopBucket]) -> list[HopBucket]:
        out: list[HopBucket] = []
        start, size = self.watermark.start(b), self.watermark.bucket_seconds
        for hop, hop_buckets in self._hops.items():
            acc = hop_buckets.get(b)
            if acc is None or not (newly or acc.dirty):
                continue
            acc.dirty = False
            snap = acc.snapshot(
                self.pipeline.name, hop, start, size, self.completeness(b, frozenset({hop}))
            )
            (partial_out if acc.partial else out).append(snap)
            if acc.partial:
                self._retire(hop, hop_buckets.pop(b))
        return out

    def _edge_snapshots(self, b: int, newly: bool, now: float) -> list[EdgeResult]:
        out = []
        for edge, joins in self._edges.items():
            join = joins.get(b)
            if join is None or not (newly or join.dirty):
                continue
            join.dirty = False
            out.append(self._edge_result(edge, b, join, now))
        return out

    def _edge_result(self, edge: Edge, b: int, join: EdgeJoin, now: float) -> EdgeResult:
        if join.ids_seen or not join.expected_count:
            mode, expected, arrived, missing = (
                JoinMode.IDS,
                join.expected,
                join.arrived_n,
                join.missing,
            )
        else:
            # Nobody sent ids for this edge: compare counts; the to hop's total is what arrived.
            to_acc = self._hops[edge.to_hop].get(b)
            arrived = to_acc.total if to_acc else 0
            expected = join.expected_count
            mode, missing = JoinMode.COUNTS, max(0, expected - arrived)
        return EdgeResult(
            pipeline=self.pipeline.name,
            edge=edge.name,
            from_hop=edge.from_hop,
            to_hop=edge.to_hop,
            bucket_start=self.watermark.start(b),
            bucket_seconds=self.watermark.bucket_seconds,
            expected=expected,
            arrived=arrived,
            missing=missing,
            duplicates=join.duplicates,
            late=join.late,
            mode=mode,
            sample_rate=self.sampler.rate,
            missing_ids=join.missing_ids() if mode is JoinMode.IDS else (),
            latency=join.latency.copy(),
            completeness=self.completeness(b, frozenset({edge.from_hop, edge.to_hop})),
            closed_at=now,
            exemplar=self._to_hop_exemplar(edge, b),
        )

    def _to_hop_exemplar(self, edge: Edge, b: int) -> Exemplar | None:
        """The slowest traced event at the edge's ``to`` hop in bucket ``b``, if any.

        Edge joins keep hashes, not trace ids (memory per pending id is the budget); the event
        that reached ``to`` latest after its creation is the trace worth opening for a delay.
        """
        acc = self._hops[edge.to_hop].get(b)
        return acc.exemplar if acc is not None else None

    def _compact(self) -> None:
        """Fold large latency buffers of open buckets so memory stays bounded between closes."""
        for hop_buckets in self._hops.values():
            for acc in hop_buckets.values():
                acc.latency.compact()
        for joins in self._edges.values():
            for join in joins.values():
                join.latency.compact()

    def _evict(self, now: float) -> None:
        """Forget closed buckets past the amendment horizon; their results are already stored."""
        if self.closed_through is None:
            return
        horizon = now - self.amend_horizon
        for b in [b for b in self._buckets if self.watermark.closes_at(b) < horizon]:
            if b > self.closed_through:
                continue
            self._buckets.discard(b)
            for hop, hop_buckets in self._hops.items():
                acc = hop_buckets.pop(b, None)
                if acc is not None:
                    self._retire(hop, acc)
            for joins in self._edges.values():
                joins.pop(b, None)

    def _retire(self, hop: str, acc: HopCounts) -> None:
        for (status, _attrs), n in acc.counts.items():
            self._evicted_totals[(hop, status)] += n

    def drain_leaks(self) -> list[LeakBatch]:
        """Leaks of each forbidden edge since the last call (``monitor.alerting.leaks``)."""
        out = []
        for edge in self.pipeline.forbidden_edges:
            batch = self.leaks[edge.name].drain(
                self.pipeline.name, edge.name, edge.from_hop, edge.to_hop
            )
            if batch is not None:
                out.append(batch)
        return out

    # --- views --------------------------------------------------------------------------------

    def hop_totals(self) -> Counter[tuple[str, str]]:
        """Events per (hop, status) since the ledger began, including buckets already evicted."""
        out = Counter(self._evicted_totals)
        for hop, hop_buckets in self._hops.items():
            for acc in hop_buckets.values():
                for (status, _attrs), n in acc.counts.items():
                    out[(hop, status)] += n
        return out

    @property
    def pending_ids(self) -> int:
        """Ids held for joins: pending at a from hop, or seen at a to hop before being expected."""
        return self._held_ids()

    def open_buckets(self) -> int:
        last = self.closed_through if self.closed_through is not None else -(1 << 62)
        return sum(1 for b in self._buckets if b > last)

    # --- checkpoints --------------------------------------------------------------------------

    def to_bytes(self) -> bytes:
        """Everything needed to resume after a restart (open buckets, joins, amendment window)."""
        state = {
            "closed_through": self.closed_through,
            "buckets": sorted(self._buckets),
            "hops": {
                hop: [[b, acc.to_state()] for b, acc in sorted(hb.items())]
                for hop, hb in self._hops.items()
            },
            "edges": {
                edge.name: [[b, join.to_state()] for b, join in sorted(joins.items())]
                for edge, joins in self._edges.items()
            },
            "gaps": [
                [g.start, g.end, g.reason, None if g.hops is None else sorted(g.hops)]
                for g in self.gaps
            ],
            "evicted_totals": [[h, s, n] for (h, s), n in self._evicted_totals.items()],
            "leaks": {name: log.to_state() for name, log in self.leaks.items()},
            "stats": [
                self.stats.late_observations,
                self.stats.overflow_observations,
                self.stats.pending_evicted,
                self.stats.too_late_for_edges,
            ],
        }
        return msgspec.msgpack.encode(state)

    def restore(self, data: bytes) -> None:
        """Load a checkpoint written by ``to_bytes`` of a ledger with the same pipeline config.

        Hops or edges that no longer exist in the config are skipped (a reload may remove them).
        """
        state = msgspec.msgpack.decode(data)
        self.closed_through = state["closed_through"]
        self._buckets = set(state["buckets"])
        for hop, rows in state["hops"].items():
            if hop in self._hops:
                self._hops[hop].clear()
                self._hops[hop].update({int(b): HopCounts.from_state(s) for b, s in rows})
        by_name = {e.name: e for e in self._edges}
        for name, rows in state["edges"].items():
            if name in by_name:
                joins = self._edges[by_name[name]]
                joins.clear()
                joins.update({int(b): self._join_type.from_state(s) for b, s in rows})
        self.gaps = [_gap(g) for g in state["gaps"]]
        for name, saved in state.get("leaks", {}).items():
            if name in self.leaks:
                self.leaks[name].restore(saved)
        self._evicted_totals = Counter({(h, s): n for h, s, n in state["evicted_totals"]})
        (
            self.stats.late_observations,
            self.stats.overflow_observations,
            self.stats.pending_evicted,
            self.stats.too_late_for_edges,
        ) = state["stats"]


def _gap(saved: list[object]) -> Gap:
    """A gap from the checkpoint (older checkpoints have no hops: the whole pipeline)."""
    start, end, reason, *rest = saved
    hops = rest[0] if rest else None
    return Gap(
        float(start),  # type: ignore[arg-type]
        float(end),  # type: ignore[arg-type]
        str(reason),
        None if hops is None else frozenset(str(h) for h in hops),  # type: ignore[attr-defined]
    )
