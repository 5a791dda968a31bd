"""The PostgreSQL schema of the shared store, as numbered migrations (like ``schema.py``).

Every table is prefixed ``hopwatch_`` so the store can share a database. Migrations run in one
transaction under a transaction-level advisory lock, so two servers starting at once on an empty
database do not both create the tables; a database newer than ``SCHEMA_VERSION`` is refused.
"""

from __future__ import annotations

from typing import Any, Final

import psycopg

from monitor.store.base import StoreError

SCHEMA_VERSION: Final = 1
MIGRATION_LOCK: Final = 0x686F7077_00000001
"""The advisory lock key taken while migrating (``hopw`` in its high half)."""

_V1: Final = (
    "CREATE TABLE hopwatch_schema (version INTEGER NOT NULL)",
    """CREATE TABLE hopwatch_hop_buckets (
        pipeline TEXT NOT NULL, hop TEXT NOT NULL,
        bucket_start DOUBLE PRECISION NOT NULL, bucket_seconds DOUBLE PRECISION NOT NULL,
        counts TEXT NOT NULL, late BIGINT NOT NULL, latency BYTEA NOT NULL,
        completeness TEXT NOT NULL,
        PRIMARY KEY (pipeline, hop, bucket_start))""",
    "CREATE INDEX hopwatch_hop_buckets_by_time ON hopwatch_hop_buckets (pipeline, bucket_start)",
    """CREATE TABLE hopwatch_edge_results (
        pipeline TEXT NOT NULL, edge TEXT NOT NULL, from_hop TEXT NOT NULL, to_hop TEXT NOT NULL,
        bucket_start DOUBLE PRECISION NOT NULL, bucket_seconds DOUBLE PRECISION NOT NULL,
        expected BIGINT NOT NULL, arrived BIGINT NOT NULL, missing BIGINT NOT NULL,
        duplicates BIGINT NOT NULL, late BIGINT NOT NULL, mode TEXT NOT NULL,
        sample_rate DOUBLE PRECISION NOT NULL, missing_ids TEXT NOT NULL, latency BYTEA NOT NULL,
        completeness TEXT NOT NULL, closed_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (pipeline, edge, bucket_start))""",
    "CREATE INDEX hopwatch_edge_results_by_time ON hopwatch_edge_results (pipeline, bucket_start)",
    # lsn: the write-ahead-log position the checkpoint covers (0 for side checkpoints).
    """CREATE TABLE hopwatch_checkpoints (
        name TEXT PRIMARY KEY, at DOUBLE PRECISION NOT NULL, lsn BIGINT NOT NULL,
        blob BYTEA NOT NULL)""",
    """CREATE TABLE hopwatch_heartbeat (
        id INTEGER PRIMARY KEY CHECK (id = 1), at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE hopwatch_gaps (
        start_at DOUBLE PRECISION NOT NULL, end_at DOUBLE PRECISION NOT NULL,
        reason TEXT NOT NULL, PRIMARY KEY (start_at, end_at, reason))""",
    "CREATE TABLE hopwatch_alerts (fingerprint TEXT PRIMARY KEY, payload TEXT NOT NULL)",
    """CREATE TABLE hopwatch_notification_log (
        receiver TEXT NOT NULL, group_key TEXT NOT NULL, integration TEXT NOT NULL,
        sent_at DOUBLE PRECISION NOT NULL, firing TEXT NOT NULL, resolved TEXT NOT NULL,
        state TEXT NOT NULL, expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (receiver, group_key, integration))""",
    """CREATE TABLE hopwatch_silences (
        id TEXT PRIMARY KEY, ends_at DOUBLE PRECISION NOT NULL, payload TEXT NOT NULL)""",
    """CREATE TABLE hopwatch_wal (
        lsn BIGINT PRIMARY KEY, term BIGINT NOT NULL, payload BYTEA NOT NULL)""",
    """CREATE TABLE hopwatch_leader (
        id INTEGER PRIMARY KEY CHECK (id = 1), term BIGINT NOT NULL, holder TEXT NOT NULL,
        url TEXT NOT NULL, since DOUBLE PRECISION NOT NULL)""",
)

MIGRATIONS: Final[dict[int, tuple[str, ...]]] = {1: _V1}


def current_version(conn: psycopg.Connection[Any]) -> int:
    """The schema version in the database; 0 for one hopwatch never used."""
    row = conn.execute("SELECT to_regclass('hopwatch_schema') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    found = conn.execute("SELECT MAX(version) FROM hopwatch_schema").fetchone()
    return int(found[0] or 0) if found else 0


def migrate(conn: psycopg.Connection[Any], where: str) -> None:
    """Bring the database up to ``SCHEMA_VERSION`` (call inside a transaction)."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
    version = current_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{where}: schema version {version} is newer than this hopwatch supports (version "
            f"{SCHEMA_VERSION}); it was written by a newer hopwatch — upgrade this one"
        )
    for step in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[step]:
            conn.execute(statement)
    if version < SCHEMA_VERSION:
        conn.execute("DELETE FROM hopwatch_schema")
        conn.execute("INSERT INTO hopwatch_schema (version) VALUES (%s)", (SCHEMA_VERSION,))


__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "current_version", "migrate"]
