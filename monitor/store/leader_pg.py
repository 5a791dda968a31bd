"""The leader's lock: a PostgreSQL advisory lock held by a session of its own.

``LockSession.attempt`` is called about once a second by every server sharing the database. A
server not holding the lock tries ``pg_try_advisory_lock``; the one that gets it bumps the term
in ``hopwatch_leader`` (with its advertised URL, which a standby's 503 names). The holder's
attempts are a round trip on the same session: an answer confirms the lock (only the end of
the session frees it), an error means the session, and perhaps the lock, is gone. The session
is opened with ``idle_session_timeout = lease`` and TCP keepalives, so a leader that hangs or is
cut off loses it after ``lease`` on the server's side; what a process may do meanwhile is
decided by ``monitor.leadership`` from what this returns.

An attempt that does not answer within ``timeout`` is reported ``SILENT`` and left running (never
cancelled: cancelling would break the session and so drop the lock); the next attempt waits on
the same one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Final

import psycopg

from monitor.leadership import Outcome
from monitor.store.pg_connection import PgTarget

log = logging.getLogger("hopwatch.leader")

LEADER_LOCK: Final = 0x686F7077_00000002
"""The advisory lock key (``hopw`` in its high half; ``pg_schema.MIGRATION_LOCK`` is ``…01``)."""


@dataclass(frozen=True)
class Attempt:
    """What one attempt found: its outcome, when it was sent (monotonic), the term this session
    leads in (0 when it does not), and the leader's advertised URL as the database says."""

    outcome: Outcome
    sent_at: float
    term: int = 0
    leader_url: str | None = None


class LockSession:
    """The dedicated session; ``attempt`` from one task, ``release`` at a clean stop."""

    def __init__(self, target: PgTarget, *, lease: float, holder: str, url: str) -> None:
        self.target = target
        self.lease = lease
        self.holder = holder
        self.url = url
        self.term = 0
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._inflight: asyncio.Task[Attempt] | None = None

    async def attempt(self, timeout: float) -> Attempt:
        """Acquire or confirm the lock; see the module docstring for the outcomes."""
        if self._inflight is None:
            self._inflight = asyncio.ensure_future(self._round(time.monotonic()))
        task = self._inflight
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            return Attempt(Outcome.SILENT, sent_at=time.monotonic())
        self._inflight = None
        return task.result()

    async def _round(self, sent_at: float) -> Attempt:
        try:
            conn = await self._connected()
            if self.term:
                await conn.execute("SELECT 1")
                return Attempt(Outcome.HELD, sent_at, self.term, self.url)
            row = await (
                await conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_LOCK,))
            ).fetchone()
            if row is not None and row[0]:
                self.term = await self._claim(conn)
                return Attempt(Outcome.HELD, sent_at, self.term, self.url)
            found = await (
                await conn.execute("SELECT url FROM hopwatch_leader WHERE id = 1")
            ).fetchone()
            return Attempt(Outcome.TAKEN, sent_at, 0, None if found is None else str(found[0]))
        except (psycopg.Error, OSError) as exc:
            if self.term or self._conn is not None:
                log.warning(
                    "leader lock session failed",
                    extra={"error": " ".join(str(exc).split())[:200], "term": self.term},
                )
            await self._drop()
            return Attempt(Outcome.LOST, sent_at)

    async def _claim(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Record this server as the leader; the new term fences the old one's log writes."""
        async with conn.transaction():
            row = await (
                await conn.execute(
                    "INSERT INTO hopwatch_leader (id, term, holder, url, since) "
                    "VALUES (1, 1, %s, %s, extract(epoch FROM now())) "
                    "ON CONFLICT (id) DO UPDATE SET term = hopwatch_leader.term + 1, "
                    "holder = excluded.holder, url = excluded.url, since = excluded.since "
                    "RETURNING term",
                    (self.holder, self.url),
                )
            ).fetchone()
        assert row is not None
        return int(row[0])

    async def _connected(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            idle_ms = int(self.lease * 1000)
            self._conn = await psycopg.AsyncConnection.connect(
                self.target.conninfo(
                    application_name=f"hopwatch-leader-lock {self.holder}"[:63],
                    options=f"-c idle_session_timeout={idle_ms} -c statement_timeout={idle_ms}",
                    keepalives=1,
                    keepalives_idle=max(1, int(self.lease / 4)),
                    keepalives_interval=1,
                    keepalives_count=3,
                    tcp_user_timeout=idle_ms,
                ),
                autocommit=True,
            )
            self.term = 0
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn, self.term = self._conn, None, 0
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def release(self) -> None:
        """Unlock, then close the session: the lock is free for a standby at its next attempt.

        The explicit unlock matters: closing only asks the server to end the backend, which
        frees the lock a moment later, so a standby asking at once could still find it taken.
        """
        if self._inflight is not None:
            self._inflight.cancel()
            with contextlib.suppress(BaseException):
                await self._inflight
            self._inflight = None
        conn = self._conn
        if conn is not None and self.term and not (conn.closed or conn.broken):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.execute("SELECT pg_advisory_unlock_all()"), 2.0)
        await self._drop()


__all__ = ["LEADER_LOCK", "Attempt", "LockSession"]
