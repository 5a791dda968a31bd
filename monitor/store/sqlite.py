"""The default store: one SQLite file in the data dir, enough for a single hopwatch process.

WAL mode lets the HTTP handlers read while the tick writes; ``synchronous=NORMAL`` keeps the
per-tick heartbeat cheap (a power cut may lose the last commits, never corrupt the file). One
connection shared by all threads, serialised by a lock: the writes are small and batched, so a pool
would buy nothing.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from monitor.ledger.records import EdgeResult, HopBucket
from monitor.store.base import Gap, StoreError
from monitor.store.connection import (
    SharedConnection,
    connect,
    explain,
    transaction,
)
from monitor.store.rows import (
    EDGE_RESULT_COLUMNS,
    HOP_BUCKET_COLUMNS,
    edge_result_from_row,
    edge_result_row,
    hop_bucket_from_row,
    hop_bucket_row,
    range_query,
    upsert_sql,
)
from monitor.store.schema import SCHEMA_VERSION, current_version, migrate

DB_FILENAME = "hopwatch.db"


_UPSERT_HOP_BUCKET = upsert_sql(
    "hop_buckets", HOP_BUCKET_COLUMNS, ("pipeline", "hop", "bucket_start"), "?"
)

_UPSERT_EDGE_RESULT = upsert_sql(
    "edge_results", EDGE_RESULT_COLUMNS, ("pipeline", "edge", "bucket_start"), "?"
)


STATE_BESIDE_THE_DATABASE = ("checkpoint.bin", "wal", f"{DB_FILENAME}-wal")
"""What a data dir that has been used holds besides hopwatch.db (``monitor.durability``)."""


def _refuse_an_emptied_database(path: Path) -> None:
    """A zero-length hopwatch.db in a data dir that was used before is damage (a truncating
    copy, a full disk, a bad restore), not a new start: opening it would silently begin with no
    history. Refused, unless nothing else is in the data dir (a genuinely new one)."""
    try:
        if path.stat().st_size != 0:
            return
    except OSError:  # missing (a new data dir) or unreachable: ``connect`` names the problem
        return
    used = [
        name
        for name in STATE_BESIDE_THE_DATABASE
        if (path.parent / name).exists()
        and not ((path.parent / name).is_dir() and not any((path.parent / name).iterdir()))
    ]
    if used:
        raise StoreError(
            f"{path}: the database is empty (0 bytes) but this data dir was used before "
            f"({', '.join(used)} present); hopwatch will not start over silently — restore "
            "hopwatch.db from a backup, or to really start afresh move the whole data dir aside"
        )


def _refuse_a_foreign_database(path: Path, conn: sqlite3.Connection) -> None:
    """An SQLite file with tables but none of hopwatch's is someone else's database: refused
    rather than filled with hopwatch's tables."""
    tables = [
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    ]
    own = {"notification_log", "silences"}  # created on open by the other stores of this file
    if tables and not own.intersection(tables):
        shown = ", ".join(sorted(tables)[:5])
        raise StoreError(
            f"{path}: an SQLite database that is not hopwatch's (tables: {shown}); point "
            "storage.data_dir (or --data-dir) at hopwatch's own directory, or move the file aside"
        )


class SQLiteStore(SharedConnection):
    """A ``Store`` on one SQLite file; create it with ``open_store(data_dir)``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = self._connect(path)

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        _refuse_an_emptied_database(path)
        conn = connect(path, "open the hopwatch database", shared=True)
        try:
            version = current_version(conn)
            if version == 0:
                _refuse_a_foreign_database(path, conn)
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{path}: schema version {version} is newer than this hopwatch supports "
                    f"(version {SCHEMA_VERSION}); it was written by a newer hopwatch — upgrade "
                    "hopwatch, or point it at another data dir"
                )
            (mode,) = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if str(mode).lower() != "wal":
                raise StoreError(
                    f"{path}: SQLite would not switch to WAL mode (got {mode!r}); put the data dir "
                    "on a local filesystem (WAL does not work on network shares)"
                )
            conn.execute("PRAGMA synchronous=NORMAL")
            migrate(conn)
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise explain(path, "open the hopwatch database", exc) from exc
        return conn

    @contextlib.contextmanager
    def _reading(self, doing: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            conn = self._open_conn()
            try:
                yield conn
            except sqlite3.Error as exc:
                raise explain(self.path, doing, exc) from exc
            except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
                raise StoreError(
                    f"{self.path}: cannot {doing}: a stored row does not decode ({exc}); the file "
                    "was edited by hand or is damaged — restore it from a backup or move it aside"
                ) from exc

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[sqlite3.Connection]:
        """One transaction: the whole batch commits, or none of it does."""
        with (
            self._lock,
            transaction(self._open_conn(), lambda exc: explain(self.path, doing, exc)) as conn,
        ):
            yield conn

    def _open_conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"{self.path}: the store is closed; open it again with open_store()")
        return self._conn

    # hop buckets

    def save_hop_buckets(self, buckets: Iterable[HopBucket]) -> None:
        rows = [hop_bucket_row(b) for b in buckets]
        if not rows:
            return
        with self._writing("save hop buckets") as conn:
            conn.executemany(_UPSERT_HOP_BUCKET, rows)

    def hop_buckets(
        self,
        pipeline: str,
        hop: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[HopBucket]:
        sql, params = range_query(
            "hop_buckets", HOP_BUCKET_COLUMNS, "hop", pipeline, hop, since, until, "?"
        )
        with self._reading("read hop buckets") as conn:
            return [hop_bucket_from_row(row) for row in conn.execute(sql, params)]

    # edge results

    def save_edge_results(self, results: Iterable[EdgeResult]) -> None:
        rows = [edge_result_row(r) for r in results]
        if not rows:
            return
        with self._writing("save edge results") as conn:
            conn.executemany(_UPSERT_EDGE_RESULT, rows)

    def edge_results(
        self,
        pipeline: str,
        edge: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[EdgeResult]:
        sql, params = range_query(
            "edge_results", EDGE_RESULT_COLUMNS, "edge", pipeline, edge, since, until, "?"
        )
        with self._reading("read edge results") as conn:
            return [edge_result_from_row(row) for row in conn.execute(sql, params)]

    # checkpoints

    def save_checkpoint(self, name: str, at: float, blob: bytes) -> None:
        with self._writing(f"save checkpoint {name!r}") as conn:
            conn.execute(
                "INSERT INTO checkpoints (name, at, blob) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET at = excluded.at, blob = excluded.blob",
                (name, float(at), bytes(blob)),
            )

    def load_checkpoint(self, name: str) -> tuple[float, bytes] | None:
        with self._reading(f"load checkpoint {name!r}") as conn:
            sql = "SELECT at, blob FROM checkpoints WHERE name = ?"
            row = conn.execute(sql, (name,)).fetchone()
        return None if row is None else (row[0], bytes(row[1]))

    # heartbeat and gaps

    def beat(self, at: float) -> None:
        with self._writing("record the heartbeat") as conn:
            conn.execute(
                "INSERT INTO heartbeat (id, at) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (float(at),),
            )

    def last_beat(self) -> float | None:
        with self._reading("read the heartbeat") as conn:
            row = conn.execute("SELECT at FROM heartbeat WHERE id = 1").fetchone()
        return None if row is None else row[0]

    def add_gap(self, start: float, end: float, reason: str) -> None:
        if end < start:
            raise ValueError(f"gap ends ({end}) before it starts ({start}); pass start <= end")
        with self._writing("record a gap") as conn:
            conn.execute(
                "INSERT INTO gaps (start_at, end_at, reason) VALUES (?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (float(start), float(end), reason),
            )

    def gaps(self, since: float | None = None) -> list[Gap]:
        sql, params = "SELECT start_at, end_at, reason FROM gaps", []
        if since is not None:
            sql += " WHERE end_at > ?"
            params.append(float(since))
        sql += " ORDER BY start_at, end_at, reason"
        with self._reading("read gaps") as conn:
            return [Gap(start, end, reason) for start, end, reason in conn.execute(sql, params)]

    # alerts

    def save_alerts(self, alerts: Iterable[dict[str, Any]]) -> None:
        rows = []
        for i, alert in enumerate(alerts):
            fingerprint = alert.get("fingerprint")
            if not isinstance(fingerprint, str) or not fingerprint:
                raise ValueError(
                    f"alerts[{i}]: 'fingerprint' must be a non-empty string, got {fingerprint!r}"
                )
            try:
                payload = json.dumps(alert, sort_keys=True, separators=(",", ":"))
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"alerts[{i}] ({fingerprint}): payload is not JSON-serialisable ({exc}); "
                    "convert times to floats and enums to their string values"
                ) from exc
            rows.append((fingerprint, payload))
        if not rows:
            return
        with self._writing("save alerts") as conn:
            conn.executemany(
                "INSERT INTO alerts (fingerprint, payload) VALUES (?, ?) "
                "ON CONFLICT (fingerprint) DO UPDATE SET payload = excluded.payload",
                rows,
            )

    def load_alerts(self) -> list[dict[str, Any]]:
        with self._reading("load alerts") as conn:
            rows = conn.execute("SELECT payload FROM alerts ORDER BY fingerprint").fetchall()
            return [json.loads(payload) for (payload,) in rows]

    def delete_alerts(self, fingerprints: Iterable[str]) -> int:
        keys = [(f,) for f in fingerprints]
        if not keys:
            return 0
        with self._writing("delete alerts") as conn:
            before = conn.total_changes
            conn.executemany("DELETE FROM alerts WHERE fingerprint = ?", keys)
            return conn.total_changes - before

    # retention

    def purge(self, before: float) -> int:
        cutoff = float(before)
        with self._writing("purge old rows") as conn:
            deleted = 0
            for table in ("hop_buckets", "edge_results"):
                cursor = conn.execute(
                    f"DELETE FROM {table} WHERE bucket_start + bucket_seconds <= ?", (cutoff,)
                )
                deleted += cursor.rowcount
            deleted += conn.execute("DELETE FROM gaps WHERE end_at <= ?", (cutoff,)).rowcount
            return deleted

    # lifecycle: close, __enter__ and __exit__ come from SharedConnection

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"SQLiteStore({str(self.path)!r}, {state})"
