"""Silences in PostgreSQL, shared by the leader and its standbys.

The ``SilenceJournal`` the leader's ``SilenceBook`` writes through, as ``silence_sqlite.py`` is
for one process. Only the leader takes silence writes (a standby answers 503 naming the leader),
so there is one writer; a standby re-reads the table when it follows, and a new leader starts
from it, so a silence set before a failover still mutes after it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable

from monitor.routing.silence import Silence, SilenceBook
from monitor.sources.limits import clip
from monitor.store.pg_connection import PgShared
from monitor.store.silence_sqlite import decode_rows

log = logging.getLogger("hopwatch.store")


class PostgresSilences(PgShared):
    """Silences on the shared database (tables from ``PostgresStore``)."""

    skipped = 0
    """Rows ``load`` skipped because they cannot be served (each logged once per load)."""

    def save(self, silence: Silence) -> None:
        payload = json.dumps(silence.to_json(), sort_keys=True, separators=(",", ":"))
        with self.transaction(f"save silence {silence.id}") as conn:
            conn.execute(
                "INSERT INTO hopwatch_silences (id, ends_at, payload) VALUES (%s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET ends_at = excluded.ends_at, "
                "payload = excluded.payload",
                (silence.id, float(silence.ends_at), payload),
            )

    def delete(self, ids: Iterable[str]) -> None:
        keys = list(ids)
        if keys:
            with self.transaction("delete silences") as conn:
                conn.execute("DELETE FROM hopwatch_silences WHERE id = ANY(%s)", (keys,))

    def load(self) -> list[Silence]:
        with self.transaction("load silences") as conn:
            rows = conn.execute("SELECT id, payload FROM hopwatch_silences ORDER BY id").fetchall()
        out, bad = decode_rows(rows)
        for silence_id, why in bad:
            self.skipped += 1
            log.warning(
                "%s: skipping silence %s: %s; delete the row",
                self.target.where,
                clip(str(silence_id)),
                why,
            )
        return out

    def book(self) -> SilenceBook:
        """A book holding the stored silences that writes every change back here."""
        return SilenceBook(self.load(), journal=self)


__all__ = ["PostgresSilences"]
