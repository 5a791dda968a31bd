"""The SQLite schema as numbered migrations, so an upgraded hopwatch can open an older data dir.

Each entry of ``MIGRATIONS`` takes the database from the previous version to its own; they run in
one transaction on open, so a crash mid-upgrade leaves the old version intact. A database newer than
``SCHEMA_VERSION`` is refused rather than guessed at: an older binary could silently drop columns it
does not know.
"""

from __future__ import annotations

import contextlib
import sqlite3

SCHEMA_VERSION = 1

_V1 = (
    "CREATE TABLE schema_version (version INTEGER NOT NULL)",
    # counts: JSON [[status, [[key, value], ...], n], ...] in the ledger's order; a bucket is always
    # read and replaced whole, so one row per bucket keeps the upsert a single statement.
    """CREATE TABLE hop_buckets (
        pipeline TEXT NOT NULL,
        hop TEXT NOT NULL,
        bucket_start REAL NOT NULL,
        bucket_seconds REAL NOT NULL,
        counts TEXT NOT NULL,
        late INTEGER NOT NULL,
        latency BLOB NOT NULL,
        completeness TEXT NOT NULL,
        PRIMARY KEY (pipeline, hop, bucket_start)
    ) WITHOUT ROWID""",
    "CREATE INDEX hop_buckets_by_time ON hop_buckets (pipeline, bucket_start)",
    """CREATE TABLE edge_results (
        pipeline TEXT NOT NULL,
        edge TEXT NOT NULL,
        from_hop TEXT NOT NULL,
        to_hop TEXT NOT NULL,
        bucket_start REAL NOT NULL,
        bucket_seconds REAL NOT NULL,
        expected INTEGER NOT NULL,
        arrived INTEGER NOT NULL,
        missing INTEGER NOT NULL,
        duplicates INTEGER NOT NULL,
        late INTEGER NOT NULL,
        mode TEXT NOT NULL,
        sample_rate REAL NOT NULL,
        missing_ids TEXT NOT NULL,
        latency BLOB NOT NULL,
        completeness TEXT NOT NULL,
        closed_at REAL NOT NULL,
        PRIMARY KEY (pipeline, edge, bucket_start)
    ) WITHOUT ROWID""",
    "CREATE INDEX edge_results_by_time ON edge_results (pipeline, bucket_start)",
    """CREATE TABLE checkpoints (
        name TEXT PRIMARY KEY,
        at REAL NOT NULL,
        blob BLOB NOT NULL
    )""",
    """CREATE TABLE heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at REAL NOT NULL
    )""",
    """CREATE TABLE gaps (
        start_at REAL NOT NULL,
        end_at REAL NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (start_at, end_at, reason)
    ) WITHOUT ROWID""",
    """CREATE TABLE alerts (
        fingerprint TEXT PRIMARY KEY,
        payload TEXT NOT NULL
    )""",
)

MIGRATIONS: dict[int, tuple[str, ...]] = {1: _V1}


def current_version(conn: sqlite3.Connection) -> int:
    """The schema version on disk; 0 for a new (empty) database."""
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if row is None:
        return 0
    (version,) = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(version or 0)


def migrate(conn: sqlite3.Connection) -> None:
    """Bring the database up to ``SCHEMA_VERSION`` in one transaction (autocommit connection).

    The version is read again under the write lock, so two processes opening a new data dir at once
    do not both create the tables.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        from_version = current_version(conn)
        for version in range(from_version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        if from_version < SCHEMA_VERSION:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        raise
