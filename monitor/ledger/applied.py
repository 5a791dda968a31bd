"""Which agent batches the server has applied, so a resent batch is never counted twice.

An agent resends a batch until it hears an acknowledgement; when the answer is lost after the
server applied it, the same ``(agent, instance, seq)`` comes again and must be ignored. Per agent
instance the server keeps the highest seq below which everything is applied (``contiguous``) and
the few applied seqs above it (batches overtaken by a retry). The agent's ``low_water`` — every
seq below it was acknowledged or dropped — lets the server move ``contiguous`` past seqs that will
never come, so the set stays small. Pure; saved inside the engine checkpoint, so a server restart
resumes with the ledger and the record of what is in it from the same moment.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import msgspec

from monitor.ledger.aggregate import AggregateBatch

UNKNOWN_AGENT = "unknown"
"""The ``agent`` label of batches refused from agents the server has not admitted a batch of."""

MAX_EXTRA = 4096
"""Applied seqs kept above ``contiguous`` per instance; past this the oldest are folded in
(an agent that far out of order is resending batches older than anything it still holds)."""


@dataclass
class _Instance:
    contiguous: int = 0
    extra: set[int] = field(default_factory=set)

    def has(self, seq: int) -> bool:
        return seq <= self.contiguous or seq in self.extra

    def add(self, seq: int, low_water: int) -> None:
        self.extra.add(seq)
        self.contiguous = max(self.contiguous, low_water - 1)
        while self.contiguous + 1 in self.extra:
            self.contiguous += 1
        self.extra = {s for s in self.extra if s > self.contiguous}
        while len(self.extra) > MAX_EXTRA:
            self.contiguous = min(self.extra)
            self.extra.discard(self.contiguous)


class AppliedSequences:
    """The server's memory of applied agent batches, and per-agent counters for ``/metrics``."""

    def __init__(self) -> None:
        self._instances: dict[tuple[str, str], _Instance] = {}
        self.outcomes: Counter[tuple[str, str]] = Counter()
        """(agent id, ``applied`` | ``duplicate`` | ``refused``) → batches."""

    def seen(self, batch: AggregateBatch) -> bool:
        """Whether this batch was applied before (then it must be acknowledged, not applied)."""
        inst = self._instances.get((batch.agent_id, batch.instance))
        return inst is not None and inst.has(batch.seq)

    def record(self, batch: AggregateBatch, applied: bool) -> None:
        """Remember ``batch`` as applied (or count it as a duplicate that was ignored)."""
        self.outcomes[(batch.agent_id, "applied" if applied else "duplicate")] += 1
        if applied:
            key = (batch.agent_id, batch.instance)
            self._instances.setdefault(key, _Instance()).add(batch.seq, batch.low_water)

    def applied_through(self, agent: str, instance: str) -> int:
        """The seq below which (inclusive) every batch of this instance is applied: a worker
        whose seqs are partition offsets reads it as where the judge's data of it ends."""
        inst = self._instances.get((agent, instance))
        return 0 if inst is None else inst.contiguous

    def refused(self, agent: str) -> None:
        """Count a batch refused whole; ``agent`` is a known agent's id or ``UNKNOWN_AGENT``."""
        self.outcomes[(agent, "refused")] += 1

    def to_bytes(self) -> bytes:
        return msgspec.msgpack.encode(
            {
                "instances": [
                    [a, i, s.contiguous, sorted(s.extra)] for (a, i), s in self._instances.items()
                ],
                "outcomes": [[a, o, n] for (a, o), n in self.outcomes.items()],
            }
        )

    def restore(self, data: bytes) -> None:
        state = msgspec.msgpack.decode(data)
        self._instances = {
            (str(a), str(i)): _Instance(int(c), {int(x) for x in extra})
            for a, i, c, extra in state["instances"]
        }
        self.outcomes = Counter({(str(a), str(o)): int(n) for a, o, n in state["outcomes"]})
