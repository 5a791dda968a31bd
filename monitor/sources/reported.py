"""What a pulled source has already told the engine, so re-queried buckets replace, not add.

The ledger adds every count sample it gets (``PipelineLedger.observe_counts``), which is right for
pushed aggregates and wrong for a source that re-reads the same open bucket every interval. Each
pull therefore yields *absolute* counts per (bucket, status, attributes) over its window, and
``ReportedCounts.deltas`` turns them into the difference from what was sent before: the ledger's
sum then equals the latest absolute count exactly. A series that vanished from an open bucket
(a deleted row) sends its negative; a bucket the watermark has closed only ever gains, since a
closed bucket's decrease would be read as negative late events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from monitor.records import Attributes, CountSample

__all__ = ["BucketCount", "ReportedCounts", "to_epoch_seconds"]


@dataclass(frozen=True, slots=True)
class BucketCount:
    """An absolute count read from a source for one series in one bucket."""

    bucket_start: float
    count: int
    status: str = "ok"
    attributes: Attributes = ()

    @property
    def key(self) -> tuple[float, str, Attributes]:
        return (self.bucket_start, self.status, self.attributes)


class ReportedCounts:
    """Per-source memory of reported counts; ``forget`` bounds it to buckets still re-read."""

    def __init__(self, pipeline: str, hop: str, bucket_seconds: float) -> None:
        self.pipeline = pipeline
        self.hop = hop
        self.bucket_seconds = bucket_seconds
        self._sent: dict[tuple[float, str, Attributes], int] = {}

    def deltas(
        self, counts: Iterable[BucketCount], window_start: float, open_from: float
    ) -> list[CountSample]:
        """Samples that bring the ledger from what was sent to ``counts``.

        ``counts`` cover every bucket from ``window_start`` on (absent means zero); buckets before
        ``open_from`` are closed, and only gain."""
        now_seen: dict[tuple[float, str, Attributes], int] = {}
        for c in counts:
            if c.bucket_start >= window_start:
                now_seen[c.key] = now_seen.get(c.key, 0) + c.count
        vanished = {k: 0 for k in self._sent if k[0] >= window_start and k not in now_seen}
        out = []
        for key, count in sorted({**vanished, **now_seen}.items()):
            delta = count - self._sent.get(key, 0)
            if delta == 0 or (delta < 0 and key[0] < open_from):
                continue
            self._sent[key] = count
            out.append(self._sample(key, delta))
        return out

    def _sample(self, key: tuple[float, str, Attributes], delta: int) -> CountSample:
        start, status, attributes = key
        return CountSample(
            pipeline=self.pipeline,
            hop=self.hop,
            bucket_start=start,
            bucket_seconds=self.bucket_seconds,
            count=delta,
            status=status,
            attributes=attributes,
        )

    def to_state(self) -> list[list[object]]:
        """What was sent, for the daemon's checkpoint: without it a restart would re-send the
        open buckets' counts in full and count them twice."""
        return [[b, s, [list(a) for a in attrs], n] for (b, s, attrs), n in self._sent.items()]

    def restore(self, state: Iterable[list[object]]) -> None:
        self._sent = {
            (float(b), str(s), tuple((str(k), str(v)) for k, v in attrs)): int(n)  # type: ignore[attr-defined, arg-type, call-overload]
            for b, s, attrs, n in state
        }

    def forget(self, before: float) -> None:
        """Drop buckets older than ``before``: no pull reads them again."""
        for key in [k for k in self._sent if k[0] < before]:
            del self._sent[key]

    def total(self, bucket_start: float) -> int:
        """What the ledger holds from this source for one bucket (for tests and status)."""
        return sum(n for (b, _, _), n in self._sent.items() if b == bucket_start)


def to_epoch_seconds(value: Any) -> float | None:
    """A bucket start as a source returns it (a SQL row, a JSON field): a timestamp (naive means
    UTC), epoch seconds as a number, or text of either (SQLite's ``strftime`` returns text)."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return to_epoch_seconds(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None
