"""Counts at one hop for one event-time bucket, while it is open or within the amendment horizon."""

from __future__ import annotations

from typing import Any

from monitor.ledger.records import Completeness, Exemplar, HopBucket, SeriesKey
from monitor.ledger.sketch import LatencySketch
from monitor.records import Attributes, Status

OVERFLOW: Attributes = (("__other__", "__other__"),)
"""Where attribute sets beyond a hop's cardinality cap are folded, so memory and labels stay bounded."""


class HopCounts:
    """Mutable accumulator; ``snapshot`` turns it into the immutable ``HopBucket`` the rest consume."""

    __slots__ = (
        "attribute_sets",
        "closed",
        "counts",
        "dirty",
        "exemplar",
        "late",
        "latency",
        "overflow",
        "partial",
    )

    def __init__(self, partial: bool = False) -> None:
        self.counts: dict[tuple[str, Attributes], int] = {}
        self.attribute_sets: set[Attributes] = set()
        self.latency = LatencySketch()
        self.late = 0
        self.overflow = 0
        self.closed = partial
        self.dirty = False
        self.partial = partial
        self.exemplar: Exemplar | None = None

    def note_trace(self, latency: float, trace_id: str, observed: float) -> None:
        """Keep the trace of the slowest traced event; called only for observations with one."""
        best = self.exemplar
        if best is None or latency > best.latency_seconds:
            self.exemplar = Exemplar(trace_id, latency, observed)

    def add(self, status: str, attributes: Attributes, n: int, cap: int) -> bool:
        """Count ``n`` events; True when the attribute set was folded into ``OVERFLOW``."""
        folded = False
        sets = self.attribute_sets
        if attributes not in sets:
            if len(sets) >= cap:
                self.overflow += n
                attributes, folded = OVERFLOW, True
            sets.add(attributes)
        key = (status, attributes)
        self.counts[key] = self.counts.get(key, 0) + n
        if self.closed:
            self.late += n
            self.dirty = True
        return folded

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def snapshot(
        self, pipeline: str, hop: str, start: float, size: float, completeness: Completeness
    ) -> HopBucket:
        counts = tuple(
            sorted(
                (
                    (SeriesKey(Status(status), attrs), n)
                    for (status, attrs), n in self.counts.items()
                ),
                key=lambda item: (item[0].status, item[0].attributes),
            )
        )
        return HopBucket(
            pipeline=pipeline,
            hop=hop,
            bucket_start=start,
            bucket_seconds=size,
            counts=counts,
            late=self.late,
            latency=self.latency.copy(),
            completeness=completeness,
            exemplar=self.exemplar,
        )

    def to_state(self) -> list[Any]:
        return [
            [[s, [list(kv) for kv in attrs], n] for (s, attrs), n in self.counts.items()],
            self.latency.to_bytes(),
            [self.late, self.overflow],
            self.closed,
            self.partial,
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> HopCounts:
        counts, latency, (late, overflow), closed, partial = state
        acc = cls(partial=partial)
        for status, attrs, n in counts:
            key_attrs = tuple((str(k), str(v)) for k, v in attrs)
            acc.counts[(str(status), key_attrs)] = int(n)
            acc.attribute_sets.add(key_attrs)
        acc.latency = LatencySketch.from_bytes(latency)
        acc.late, acc.overflow, acc.closed = late, overflow, closed
        return acc
