"""What a 202 promises: the write-ahead log, checkpoints off the event loop, and restoring both.

``storage.durability`` chooses:

- ``wal`` (default): every accepted push batch (observations, counts, agents' aggregate batches)
  is appended to ``<data_dir>/wal/`` and fsync'ed before it is answered; a crash (``kill -9``,
  power loss) loses nothing that was acknowledged. Concurrent requests share fsyncs.
- ``checkpoint``: no log; a crash loses what arrived since the last checkpoint (at most one
  ``checkpoint_interval``, 10 s by default). Faster, and says so in the docs.

In both modes the engine is checkpointed to ``<data_dir>/checkpoint.bin`` by a forked child
(``monitor.store.snapshot``), so encoding a large state never holds the event loop; the checkpoint
records the log position it covers and, once it is on disk, the segments before it are deleted.
On start: the checkpoint file (or, from an older hopwatch, the ``engine`` row in hopwatch.db),
then the log's records after it, in order.

This module is the one place that knows what a log record means: ``(kind, now, items)`` as
msgpack, replayed through the same engine calls the HTTP handlers make.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

import msgspec

from monitor import names
from monitor.engine import Engine
from monitor.ledger.aggregate import AggregateBatch
from monitor.records import CountSample, Observation
from monitor.store.base import Store, StoreError
from monitor.store.snapshot import (
    FILENAME,
    BackgroundCheckpoint,
    FileSnapshots,
    Finished,
    Snapshot,
    remove_stale_temporaries,
)
from monitor.store.wal import DEFAULT_SEGMENT_BYTES, GroupCommit, WalError, WriteAheadLog

log = logging.getLogger("hopwatch.durability")

MODE_WAL: Final = "wal"
MODE_CHECKPOINT: Final = "checkpoint"
MODES: Final = (MODE_WAL, MODE_CHECKPOINT)
LEGACY_CHECKPOINT: Final = "engine"
"""The hopwatch.db checkpoint row older versions wrote; read when there is no checkpoint file."""
KIND_AGGREGATES: Final = "aggregates"
WAL_DIR: Final = "wal"

_CODES: Final = {names.KIND_OBSERVATIONS: 1, names.KIND_COUNTS: 2, KIND_AGGREGATES: 3}
_ENVELOPE = msgspec.msgpack.Decoder(tuple[int, float, msgspec.Raw])
_OBSERVATIONS = msgspec.msgpack.Decoder(list[Observation])
_COUNTS = msgspec.msgpack.Decoder(list[CountSample])
_AGGREGATES = msgspec.msgpack.Decoder(tuple[AggregateBatch, dict[str, int]])


class Snapshots(Protocol):
    """Where the engine checkpoint lives: ``checkpoint.bin`` (``FileSnapshots``) or PostgreSQL
    (``monitor.store.wal_pg.PgSnapshots``)."""

    where: str

    def read(self) -> Snapshot | None: ...

    def write(self, at: float, wal_lsn: int, blob: bytes) -> None: ...

    def size(self) -> int: ...


@dataclass
class CheckpointStats:
    """Checkpoints by outcome and the last one's cost, for ``/metrics``."""

    ok: int = 0
    failed: int = 0
    last_seconds: float = 0.0
    last_bytes: int = 0
    skipped_records: int = 0
    """Log records replay could not apply (a pipeline or hop no longer configured)."""


class Durability:
    """The log and the checkpoint file of one data dir, for one engine."""

    def __init__(
        self,
        data_dir: Path,
        engine: Engine,
        mode: str = MODE_WAL,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: Callable[[int], None] = os.fsync,
        fork: Callable[[], int] = os.fork,
        encode: Callable[[], bytes] | None = None,
        log: Any = None,
        snapshots: Snapshots | None = None,
    ) -> None:
        """``log`` and ``snapshots`` replace the data dir's files (``monitor.store.wal_pg``:
        PostgreSQL, so the server that takes over finds them); by default both are files."""
        if mode not in MODES:
            raise ValueError(f"durability mode {mode!r}: use one of {', '.join(MODES)}")
        self.data_dir = Path(data_dir)
        self.engine = engine
        self.mode = mode
        self.path = self.data_dir / FILENAME
        self.shared = snapshots is not None
        self.snapshots: Snapshots = snapshots or FileSnapshots(self.path)
        self.wal = log or WriteAheadLog(
            self.data_dir / WAL_DIR, segment_bytes=segment_bytes, fsync=fsync
        )
        self.commit = GroupCommit(self.wal)
        self.encode = encode or engine.checkpoint
        self.background = BackgroundCheckpoint(
            self.path, self.encode, fork=fork, write=self.snapshots.write if self.shared else None
        )
        self.stats = CheckpointStats()
        self.opened = False

    def use_engine(self, engine: Engine) -> None:
        """A config reload replaced the engine: checkpoint and replay that one from now on (a
        checkpoint being written by a forked child carries the old engine's state, which the
        new one was restored from, so it stays valid)."""
        self.engine = engine
        self.encode = engine.checkpoint
        self.background.encode = self.encode

    # --- start --------------------------------------------------------------------------------

    def restore(self, store: Store) -> tuple[float | None, float | None]:
        """Checkpoint, then the log after it, into the engine.

        Returns (checkpoint time or None, time of the last replayed record or None). Raises
        StoreError (one line: the file, what is wrong, what to do) for a damaged checkpoint.
        """
        if self.data_dir.is_dir() and not self.shared:
            remove_stale_temporaries(self.data_dir)
        at: float | None = None
        lsn = 0
        snapshot = self.snapshots.read()
        if snapshot is not None:
            at, lsn, blob, where = (
                snapshot.at,
                snapshot.wal_lsn,
                snapshot.blob,
                self.snapshots.where,
            )
        elif self.shared:
            blob, where = b"", self.snapshots.where
        else:
            saved = store.load_checkpoint(LEGACY_CHECKPOINT)
            blob = b""
            where = str(getattr(store, "path", self.data_dir / "hopwatch.db"))
            if saved is not None:
                at, blob = saved
        if at is not None:
            try:
                self.engine.restore(blob)
            except Exception as exc:
                raise StoreError(
                    f"{where}: the checkpoint does not decode ({type(exc).__name__}: {exc}); it "
                    "is damaged or from an incompatible hopwatch — restore the data dir from a "
                    "backup, or move it aside to start afresh"
                ) from exc
        last: list[float] = []
        try:
            self.wal.open(lsn, lambda payload: self._apply(payload, last))
        except (OSError, WalError) as exc:
            raise StoreError(
                f"{self.wal.directory}: cannot read the write-ahead log ({exc}); check the data "
                "dir's permissions and disk"
            ) from exc
        self.opened = True
        if self.wal.stats.records_replayed or self.stats.skipped_records:
            log.info(
                "write-ahead log replayed",
                extra={
                    "records": self.wal.stats.records_replayed,
                    "skipped": self.stats.skipped_records,
                    "from_lsn": lsn,
                },
            )
        return at, (last[0] if last else None)

    def _apply(self, payload: bytes, last: list[float]) -> None:
        engine = self.engine
        try:
            code, now, raw = _ENVELOPE.decode(payload)
            if code == 1:
                observations = [
                    o for o in _OBSERVATIONS.decode(raw) if self._known(o.pipeline, o.hop)
                ]
                engine.observe(observations)
            elif code == 2:
                engine.observe_counts(
                    [s for s in _COUNTS.decode(raw) if self._known(s.pipeline, s.hop)]
                )
            elif code == 3:
                batch, dropped = _AGGREGATES.decode(raw)
                engine.absorb(batch, now, dropped)
            else:
                raise ValueError(f"unknown record kind {code}")
        except Exception as exc:
            self.stats.skipped_records += 1
            if self.stats.skipped_records == 1:
                log.warning(
                    "a write-ahead log record could not be applied and was skipped (config "
                    "changed since it was written?)",
                    extra={"error": f"{type(exc).__name__}: {exc}"[:300]},
                )
            return
        last[:] = [now]

    def _known(self, pipeline: str, hop: str) -> bool:
        """Records of a pipeline or hop removed from the config since are not replayed."""
        config = self.engine.config.pipeline(pipeline)
        return config is not None and hop in config.hop_names

    # --- while running --------------------------------------------------------------------------

    async def durable(self, kind: str, items: Any, now: float) -> None:
        """Log a batch the engine has just taken (same loop step: the log's order is the
        engine's) and return once it is on disk. A no-op in ``checkpoint`` mode. Raises WalError
        when the log cannot be written: the caller answers 503, not 202."""
        if self.mode != MODE_WAL or not self.opened:
            return
        payload = msgspec.msgpack.encode((_CODES[kind], now, items))
        await self.commit.append(payload)

    def begin_checkpoint(self, at: float) -> bool:
        """Fork the checkpoint writer; False when the previous one is still running."""
        return self.background.begin(at, self.wal.end_lsn)

    def poll(self) -> Finished | None:
        """From the ticker: settle a finished background checkpoint (delete covered segments)."""
        done = self.background.poll()
        if done is not None:
            self._settle(done)
        return done

    def _settle(self, done: Finished) -> None:
        if done.ok:
            self._covered(done.wal_lsn, done.seconds)
        else:
            self.stats.failed += 1
            log.warning(
                "background checkpoint failed; the write-ahead log keeps everything since the "
                "previous one, and the next checkpoint retries",
                extra={"exit_status": done.status, "file": str(self.path)},
            )

    def checkpoint_now(self, at: float) -> None:
        """Synchronous checkpoint (shutdown, tests, no loop running): encode here, write, prune."""
        running = self.background.wait()
        if running is not None:
            self._settle(running)
        started = time.perf_counter()
        lsn = self.wal.end_lsn
        self.snapshots.write(at, lsn, self.encode())
        self._covered(lsn, time.perf_counter() - started)

    def _covered(self, lsn: int, seconds: float) -> None:
        self.stats.ok += 1
        self.stats.last_seconds = seconds
        self.stats.last_bytes = self.snapshots.size()
        if self.opened:
            self.wal.delete_covered(lsn)

    def close(self) -> None:
        running = self.background.wait()
        if running is not None:
            self._settle(running)
        self.wal.close()


def data_dir_of(store: Store, default: Path) -> Path:
    """The directory the store's file is in (tests open stores in a temp dir with a default
    config), else the configured data dir."""
    path = getattr(store, "path", None)
    return Path(path).parent if path is not None else Path(default)


__all__ = [
    "KIND_AGGREGATES",
    "MODES",
    "MODE_CHECKPOINT",
    "MODE_WAL",
    "CheckpointStats",
    "Durability",
    "WalError",
    "data_dir_of",
]
