"""Cumulative latency histograms per hop, with the trace of a recent slow event per bucket.

The summaries on ``/metrics`` describe the last closed bucket only; a Prometheus histogram must
be monotonic, and exemplars (OpenMetrics) may only sit on histogram buckets or counters. So the
engine adds every newly closed hop bucket here (``HopLatencyTotals.add``) and the collector
exports the result as ``hopwatch_hop_event_latency_seconds``: counts from each bucket's sketch
(within its 1% accuracy), the sum, and for each histogram bucket the exemplar of the last closed
hop bucket whose slowest traced event fell in it. Pure and bounded: a fixed number of buckets and
at most one exemplar each, per configured hop. Not checkpointed: after a restart the counters
start again from 0, which Prometheus reads as a counter reset.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final

from monitor.ledger.records import Exemplar, HopBucket

__all__ = ["LATENCY_BOUNDS", "HopLatencyTotals", "LatencyHistogram"]

LATENCY_BOUNDS: Final = (
    0.01,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
)
"""Upper bounds (``le``) in seconds: from an in-process hop (ms) to an hourly warehouse load."""


@dataclass
class LatencyHistogram:
    """One hop's histogram: per-interval counts (not cumulative), their sum, exemplars."""

    bounds: Sequence[float]
    counts: list[float] = field(default_factory=list)
    sum: float = 0.0
    exemplars: dict[int, Exemplar] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0.0] * (len(self.bounds) + 1)

    def add(self, bucket: HopBucket) -> None:
        sketch = bucket.latency
        if not sketch.count:
            return
        for i, n in enumerate(sketch.histogram(self.bounds)):
            self.counts[i] += n
        self.sum += sketch.sum
        if bucket.exemplar is not None:
            # Placed by its own value, so the exemplar always lies inside its bucket.
            self.exemplars[bisect_left(self.bounds, bucket.exemplar.latency_seconds)] = (
                bucket.exemplar
            )

    def cumulative(self) -> list[float]:
        """Counts of latencies ≤ each bound, then the total (the ``+Inf`` bucket)."""
        out, running = [], 0.0
        for n in self.counts:
            running += n
            out.append(running)
        return out


class HopLatencyTotals:
    """The histograms of every hop that has closed a bucket, keyed by (pipeline, hop)."""

    def __init__(self, bounds: Sequence[float] = LATENCY_BOUNDS) -> None:
        self.bounds = tuple(bounds)
        self.by_hop: dict[tuple[str, str], LatencyHistogram] = {}

    def add(self, buckets: Iterable[HopBucket]) -> None:
        """Newly closed hop buckets (never amendments: their events were counted already)."""
        for bucket in buckets:
            key = (bucket.pipeline, bucket.hop)
            histogram = self.by_hop.get(key)
            if histogram is None:
                histogram = self.by_hop[key] = LatencyHistogram(self.bounds)
            histogram.add(bucket)
