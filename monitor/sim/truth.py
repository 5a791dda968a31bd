"""What the simulator actually did, so tests can hold hopwatch's numbers to the injected ones exactly.

Counts are keyed by target (edge name ``from->to``, hop name, or segment ``attribute=value``) and by
the **event-time** bucket start (epoch seconds, aligned to multiples of ``bucket_seconds``, as the
ledger aligns them). Only fault effects are counted: baseline rejections are ordinary behaviour.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np


def _table() -> dict[str, Counter[float]]:
    return {}


@dataclass
class GroundTruth:
    """Fault effects per target and event-time bucket; filled as the simulator generates events.

    - ``dropped[edge][bucket]``: events that passed ``edge``'s filter and never reached its ``to``
      hop (``loss``, and ``stall`` with ``lose``); ``dropped_ids[edge]`` lists their ids.
    - ``duplicated[hop][bucket]``: extra observations emitted by a ``duplicates`` fault.
    - ``rejected[hop][bucket]``: events rejected by a ``rejection_spike`` (not the baseline share).
    - ``delayed[hop][bucket]``: events a ``stall`` held back until it ended.
    - ``slowed[hop][bucket]``: events that got a ``latency`` fault's extra seconds.
    - ``suppressed[segment][bucket]``: events a ``volume_drop`` kept from being created.
    - ``created[bucket]``: events created at the first hop (after ``volume_drop``).
    """

    bucket_seconds: float = 60.0
    dropped: dict[str, Counter[float]] = field(default_factory=_table)
    dropped_ids: dict[str, list[str]] = field(default_factory=dict)
    duplicated: dict[str, Counter[float]] = field(default_factory=_table)
    rejected: dict[str, Counter[float]] = field(default_factory=_table)
    delayed: dict[str, Counter[float]] = field(default_factory=_table)
    slowed: dict[str, Counter[float]] = field(default_factory=_table)
    suppressed: dict[str, Counter[float]] = field(default_factory=_table)
    created: Counter[float] = field(default_factory=Counter)
    leaked: dict[str, Counter[float]] = field(default_factory=_table)
    """``leaked[forbidden edge][bucket]``: restricted events a ``Bypass`` let reach the ``to`` hop."""
    leaked_ids: dict[str, list[str]] = field(default_factory=dict)
    filtered: dict[str, Counter[float]] = field(default_factory=_table)
    """``filtered[edge][bucket]``: events a learned-ratio edge did not pass by design (its
    ``PassShare``); behaviour, not loss, so never in ``dropped``."""

    def count(self, table: dict[str, Counter[float]], key: str, event_times: np.ndarray) -> None:
        """Add one to ``table[key]`` per event time, in its bucket."""
        if len(event_times) == 0:
            return
        self._add(table.setdefault(key, Counter()), event_times)

    def count_created(self, event_times: np.ndarray) -> None:
        self._add(self.created, event_times)

    def _add(self, counter: Counter[float], event_times: np.ndarray) -> None:
        if len(event_times) == 0:
            return
        buckets = np.floor(event_times / self.bucket_seconds) * self.bucket_seconds
        values, counts = np.unique(buckets, return_counts=True)
        for b, n in zip(values.tolist(), counts.tolist(), strict=True):
            counter[b] += n

    @staticmethod
    def total(table: dict[str, Counter[float]], key: str) -> int:
        """All events counted for ``key`` in ``table``, over every bucket."""
        return sum(table.get(key, Counter()).values())
