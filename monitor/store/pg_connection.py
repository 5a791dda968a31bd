"""PostgreSQL connections of the shared store: opening, one transaction per batch, errors.

The counterpart of ``connection.py`` for ``storage.postgres``. Each store part (buckets and
checkpoints, the notification log, silences, the write-ahead log) keeps its own connection,
serialised by a lock, and reconnects on the next call after the server went away, so a
PostgreSQL restart costs failed calls (logged and counted by their callers), never the daemon.
The password travels only in the connection parameters: it is never part of a message.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from monitor.store.base import StoreError

CONNECT_TIMEOUT_SECONDS = 5
STATEMENT_TIMEOUT_MS = 10_000
"""A statement that takes longer is cancelled: the tick waits for the store, it must not hang."""


@dataclass(frozen=True)
class PgTarget:
    """Where the shared state lives: the URL (no password in it) and the password beside it."""

    url: str
    password: str | None = field(default=None, repr=False)
    application_name: str = "hopwatch"

    def conninfo(self, **extra: Any) -> str:
        """The libpq connection string, password included: pass it to psycopg, never print it."""
        params: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT_SECONDS,
            "application_name": self.application_name,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        }
        if self.password is not None:
            params["password"] = self.password
        return make_conninfo(self.url, **(params | extra))

    @property
    def where(self) -> str:
        """``PostgreSQL host:port/database``, for messages (never the password)."""
        params = conninfo_to_dict(self.url)
        host, port = params.get("host", "localhost"), params.get("port", "5432")
        return f"PostgreSQL {host}:{port}/{params.get('dbname', params.get('user', ''))}"


def explain(target: PgTarget, doing: str, exc: BaseException) -> StoreError:
    """A psycopg error as a message an operator can act on."""
    text = " ".join(str(exc).split())[:300]
    lowered = text.lower()
    if "password" in lowered or "authentication" in lowered:
        advice = "check storage.postgres.password_env / password_file and the server's pg_hba.conf"
    elif "does not exist" in lowered and "database" in lowered:
        advice = "create the database (createdb) or fix storage.postgres.url"
    elif "connection" in lowered or "timeout" in lowered or "server closed" in lowered:
        advice = "check that PostgreSQL is up and reachable; hopwatch retries at the next call"
    elif "permission denied" in lowered:
        advice = "grant the hopwatch role CREATE and USAGE on the database's public schema"
    else:
        advice = "if it persists, check the PostgreSQL server's log"
    return StoreError(f"{target.where}: cannot {doing} ({text}); {advice}")


def connect(target: PgTarget, doing: str, **extra: Any) -> psycopg.Connection[Any]:
    """A new autocommit connection (transactions are explicit) or a StoreError saying why not."""
    try:
        return psycopg.connect(target.conninfo(**extra), autocommit=True)
    except psycopg.Error as exc:
        raise explain(target, doing, exc) from exc


class PgShared:
    """One connection shared by threads, opened on first use and again after it broke."""

    def __init__(self, target: PgTarget) -> None:
        self.target = target
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        self._closed = False

    @contextlib.contextmanager
    def transaction(self, doing: str) -> Iterator[psycopg.Connection[Any]]:
        """One transaction: the whole batch commits, or none of it does."""
        with self._lock:
            if self._closed:
                raise StoreError(f"{self.target.where}: the store is closed; open it again")
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = connect(self.target, doing)
            conn = self._conn
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    self._drop()
                raise explain(self.target, doing, exc) from exc

    def _drop(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._drop()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["PgShared", "PgTarget", "connect", "explain"]
