"""What the ledger hands to the store, the judges and the exporters: immutable per-bucket results."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from monitor.ledger.sketch import LatencySketch
from monitor.records import Attributes, Status


class Completeness(enum.StrEnum):
    """Whether hopwatch saw everything it could for a bucket. ``incomplete`` is never reported as loss."""

    COMPLETE = "complete"
    INCOMPLETE = "incomplete"


class JoinMode(enum.StrEnum):
    """How an edge result was computed: an id join (exact, possibly on a hash sample) or counts only."""

    IDS = "ids"
    COUNTS = "counts"


@dataclass(frozen=True)
class SeriesKey:
    """One counted series at a hop: a status and an allow-listed attribute set."""

    status: Status
    attributes: Attributes = ()


@dataclass(frozen=True, slots=True)
class Exemplar:
    """The slowest traced event of a bucket: its trace id, latency and when the hop saw it.

    Kept so a latency metric (an OpenMetrics exemplar) or a latency alert (``trace_ids`` in its
    evidence) links to one real slow event's trace. Only events that came with a trace id (OTLP
    spans) are candidates; one per bucket keeps it bounded.
    """

    trace_id: str
    latency_seconds: float
    observed_time: float


def slower(a: Exemplar | None, b: Exemplar | None) -> Exemplar | None:
    """The exemplar of the slower event (either may be missing)."""
    if a is None or (b is not None and b.latency_seconds > a.latency_seconds):
        return b
    return a


@dataclass(frozen=True)
class HopBucket:
    """Counts at one hop for one event-time bucket, as of when it was closed (or amended)."""

    pipeline: str
    hop: str
    bucket_start: float
    bucket_seconds: float
    counts: tuple[tuple[SeriesKey, int], ...]
    late: int = 0
    latency: LatencySketch = field(default_factory=LatencySketch, compare=False)
    completeness: Completeness = Completeness.COMPLETE
    exemplar: Exemplar | None = field(default=None, compare=False)
    """The slowest traced event at the hop in this bucket (not stored: a hint, not a count)."""

    @property
    def total(self) -> int:
        return sum(n for _, n in self.counts)

    def count(self, status: Status | None = None) -> int:
        return sum(n for k, n in self.counts if status is None or k.status == status)


@dataclass(frozen=True)
class EdgeResult:
    """Reconciliation of one edge for one closed event-time bucket.

    ``expected`` events left ``from_hop`` through the edge filter; ``arrived`` of them were seen at
    ``to_hop``; ``missing = expected - arrived`` (never negative); ``duplicates`` are extra sightings at
    ``to_hop`` of events already arrived; ``late`` arrived after the bucket closed (they amend it).
    With id sampling, ``expected``/``arrived``/``missing`` are counts within the sample and
    ``sample_rate`` says how large it is.
    """

    pipeline: str
    edge: str
    from_hop: str
    to_hop: str
    bucket_start: float
    bucket_seconds: float
    expected: int
    arrived: int
    missing: int
    duplicates: int = 0
    late: int = 0
    mode: JoinMode = JoinMode.IDS
    sample_rate: float = 1.0
    missing_ids: tuple[str, ...] = ()
    latency: LatencySketch = field(default_factory=LatencySketch, compare=False)
    completeness: Completeness = Completeness.COMPLETE
    closed_at: float = 0.0
    exemplar: Exemplar | None = field(default=None, compare=False)
    """The slowest traced event seen at ``to_hop`` in this bucket: a trace to open for a delay."""

    @property
    def loss_ratio(self) -> float | None:
        """missing / expected, or None when nothing was expected (0/0 is no data, not 0 or NaN)."""
        return self.missing / self.expected if self.expected else None

    @property
    def key(self) -> tuple[str, str, float]:
        return (self.pipeline, self.edge, self.bucket_start)


def merge_hop_buckets(stored: HopBucket, delta: HopBucket) -> HopBucket:
    """Add a partial bucket (late counts that arrived after eviction) to the stored one."""
    counts: dict[SeriesKey, int] = dict(stored.counts)
    for key, n in delta.counts:
        counts[key] = counts.get(key, 0) + n
    latency = stored.latency.copy()
    latency.merge(delta.latency)
    return HopBucket(
        pipeline=stored.pipeline,
        hop=stored.hop,
        bucket_start=stored.bucket_start,
        bucket_seconds=stored.bucket_seconds,
        counts=tuple(sorted(counts.items(), key=lambda kv: (kv[0].status, kv[0].attributes))),
        late=stored.late + delta.late,
        latency=latency,
        completeness=stored.completeness,
        exemplar=slower(stored.exemplar, delta.exemplar),
    )
