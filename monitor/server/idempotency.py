"""Idempotency keys for push batches: a retried batch is answered, not counted again.

A client that times out waiting for an answer cannot know whether hopwatch processed the batch;
retrying it would count every event in it twice (false duplicates on the edges it crosses). With
an ``Idempotency-Key`` header (the IETF draft's name, as Stripe and others use it) the first
answer is remembered for ``ttl`` seconds and a repeat of the key gets that answer back with
``Idempotent-Replayed: true``, without touching the ledger. Bounded: at most ``max_keys`` keys,
the oldest forgotten first. Pure: time is passed in.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

HEADER = "idempotency-key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY_LENGTH = 200


@dataclass(frozen=True)
class Remembered:
    status: int
    body: bytes
    at: float


class RecentAnswers:
    """The answers to the last ``max_keys`` keyed batches, each kept ``ttl`` seconds."""

    def __init__(self, ttl: float = 600.0, max_keys: int = 100_000) -> None:
        self.ttl = ttl
        self.max_keys = max_keys
        self._answers: OrderedDict[tuple[str, str], Remembered] = OrderedDict()

    def get(self, kind: str, key: str, now: float) -> Remembered | None:
        self._expire(now)
        return self._answers.get((kind, key))

    def put(self, kind: str, key: str, status: int, body: bytes, now: float) -> None:
        self._answers[(kind, key)] = Remembered(status, body, now)
        self._answers.move_to_end((kind, key))
        while len(self._answers) > self.max_keys:
            self._answers.popitem(last=False)

    def _expire(self, now: float) -> None:
        while self._answers:
            first = next(iter(self._answers.values()))
            if first.at > now - self.ttl:
                return
            self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)


__all__ = ["HEADER", "MAX_KEY_LENGTH", "REPLAYED", "RecentAnswers", "Remembered"]
