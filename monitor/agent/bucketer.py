"""The agent's local bucketing: observations in, ``HopAggregate`` deltas out.

Pure (``now`` is passed in, no I/O). The agent feeds every accepted observation here; each flush
(``take``) returns what accumulated since the previous one, per (pipeline, hop, event-time
bucket), and starts afresh. Nothing else is kept: every delta is exact on its own, because the
server's ledger treats a repeated ``from`` id as expected once and a repeated ``to`` sighting as a
duplicate, whichever delta it comes in. So an agent restart loses only what was not yet flushed,
and memory is bounded by one flush interval of traffic.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.config.model import Config, Pipeline
from monitor.config.where import reads_event_id
from monitor.ledger import core
from monitor.ledger.aggregate import MAX_ID_LENGTH, EdgeIds, HopAggregate, SeriesCount, Sighting
from monitor.ledger.sampling import IdSampler, id_hash
from monitor.ledger.sketch import LatencySketch
from monitor.ledger.watermark import Watermark
from monitor.records import Attributes, CountSample, Observation

_compiled = core.compiled("monitor.agent._bucket")
"""The compiled loop of ``Bucketer.observe`` (``_bucket.pyx``), or None: then the Python loop
below runs (``HOPWATCH_PURE_PYTHON=1``, or the extension not built), with the same deltas."""


class _EdgeDelta:
    __slots__ = ("expected_count", "ids", "ids_seen")

    def __init__(self) -> None:
        self.expected_count = 0
        self.ids_seen = 0
        self.ids: dict[str, int] = {}


class _HopDelta:
    """Mutable accumulator of one (hop, bucket) between two flushes."""

    __slots__ = ("counts", "edges", "exemplar", "late", "latency", "sightings")

    def __init__(self) -> None:
        self.counts: dict[tuple[str, Attributes], int] = {}
        self.latency = LatencySketch()
        self.exemplar: tuple[str, float, float] | None = None
        self.late = 0
        self.edges: dict[str, _EdgeDelta] = {}
        self.sightings: dict[int, tuple[int, int]] = {}
        """Sampled id hash -> (first observed ms, times seen): tuples of ints, which the garbage
        collector stops tracking, where ``[ms, n]`` lists would each be traversed by every full
        collection for as long as the flush interval holds them."""

    def freeze(self, pipeline: str, hop: str, bucket: int, size: float) -> HopAggregate:
        return HopAggregate(
            pipeline=pipeline,
            hop=hop,
            bucket=bucket,
            bucket_seconds=size,
            counts=tuple(SeriesCount(s, a, n) for (s, a), n in self.counts.items()),
            latency=self.latency.to_bytes() if self.latency.count else b"",
            exemplar=self.exemplar,
            late=self.late,
            edges=tuple(
                EdgeIds(name, e.expected_count, e.ids_seen, tuple(e.ids.items()))
                for name, e in self.edges.items()
            ),
            sightings=tuple(Sighting(h, ms, n) for h, (ms, n) in self.sightings.items()),
        )


class _PipelineBucketer:
    """One pipeline's rules (buckets, sampling, edge filters) applied as the ledger applies them."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.name = pipeline.name
        self.watermark = Watermark(pipeline.bucket_seconds, pipeline.allowed_lateness)
        self.threshold = IdSampler(pipeline.id_sampling).threshold
        self.out_edges = {
            h: tuple((e.name, e.where.predicate) for e in pipeline.edges_from(h))
            for h in pipeline.hop_names
        }
        self.is_to = {h: bool(pipeline.edges_to(h)) for h in pipeline.hop_names}
        self.deltas: dict[tuple[str, int], _HopDelta] = {}
        # The compiled loop's memo of edge filters (``_bucket.observe``): per observation shape,
        # the bit mask of the hop's edges it passes; only for hops none of whose filters reads
        # the event id (as the ledger's ``_by_shape``).
        self.by_shape = {
            h: not any(reads_event_id(e.where) for e in pipeline.edges_from(h))
            for h in pipeline.hop_names
        }
        self.shapes: dict[tuple[object, ...], int] = {}

    def observe(self, obs: Observation, closed_through: int | None) -> None:
        size = self.watermark.bucket_seconds
        b = int(obs.event_time // size)
        delta = self.deltas.get((obs.hop, b))
        if delta is None:
            delta = self.deltas[(obs.hop, b)] = _HopDelta()
        key = (obs.status, obs.attributes)
        delta.counts[key] = delta.counts.get(key, 0) + 1
        if closed_through is not None and b <= closed_through:
            delta.late += 1
        latency = obs.observed_time - obs.event_time
        delta.latency.add(latency)
        if obs.trace_id is not None and (delta.exemplar is None or latency > delta.exemplar[1]):
            delta.exemplar = (obs.trace_id, latency, obs.observed_time)
        h = -1
        # An id too long for the server to take (``MAX_ID_LENGTH``) stays out of the
        # join sample, at the ``from`` and the ``to`` hop alike: counted, never joined.
        if obs.event_id is not None and len(obs.event_id) <= MAX_ID_LENGTH:
            h = id_hash(obs.event_id)
            if h >= self.threshold:
                h = -1
        ms = int(obs.observed_time * 1000.0)
        for name, where in self.out_edges[obs.hop]:
            if not where(obs):
                continue
            edge = delta.edges.get(name)
            if edge is None:
                edge = delta.edges[name] = _EdgeDelta()
            edge.expected_count += 1
            if obs.event_id is not None:
                edge.ids_seen += 1
                if h >= 0:
                    edge.ids.setdefault(obs.event_id, ms)
        if h >= 0 and self.is_to[obs.hop]:
            seen = delta.sightings.get(h)
            if seen is None:
                delta.sightings[h] = (ms, 1)
            else:
                delta.sightings[h] = (seen[0], seen[1] + 1)

    def take(self) -> list[HopAggregate]:
        size = self.watermark.bucket_seconds
        out = [d.freeze(self.name, hop, b, size) for (hop, b), d in sorted(self.deltas.items())]
        self.deltas = {}
        return out


class Bucketer:
    """Every configured pipeline's local buckets; what the agent's push endpoints feed.

    ``closed_through`` per pipeline follows the agent's own watermark only to count local
    lateness (``HopAggregate.late``); buckets are never held back for it.
    """

    def __init__(self, config: Config) -> None:
        self._pipelines = {p.name: _PipelineBucketer(p) for p in config.pipelines}
        self._closed_through: dict[str, int | None] = {p.name: None for p in config.pipelines}
        self._samples: list[CountSample] = []
        self._compiled = _compiled is not None and all(
            len(p.edges_from(h)) <= _compiled.MAX_EDGES_OUT
            for p in config.pipelines
            for h in p.hop_names
        )
        self.served: set[tuple[str, str]] = set()
        """Every (pipeline, hop) fed here: the hops the agent declares to the server (those of
        observations are added at ``take``, from the deltas, off the per-observation path)."""

    def observe(self, observations: Iterable[Observation]) -> None:
        pipelines, closed_through = self._pipelines, self._closed_through
        if self._compiled and _compiled is not None:
            _compiled.observe(
                pipelines, closed_through, observations, _HopDelta, _EdgeDelta, MAX_ID_LENGTH
            )
            return
        for obs in observations:
            pipelines[obs.pipeline].observe(obs, closed_through[obs.pipeline])

    def observe_counts(self, samples: Iterable[CountSample]) -> None:
        """Count samples are aggregates already: kept as they came, forwarded with the rest."""
        for s in samples:
            self._samples.append(s)
            self.served.add((s.pipeline, s.hop))

    def advance(self, now: float) -> None:
        for name, p in self._pipelines.items():
            self._closed_through[name] = p.watermark.last_closable(now)

    def take(self, now: float) -> tuple[list[HopAggregate], list[CountSample]]:
        """Everything since the last ``take``, and reset; ``now`` moves the local watermark."""
        aggregates = [a for p in self._pipelines.values() for a in p.take()]
        self.served.update((a.pipeline, a.hop) for a in aggregates)
        samples, self._samples = self._samples, []
        self.advance(now)
        return aggregates, samples
