"""A frozen snapshot of the engine, for everything that only reads it.

Use ``Engine.view()`` from exporters, the HTTP API, the status page and the daemon's status
printing: they get immutable records (frozen dataclasses, tuples, read-only mappings) taken at one
moment, so a scrape cannot change the engine and a tick cannot change a scrape half-way through.
The view shares the engine's frozen records (``EdgeResult``, ``HopBucket``, ``Alert``,
``SLOStatus``, ``Score``) rather than copying them; only the small counters are copied, so a view
is cheap enough to build per scrape. Pure: no clock, no I/O; liveness is a question asked with an
explicit ``now`` (``AgentView.is_up``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol, TypeVar

from monitor.alerting.alert import Alert
from monitor.anomaly.model import CheckDef, Score
from monitor.ledger.records import EdgeResult, Exemplar, HopBucket
from monitor.ledger.watermark import Gap
from monitor.slo.evaluate import SLOStatus
from monitor.slo.model import SLO

__all__ = [
    "AgentView",
    "CheckSeries",
    "EdgeTotals",
    "EngineView",
    "HopHistogram",
    "IngestView",
    "LedgerView",
    "SLOTotals",
    "Viewable",
    "frozen_map",
]

K = TypeVar("K")
V = TypeVar("V")


def frozen_map(items: Mapping[K, V]) -> Mapping[K, V]:
    """A read-only copy of a small mapping of immutable values (counters, last records); a
    ``Counter`` stays one, so a missing key still reads as 0."""
    return MappingProxyType(items.copy() if isinstance(items, dict) else dict(items))


@dataclass(frozen=True, slots=True)
class EdgeTotals:
    """Monotonic sums over an edge's closed buckets (what the ``_total`` counters export).

    Frozen so the engine can hand its own record to a view: accounting replaces it.
    """

    expected: int = 0
    arrived: int = 0
    missing: int = 0
    duplicates: int = 0
    late: int = 0
    incomplete_buckets: int = 0


@dataclass(frozen=True, slots=True)
class HopHistogram:
    """One hop's cumulative latency histogram: per-interval counts (not cumulative), their sum
    and the exemplar of the last slow event per interval (keyed by the interval's index)."""

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    sum: float
    exemplars: Mapping[int, Exemplar]

    @classmethod
    def empty(cls, bounds: tuple[float, ...]) -> HopHistogram:
        return cls(bounds, (0.0,) * (len(bounds) + 1), 0.0, MappingProxyType({}))

    def cumulative(self) -> list[float]:
        """Counts of latencies ≤ each bound, then the total (the ``+Inf`` bucket)."""
        out, running = [], 0.0
        for n in self.counts:
            running += n
            out.append(running)
        return out


@dataclass(frozen=True, slots=True)
class IngestView:
    """The push path's counters: accepted by (kind, outcome), rejected by (kind, reason),
    attributes dropped by pipeline."""

    accepted: Mapping[tuple[str, str], int]
    rejected: Mapping[tuple[str, str], int]
    dropped_attributes: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class LedgerView:
    """One pipeline's ledger at a glance: what it holds and what it could not place."""

    pending_ids: int
    open_buckets: int
    late_observations: int
    overflow_observations: int
    pending_evicted: int
    too_late_for_edges: int
    gaps: tuple[Gap, ...]
    """Times hopwatch (or a source, or an agent) could not observe: no bucket in them is loss."""
    forbidden: Mapping[str, int] = field(default_factory=dict)
    """Leaks since the first start, by forbidden edge (``expect: none``): restricted events seen
    downstream."""


@dataclass(frozen=True, slots=True)
class CheckSeries:
    """One series of one check and its last judgement."""

    check: CheckDef
    series: str
    last: Score


@dataclass(frozen=True, slots=True)
class SLOTotals:
    """Monotonic good / bad outcomes of one SLO since the first start."""

    good: int
    bad: int


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent's last contact and how its batches fared.

    ``silent_since`` is when its silence counts from (its last contact, or hopwatch's own
    restart if later); it is up while ``now - silent_since <= silent_after``.
    """

    agent: str
    last_contact: float
    silent_since: float
    silent_after: float

    def is_up(self, now: float) -> bool:
        return now - self.silent_since <= self.silent_after


@dataclass(frozen=True, slots=True)
class EngineView:
    """Everything readers of the engine see, as of one moment (see the module docstring).

    Keys are ``(pipeline, edge)`` / ``(pipeline, hop)`` / ``(pipeline, hop, status)``; mappings
    are read-only and hold only immutable records.
    """

    last_tick: float | None
    edge_totals: Mapping[tuple[str, str], EdgeTotals]
    last_edge: Mapping[tuple[str, str], EdgeResult]
    last_hop: Mapping[tuple[str, str], HopBucket]
    recent_edges: Mapping[tuple[str, str], tuple[EdgeResult, ...]]
    """The last closed buckets per edge, oldest first, bounded (``engine.RECENT_BUCKETS``): what
    a sparkline draws without a store read. Empty after a restart until buckets close again."""
    recent_hops: Mapping[tuple[str, str], tuple[HopBucket, ...]]
    """The same per hop."""
    hop_totals: Mapping[tuple[str, str, str], int]
    hop_latency: Mapping[tuple[str, str], HopHistogram]
    latency_bounds: tuple[float, ...]
    ingest: IngestView
    ledgers: Mapping[str, LedgerView]
    checks: tuple[CheckDef, ...]
    """Every check judged, configured ones and the built-in edge watches."""
    check_series: tuple[CheckSeries, ...]
    check_errors: Mapping[tuple[str, str], int]
    slos: tuple[SLO, ...]
    slo_statuses: tuple[SLOStatus, ...]
    """The last evaluation (empty before the first tick)."""
    slo_totals: tuple[SLOTotals, ...]
    """One per SLO, in the order of ``slos``."""
    alerts: tuple[Alert, ...]
    """Firing first, then pending, then resolved; newest first within each."""
    agent_batches: Mapping[tuple[str, str], int]
    """Agent batches by (agent, outcome): applied, duplicate, refused."""
    agents: Mapping[str, AgentView]

    def hop_histogram(self, pipeline: str, hop: str) -> HopHistogram:
        """The hop's histogram, or an empty one when it has closed no bucket yet."""
        found = self.hop_latency.get((pipeline, hop))
        return found if found is not None else HopHistogram.empty(self.latency_bounds)


class Viewable(Protocol):
    """What a reader needs from the engine: its view. Readers type against this, not ``Engine``,
    so they cannot reach the engine's state (and tests may hand them a fixed view)."""

    def view(self) -> EngineView: ...
