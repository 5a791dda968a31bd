"""The engine's checkpoint as a versioned, typed record (``EngineRecord``).

Why: a checkpoint written by one hopwatch is read by the next. With a version and explicit field
types, a file from a newer hopwatch is refused with a clear error instead of being half-understood,
and a field that changes meaning gets a new version and a migration instead of a silent guess.
Version 0 is the untyped msgpack map hopwatch wrote before (same keys, no ``version``, the checks
section a pickle): it decodes into this record as is; ``CheckRunner.restore`` reads its checks.
The parts owned by other components stay opaque bytes, each versioned by its owner.

Adding version 2: bump ``ENGINE_VERSION``, add the new fields with defaults (or convert the
old record in ``decode_engine``), and keep ``tests/fixtures/checkpoints/engine-v1.bin.gz``
loading (``tests/test_checkpoint_migration.py``).
"""

from __future__ import annotations

import msgspec

ENGINE_VERSION = 1
"""The layout this code writes. 0: before typed records (no ``version`` field)."""

EdgeTotalsRow = tuple[str, str, int, int, int, int, int, int]
"""(pipeline, edge, expected, arrived, missing, duplicates, late, incomplete_buckets)."""
EmittedRow = tuple[str, str, float, int, int, int, int, int]
"""(pipeline, edge, bucket_start, expected, arrived, missing, duplicates, late)."""


class CheckpointVersionError(ValueError):
    """The checkpoint was written by a newer hopwatch: resuming from it could misread it."""


class EngineRecord(msgspec.Struct, frozen=True):
    ledgers: dict[str, bytes]
    edge_totals: list[EdgeTotalsRow]
    emitted: list[EmittedRow]
    version: int = 0
    slo_outcomes: bytes | None = None
    slo_phases: bytes | None = None
    checks: bytes | None = None
    """``monitor.anomaly.state.ChecksRecord`` (a pickle in version 0); kept apart so an
    unreadable checks section only makes the checks re-learn."""
    alert_book: bytes | None = None
    agents: bytes | None = None
    agent_contacts: bytes | None = None


class _Version(msgspec.Struct):
    version: int = 0


_decoder = msgspec.msgpack.Decoder(EngineRecord)


def encode_engine(record: EngineRecord) -> bytes:
    return msgspec.msgpack.encode(record)


def decode_engine(data: bytes) -> EngineRecord:
    """The record of any known version; ``CheckpointVersionError`` for a newer one (read
    before the rest, whose layout this code cannot know)."""
    version = msgspec.msgpack.decode(data, type=_Version).version
    if version > ENGINE_VERSION:
        raise CheckpointVersionError(
            f"checkpoint version {version} was written by a newer hopwatch (this one reads up "
            f"to {ENGINE_VERSION}): upgrade, or move the checkpoint aside to start afresh"
        )
    return _decoder.decode(data)
