"""Silences on disk: a ``silences`` table in the daemon's SQLite file (``<data_dir>/hopwatch.db``).

``SQLiteSilences`` is the ``SilenceJournal`` a ``SilenceBook`` writes through, and ``load`` is what
the daemon reads on start. Silence writes are rare (a person adds or expires one), so each
operation opens its own short connection: nothing to close, and no share in the main store's lock.
The table is created with ``CREATE TABLE IF NOT EXISTS`` on open rather than by a numbered
migration in ``schema.py``; it only adds a table, which an older hopwatch ignores.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path

from monitor.routing.silence import Silence, SilenceBook, SilenceError, stored_error
from monitor.sources.limits import clip
from monitor.store.connection import connect, explain, transaction
from monitor.store.sqlite import DB_FILENAME

log = logging.getLogger("hopwatch.store")

_CREATE = """CREATE TABLE IF NOT EXISTS silences (
    id TEXT PRIMARY KEY,
    ends_at REAL NOT NULL,
    payload TEXT NOT NULL
)"""


def decode_rows(rows: Iterable[tuple[str, str]]) -> tuple[list[Silence], list[tuple[str, str]]]:
    """Stored ``(id, payload)`` rows as silences, and ``(id, why)`` for each row that cannot be
    one: a damaged row is skipped and said, never the reason the others are not loaded."""
    out: list[Silence] = []
    bad: list[tuple[str, str]] = []
    for silence_id, payload in rows:
        try:
            silence = Silence.from_json(json.loads(payload))
            why = stored_error(silence)
        except (ValueError, KeyError, TypeError, RecursionError, SilenceError) as exc:
            why = f"the stored row does not decode ({clip(str(exc))})"
        if why is None:
            out.append(silence)
        else:
            bad.append((silence_id, why))
    return out, bad


class SQLiteSilences:
    """Silences in the SQLite file at ``path``; open with ``SQLiteSilences.in_data_dir``."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.skipped = 0
        """Rows ``load`` skipped because they cannot be served (each logged once per load)."""
        with self._transaction("create the silences table") as conn:
            conn.execute(_CREATE)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SQLiteSilences:
        return cls(Path(data_dir) / DB_FILENAME)

    @contextlib.contextmanager
    def _transaction(self, doing: str) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path, doing, shared=False)
        try:
            with transaction(conn, lambda exc: explain(self.path, doing, exc)) as c:
                yield c
        finally:
            conn.close()

    def save(self, silence: Silence) -> None:
        payload = json.dumps(silence.to_json(), sort_keys=True, separators=(",", ":"))
        with self._transaction(f"save silence {silence.id}") as conn:
            conn.execute(
                "INSERT INTO silences (id, ends_at, payload) VALUES (?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET ends_at = excluded.ends_at, "
                "payload = excluded.payload",
                (silence.id, silence.ends_at, payload),
            )

    def delete(self, ids: Iterable[str]) -> None:
        keys = [(i,) for i in ids]
        if not keys:
            return
        with self._transaction("delete silences") as conn:
            conn.executemany("DELETE FROM silences WHERE id = ?", keys)

    def load(self) -> list[Silence]:
        with self._transaction("load silences") as conn:
            rows = conn.execute("SELECT id, payload FROM silences ORDER BY id").fetchall()
        out, bad = decode_rows(rows)
        for silence_id, why in bad:
            self.skipped += 1
            log.warning(
                "%s: skipping silence %s: %s; the row was written by an older hopwatch, edited "
                "by hand or damaged: delete it or restore the file from a backup",
                self.path,
                clip(str(silence_id)),
                why,
            )
        return out

    def book(self) -> SilenceBook:
        """A book holding the stored silences that writes every change back here."""
        return SilenceBook(self.load(), journal=self)


__all__ = ["SQLiteSilences"]
