"""The notification log in PostgreSQL, shared by the leader and its standbys.

This is what prevents a second page after a failover: the new leader loads the log the old one
wrote (what each receiver was sent, the Slack ``ts``, the PagerDuty key), so an alert group
already notified is not notified again, and its resolve goes to the same message and incident.
Same rows and merge rule as ``nflog_sqlite.py``: an upsert never moves a row back to an older
delivery, so a late write of a leader that just lost its lock cannot undo the new one's.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.alerting.nflog import Entry, LogKey
from monitor.store.base import StoreError
from monitor.store.nflog_sqlite import _COLUMNS, _entry, _row
from monitor.store.pg_connection import PgShared

_UPSERT = (
    f"INSERT INTO hopwatch_notification_log ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join('%s' for _ in _COLUMNS)}) "
    "ON CONFLICT (receiver, group_key, integration) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS[3:])
    + " WHERE (excluded.sent_at, excluded.expires_at) >= "
    "(hopwatch_notification_log.sent_at, hopwatch_notification_log.expires_at)"
)


class PostgresNflog(PgShared):
    """``NflogPersistence`` on the shared database (tables from ``PostgresStore``)."""

    def save(self, entries: Iterable[Entry]) -> None:
        rows = [_row(e) for e in entries]
        if rows:
            with self.transaction("save notification log entries") as conn, conn.cursor() as cur:
                cur.executemany(_UPSERT, rows)

    def delete(self, keys: Iterable[LogKey]) -> None:
        rows = [(k.receiver, k.group_key, k.integration) for k in keys]
        if rows:
            with self.transaction("delete notification log entries") as conn, conn.cursor() as c:
                c.executemany(
                    "DELETE FROM hopwatch_notification_log "
                    "WHERE receiver = %s AND group_key = %s AND integration = %s",
                    rows,
                )

    def load(self) -> list[Entry]:
        with self.transaction("load the notification log") as conn:
            rows = conn.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM hopwatch_notification_log "
                "ORDER BY receiver, group_key, integration"
            ).fetchall()
        try:
            return [_entry(tuple(r)) for r in rows]
        except (ValueError, TypeError) as exc:
            raise StoreError(
                f"{self.target.where}: a notification log row does not decode ({exc}); it was "
                "edited by hand — delete the row (its group is notified again)"
            ) from exc

    def prune(self, now: float) -> int:
        """Drop rows expired at ``now``; returns how many."""
        with self.transaction("prune the notification log") as conn:
            return conn.execute(
                "DELETE FROM hopwatch_notification_log WHERE expires_at <= %s", (float(now),)
            ).rowcount


__all__ = ["PostgresNflog"]
