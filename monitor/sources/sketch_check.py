"""Whether an agent's latency sketch bytes are safe to build a ``LatencySketch`` from.

``LatencySketch.from_bytes`` trusts its input: garbage raises deep in the library (a 500 on the
server), and a bin key far out of range makes the sketch allocate dense bins all the way to it. So
``monitor.sources.agent_batch`` asks ``sketch_problem`` first, which decodes the same layout and checks
that every number in it can stand for latencies: keys a latency of at most ``MAX_LATENCY_SECONDS``
maps to, weights and counts that are counts, a count that is the sum of the bins, a finite sum.
Pure; it decodes ``monitor.ledger.sketch.SketchBins``, the layout ``to_bytes`` writes.
"""

from __future__ import annotations

import math
from typing import Final

import msgspec
from ddsketch.mapping import LogarithmicMapping

from monitor.ledger.sketch import RELATIVE_ACCURACY, SketchBins
from monitor.sources.bounds import MAX_COUNT

__all__ = ["KEY_RANGE", "MAX_LATENCY_SECONDS", "sketch_problem"]

MAX_LATENCY_SECONDS: Final = 2.0**31
"""Largest latency a sketch bin may stand for (68 years): no event and its sighting, both within
``storage.retention``, lie further apart. Bounds the bins a sketch allocates."""

_MAPPING: Final = LogarithmicMapping(RELATIVE_ACCURACY)
KEY_RANGE: Final = (_MAPPING.key(_MAPPING.min_possible), _MAPPING.key(MAX_LATENCY_SECONDS))
"""The bin keys of latencies from the smallest positive float to ``MAX_LATENCY_SECONDS``."""


def sketch_problem(data: bytes) -> str | None:
    """What is wrong with ``data`` as a latency sketch, or None when it is safe to build."""
    try:
        bins = msgspec.msgpack.decode(data, type=SketchBins)
    except msgspec.DecodeError as exc:
        return f"not a latency sketch ({exc})"
    if len(bins.keys) != len(bins.weights):
        return f"{len(bins.keys)} bin keys but {len(bins.weights)} weights"
    low, high = KEY_RANGE
    for key, weight in zip(bins.keys, bins.weights, strict=True):
        if not low <= key <= high:
            return (
                f"bin key {key} is outside {low}..{high}, the keys of latencies up to "
                f"{MAX_LATENCY_SECONDS:.0f} s"
            )
        if not 0 <= weight <= MAX_COUNT:  # written so that NaN is out too
            return f"bin weight {weight!r} is not a count of latencies"
    if not (0 <= bins.zero <= MAX_COUNT and 0 <= bins.count <= MAX_COUNT):
        return f"count {bins.count!r} and zero count {bins.zero!r} are not counts of latencies"
    if not 0 <= bins.total < math.inf:
        return f"sum {bins.total!r} is not a sum of latencies"
    binned = bins.zero + math.fsum(bins.weights)
    if abs(bins.count - binned) > 1e-6 * max(bins.count, 1.0):
        return f"count {bins.count!r} but {binned!r} latencies in its bins"
    if bins.count and not 0 <= bins.low <= bins.high <= MAX_LATENCY_SECONDS:
        return f"min {bins.low!r} s and max {bins.high!r} s are not latencies"
    return None
