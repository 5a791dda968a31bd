"""The agent's on-disk outbox: aggregate batches wait here until the server acknowledges them.

SQLite in the agent's data dir (``spool.db``). A batch is written before any attempt to send it
and deleted only on an acknowledgement, so a server outage or an agent restart loses nothing that
was flushed. Sequence numbers and the spool's ``instance`` id survive restarts in the same file.
Bounded by ``limit_bytes``: past it the oldest batches are dropped and counted (fresh data is
worth more to an alerting system than old), and ``low_water`` tells the server to stop waiting
for them.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path

FILENAME = "spool.db"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Spool:
    """FIFO of encoded batches keyed by seq. Used from one thread at a time (the agent's tick)."""

    def __init__(self, data_dir: Path, limit_bytes: int) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / FILENAME, check_same_thread=False)
        self._db.executescript(_SCHEMA)
        self.limit_bytes = limit_bytes
        self.instance = self._meta("instance") or self._set_meta("instance", uuid.uuid4().hex)
        self.last_seq = int(self._meta("last_seq") or 0)
        self.dropped_batches = int(self._meta("dropped") or 0)
        self.depth, self.bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(LENGTH(body)), 0) FROM batches"
        ).fetchone()

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> str:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        self._db.commit()
        return value

    def next_seq(self) -> int:
        return self.last_seq + 1

    def put(self, seq: int, body: bytes) -> int:
        """Store batch ``seq`` (from ``next_seq``); returns how many old batches were dropped."""
        with self._db:
            self._db.execute("INSERT INTO batches (seq, body) VALUES (?, ?)", (seq, body))
            self._db.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_seq', ?)", (str(seq),)
            )
        self.last_seq = seq
        self.depth += 1
        self.bytes += len(body)
        return self._trim()

    def _trim(self) -> int:
        dropped = 0
        while self.bytes > self.limit_bytes and self.depth > 1:
            seq, size = self._db.execute(
                "SELECT seq, LENGTH(body) FROM batches ORDER BY seq LIMIT 1"
            ).fetchone()
            self._delete(seq, size)
            dropped += 1
        if dropped:
            self.dropped_batches += dropped
            self._set_meta("dropped", str(self.dropped_batches))
        return dropped

    def _delete(self, seq: int, size: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM batches WHERE seq = ?", (seq,))
        self.depth -= 1
        self.bytes -= size

    def oldest(self) -> tuple[int, bytes] | None:
        row = self._db.execute("SELECT seq, body FROM batches ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def ack(self, seq: int) -> None:
        """The server has the batch (applied now or before): it never needs sending again."""
        row = self._db.execute("SELECT LENGTH(body) FROM batches WHERE seq = ?", (seq,)).fetchone()
        if row is not None:
            self._delete(seq, int(row[0]))

    def served_hops(self) -> frozenset[tuple[str, str]]:
        """The (pipeline, hop) pairs this agent has ever served, declared in every batch: kept
        here so a restarted agent still declares hops whose traffic has not come back yet."""
        saved = self._meta("hops")
        return frozenset() if saved is None else frozenset((p, h) for p, h in json.loads(saved))

    def set_served_hops(self, hops: frozenset[tuple[str, str]]) -> None:
        self._set_meta("hops", json.dumps(sorted(hops)))

    def low_water(self) -> int:
        """The lowest seq still held (or the next one): everything below is acked or dropped."""
        row = self._db.execute("SELECT MIN(seq) FROM batches").fetchone()
        return int(row[0]) if row and row[0] is not None else self.next_seq()

    def close(self) -> None:
        self._db.close()
