"""Durable state: closed buckets, edge results, checkpoints, the monitor's own uptime, and alerts.

Callers depend on the ``Store`` protocol and get an implementation from ``open_store``; SQLite is
the default, a PostgreSQL store for several replicas will implement the same protocol.
"""

from __future__ import annotations

from pathlib import Path

from monitor.store.base import Gap, Store, StoreError
from monitor.store.sqlite import DB_FILENAME, SQLiteStore

__all__ = ["DB_FILENAME", "Gap", "SQLiteStore", "Store", "StoreError", "open_store"]


def open_store(data_dir: Path) -> Store:
    """Open (creating on first use) the SQLite store at ``<data_dir>/hopwatch.db``.

    Raises StoreError naming the file when it is unreadable or was written by a newer hopwatch.
    """
    return SQLiteStore(Path(data_dir) / DB_FILENAME)
