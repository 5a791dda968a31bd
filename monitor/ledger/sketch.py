"""Latency sketches: DDSketch with 1% relative accuracy, mergeable across buckets, hops and agents.

A thin wrapper so the rest of hopwatch never touches the library's internals: it adds a compact
serialisation (for the store and, later, agent aggregates) and clamps negative latencies from clock
skew to zero instead of letting them into a separate store.
"""

from __future__ import annotations

import math

import msgspec
import numpy as np
from ddsketch import DDSketch

RELATIVE_ACCURACY = 0.01


class _Wire(msgspec.Struct, array_like=True):
    keys: list[int]
    weights: list[float]
    zero: float
    count: float
    total: float
    low: float
    high: float


class LatencySketch:
    """Quantiles of latencies in seconds, each within 1% of the true value."""

    __slots__ = ("_sketch",)

    def __init__(self) -> None:
        self._sketch = DDSketch(relative_accuracy=RELATIVE_ACCURACY)

    def add(self, seconds: float, weight: float = 1.0) -> None:
        self._sketch.add(float(seconds) if seconds > 0.0 else 0.0, weight)

    def add_many(self, values: list[float]) -> None:
        """Add a batch at numpy speed: the ingest path buffers latencies and adds them per batch.

        Same keys, counts and summary statistics as calling ``add`` for each value.
        """
        if len(values) < 8:
            for v in values:
                self.add(v)
            return
        s = self._sketch
        mapping = s._mapping
        vals = np.maximum(np.asarray(values, dtype=np.float64), 0.0)
        positive = vals > mapping.min_possible
        logs = np.log2(vals[positive]) * mapping._multiplier
        keys, counts = np.unique(np.ceil(logs) + mapping._offset, return_counts=True)
        for key, n in zip(keys.tolist(), counts.tolist(), strict=True):
            s._store.add(int(key), float(n))
        s._zero_count += float(len(vals) - int(positive.sum()))
        s._count += float(len(vals))
        s._sum += float(vals.sum())
        s._min = min(s._min, float(vals.min()))
        s._max = max(s._max, float(vals.max()))

    def merge(self, other: LatencySketch) -> None:
        if other.count:
            self._sketch.merge(other._sketch)

    @property
    def count(self) -> int:
        return round(self._sketch.count)

    @property
    def sum(self) -> float:
        return float(self._sketch.sum)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds, or None for an empty sketch (never NaN)."""
        if not self._sketch.count:
            return None
        value = self._sketch.get_quantile_value(q)
        return None if value is None or math.isnan(value) else float(value)

    def copy(self) -> LatencySketch:
        out = LatencySketch()
        out.merge(self)
        return out

    def to_bytes(self) -> bytes:
        s = self._sketch
        store = s._store
        keys: list[int] = []
        weights: list[float] = []
        for i, w in enumerate(store.bins):
            if w:
                keys.append(i + store.offset)
                weights.append(w)
        return msgspec.msgpack.encode(
            _Wire(keys, weights, s._zero_count, s._count, s._sum, s._min, s._max)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LatencySketch:
        wire = msgspec.msgpack.decode(data, type=_Wire)
        out = cls()
        s = out._sketch
        for key, weight in zip(wire.keys, wire.weights, strict=True):
            s._store.add(key, weight)
        s._zero_count = wire.zero
        s._count = wire.count
        s._sum = wire.total
        s._min = wire.low
        s._max = wire.high
        return out

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LatencySketch) and self.to_bytes() == other.to_bytes()

    def __repr__(self) -> str:
        return f"LatencySketch(count={self.count}, p50={self.quantile(0.5)}, p99={self.quantile(0.99)})"
