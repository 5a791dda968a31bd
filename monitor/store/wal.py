"""The write-ahead log: every accepted push batch on disk, fsync'ed, before the answer says 202.

Checkpoints of the engine are taken every few seconds; what arrived since the last one lives only
in memory. This log closes that window: a batch is appended here (after the engine took it, in the
same step of the event loop, so the log's order is the engine's order) and the answer waits for
the fsync that covers it. On start, records newer than the checkpoint are replayed in order.

The log is a sequence of segment files ``<lsn>.wal`` in one directory; an LSN ("log sequence
number") is a byte position in the whole log, so a segment's name is the position of its first
byte and a checkpoint can say exactly which records it covers. A record is::

    u32 little-endian payload length | u32 crc32(payload) | payload

This module knows bytes only (``monitor.durability`` says what a payload means). ``append`` only
places a record in the log (its LSN is decided there, on the event loop, in the engine's order)
and keeps its bytes in memory; ``GroupCommit`` then writes every record appended since the last
round with one ``writev`` and fsyncs, in a thread, so N concurrent requests cost one write and one
fsync, not N, and the checksum, the copy and the write hold neither the loop nor the GIL. A
record is acknowledged only once the round that wrote it has synced (``synced_lsn``).

Damage is handled, never raised at start: a record cut short at the very end (a crash mid-write,
never acknowledged) is truncated with one warning; a complete record whose CRC does not match
stops the replay there (everything after it is suspect) with an error line naming the file, the
damaged segment is kept beside as ``*.corrupt`` for inspection, and ``corrupt_records`` counts it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("hopwatch.wal")

HEADER = struct.Struct("<II")
"""Payload length, CRC32 of the payload."""
SUFFIX = ".wal"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
MAX_RECORD_BYTES = 1024 * 1024 * 1024
"""A length field above this is damage, not a record (bodies are capped far below it)."""

Fsync = Callable[[int], None]
ROUND_TIMEOUT = 60.0
"""Seconds a write round waits for the one planned before it to have written; past that the
earlier one is taken as lost and the log refuses writes (rather than write out of order)."""


class WalError(Exception):
    """The log cannot take writes (an fsync failed): nothing more can be acknowledged as durable."""


@dataclass
class WalStats:
    """What ``/metrics`` shows of the log (``monitor.export.durability_metrics``)."""

    bytes_appended: int = 0
    fsyncs: int = 0
    fsync_seconds_total: float = 0.0
    last_fsync_seconds: float = 0.0
    records_replayed: int = 0
    corrupt_records: int = 0
    torn_tails: int = 0
    segments: int = 0
    size_bytes: int = 0


@dataclass(frozen=True)
class SyncPlan:
    """One write + fsync round, prepared on the loop and run in a thread: the records to write
    (file descriptor and payloads, in log order), the files to flush, and the LSN up to which
    every waiter is durable once they are flushed."""

    target: int
    fds: tuple[int, ...]
    retired: int
    directory: bool
    writes: tuple[tuple[int, tuple[bytes, ...]], ...] = ()
    sequence: int = 0
    """Rounds write in the order they were planned (a blocking ``sync`` at shutdown may plan one
    while a ``GroupCommit`` round is still writing in its thread)."""


def segment_name(lsn: int) -> str:
    return f"{lsn:020d}{SUFFIX}"


class WriteAheadLog:
    """Segments in ``directory``; call ``open`` (replays, then readies appends) before ``append``.

    ``fsync`` is injectable so tests can count the calls a group of commits costs.
    """

    def __init__(
        self,
        directory: Path,
        *,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        fsync: Fsync = os.fsync,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self._fsync = fsync
        self.stats = WalStats()
        self.end_lsn = 0
        """Position after the last appended byte (appended: in the page cache, maybe not synced)."""
        self.synced_lsn = 0
        """Everything before this position is on disk."""
        self.last_record_time: float | None = None
        """Set by the caller when it replays (the payload's own time); used for restart gaps."""
        self._fd: int | None = None
        self._segment_start = 0
        self._segment_size = 0
        self._retired: list[int] = []
        self._dir_dirty = False
        self._starts: list[int] = []
        self._pending: list[tuple[int, list[bytes]]] = []
        """Appended payloads not yet written, grouped by the segment file they go to."""
        self._planned = 0
        self._written = 0
        self._write_failed: str | None = None
        self._turn = threading.Condition()

    # --- start: replay, then open for appending ---------------------------------------------------

    def segments(self) -> list[int]:
        """Start LSNs of the segment files on disk, in order."""
        if not self.directory.is_dir():
            return []
        starts = []
        for p in self.directory.iterdir():
            if p.suffix == SUFFIX and p.stem.isdigit():
                starts.append(int(p.stem))
        return sorted(starts)

    def _path(self, start: int) -> Path:
        return self.directory / segment_name(start)

    def open(self, from_lsn: int, apply: Callable[[bytes], None]) -> int:
        """Replay every record at or after ``from_lsn`` into ``apply``, in order; then get ready to
        append after the last good record (or at ``from_lsn`` if the checkpoint is ahead of the log,
        as when it covered records whose fsync never happened). Returns records replayed.

        Segments wholly before ``from_lsn`` are covered by a durable checkpoint and are deleted.
        """
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WalError(
                f"{self.directory}: cannot create the write-ahead log dir ({exc})"
            ) from exc
        starts = self.segments()
        end = from_lsn
        replayed = 0
        for i, start in enumerate(starts):
            path = self._path(start)
            last = i == len(starts) - 1
            size = path.stat().st_size
            if start + size <= from_lsn and not last:
                path.unlink()
                continue
            with open(path, "rb") as f:
                data = f.read()
            pos = max(0, from_lsn - start)
            good, count, problem = self._scan(data, pos, apply)
            replayed += count
            end = max(end, start + good)
            if problem is None:
                continue
            if problem == "torn" and last:
                self.stats.torn_tails += 1
                log.warning(
                    "write-ahead log ends in a record cut short (a crash while writing, never "
                    "acknowledged); truncated",
                    extra={"file": str(path), "at_byte": good, "dropped_bytes": len(data) - good},
                )
                os.truncate(path, good)
                break
            self.stats.corrupt_records += 1
            later = [self._path(s) for s in starts[i + 1 :]]
            log.error(
                "write-ahead log record damaged (%s); replay stopped there: what followed is not "
                "restored. The damaged segment is kept as *.corrupt for inspection; if disks "
                "report errors, check the data dir's filesystem",
                "checksum mismatch" if problem == "crc" else "cut short inside the log",
                extra={
                    "file": str(path),
                    "at_byte": good,
                    "segments_skipped": len(later),
                },
            )
            for p in [path, *later]:
                p.rename(p.with_name(p.name + ".corrupt"))
            self._rewrite_prefix(path, data[:good])
            self._dir_dirty = True
            break
        self.stats.records_replayed += replayed
        self._start_appending(end)
        return replayed

    def _scan(
        self, data: bytes, pos: int, apply: Callable[[bytes], None]
    ) -> tuple[int, int, str | None]:
        """(end of the last good record, records applied, None | "torn" | "crc")."""
        count = 0
        view = memoryview(data)
        n = len(data)
        while pos < n:
            if n - pos < HEADER.size:
                return pos, count, "torn"
            length, crc = HEADER.unpack_from(data, pos)
            if length > MAX_RECORD_BYTES:
                return pos, count, "crc"
            body_end = pos + HEADER.size + length
            if body_end > n:
                return pos, count, "torn"
            payload = view[pos + HEADER.size : body_end]
            if zlib.crc32(payload) != crc:
                return pos, count, "crc"
            apply(bytes(payload))
            count += 1
            pos = body_end
        return pos, count, None

    def _rewrite_prefix(self, path: Path, prefix: bytes) -> None:
        """The good records before a damaged one, as the segment's own file again (so a crash
        before the next checkpoint still replays them)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, prefix)
            self._fsync(fd)
        finally:
            os.close(fd)

    def _start_appending(self, end: int) -> None:
        starts = self.segments()
        if starts and starts[-1] <= end:
            last = starts[-1]
            size = self._path(last).stat().st_size
            if last + size == end:
                self._fd = os.open(self._path(last), os.O_WRONLY | os.O_APPEND)
                self._segment_start, self._segment_size = last, size
            else:  # the checkpoint is ahead of the log's end: a fresh segment where it ends
                self._new_segment(end)
        else:
            self._new_segment(end)
        self.end_lsn = self.synced_lsn = end
        self._starts = self.segments()
        self._refresh_size()

    def _new_segment(self, start: int) -> None:
        self._fd = os.open(
            self._path(start), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600
        )
        self._segment_start, self._segment_size = start, 0
        self._dir_dirty = True
        self._starts.append(start)

    # --- appending ------------------------------------------------------------------------------

    def append(self, payload: bytes) -> int:
        """Place one record in the log (written and synced by the next ``sync`` or
        ``GroupCommit`` round); returns the LSN after it, to wait for with ``GroupCommit.wait``."""
        if self._fd is None:
            raise WalError(f"{self.directory}: the write-ahead log is not open")
        if self._segment_size >= self.segment_bytes:
            self._retired.append(self._fd)
            self._fd = None
            self._new_segment(self.end_lsn)
        fd = self._fd
        assert fd is not None
        if self._pending and self._pending[-1][0] == fd:
            self._pending[-1][1].append(payload)
        else:
            self._pending.append((fd, [payload]))
        n = HEADER.size + len(payload)
        self._segment_size += n
        self.end_lsn += n
        self.stats.bytes_appended += n
        self.stats.size_bytes += n
        return self.end_lsn

    def plan_sync(self) -> SyncPlan:
        fds = (*self._retired, *(() if self._fd is None else (self._fd,)))
        writes = tuple((fd, tuple(payloads)) for fd, payloads in self._pending)
        self._pending = []
        self._planned += 1
        return SyncPlan(
            self.end_lsn, fds, len(self._retired), self._dir_dirty, writes, self._planned
        )

    def run_sync(self, plan: SyncPlan) -> float:
        """The blocking part (runs in a thread under ``GroupCommit``): write the plan's records,
        then fsync; returns seconds taken. A failed write or fsync raises: the round's records
        are not durable, and ``GroupCommit`` refuses the log from then on."""
        started = time.perf_counter()
        with self._turn:
            in_turn = self._turn.wait_for(
                lambda: self._written >= plan.sequence - 1, timeout=ROUND_TIMEOUT
            )
            try:
                if not in_turn:  # an earlier round was planned but never ran (cancelled)
                    raise WalError("an earlier write round never ran; the log's order is lost")
                if self._write_failed is not None:
                    raise WalError(f"an earlier write failed: {self._write_failed}")
                for fd, payloads in plan.writes:
                    _write_records(fd, payloads)
            except Exception as exc:
                self._write_failed = self._write_failed or str(exc)
                raise
            finally:
                self._written = max(self._written, plan.sequence)
                self._turn.notify_all()
        for fd in plan.fds:
            self._fsync(fd)
        if plan.directory:
            _fsync_dir(self.directory)
        return time.perf_counter() - started

    def finish_sync(self, plan: SyncPlan, seconds: float) -> None:
        for fd in self._retired[: plan.retired]:
            os.close(fd)
        del self._retired[: plan.retired]
        if plan.directory:
            self._dir_dirty = False
        self.synced_lsn = max(self.synced_lsn, plan.target)
        self.stats.fsyncs += 1
        self.stats.fsync_seconds_total += seconds
        self.stats.last_fsync_seconds = seconds

    def sync(self) -> None:
        """Make everything appended so far durable, blocking (shutdown, tests, no event loop)."""
        if self.synced_lsn >= self.end_lsn and not self._dir_dirty:
            return
        plan = self.plan_sync()
        self.finish_sync(plan, self.run_sync(plan))

    # --- after a checkpoint ---------------------------------------------------------------------

    def delete_covered(self, lsn: int) -> int:
        """Delete segments whose every record is before ``lsn`` (a durable checkpoint covers them);
        the segment being appended to is kept. Returns how many were deleted."""
        deleted = 0
        starts = self._starts or self.segments()
        for i, start in enumerate(starts):
            if start == self._segment_start and self._fd is not None:
                break
            nxt = starts[i + 1] if i + 1 < len(starts) else None
            if nxt is None or nxt > lsn:
                break
            with contextlib.suppress(FileNotFoundError):
                self._path(start).unlink()
            deleted += 1
        self._starts = starts[deleted:]
        self._refresh_size()
        return deleted

    def _refresh_size(self) -> None:
        total = 0
        for start in self._starts:
            with contextlib.suppress(FileNotFoundError):
                total += self._path(start).stat().st_size
        self.stats.size_bytes = total
        self.stats.segments = len(self._starts)

    def close(self) -> None:
        """Sync and close; closing twice is harmless."""
        if self._fd is None and not self._retired:
            return
        try:
            self.sync()
        finally:
            for fd in [*self._retired, *(() if self._fd is None else (self._fd,))]:
                os.close(fd)
            self._retired.clear()
            self._fd = None


class GroupCommit:
    """Waits for records' fsync without blocking the loop; one fsync serves every waiter whose
    record was appended before it started.

    The first waiter starts a flusher task; waiters arriving in the same loop iteration (or while
    an fsync runs) join the next round. After an fsync failure the log is refused for good
    (``WalError``): the kernel may have dropped the pages, so nothing more can be promised.
    """

    def __init__(
        self,
        wal: WriteAheadLog,
        to_thread: Callable[..., Awaitable[Any]] = asyncio.to_thread,
    ) -> None:
        self.wal = wal
        self._to_thread = to_thread
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    async def append(self, payload: bytes) -> None:
        """Append (now, in this step of the loop) and return once the record is durable."""
        if self.failed is not None:
            raise WalError(f"{self.wal.directory}: write-ahead log unusable: {self.failed}")
        await self.wait(self.wal.append(payload))

    async def wait(self, lsn: int) -> None:
        if self.failed is not None:
            raise WalError(f"{self.wal.directory}: write-ahead log unusable: {self.failed}")
        if self.wal.synced_lsn >= lsn:
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiters.append((lsn, future))
        if self._task is None:
            self._task = loop.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._waiters:
                plan = self.wal.plan_sync()
                try:
                    seconds = await self._to_thread(self.wal.run_sync, plan)
                except Exception as exc:
                    self.failed = exc
                    log.error(
                        "fsync of the write-ahead log failed; pushes are answered 503 until "
                        "hopwatch is restarted (check the data dir's disk)",
                        extra={"dir": str(self.wal.directory), "error": str(exc)},
                    )
                    for _, future in self._waiters:
                        if not future.done():
                            future.set_exception(WalError(f"fsync failed: {exc}"))
                    self._waiters.clear()
                    return
                self.wal.finish_sync(plan, seconds)
                waiting = []
                for lsn, future in self._waiters:
                    if lsn <= plan.target:
                        if not future.done():
                            future.set_result(None)
                    else:
                        waiting.append((lsn, future))
                self._waiters = waiting
        finally:
            self._task = None


def _write_records(fd: int, payloads: tuple[bytes, ...]) -> None:
    """Each payload with its header, in order, with as few system calls as ``writev`` allows."""
    parts: list[bytes] = []
    for payload in payloads:
        parts.append(HEADER.pack(len(payload), zlib.crc32(payload)))
        parts.append(payload)
    limit = _IOV_MAX
    if not limit:
        for part in parts:
            _write_all(fd, part)
        return
    i = 0
    while i < len(parts):
        batch = parts[i : i + limit]
        written = os.writev(fd, batch)
        total = sum(map(len, batch))
        if written < total:  # a short write: finish this batch piece by piece
            skip = written
            for part in batch:
                if skip >= len(part):
                    skip -= len(part)
                    continue
                _write_all(fd, part[skip:])
                skip = 0
        i += limit


_IOV_MAX = max(2, min(os.sysconf("SC_IOV_MAX"), 1024)) if hasattr(os, "writev") else 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(directory: Path) -> None:
    """A new or renamed file's directory entry is durable only once the directory is synced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


__all__ = [
    "DEFAULT_SEGMENT_BYTES",
    "GroupCommit",
    "SyncPlan",
    "WalError",
    "WalStats",
    "WriteAheadLog",
    "segment_name",
]
