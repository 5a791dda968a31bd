"""Every part of the state a leader and its standbys share in PostgreSQL, opened together.

``open_shared(config.storage.postgres, ...)`` is what ``hopwatch run`` calls when
``storage.postgres`` is set: the store (buckets, edge results, checkpoints, gaps, alerts), the
notification log, silences, the write-ahead log and engine checkpoint, and the leader's lock
session. The daemon (``monitor.daemon``) decides what to do with them by role.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass

from monitor.config.model import PostgresConfig
from monitor.store.leader_pg import LockSession
from monitor.store.nflog_pg import PostgresNflog
from monitor.store.pg_connection import PgTarget
from monitor.store.postgres import PostgresStore
from monitor.store.silence_pg import PostgresSilences
from monitor.store.wal_pg import PgSnapshots, PostgresLog


@dataclass
class SharedState:
    target: PgTarget
    store: PostgresStore
    nflog: PostgresNflog
    silences: PostgresSilences
    snapshots: PgSnapshots
    lock: LockSession

    def new_log(self, term: Callable[[], int]) -> PostgresLog:
        """A write-ahead log fenced by ``term`` (the lock session's, read when it opens)."""
        return PostgresLog(self.target, term)

    def close(self) -> None:
        for part in (self.store, self.nflog, self.silences):
            part.close()


def open_shared(config: PostgresConfig, listen: str, holder: str | None = None) -> SharedState:
    """Connect and create (or migrate) the tables; raises StoreError naming the server.

    ``listen`` (host:port) gives the advertised URL when ``storage.postgres.advertise`` is unset.
    """
    target = PgTarget(config.url, config.password)
    holder = holder or f"{socket.gethostname()}:{listen}"
    store = PostgresStore(target)
    return SharedState(
        target=target,
        store=store,
        nflog=PostgresNflog(target),
        silences=PostgresSilences(target),
        snapshots=PgSnapshots(target),
        lock=LockSession(
            target, lease=config.lease, holder=holder, url=config.advertise or f"http://{listen}"
        ),
    )


__all__ = ["SharedState", "open_shared"]
