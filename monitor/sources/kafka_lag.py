"""How far behind a Kafka hop's data is, in seconds: consumer lag as time, from end offsets.

Why time and not records: the watermark is in seconds (a bucket closes ``allowed_lateness`` after
it ends), so the question a kafka source must answer is "up to which instant is everything the
topic got already read?". Record timestamps cannot answer it (the oldest unread record is not read
yet, and producers set timestamps), but the end offsets hopwatch polls anyway can: each
``measure`` notes (time, end offset) per partition (``EndOffsets``), and the instant the log end
passed the consumer's position is when the oldest unread record was appended. The lag in
seconds is ``now`` minus that instant, interpolated between the two samples around it (the method
of kafka-lag-exporter); a backlog older than the samples kept is at least as old as the oldest.
The same samples give the topic's end-offset rate (records per second appended).

Pure: time comes in as ``now``; ``KafkaHopSource.measure`` feeds it what the broker answered.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["HISTORY", "EndOffsets", "HopLag", "hop_lag"]

HISTORY = 120
"""(time, end offset) samples kept per partition: 10 minutes at the default 5 s interval."""


class EndOffsets:
    """One partition's log-end offsets: samples at least ``spacing`` seconds apart, oldest
    first (so ``HISTORY`` of them span ``HISTORY × spacing``), and the latest measurement."""

    __slots__ = ("current", "samples", "spacing")

    def __init__(self, samples: Iterable[tuple[float, int]] = (), spacing: float = 0.0) -> None:
        self.spacing = spacing
        self.samples: deque[tuple[float, int]] = deque(samples, maxlen=HISTORY)
        self.current: tuple[float, int] | None = self.samples[-1] if self.samples else None

    def add(self, now: float, end_offset: int) -> None:
        """The end offset measured at ``now``."""
        self.current = (now, end_offset)
        if not self.samples or now - self.samples[-1][0] >= self.spacing:
            self.samples.append(self.current)

    def _points(self) -> list[tuple[float, int]]:
        points = list(self.samples)
        if self.current is not None and (not points or points[-1] != self.current):
            points.append(self.current)
        return points

    def appended_at(self, offset: int) -> float | None:
        """When the record at ``offset`` was appended (the end passed ``offset``): interpolated
        between the points around it; the oldest point's time when it is older than them all;
        None when no point shows the end past ``offset`` (nothing unread)."""
        before: tuple[float, int] | None = None
        for t, end in self._points():
            if end > offset:
                if before is None:
                    return t  # appended before the first sample: at least this old
                t0, e0 = before
                return t0 + (t - t0) * (offset + 1 - e0) / (end - e0)
            before = (t, end)
        return None

    def rate(self) -> float:
        """Records appended per second, oldest sample to the latest measurement (0 before two)."""
        points = self._points()
        if len(points) < 2:
            return 0.0
        (t0, e0), (t1, e1) = points[0], points[-1]
        return (e1 - e0) / (t1 - t0) if t1 > t0 else 0.0


@dataclass(frozen=True, slots=True)
class HopLag:
    """A kafka hop's consumer lag at ``now``, its worst partition's."""

    records: int
    seconds: float
    read_through: float
    """Everything appended to the topic before this instant has been read (``now - seconds``):
    buckets whose watermark passes later than it may still be missing records."""


def hop_lag(positions: Iterable[tuple[int, EndOffsets]], now: float) -> HopLag:
    """The lag of a consumer at ``positions`` ((next offset to read, that partition's end
    offsets) per partition): records behind in total, and seconds behind its worst partition."""
    records, oldest = 0, now
    for position, ends in positions:
        if ends.current is None or ends.current[1] <= position:
            continue  # caught up
        records += ends.current[1] - position
        appended = ends.appended_at(position)
        if appended is not None:
            oldest = min(oldest, appended)
    return HopLag(records, now - oldest, oldest)
