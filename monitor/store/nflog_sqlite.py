"""The notification log, in the daemon's SQLite file.

Beside ``sqlite.py`` in the same ``hopwatch.db`` (its own connection; WAL lets both write), with
tables created by ``CREATE TABLE IF NOT EXISTS`` so an older data dir simply gains them:

- ``notification_log``: one row per (receiver, group key, integration) — the last delivery's
  firing and resolved fingerprints, time, the integration's opaque ``state`` (a JSON object of
  strings) and when the row expires. An upsert never replaces a row with an older delivery (the log's merge
  rule, ``nflog.newer``), so two writers cannot move it backwards.

A file from before ``state`` (with ``slack_channel``, ``slack_ts`` and ``dedup_key`` columns) is
migrated in place when opened: those columns become the Slack and PagerDuty integrations' state
keys (``channel``, ``ts``, ``dedup_key``), so a Slack message or incident opened before the
upgrade is still updated and resolved after it.

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
        state TEXT NOT NULL,
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
    "state",
    "expires_at",
)
_LEGACY_STATE = (("slack_channel", "channel"), ("slack_ts", "ts"), ("dedup_key", "dedup_key"))
"""Columns of the schema before ``state`` and the state key each became (Slack's, PagerDuty's)."""
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
        json.dumps(dict(p.state), sort_keys=True),
        float(entry.expires_at),
    )


def _entry(row: tuple) -> Entry:
    receiver, group_key, integration, sent_at, firing, resolved, state, expires = row
    decoded = json.loads(state)
    if not isinstance(decoded, dict):
        raise ValueError(f"state is {type(decoded).__name__}, not an object")
    prior = Prior(
        sent_at=float(sent_at),
        firing=tuple(json.loads(firing)),
        resolved=tuple(json.loads(resolved)),
        state={str(k): str(v) for k, v in decoded.items()},
    )
    return Entry(LogKey(receiver, group_key, integration), prior, float(expires))


def _migrate_legacy(conn: sqlite3.Connection) -> None:
    """Fold the old per-integration columns into ``state`` (one transaction with the caller's)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(notification_log)")}
    legacy = [(old, key) for old, key in _LEGACY_STATE if old in columns]
    if not legacy or "state" in columns:
        return
    kept = [c for c in _COLUMNS if c != "state"]
    rows = conn.execute(
        f"SELECT {', '.join(kept)}, {', '.join(old for old, _ in legacy)} FROM notification_log"
    ).fetchall()
    conn.execute("DROP INDEX IF EXISTS notification_log_by_expiry")
    conn.execute("ALTER TABLE notification_log RENAME TO notification_log_legacy")
    for statement in TABLES:
        conn.execute(statement)
    migrated = []
    for row in rows:
        base, old = row[: len(kept)], row[len(kept) :]
        state = {key: str(v) for (_, key), v in zip(legacy, old, strict=True) if v}
        migrated.append((*base[:6], json.dumps(state, sort_keys=True), base[6]))
    conn.executemany(_UPSERT, migrated)
    conn.execute("DROP TABLE notification_log_legacy")


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
            _migrate_legacy(c)
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
