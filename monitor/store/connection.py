"""SQLite connections of the stores in ``hopwatch.db``: opening, transactions, errors, closing.

The main store (``sqlite.py``), the notification log (``nflog_sqlite.py``) and the silences
(``silence_sqlite.py``) each keep their own connection to the same file; this is what they share:
how a connection is opened, how one batch of writes commits or rolls back as a whole, how an
sqlite3 error becomes a ``StoreError`` an operator can act on, and the lifecycle of a connection
shared by threads.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Self

from monitor.store.base import StoreError

BUSY_TIMEOUT_SECONDS = 5.0
"""How long to wait for another process (``hopwatch silence add``) to finish writing."""


def rollback(conn: sqlite3.Connection) -> None:
    """End a failed transaction, even one whose COMMIT failed, so the next write can begin."""
    if conn.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")


def explain(path: Path, doing: str, exc: BaseException) -> StoreError:
    """Turn an sqlite3 error into a message an operator can act on."""
    text = str(exc)
    lowered = text.lower()
    if "not a database" in lowered or "malformed" in lowered or "corrupt" in lowered:
        advice = (
            "the file is corrupted or is not a hopwatch database; stop hopwatch, move the file "
            "aside (hopwatch creates a new one on start, losing its history) or restore it from "
            "a backup"
        )
    elif "unable to open" in lowered or "readonly" in lowered or "read-only" in lowered:
        advice = "check that the data dir exists and that the hopwatch user can write to it"
    elif "locked" in lowered or "busy" in lowered:
        advice = (
            "another process is holding the database; make sure only one hopwatch daemon uses "
            "this data dir"
        )
    elif "disk" in lowered or "full" in lowered:
        advice = "free space on the data dir's filesystem"
    else:
        advice = "if it persists, move the file aside or restore it from a backup"
    return StoreError(f"{path}: cannot {doing} ({text}); {advice}")


def connect(path: Path, doing: str, *, shared: bool) -> sqlite3.Connection:
    """A connection to ``path`` in autocommit mode (transactions are explicit, see
    ``transaction``), creating the data dir first; ``shared`` lets other threads use it."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(
            f"{path.parent}: cannot create the data dir ({exc}); create it or choose another"
        ) from exc
    try:
        return sqlite3.connect(
            str(path),
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=not shared,
        )
    except sqlite3.Error as exc:
        raise explain(path, doing, exc) from exc


@contextlib.contextmanager
def transaction(
    conn: sqlite3.Connection, fail: Callable[[sqlite3.Error], StoreError]
) -> Iterator[sqlite3.Connection]:
    """One transaction on ``conn``: the whole batch commits, or none of it does. An sqlite3 error
    is raised as ``fail(error)``; any other exception as it is, after the rollback."""
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield conn
        conn.execute("COMMIT")
    except BaseException as exc:
        rollback(conn)
        if isinstance(exc, sqlite3.Error):
            raise fail(exc) from exc
        raise


class SharedConnection:
    """Base of a store holding one connection that all threads share, serialised by ``_lock``;
    ``close`` (or leaving a ``with`` block) closes it, and closing twice is harmless."""

    path: Path
    _lock: threading.Lock
    _conn: sqlite3.Connection | None

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "SharedConnection",
    "connect",
    "explain",
    "rollback",
    "transaction",
]
