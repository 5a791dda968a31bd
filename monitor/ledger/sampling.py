"""Consistent id sampling: the same event ids are kept at every hop, every agent and every restart.

The hash is xxh3 (stable across processes, unlike Python's ``hash``), cut to 60 bits so the pending
set's keys stay small ints (32 bytes each) — that is what keeps a pending id under 150 bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import xxhash

from monitor.ledger import core

HASH_BITS = 60
HASH_MASK = (1 << HASH_BITS) - 1
_SPACE = 1 << HASH_BITS
xxh3_64 = xxhash.xxh3_64_intdigest
"""The raw hash; the ledger's hot path inlines ``id_hash`` as ``xxh3_64(id.encode()) & HASH_MASK``."""


def id_hash_python(event_id: str) -> int:
    """A stable 60-bit hash of an event id; the join key for every hop."""
    return xxh3_64(event_id.encode()) & HASH_MASK


id_hash: Callable[[str], int] = id_hash_python if core.batch is None else core.batch.id_hash60
"""``id_hash_python``, or the same hash from the compiled core (the vendored XXH3 on the id's
UTF-8 in place: a third of the cost) when it is built. The SLO indicators and the agent's
bucketer hash with it, so the id hash costs the same everywhere."""


class IdSampler:
    """Keeps an id when its hash falls below ``rate`` of the hash space, so every hop keeps the same ids."""

    __slots__ = ("rate", "threshold")

    def __init__(self, rate: float) -> None:
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"id sampling rate must be in (0, 1], got {rate}")
        self.rate = rate
        self.threshold = _SPACE if rate >= 1.0 else int(rate * _SPACE)

    def keeps(self, hashed: int) -> bool:
        return hashed < self.threshold
