"""Leaks of forbidden edges (``expect: none``): restricted events that reached a hop they must not.

A forbidden edge is joined by event id like every edge (``join.EdgeJoin``): an upstream sighting
passing the edge's ``where`` waits pending for the pipeline's lateness (and the amendment horizon
after that), and a downstream sighting of the same id is an *arrival*, which for this edge is a
violation. The ledger tells this log about each one the moment the join makes it, with the id's
text, so the judge (``monitor.alerting.leaks``) can raise an alert at the next tick instead of at
the bucket's close, and with no statistics: a leak of one is a leak.

What is kept per edge is bounded whatever happens: a monotonic total (the counter
``hopwatch_edge_forbidden_events_total``), the leaks since the last ``drain`` as a count and a
sample of ``MAX_LEAK_IDS`` ids (opaque: the event ids the hops sent, or their keyed hashes), and the
first and last times.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_LEAK_IDS = 20
"""Leaked ids an alert carries: enough to look the events up, bounded however large the leak."""


def hash_name(h: int) -> str:
    """The id of a leak known only by its 60-bit join hash (an agent ships hashes of sightings)."""
    return f"h:{h:015x}"


@dataclass(frozen=True)
class LeakBatch:
    """The leaks of one forbidden edge since the previous drain."""

    pipeline: str
    edge: str
    from_hop: str
    to_hop: str
    count: int
    event_ids: tuple[str, ...]
    first_at: float
    last_at: float
    bucket_starts: tuple[float, ...]
    """Event-time buckets (starts) the leaked events belong to, oldest first, at most 20."""


@dataclass
class LeakLog:
    """Leaks of one forbidden edge: the running total and what is new since the last drain."""

    total: int = 0
    fresh: int = 0
    ids: list[str] = field(default_factory=list)
    first_at: float = 0.0
    last_at: float = 0.0
    buckets: set[float] = field(default_factory=set)

    def add(self, event_id: str, at: float, bucket_start: float) -> None:
        """One restricted event seen downstream, at ``at`` (the downstream sighting's time)."""
        self.total += 1
        if self.fresh == 0:
            self.first_at = at
        self.fresh += 1
        self.first_at = min(self.first_at, at)
        self.last_at = max(self.last_at, at)
        if len(self.ids) < MAX_LEAK_IDS and event_id not in self.ids:
            self.ids.append(event_id)
        if len(self.buckets) < MAX_LEAK_IDS:
            self.buckets.add(bucket_start)

    def drain(self, pipeline: str, edge: str, from_hop: str, to_hop: str) -> LeakBatch | None:
        """What is new since the last drain (None: nothing), and forget it; the total stays."""
        if not self.fresh:
            return None
        batch = LeakBatch(
            pipeline,
            edge,
            from_hop,
            to_hop,
            self.fresh,
            tuple(self.ids),
            self.first_at,
            self.last_at,
            tuple(sorted(self.buckets)),
        )
        self.fresh, self.ids, self.buckets = 0, [], set()
        return batch

    def to_state(self) -> list[Any]:
        return [self.total, self.fresh, self.ids, self.first_at, self.last_at, sorted(self.buckets)]

    def restore(self, state: list[Any]) -> None:
        """Load ``to_state`` in place (the ledger's hot-path views hold this very object)."""
        total, fresh, ids, first_at, last_at, buckets = state
        self.total, self.fresh = int(total), int(fresh)
        self.ids = [str(i) for i in ids]
        self.first_at, self.last_at = float(first_at), float(last_at)
        self.buckets = {float(b) for b in buckets}
