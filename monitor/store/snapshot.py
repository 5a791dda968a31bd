"""The engine's checkpoint as a file, written without blocking the event loop.

Encoding a large engine took seconds (a 119 MB checkpoint: 4-6 s) and ran on the event loop, so
every request waited. Here, as Redis' BGSAVE does, the daemon ``fork()``s: the child owns a
copy-on-write snapshot of the whole heap as it was at that instant, encodes it, writes
``checkpoint.bin.tmp.<pid>``, fsyncs, renames it over ``checkpoint.bin`` and ``_exit``s; the parent
keeps serving and polls the child from its ticker (``waitpid(WNOHANG)``). The child touches no
logging, SQLite or asyncio (their locks may be held by a thread that does not exist in it).

The file: a fixed header (magic, the time ``at`` it describes, the write-ahead-log position it
covers, the length and CRC32 of the engine blob) then the blob. A file that does not check out
is a ``StoreError`` naming it and what to do, never a traceback.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from monitor.store.base import StoreError

FILENAME = "checkpoint.bin"
MAGIC = b"HWCKPT01"
HEADER = struct.Struct("<8sdQQI")
"""magic, at (epoch seconds), WAL position covered, blob length, CRC32 of the blob."""

Fsync = Callable[[int], None]


@dataclass(frozen=True)
class Snapshot:
    at: float
    wal_lsn: int
    blob: bytes


def write_snapshot(
    path: Path, at: float, wal_lsn: int, blob: bytes, *, fsync: Fsync = os.fsync
) -> None:
    """Atomically replace ``path``: a crash leaves the old file or the new one, never half."""
    tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
    header = HEADER.pack(MAGIC, float(at), int(wal_lsn), len(blob), zlib.crc32(blob))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for part in (header, blob):
            view = memoryview(part)
            while view:
                view = view[os.write(fd, view) :]
        fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_snapshot(path: Path) -> Snapshot | None:
    """The checkpoint in ``path``; None when there is none. Raises StoreError when it is damaged."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot read the checkpoint ({exc}); check the data dir's permissions and disk"
        ) from exc
    advice = (
        "the file is damaged or is not a hopwatch checkpoint; restore the data dir from a backup, "
        "or move the file aside to start from the older state in hopwatch.db (the open buckets "
        "since then are lost)"
    )
    if len(data) < HEADER.size:
        raise StoreError(
            f"{path}: checkpoint is {len(data)} bytes, shorter than its header; {advice}"
        )
    magic, at, lsn, length, crc = HEADER.unpack_from(data)
    if magic != MAGIC:
        raise StoreError(f"{path}: not a hopwatch checkpoint (bad magic {magic!r}); {advice}")
    blob = data[HEADER.size :]
    if len(blob) != length:
        raise StoreError(
            f"{path}: checkpoint holds {len(blob)} of its {length} bytes (cut short); {advice}"
        )
    if zlib.crc32(blob) != crc:
        raise StoreError(f"{path}: checkpoint checksum mismatch; {advice}")
    return Snapshot(at, lsn, blob)


def remove_stale_temporaries(directory: Path) -> None:
    """Half-written checkpoints of a process that died while writing one."""
    for p in directory.glob(f"{FILENAME}.tmp.*"):
        with contextlib.suppress(OSError):
            p.unlink()


@dataclass(frozen=True)
class Finished:
    """A background checkpoint that ended; ``ok`` False when the child failed or was killed."""

    ok: bool
    at: float
    wal_lsn: int
    seconds: float
    status: int


class BackgroundCheckpoint:
    """At most one checkpoint child at a time; ``poll`` from the ticker, ``wait`` at shutdown."""

    def __init__(
        self,
        path: Path,
        encode: Callable[[], bytes],
        *,
        fork: Callable[[], int] = os.fork,
        write: Callable[[float, int, bytes], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self.encode = encode
        self.write = write
        """Where the child puts the blob (PostgreSQL's ``PgSnapshots.write``); default ``path``."""
        self._fork = fork
        self._pid: int | None = None
        self._pending: tuple[float, int, float] = (0.0, 0, 0.0)
        self._libc = _libc()  # loaded here: dlopen in a forked child could wait on a dead lock

    @property
    def running(self) -> bool:
        return self._pid is not None

    def begin(self, at: float, wal_lsn: int) -> bool:
        """Fork a child that writes the engine as it is right now; False if one still runs."""
        if self._pid is not None:
            return False
        parent = os.getpid()
        pid = self._fork()
        if pid == 0:  # the child: no logging, no SQLite, no asyncio; always _exit
            code = 1
            try:
                _die_with_parent(self._libc)
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                    signal.signal(sig, signal.SIG_DFL)
                blob = self.encode()
                if os.getppid() == parent:  # an orphan must not overwrite a newer process' file
                    if self.write is not None:
                        self.write(at, wal_lsn, blob)
                    else:
                        write_snapshot(self.path, at, wal_lsn, blob)
                    code = 0
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        self._pid = pid
        self._pending = (at, wal_lsn, time.perf_counter())
        return True

    def poll(self) -> Finished | None:
        """Non-blocking: the outcome once the child has exited, else None."""
        return self._reap(os.WNOHANG)

    def wait(self) -> Finished | None:
        """Blocking (shutdown): the outcome of a running child, None if none runs."""
        return self._reap(0)

    def _reap(self, options: int) -> Finished | None:
        if self._pid is None:
            return None
        try:
            pid, status = os.waitpid(self._pid, options)
        except ChildProcessError:
            pid, status = self._pid, 1 << 8
        if pid == 0:
            return None
        self._pid = None
        at, lsn, started = self._pending
        code = os.waitstatus_to_exitcode(status)
        return Finished(code == 0, at, lsn, time.perf_counter() - started, code)


class FileSnapshots:
    """The checkpoint as ``checkpoint.bin`` in the data dir (one process, the default)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.where = str(self.path)

    def read(self) -> Snapshot | None:
        return read_snapshot(self.path)

    def write(self, at: float, wal_lsn: int, blob: bytes) -> None:
        write_snapshot(self.path, at, wal_lsn, blob)

    def size(self) -> int:
        with contextlib.suppress(OSError):
            return self.path.stat().st_size
        return 0


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def _die_with_parent(libc: ctypes.CDLL | None) -> None:
    """Linux: the child is killed with its parent (``kill -9`` of hopwatch), so it cannot rename
    an old checkpoint over the one a restarted hopwatch wrote meanwhile."""
    pr_set_pdeathsig = 1
    if libc is not None:
        with contextlib.suppress(Exception):
            libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


__all__ = [
    "FILENAME",
    "BackgroundCheckpoint",
    "FileSnapshots",
    "Finished",
    "Snapshot",
    "read_snapshot",
    "remove_stale_temporaries",
    "write_snapshot",
]
