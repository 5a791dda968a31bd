"""Which Kafka offsets go with which engine checkpoint: ``OffsetJournal``.

Why a journal and not one saved blob: the engine's checkpoint is written by a forked child
(``monitor.store.snapshot``) that may finish seconds after it began, or fail, or be cut short by a
``kill -9``; the offsets are known at the instant it begins. Saved alone, they would be ahead of
the engine file for that while (a crash then resumes past records the restored ledger never
counted: loss), and saved only once the child reports success they would be behind a file already
renamed into place (a crash re-reads records the ledger holds: a double count). So every begun
checkpoint's offsets are kept under its time ``at`` until a later checkpoint is known written, and
the restore takes the entry whose ``at`` is the restored engine checkpoint's: the two always agree.

Pure: no I/O; the daemon stores ``encode()`` in its store and hands back ``decode``'d journals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

__all__ = ["MAX_ENTRIES", "OffsetJournal"]

MAX_ENTRIES = 32
"""Begun checkpoints kept at most (only reached when checkpoints keep failing; the oldest go)."""

_VERSION = 1


@dataclass
class OffsetJournal:
    """Offsets blobs (``KafkaRunner.to_bytes``) by the time of the checkpoint they belong to."""

    entries: list[tuple[float, bytes]] = field(default_factory=list)

    def begin(self, at: float, offsets: bytes) -> None:
        """A checkpoint of the engine as it is at ``at`` has begun; these are its offsets."""
        self.entries = [e for e in self.entries if e[0] < at]
        self.entries.append((at, offsets))
        del self.entries[:-MAX_ENTRIES]

    def settled(self, at: float) -> bytes | None:
        """The checkpoint of ``at`` is on disk: older entries can no longer be restored. Returns
        its offsets (safe to commit to the consumer group now), None if it is not here."""
        kept = [e for e in self.entries if e[0] >= at]
        self.entries = kept
        return kept[0][1] if kept and kept[0][0] == at else None

    def for_checkpoint(self, at: float) -> tuple[bytes | None, bool]:
        """The offsets to resume from when the engine was restored from its checkpoint of ``at``.

        (offsets, exact): exact when the journal holds that very checkpoint's; otherwise the
        newest entry older than ``at`` (records between it and ``at`` may then count twice, the
        safe side of a disagreement), or None (resume from the consumer group's commits)."""
        for t, blob in self.entries:
            if t == at:
                return blob, True
        older = [e for e in self.entries if e[0] < at]
        return (older[-1][1] if older else None), False

    def encode(self) -> bytes:
        return msgspec.msgpack.encode([_VERSION, self.entries])

    @classmethod
    def decode(cls, data: bytes) -> OffsetJournal:
        """The journal ``encode`` wrote. Raises ValueError for anything else."""
        try:
            version, entries = msgspec.msgpack.decode(
                data, type=tuple[int, list[tuple[float, bytes]]]
            )
        except msgspec.DecodeError as exc:
            raise ValueError(f"not a kafka offset journal: {exc}") from None
        if version != _VERSION:
            raise ValueError(f"kafka offset journal version {version}, expected {_VERSION}")
        return cls(sorted(entries))
