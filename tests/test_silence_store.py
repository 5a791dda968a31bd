"""Silences survive a restart: they live in the daemon's SQLite file beside its other state."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from monitor.routing.silence import RETENTION, parse_silence_matcher
from monitor.store import DB_FILENAME, StoreError, open_store
from monitor.store.silence_sqlite import SQLiteSilences

T0 = 1_700_000_000.0


def test_silences_round_trip_through_the_database(tmp_path: Path) -> None:
    book = SQLiteSilences.in_data_dir(tmp_path).book()
    first = book.add(
        [parse_silence_matcher('edge=~"identity->.*"'), parse_silence_matcher("team!=growth")],
        ends_at=T0 + 3600,
        created_by="ana",
        comment="resolver deploy",
        now=T0,
    )
    second = book.add(
        [parse_silence_matcher('alertname="EdgeLoss"')],
        ends_at=T0 + 60,
        created_by="bo",
        comment="flaky",
        now=T0,
    )
    expired = book.expire(second.id, T0 + 30)

    reopened = SQLiteSilences.in_data_dir(tmp_path).book()

    assert {s.id: s for s in reopened.list(T0)} == {first.id: first, second.id: expired}
    assert reopened.muting({"edge": "identity->activation"}, T0 + 1) == (first.id,)


def test_garbage_collected_silences_are_deleted_from_disk(tmp_path: Path) -> None:
    book = SQLiteSilences.in_data_dir(tmp_path).book()
    s = book.add(
        [parse_silence_matcher("a=b")], ends_at=T0 + 60, created_by="a", comment="c", now=T0
    )
    book.gc(T0 + 60 + RETENTION)
    assert SQLiteSilences.in_data_dir(tmp_path).load() == []
    assert s.id not in {x.id for x in SQLiteSilences.in_data_dir(tmp_path).load()}


def test_the_table_shares_the_main_store_file_in_either_opening_order(tmp_path: Path) -> None:
    silences = SQLiteSilences.in_data_dir(tmp_path)
    with open_store(tmp_path) as store:
        store.beat(T0)
        silences.book().add(
            [parse_silence_matcher("a=b")], ends_at=T0 + 60, created_by="a", comment="c", now=T0
        )
        assert store.last_beat() == T0
    with open_store(tmp_path) as store:
        assert len(SQLiteSilences.in_data_dir(tmp_path).load()) == 1
        assert store.last_beat() == T0
    tables = {
        name
        for (name,) in sqlite3.connect(tmp_path / DB_FILENAME).execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'"
        )
    }
    assert {"silences", "heartbeat", "schema_version"} <= tables


def test_a_damaged_row_is_skipped_counted_and_logged_naming_the_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One bad row must not stop the daemon (or every later listing) from starting: DESIGN §8."""
    SQLiteSilences.in_data_dir(tmp_path)
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        conn.execute("INSERT INTO silences VALUES ('x', 0, '{\"id\": \"x\"}')")
    silences = SQLiteSilences.in_data_dir(tmp_path)
    with caplog.at_level("WARNING", logger="hopwatch.store"):
        assert silences.load() == []
    assert silences.skipped == 1
    assert re.search(
        r"hopwatch\.db: skipping silence x: the stored row does not decode", caplog.text
    )


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).write_bytes(b"not a database at all" * 100)
    with pytest.raises(StoreError, match="corrupted or is not a hopwatch database"):
        SQLiteSilences.in_data_dir(tmp_path)
