"""The id join of one edge for one event-time bucket.

Events are matched by the 60-bit hash of their id (see ``sampling``). While the bucket is open an id
seen at the ``from`` hop waits in ``pending`` with the time it was seen (milliseconds, a small int);
when the ``to`` hop reports it, it moves to ``arrived``. When the bucket closes, what is still pending
is missing, and the arrived ids are packed into a sorted array; all of it is kept for the amendment
horizon, so late arrivals reconcile and a hop that repeats itself after the close (a retry, a replay)
is recognised instead of being counted as new expected events.

Only ids are kept, never events, and only ``NAME_SLOTS`` pending ids (those with the smallest hashes)
keep their text, so that a closed bucket can show a few missing ids to grep for.
"""

from __future__ import annotations

import sys
from typing import Any, TypeVar

import numpy as np

from monitor.ledger.sketch import LatencySketch

_EMPTY = np.empty(0, dtype=np.uint64)
NAME_SLOTS = 128
MAX_MISSING_IDS = 20

K = TypeVar("K")
V = TypeVar("V")


def fitted(held: dict[K, V]) -> dict[K, V]:
    """``held``, or a copy sized to fit when removals left its table mostly empty.

    A dict never gives its table back as items leave it (``pop``, ``popitem``): a bucket whose
    1,000,000 pending ids were evicted (``max_pending_ids``) or arrived kept ~40 MB of empty
    slots until the bucket itself was evicted, an hour after it closed, so RSS grew with every
    id ever pending instead of with the ids held. The copy keeps the order (``popitem`` and
    iteration give the same items in the same order), and it happens only once the table is
    several times what ``len(held)`` needs, so its cost is amortised over the removals.
    """
    if not isinstance(held, dict):  # the compiled core's IdMap shrinks itself
        return held.fitted()
    if sys.getsizeof(held) > _FIT_SLACK_BYTES + _FIT_BYTES_PER_ITEM * len(held):
        return dict(held)
    return held


_FIT_BYTES_PER_ITEM = 256
"""A fresh dict takes 30-120 bytes per item (its table grows by steps); beyond this it is mostly
empty slots."""
_FIT_SLACK_BYTES = 4096


class EdgeJoin:
    """Accumulates expected / arrived / duplicates for one (edge, bucket)."""

    __slots__ = (
        "arrived",
        "arrived_n",
        "closed",
        "dirty",
        "duplicates",
        "early",
        "expected",
        "expected_count",
        "ids_seen",
        "late",
        "latency",
        "names",
        "names_max",
        "pending",
        "settled",
    )

    def __init__(self) -> None:
        self.pending: dict[int, int] = {}
        self.arrived: set[int] = set()
        self.settled = _EMPTY
        self.early: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.names_max = -1
        self.expected = 0
        self.arrived_n = 0
        self.duplicates = 0
        self.late = 0
        self.expected_count = 0
        self.ids_seen = 0
        self.latency = LatencySketch()
        self.closed = False
        self.dirty = False

    def has_arrived(self, h: int) -> bool:
        if h in self.arrived:
            return True
        settled = self.settled
        if not settled.size:
            return False
        i = int(np.searchsorted(settled, h))
        return i < settled.size and int(settled[i]) == h

    def seen_at_from(self, h: int, event_id: str, observed_ms: int) -> None:
        """The ``from`` hop passed this event through the edge filter."""
        if h in self.pending or self.has_arrived(h):
            return  # the from hop repeated itself (a retry, a replay): expected once
        to_ms = self.early.pop(h, None)
        self.expected += 1
        if self.closed:
            self.dirty = True
        if to_ms is not None:
            self._arrive(h, to_ms - observed_ms)
            return
        self.pending[h] = observed_ms
        self._name(h, event_id)

    def _name(self, h: int, event_id: str) -> None:
        """Keep the text of the pending ids with the smallest hashes: a sample chosen by hash, so
        it does not depend on the order hops report in and the missing ones show up in proportion."""
        names = self.names
        if len(names) < NAME_SLOTS:
            names[h] = event_id
            self.names_max = -1  # unknown until the slots are full
            return
        if self.names_max < 0:
            self.names_max = max(names)
        if h < self.names_max:  # rare once the bucket is large: O(1) in the common case
            del names[self.names_max]
            names[h] = event_id
            self.names_max = max(names)

    def seen_at_to(self, h: int, observed_ms: int) -> None:
        """The ``to`` hop saw this event."""
        from_ms = self.pending.pop(h, None)
        if from_ms is not None:
            if self.names.pop(h, None) is not None and h == self.names_max:
                self.names_max = -1
            self._arrive(h, observed_ms - from_ms)
        elif h in self.early or self.has_arrived(h):
            self.duplicates += 1
            self.dirty = self.closed
        elif not self.closed:
            self.early[h] = observed_ms

    def _arrive(self, h: int, latency_ms: int) -> None:
        self.arrived_n += 1
        self.arrived.add(h)
        self.latency.add(latency_ms / 1000.0)
        if self.closed:
            self.late += 1
            self.dirty = True

    def close(self) -> None:
        """Freeze the bucket: pending ids are now missing; arrived ids shrink to a sorted array
        (8 bytes each) so repeats and duplicates are still recognised until eviction."""
        self.closed = True
        self.settled = np.fromiter(self.arrived, dtype=np.uint64, count=len(self.arrived))
        self.settled.sort()
        self.arrived = set()
        # Kept for the amendment horizon: give back the slots of the ids that arrived.
        self.pending = fitted(self.pending)
        self.early = fitted(self.early)
        self.names = fitted(self.names)

    @property
    def missing(self) -> int:
        return len(self.pending)

    def missing_ids(self) -> tuple[str, ...]:
        out = [name for h, name in self.names.items() if h in self.pending]
        return tuple(out[:MAX_MISSING_IDS])

    def to_state(self) -> list[Any]:
        return [
            list(self.pending.items()),
            sorted(self.arrived),  # a set has no order to keep; sorted, both cores agree
            self.settled.tobytes(),
            list(self.early.items()),
            list(self.names.items()),
            [
                self.expected,
                self.arrived_n,
                self.duplicates,
                self.late,
                self.expected_count,
                self.ids_seen,
            ],
            self.latency.to_bytes(),
            self.closed,
        ]

    @classmethod
    def from_state(cls, state: list[Any]) -> EdgeJoin:
        pending, arrived, settled, early, names, numbers, latency, closed = state
        join = cls()
        join.pending = {int(h): int(t) for h, t in pending}
        join.arrived = {int(h) for h in arrived}
        join.settled = np.frombuffer(settled, dtype=np.uint64).copy()
        join.early = {int(h): int(t) for h, t in early}
        join.names = {int(h): str(n) for h, n in names}
        (
            join.expected,
            join.arrived_n,
            join.duplicates,
            join.late,
            join.expected_count,
            join.ids_seen,
        ) = numbers
        join.latency = LatencySketch.from_bytes(latency)
        join.closed = bool(closed)
        return join
