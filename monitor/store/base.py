"""The contract every store keeps, so the daemon can run on SQLite alone or on a shared PostgreSQL.

The store is the I/O shell behind the ledger and the alert state: it persists what they compute
and hands it back after a restart. It never decides anything and never reads a clock; every time it
records is passed in by the caller, so replays and tests can drive it with simulated time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self

from monitor.ledger.records import EdgeResult, HopBucket


class StoreError(Exception):
    """The store cannot be used as it is; the message names the file and what to do about it."""


@dataclass(frozen=True)
class Gap:
    """A period in which hopwatch itself was down or lagging.

    Buckets overlapping a gap are reported incomplete rather than as loss: a monitor restart must
    never look like the pipeline dropping data.
    """

    start: float
    end: float
    reason: str


class Store(Protocol):
    """Durable state of one hopwatch deployment.

    Batch writes are atomic: a crash leaves either the whole batch or none of it. Range queries are
    half-open on ``bucket_start`` (``since <= bucket_start < until``) so adjacent windows never
    count a bucket twice. Implementations are safe to call from the daemon's tick and from HTTP
    handlers at once.
    """

    def save_hop_buckets(self, buckets: Iterable[HopBucket]) -> None:
        """Upsert on (pipeline, hop, bucket_start): an amended bucket replaces the earlier one."""
        ...

    def hop_buckets(
        self,
        pipeline: str,
        hop: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[HopBucket]:
        """Buckets ordered by bucket_start, then hop."""
        ...

    def save_edge_results(self, results: Iterable[EdgeResult]) -> None:
        """Upsert on (pipeline, edge, bucket_start): a re-reconciled bucket replaces the old one."""
        ...

    def edge_results(
        self,
        pipeline: str,
        edge: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[EdgeResult]:
        """Results ordered by bucket_start, then edge."""
        ...

    def save_checkpoint(self, name: str, at: float, blob: bytes) -> None:
        """Keep ``blob`` as the one checkpoint for ``name``; the last save wins."""
        ...

    def load_checkpoint(self, name: str) -> tuple[float, bytes] | None: ...

    def beat(self, at: float) -> None:
        """Record that the daemon was alive at ``at``; cheap enough for every tick."""
        ...

    def last_beat(self) -> float | None: ...

    def add_gap(self, start: float, end: float, reason: str) -> None: ...

    def gaps(self, since: float | None = None) -> list[Gap]:
        """Gaps that end after ``since`` (so they may overlap buckets from then on), by start."""
        ...

    def save_alerts(self, alerts: Iterable[dict[str, Any]]) -> None:
        """Upsert JSON-able alert payloads on their ``fingerprint`` string field."""
        ...

    def load_alerts(self) -> list[dict[str, Any]]:
        """All saved alerts, ordered by fingerprint."""
        ...

    def delete_alerts(self, fingerprints: Iterable[str]) -> int:
        """Forget alerts (e.g. resolved long enough ago); returns how many were deleted."""
        ...

    def purge(self, before: float) -> int:
        """Delete buckets, edge results and gaps that ended by ``before``; returns rows deleted."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
