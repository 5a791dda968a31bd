"""The write-ahead log and the engine checkpoint in PostgreSQL, so a standby can take over.

With ``storage.postgres`` a 202 means the batch is committed in PostgreSQL (``hopwatch_wal``)
rather than fsync'ed to the leader's own disk: a leader killed with ``kill -9`` takes nothing
acknowledged with it, because the server that takes over restores the last checkpoint
(``hopwatch_checkpoints``, row ``engine``, with the log position it covers) and replays the log
rows after it, exactly as one process does after a restart with its files.

``PostgresLog`` has the shape ``GroupCommit`` drives (append on the loop, one commit in a thread
for every waiter) so concurrent requests share one round trip. Each commit first reads the
leader row ``FOR SHARE`` and refuses (``WalError``: the push is answered 503) when another server
has become leader since this one opened the log: a deposed leader cannot add to the new one's
log (fencing by term). A log position is a record number; ``delete_covered`` drops the rows a
checkpoint in PostgreSQL covers.

``PgSnapshots`` writes the checkpoint from the forked checkpoint child (``snapshot.py``) over a
connection of its own, opened and closed in the child: the parent's connections are never
touched there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from monitor.store.base import StoreError
from monitor.store.pg_connection import PgShared, PgTarget, connect, explain
from monitor.store.postgres import save_checkpoint
from monitor.store.snapshot import Snapshot
from monitor.store.wal import WalError, WalStats

ENGINE_CHECKPOINT = "engine"
REPLAY_CHUNK = 2000


@dataclass(frozen=True)
class PgPlan:
    """One commit round: the records to insert, and the position every waiter up to which is
    durable once they are committed."""

    target: int
    rows: tuple[tuple[int, bytes], ...]


class PostgresLog:
    """Log rows in ``hopwatch_wal``; ``open`` (replays, then readies appends) before ``append``."""

    def __init__(self, target: PgTarget, term: Callable[[], int]) -> None:
        self.shared = PgShared(target)
        self.directory = f"{target.where} hopwatch_wal"
        self._term = term
        self.stats = WalStats()
        self.end_lsn = 0
        self.synced_lsn = 0
        self.last_record_time: float | None = None
        self._pending: list[tuple[int, bytes]] = []
        self._open = False
        self._opened_term = 0

    def open(self, from_lsn: int, apply: Callable[[bytes], None]) -> int:
        """Replay the rows after ``from_lsn`` in order; appends continue after the last row."""
        position = from_lsn
        try:
            while True:
                with self.shared.transaction("replay the write-ahead log") as conn:
                    rows = conn.execute(
                        "SELECT lsn, payload FROM hopwatch_wal WHERE lsn > %s ORDER BY lsn "
                        "LIMIT %s",
                        (position, REPLAY_CHUNK),
                    ).fetchall()
                for lsn, payload in rows:
                    apply(bytes(payload))
                    self.stats.records_replayed += 1
                    position = int(lsn)
                if len(rows) < REPLAY_CHUNK:
                    break
            with self.shared.transaction("read the write-ahead log's end") as conn:
                row = conn.execute("SELECT COALESCE(MAX(lsn), 0), COUNT(*) FROM hopwatch_wal")
                end, count = row.fetchone() or (0, 0)
        except StoreError as exc:
            raise WalError(str(exc)) from exc
        self.end_lsn = self.synced_lsn = max(int(end), from_lsn)
        self.stats.segments = int(count)
        self._opened_term = self._term()
        self._open = True
        return self.end_lsn

    def append(self, payload: bytes) -> int:
        if not self._open:
            raise WalError(f"{self.directory}: the write-ahead log is not open")
        self.end_lsn += 1
        self._pending.append((self.end_lsn, payload))
        self.stats.bytes_appended += len(payload)
        self.stats.size_bytes += len(payload)
        return self.end_lsn

    def plan_sync(self) -> PgPlan:
        rows, self._pending = tuple(self._pending), []
        return PgPlan(self.end_lsn, rows)

    def run_sync(self, plan: PgPlan) -> float:
        """The blocking part (in a thread under ``GroupCommit``): one fenced transaction."""
        started = time.perf_counter()
        if not plan.rows:
            return 0.0
        term = self._opened_term
        try:
            with self.shared.transaction("append to the write-ahead log") as conn:
                row = conn.execute("SELECT term FROM hopwatch_leader WHERE id = 1 FOR SHARE")
                found = row.fetchone()
                if found is None or int(found[0]) != term:
                    raise WalError(
                        f"{self.directory}: this server is no longer the leader (term {term}, "
                        f"the database says {None if found is None else found[0]})"
                    )
                with conn.cursor() as cur:
                    cur.executemany(
                        "INSERT INTO hopwatch_wal (lsn, term, payload) VALUES (%s, %s, %s)",
                        [(lsn, term, payload) for lsn, payload in plan.rows],
                    )
        except StoreError as exc:
            raise WalError(str(exc)) from exc
        return time.perf_counter() - started

    def finish_sync(self, plan: PgPlan, seconds: float) -> None:
        self.synced_lsn = max(self.synced_lsn, plan.target)
        self.stats.segments += len(plan.rows)
        self.stats.fsyncs += 1
        self.stats.fsync_seconds_total += seconds
        self.stats.last_fsync_seconds = seconds

    def sync(self) -> None:
        """Commit everything appended so far, blocking (shutdown, tests)."""
        if self._pending:
            plan = self.plan_sync()
            self.finish_sync(plan, self.run_sync(plan))

    def delete_covered(self, lsn: int) -> int:
        """Delete the rows a checkpoint covering ``lsn`` made unnecessary; returns how many."""
        with self.shared.transaction("delete covered write-ahead log rows") as conn:
            deleted = conn.execute("DELETE FROM hopwatch_wal WHERE lsn <= %s", (lsn,)).rowcount
        self.stats.segments = max(0, self.stats.segments - deleted)
        if self.stats.segments == 0:
            self.stats.size_bytes = 0
        return deleted

    def close(self) -> None:
        """Commit what is pending (a clean stop), then close; closing twice is harmless."""
        try:
            if self._open:
                self.sync()
        finally:
            self._open = False
            self.shared.close()

    def abandon(self) -> None:
        """A deposed leader's stop: drop what is pending (the new leader owns the log)."""
        self._pending.clear()
        self._open = False
        self.shared.close()


class PgSnapshots:
    """The engine checkpoint as the ``engine`` row of ``hopwatch_checkpoints``."""

    def __init__(self, target: PgTarget) -> None:
        self.target = target
        self.where = f"{target.where} hopwatch_checkpoints"
        self.last_bytes = 0

    def read(self) -> Snapshot | None:
        try:
            conn = connect(self.target, "read the checkpoint")
            with conn:
                row = conn.execute(
                    "SELECT at, lsn, blob FROM hopwatch_checkpoints WHERE name = %s",
                    (ENGINE_CHECKPOINT,),
                ).fetchone()
        except psycopg.Error as exc:
            raise explain(self.target, "read the checkpoint", exc) from exc
        if row is None:
            return None
        return Snapshot(float(row[0]), int(row[1]), bytes(row[2]))

    def write(self, at: float, wal_lsn: int, blob: bytes) -> None:
        """One connection of its own (safe in the forked child): upsert, commit, close."""
        conn = connect(self.target, "write the checkpoint")
        try:
            with conn.transaction():
                save_checkpoint(conn, ENGINE_CHECKPOINT, at, wal_lsn, blob)
        finally:
            conn.close()
        self.last_bytes = len(blob)

    def size(self) -> int:
        return self.last_bytes


__all__ = ["ENGINE_CHECKPOINT", "PgPlan", "PgSnapshots", "PostgresLog"]
