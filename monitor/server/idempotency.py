"""Idempotency keys for push batches: a retried batch is answered, not counted again.

A client that times out waiting for an answer cannot know whether hopwatch processed the batch;
retrying it would count every event in it twice (false duplicates on the edges it crosses). With
an ``Idempotency-Key`` header (the IETF draft's name, as Stripe and others use it) the first
answer is remembered for ``ttl`` seconds and a repeat of the key gets that answer back with
``Idempotent-Replayed: true``, without touching the ledger. Bounded in keys (``max_keys``) and
in bytes (``max_bytes`` for all answers, the oldest forgotten first); an answer larger than
``max_entry_bytes`` is not remembered at all, so thirty keyed batches of huge error lists cannot
pin hundreds of megabytes for ten minutes. A retry of such a batch is processed again, which is
what a client without a key gets anyway. Pure: time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200
MAX_BYTES = 16 * 1024 * 1024
"""Bytes of remembered answers (bodies and keys) in all."""
MAX_ENTRY_BYTES = 64 * 1024
"""The largest answer remembered; a 202 with 100 clipped errors is well under it."""


@dataclass(frozen=True)
class Remembered:
    status: int
    body: bytes
    at: float


class RecentAnswers:
    """The answers to the last ``max_keys`` keyed batches, each kept ``ttl`` seconds."""

    def __init__(
        self,
        ttl: float = 600.0,
        max_keys: int = 100_000,
        *,
        max_bytes: int = MAX_BYTES,
        max_entry_bytes: int = MAX_ENTRY_BYTES,
    ) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self.max_bytes = max_bytes
        self.max_entry_bytes = max_entry_bytes
        self.bytes = 0
        """What the remembered answers cost now (``_cost`` of each)."""
        self._answers: OrderedDict[tuple[str, str], Remembered] = OrderedDict()

    def get(self, kind: str, key: str, now: float) -> Remembered | None:
        self._expire(now)
        return self._answers.get((kind, key))

    def put(self, kind: str, key: str, status: int, body: bytes, now: float) -> bool:
        """Remember an answer; False (and nothing kept) when it is larger than
        ``max_entry_bytes``."""
        self._forget((kind, key))
        cost = _cost(kind, key, body)
        if cost > self.max_entry_bytes:
            return False
        self._answers[(kind, key)] = Remembered(status, body, now)
        self.bytes += cost
        while len(self._answers) > self.max_keys or self.bytes > self.max_bytes:
            self._pop_oldest()
        return True

    def _forget(self, slot: tuple[str, str]) -> None:
        old = self._answers.pop(slot, None)
        if old is not None:
            self.bytes -= _cost(*slot, old.body)

    def _pop_oldest(self) -> None:
        (kind, key), old = self._answers.popitem(last=False)
        self.bytes -= _cost(kind, key, old.body)

    def _expire(self, now: float) -> None:
        while self._answers:
            first = next(iter(self._answers.values()))
            if first.at > now - self.ttl:
                return
            self._pop_oldest()

    def __len__(self) -> int:
        return len(self._answers)


def _cost(kind: str, key: str, body: bytes) -> int:
    """Bytes an entry pins, roughly: its body and key, plus a fixed overhead for the objects."""
    return len(body) + len(key) + len(kind) + 200


__all__ = [
    "HEADER",
    "MAX_BYTES",
    "MAX_ENTRY_BYTES",
    "MAX_KEY_LENGTH",
    "REPLAYED",
    "RecentAnswers",
    "Remembered",
]
