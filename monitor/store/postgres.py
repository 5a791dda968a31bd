"""The shared store: the judge's state in PostgreSQL, for a leader and its standbys.

The same ``Store`` contract as ``sqlite.py`` (buckets, edge results, checkpoints, heartbeat, gaps,
alerts), with the same row encoding (``rows.py``), in ``hopwatch_*`` tables (``pg_schema.py``).
Beside it in the same database: the notification log (``nflog_pg.py``), silences
(``silence_pg.py``), the write-ahead log (``wal_pg.py``) and the leader's lock (``leader_pg.py``),
so whichever server leads finds everything the previous leader made durable. Selected with
``storage.postgres`` in ``hopwatch.yaml``; ``open_shared(config)`` opens every part.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import msgspec

from monitor.ledger.records import EdgeResult, HopBucket
from monitor.store.base import Gap, StoreError
from monitor.store.pg_connection import PgShared, PgTarget
from monitor.store.pg_schema import migrate
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

_Row = TypeVar("_Row")

_UPSERT_HOP_BUCKET = upsert_sql(
    "hopwatch_hop_buckets", HOP_BUCKET_COLUMNS, ("pipeline", "hop", "bucket_start"), "%s"
)

_UPSERT_EDGE_RESULT = upsert_sql(
    "hopwatch_edge_results", EDGE_RESULT_COLUMNS, ("pipeline", "edge", "bucket_start"), "%s"
)


class PostgresStore(PgShared):
    """A ``Store`` in PostgreSQL; the tables are created (or migrated) on open."""

    def __init__(self, target: PgTarget) -> None:
        super().__init__(target)
        with self.transaction("create hopwatch's tables") as conn:
            migrate(conn, target.where)

    def _decoded(self, doing: str, exc: Exception) -> StoreError:
        return StoreError(
            f"{self.target.where}: cannot {doing}: a stored row does not decode ({exc}); it was "
            "edited by hand or written by an incompatible hopwatch"
        )

    # hop buckets and edge results

    def save_hop_buckets(self, buckets: Iterable[HopBucket]) -> None:
        rows = [hop_bucket_row(b) for b in buckets]
        if rows:
            with self.transaction("save hop buckets") as conn, conn.cursor() as cur:
                cur.executemany(_UPSERT_HOP_BUCKET, rows)

    def hop_buckets(
        self,
        pipeline: str,
        hop: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[HopBucket]:
        query = range_query(
            "hopwatch_hop_buckets", HOP_BUCKET_COLUMNS, "hop", pipeline, hop, since, until, "%s"
        )
        return self._select("read hop buckets", query, hop_bucket_from_row)

    def save_edge_results(self, results: Iterable[EdgeResult]) -> None:
        rows = [edge_result_row(r) for r in results]
        if rows:
            with self.transaction("save edge results") as conn, conn.cursor() as cur:
                cur.executemany(_UPSERT_EDGE_RESULT, rows)

    def edge_results(
        self,
        pipeline: str,
        edge: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[EdgeResult]:
        query = range_query(
            "hopwatch_edge_results", EDGE_RESULT_COLUMNS, "edge", pipeline, edge, since, until, "%s"
        )
        return self._select("read edge results", query, edge_result_from_row)

    def _select(
        self, what: str, query: tuple[str, list[Any]], decode: Callable[[tuple[Any, ...]], _Row]
    ) -> list[_Row]:
        """Rows of ``query`` decoded; a row that does not decode is a ``StoreError`` saying so."""
        sql, params = query
        with self.transaction(what) as conn:
            rows = conn.execute(sql, params).fetchall()
        try:
            return [decode(tuple(r)) for r in rows]
        except (msgspec.DecodeError, msgspec.ValidationError, ValueError) as exc:
            raise self._decoded(what, exc) from exc

    # checkpoints

    def save_checkpoint(self, name: str, at: float, blob: bytes, lsn: int = 0) -> None:
        """The last save wins, except that a checkpoint covering less of the write-ahead log
        never replaces one covering more (an orphaned writer of a dead leader)."""
        with self.transaction(f"save checkpoint {name!r}") as conn:
            save_checkpoint(conn, name, at, lsn, blob)

    def load_checkpoint(self, name: str) -> tuple[float, bytes] | None:
        found = self.load_checkpoint_at(name)
        return None if found is None else (found[0], found[2])

    def load_checkpoint_at(self, name: str) -> tuple[float, int, bytes] | None:
        """(at, write-ahead-log position covered, blob), or None."""
        with self.transaction(f"load checkpoint {name!r}") as conn:
            row = conn.execute(
                "SELECT at, lsn, blob FROM hopwatch_checkpoints WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else (float(row[0]), int(row[1]), bytes(row[2]))

    def checkpoint_time(self, name: str) -> float | None:
        """When ``name`` was last checkpointed (a standby polls this to follow cheaply)."""
        with self.transaction(f"read checkpoint time {name!r}") as conn:
            row = conn.execute(
                "SELECT at FROM hopwatch_checkpoints WHERE name = %s", (name,)
            ).fetchone()
        return None if row is None else float(row[0])

    # heartbeat and gaps

    def beat(self, at: float) -> None:
        with self.transaction("record the heartbeat") as conn:
            conn.execute(
                "INSERT INTO hopwatch_heartbeat (id, at) VALUES (1, %s) "
                "ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                (float(at),),
            )

    def last_beat(self) -> float | None:
        with self.transaction("read the heartbeat") as conn:
            row = conn.execute("SELECT at FROM hopwatch_heartbeat WHERE id = 1").fetchone()
        return None if row is None else float(row[0])

    def add_gap(self, start: float, end: float, reason: str) -> None:
        if end < start:
            raise ValueError(f"gap ends ({end}) before it starts ({start}); pass start <= end")
        with self.transaction("record a gap") as conn:
            conn.execute(
                "INSERT INTO hopwatch_gaps (start_at, end_at, reason) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (float(start), float(end), reason),
            )

    def gaps(self, since: float | None = None) -> list[Gap]:
        sql, params = "SELECT start_at, end_at, reason FROM hopwatch_gaps", []
        if since is not None:
            sql += " WHERE end_at > %s"
            params.append(float(since))
        sql += " ORDER BY start_at, end_at, reason"
        with self.transaction("read gaps") as conn:
            rows = conn.execute(sql, params).fetchall()
        return [Gap(float(s), float(e), str(r)) for s, e, r in rows]

    # alerts

    def save_alerts(self, alerts: Iterable[dict[str, Any]]) -> None:
        rows = []
        for i, alert in enumerate(alerts):
            fingerprint = alert.get("fingerprint")
            if not isinstance(fingerprint, str) or not fingerprint:
                raise ValueError(
                    f"alerts[{i}]: 'fingerprint' must be a non-empty string, got {fingerprint!r}"
                )
            rows.append((fingerprint, json.dumps(alert, sort_keys=True, separators=(",", ":"))))
        if rows:
            with self.transaction("save alerts") as conn, conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO hopwatch_alerts (fingerprint, payload) VALUES (%s, %s) "
                    "ON CONFLICT (fingerprint) DO UPDATE SET payload = excluded.payload",
                    rows,
                )

    def load_alerts(self) -> list[dict[str, Any]]:
        with self.transaction("load alerts") as conn:
            rows = conn.execute(
                "SELECT payload FROM hopwatch_alerts ORDER BY fingerprint"
            ).fetchall()
        return [json.loads(payload) for (payload,) in rows]

    def delete_alerts(self, fingerprints: Iterable[str]) -> int:
        keys = list(fingerprints)
        if not keys:
            return 0
        with self.transaction("delete alerts") as conn:
            cur = conn.execute("DELETE FROM hopwatch_alerts WHERE fingerprint = ANY(%s)", (keys,))
            return cur.rowcount

    # retention

    def purge(self, before: float) -> int:
        cutoff = float(before)
        deleted = 0
        with self.transaction("purge old rows") as conn:
            for table in ("hopwatch_hop_buckets", "hopwatch_edge_results"):
                deleted += conn.execute(
                    f"DELETE FROM {table} WHERE bucket_start + bucket_seconds <= %s",
                    (cutoff,),
                ).rowcount
            deleted += conn.execute(
                "DELETE FROM hopwatch_gaps WHERE end_at <= %s", (cutoff,)
            ).rowcount
        return deleted

    def __repr__(self) -> str:
        return f"PostgresStore({self.target.where!r})"


def save_checkpoint(conn: Any, name: str, at: float, lsn: int, blob: bytes) -> None:
    """The upsert shared by the store and the forked checkpoint writer (``wal_pg``)."""
    conn.execute(
        "INSERT INTO hopwatch_checkpoints (name, at, lsn, blob) VALUES (%s, %s, %s, %s) "
        "ON CONFLICT (name) DO UPDATE SET at = excluded.at, lsn = excluded.lsn, "
        "blob = excluded.blob WHERE excluded.lsn >= hopwatch_checkpoints.lsn",
        (name, float(at), int(lsn), bytes(blob)),
    )


__all__ = ["PostgresStore", "save_checkpoint"]
