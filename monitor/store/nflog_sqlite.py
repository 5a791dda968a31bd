"""The notification log, in the daemon's SQLite file.

Beside ``sqlite.py`` in the same ``hopwatch.db`` (its own connection; WAL lets both write), with
tables created by ``CREATE TABLE IF NOT EXISTS`` so an older data dir simply gains them:

- ``notification_log``: one row per (receiver, group key, integration) — the last delivery's
  firing and resolved fingerprints, time, Slack channel and ``ts``, PagerDuty ``dedup_key``, and
  when the row expires. An upsert never replaces a row with an older delivery (the log's merge
  rule, ``nflog.newer``), so two writers cannot move it backwards.

Like the main store it decides nothing and reads no clock: times are passed in.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from monitor.alerting.nflog import Entry, LogKey
from monitor.alerting.notification import Prior
from monitor.store.base import StoreError
from monitor.store.connection import SharedConnection, connect, transaction
from monitor.store.sqlite import DB_FILENAME

TABLES = (
    """CREATE TABLE IF NOT EXISTS notification_log (
        receiver TEXT NOT NULL,
        group_key TEXT NOT NULL,
        integration TEXT NOT NULL,
        sent_at REAL NOT NULL,
        firing TEXT NOT NULL,
        resolved TEXT NOT NULL,
        slack_channel TEXT NOT NULL,
        slack_ts TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (receiver, group_key, integration)
    ) WITHOUT ROWID""",
    "CREATE INDEX IF NOT EXISTS notification_log_by_expiry ON notification_log (expires_at)",
)

_COLUMNS = (
    "receiver",
    "group_key",
    "integration",
    "sent_at",
    "firing",
    "resolved",
    "slack_channel",
    "slack_ts",
    "dedup_key",
    "expires_at",
)
_UPSERT = (
    f"INSERT INTO notification_log ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _COLUMNS)}) "
    "ON CONFLICT (receiver, group_key, integration) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[3:])
    + " WHERE (excluded.sent_at, excluded.expires_at) >= "
    "(notification_log.sent_at, notification_log.expires_at)"
)


def _row(entry: Entry) -> tuple[object, ...]:
    p, k = entry.prior, entry.key
    return (
        k.receiver,
        k.group_key,
        k.integration,
        float(p.sent_at),
        json.dumps(list(p.firing)),
        json.dumps(list(p.resolved)),
        p.slack_channel,
        p.slack_ts,
        p.dedup_key,
        float(entry.expires_at),
    )


def _entry(row: tuple) -> Entry:  # type: ignore[type-arg]
    receiver, group_key, integration, sent_at, firing, resolved, channel, ts, key, expires = row
    prior = Prior(
        sent_at=float(sent_at),
        firing=tuple(json.loads(firing)),
        resolved=tuple(json.loads(resolved)),
        slack_channel=channel,
        slack_ts=ts,
        dedup_key=key,
    )
    return Entry(LogKey(receiver, group_key, integration), prior, float(expires))


class NflogStore(SharedConnection):
    """The notification log's rows; open with ``open_nflog(data_dir)``
    or on the main store's file with ``NflogStore(store.path)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(
            path, "open the notification log", shared=True
        )
        with self._writing("create the notification log tables") as c:
            for statement in TABLES:
                c.execute(statement)

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"{self.path}: the notification log is closed; open it again")
            with transaction(self._conn, lambda exc: self._error(doing, exc)) as conn:
                yield conn

    def _error(self, doing: str, exc: sqlite3.Error) -> StoreError:
        return StoreError(
            f"{self.path}: cannot {doing} ({exc}); if it persists, make sure only one "
            "hopwatch daemon uses this data dir"
        )

    # notification log

    def save(self, entries: Iterable[Entry]) -> None:
        """Upsert entries (``NotificationLog.changes()``); an older delivery never wins."""
        rows = [_row(e) for e in entries]
        if rows:
            with self._writing("save notification log entries") as conn:
                conn.executemany(_UPSERT, rows)

    def delete(self, keys: Iterable[LogKey]) -> None:
        rows = [(k.receiver, k.group_key, k.integration) for k in keys]
        if rows:
            with self._writing("delete notification log entries") as conn:
                conn.executemany(
                    "DELETE FROM notification_log "
                    "WHERE receiver = ? AND group_key = ? AND integration = ?",
                    rows,
                )

    def load(self) -> list[Entry]:
        with self._writing("load the notification log") as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM notification_log "
                "ORDER BY receiver, group_key, integration"
            ).fetchall()
        try:
            return [_entry(r) for r in rows]
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.path}: a notification log row does not decode ({exc}); the file was "
                "edited by hand or is damaged — restore it from a backup or move it aside"
            ) from exc

    def prune(self, now: float) -> int:
        """Drop rows expired at ``now``; returns how many."""
        with self._writing("prune the notification log") as conn:
            cursor = conn.execute("DELETE FROM notification_log WHERE expires_at <= ?", (now,))
            return cursor.rowcount

    # lifecycle: close, __enter__ and __exit__ come from SharedConnection


def open_nflog(data_dir: Path) -> NflogStore:
    """The notification log in ``data_dir``'s ``hopwatch.db``."""
    return NflogStore(Path(data_dir) / DB_FILENAME)


__all__ = ["TABLES", "NflogStore", "open_nflog"]
