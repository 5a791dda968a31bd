"""Latency sketches: DDSketch with 1% relative accuracy, mergeable across buckets, hops and agents.

A thin wrapper so the rest of hopwatch never touches the library's internals: it adds a compact
serialisation (for the store and, later, agent aggregates) and clamps negative latencies from clock
skew to zero instead of letting them into a separate store.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Sequence

import msgspec
import numpy as np
from ddsketch import DDSketch

RELATIVE_ACCURACY = 0.01


class SketchBins(msgspec.Struct, array_like=True):
    """The layout of ``to_bytes``: bins, zero count, count, sum, min, max."""

    keys: list[int]
    weights: list[float]
    zero: float
    count: float
    total: float
    low: float
    high: float


class LatencySketch:
    """Quantiles of latencies in seconds, each within 1% of the true value.

    ``add`` only appends to a float buffer (the ingest hot path calls it once per observation);
    the buffer is folded into the DDSketch at numpy speed when anything reads the sketch, or by
    ``compact`` once it is large, so memory stays bounded while adding stays cheap.
    """

    __slots__ = ("_buffer", "_sketch", "add")

    COMPACT_AT = 65_536

    def __init__(self) -> None:
        self._sketch = DDSketch(relative_accuracy=RELATIVE_ACCURACY)
        self._buffer = array("d")
        self.add = self._buffer.append

    def compact(self, at_least: int = COMPACT_AT) -> None:
        """Fold the buffer into the sketch if it holds ``at_least`` values."""
        if len(self._buffer) >= max(at_least, 1):
            self._fold()

    def _fold(self) -> None:
        if not self._buffer:
            return
        s = self._sketch
        mapping = s._mapping
        vals = np.maximum(np.frombuffer(self._buffer, dtype=np.float64), 0.0)
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
        del self._buffer[:]

    def add_many(self, values: list[float]) -> None:
        self._buffer.extend(values)

    def merge(self, other: LatencySketch) -> None:
        other._fold()
        if other._sketch.count:
            self._fold()
            self._sketch.merge(other._sketch)

    @property
    def count(self) -> int:
        self._fold()
        count: float = self._sketch.count  # ddsketch is untyped
        return round(count)

    @property
    def sum(self) -> float:
        self._fold()
        return float(self._sketch.sum)

    def quantile(self, q: float) -> float | None:
        """The q-quantile in seconds, or None for an empty sketch (never NaN)."""
        self._fold()
        if not self._sketch.count:
            return None
        value = self._sketch.get_quantile_value(q)
        return None if value is None or math.isnan(value) else float(value)

    def histogram(self, bounds: Sequence[float]) -> list[float]:
        """Counts per interval of sorted ``bounds``: ``[0]`` is ≤ ``bounds[0]``, ``[i]`` is in
        ``(bounds[i-1], bounds[i]]``, the last is above every bound.

        Each bin is placed by its representative value, so a latency within 1% of a bound may
        land on the other side of it (the sketch's accuracy, nothing worse).
        """
        self._fold()
        s = self._sketch
        out = [0.0] * (len(bounds) + 1)
        out[0] += s._zero_count
        store, mapping = s._store, s._mapping
        for i, weight in enumerate(store.bins):
            if weight:
                out[bisect_left(bounds, mapping.value(i + store.offset))] += weight
        return out

    def bins(self) -> tuple[float, list[tuple[int, float]]]:
        """(latencies at zero, [(bin key, count)] of the others, keys ascending): the sketch's
        own bins, which add exactly across sketches (a key is a 1%-wide latency interval)."""
        self._fold()
        s = self._sketch
        store = s._store
        pairs = [(i + store.offset, float(w)) for i, w in enumerate(store.bins) if w]
        return float(s._zero_count), pairs

    def copy(self) -> LatencySketch:
        out = LatencySketch()
        out.merge(self)
        return out

    def to_bytes(self) -> bytes:
        self._fold()
        s = self._sketch
        store = s._store
        keys: list[int] = []
        weights: list[float] = []
        for i, w in enumerate(store.bins):
            if w:
                keys.append(i + store.offset)
                weights.append(w)
        return msgspec.msgpack.encode(
            SketchBins(keys, weights, s._zero_count, s._count, s._sum, s._min, s._max)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> LatencySketch:
        wire = msgspec.msgpack.decode(data, type=SketchBins)
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
