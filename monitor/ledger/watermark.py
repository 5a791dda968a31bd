"""Event-time buckets and when they close.

A bucket ``[start, start + size)`` closes once the clock passes ``start + size + lateness``: by then
every hop should have reported the events created in it. Later arrivals amend it and count as late.
Buckets whose acceptance interval overlaps a period when hopwatch itself was down are incomplete:
what hopwatch did not see cannot be called loss.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Gap:
    """A period when the monitor could not observe (down, restarting, lagging)."""

    start: float
    end: float
    reason: str = "monitor down"
    hops: frozenset[str] | None = None
    """The hops that went unobserved (a failing pull source); ``None``: all of them."""

    def covers(self, hops: frozenset[str] | None) -> bool:
        """Whether a bucket touching ``hops`` (``None``: any hop) is affected by this gap."""
        return self.hops is None or hops is None or not self.hops.isdisjoint(hops)


@dataclass(frozen=True)
class Watermark:
    bucket_seconds: float
    lateness: float

    def bucket_of(self, event_time: float) -> int:
        """Index of the bucket holding ``event_time`` (``start = index * bucket_seconds``)."""
        return math.floor(event_time / self.bucket_seconds)

    def start(self, index: int) -> float:
        return index * self.bucket_seconds

    def closes_at(self, index: int) -> float:
        return (index + 1) * self.bucket_seconds + self.lateness

    def last_closable(self, now: float) -> int:
        """The highest bucket index whose watermark has passed at ``now``."""
        return math.floor((now - self.lateness) / self.bucket_seconds) - 1

    def overlaps(self, index: int, gap: Gap) -> bool:
        """Whether events of this bucket could have arrived while the monitor was in ``gap``."""
        return gap.start < self.closes_at(index) and gap.end > self.start(index)
