"""The SQLite store keeps the daemon's state across restarts and says plainly when it cannot."""

from __future__ import annotations

import inspect
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from monitor.ledger.records import EdgeResult, HopBucket, SeriesKey
from monitor.ledger.sketch import LatencySketch
from monitor.records import Status
from monitor.store import DB_FILENAME, Gap, SQLiteStore, Store, StoreError, open_store
from monitor.store.schema import SCHEMA_VERSION

T0 = 1_715_000_040.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as s:
        yield s


def bucket(start: float, seconds: float = 60.0, hop: str = "ingest") -> HopBucket:
    return HopBucket("signup", hop, start, seconds, ((SeriesKey(Status.OK), 1),))


def edge(start: float, seconds: float = 60.0) -> EdgeResult:
    return EdgeResult("signup", "a->b", "a", "b", start, seconds, 1, 1, 0)


# checkpoints and heartbeat


def test_the_latest_checkpoint_wins(store: Store) -> None:
    store.save_checkpoint("ledger", T0, b"first")
    store.save_checkpoint("ledger", T0 + 60, b"\x00second\xff")
    assert store.load_checkpoint("ledger") == (T0 + 60, b"\x00second\xff")


def test_checkpoints_are_kept_per_name(store: Store) -> None:
    store.save_checkpoint("ledger", T0, b"L")
    store.save_checkpoint("notification-log", T0 + 1, b"N")
    assert store.load_checkpoint("ledger") == (T0, b"L")
    assert store.load_checkpoint("notification-log") == (T0 + 1, b"N")
    assert store.load_checkpoint("unknown") is None


def test_the_heartbeat_is_empty_until_the_first_beat(store: Store) -> None:
    assert store.last_beat() is None
    store.beat(T0)
    store.beat(T0 + 15.25)
    assert store.last_beat() == T0 + 15.25


# gaps

GAP_CASES = {
    "no since gives every gap, by start": (None, ["restart", "crash", "lag"]),
    "a gap that ended before since is left out": (T0 + 200, ["crash", "lag"]),
    "a gap still open at since overlaps it and is kept": (T0 + 350, ["crash", "lag"]),
    "a gap that ended exactly at since cannot overlap a later bucket": (T0 + 400, ["lag"]),
    "since after every gap": (T0 + 10_000, []),
}


@pytest.mark.parametrize(("since", "reasons"), GAP_CASES.values(), ids=GAP_CASES.keys())
def test_gaps_since(store: Store, since: float | None, reasons: list[str]) -> None:
    store.add_gap(T0 + 600, T0 + 660, "lag")
    store.add_gap(T0, T0 + 120, "restart")
    store.add_gap(T0 + 300, T0 + 400, "crash")
    assert [g.reason for g in store.gaps(since)] == reasons


def test_gaps_round_trip_and_a_repeated_gap_is_kept_once(store: Store) -> None:
    store.add_gap(T0 + 0.5, T0 + 90.25, "monitor down")
    store.add_gap(T0 + 0.5, T0 + 90.25, "monitor down")
    assert store.gaps() == [Gap(T0 + 0.5, T0 + 90.25, "monitor down")]


def test_a_gap_that_ends_before_it_starts_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match=r"gap ends .* before it starts"):
        store.add_gap(T0 + 10, T0, "backwards")


# alerts


def test_alerts_round_trip_keyed_by_fingerprint(store: Store) -> None:
    firing = {
        "fingerprint": "b1",
        "state": "firing",
        "labels": {"pipeline": "signup", "severity": "page"},
        "active_since": T0 + 0.1,
        "values": [1, 2.5, None, True],
    }
    store.save_alerts([firing, {"fingerprint": "a0", "state": "pending"}])
    assert store.load_alerts() == [{"fingerprint": "a0", "state": "pending"}, firing]


def test_saving_an_alert_again_replaces_it(store: Store) -> None:
    store.save_alerts([{"fingerprint": "f", "state": "pending"}])
    store.save_alerts([{"fingerprint": "f", "state": "firing"}])
    assert store.load_alerts() == [{"fingerprint": "f", "state": "firing"}]


def test_deleted_alerts_are_forgotten(store: Store) -> None:
    store.save_alerts([{"fingerprint": f} for f in ("a", "b", "c")])
    assert store.delete_alerts(["a", "c", "never-saved"]) == 2
    assert store.load_alerts() == [{"fingerprint": "b"}]
    assert store.delete_alerts([]) == 0


BAD_ALERTS = {
    "an alert without a fingerprint": (
        {"state": "firing"},
        r"alerts\[1\]: 'fingerprint' must be a non-empty string, got None",
    ),
    "a fingerprint that is not a string": (
        {"fingerprint": 7},
        r"alerts\[1\]: 'fingerprint' must be a non-empty string, got 7",
    ),
    "a payload JSON cannot hold": (
        {"fingerprint": "x", "since": object()},
        r"alerts\[1\] \(x\): payload is not JSON-serialisable",
    ),
}


@pytest.mark.parametrize(("bad", "message"), BAD_ALERTS.values(), ids=BAD_ALERTS.keys())
def test_a_bad_alert_fails_the_whole_batch_naming_it(
    store: Store, bad: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        store.save_alerts([{"fingerprint": "ok"}, bad])
    assert store.load_alerts() == []


# retention


def test_purge_deletes_what_ended_before_the_cutoff_and_counts_it(store: Store) -> None:
    store.save_hop_buckets([bucket(T0 + 60 * i) for i in range(5)])  # ends T0+60 … T0+300
    store.save_edge_results([edge(T0 + 60 * i) for i in range(5)])
    store.add_gap(T0, T0 + 100, "old")
    store.add_gap(T0 + 100, T0 + 200, "straddles the cutoff")
    store.save_checkpoint("ledger", T0, b"x")
    store.save_alerts([{"fingerprint": "f"}])
    store.beat(T0)

    cutoff = T0 + 150  # the bucket at T0+60..T0+120 ended; T0+120..T0+180 has not
    assert store.purge(cutoff) == 2 + 2 + 1

    assert [b.bucket_start for b in store.hop_buckets("signup")] == [T0 + 120, T0 + 180, T0 + 240]
    assert [r.bucket_start for r in store.edge_results("signup")] == [
        T0 + 120,
        T0 + 180,
        T0 + 240,
    ]
    assert [g.reason for g in store.gaps()] == ["straddles the cutoff"]
    assert store.load_checkpoint("ledger") == (T0, b"x")
    assert store.load_alerts() == [{"fingerprint": "f"}]
    assert store.last_beat() == T0
    assert store.purge(cutoff) == 0


# lifecycle


def test_data_survives_a_restart(tmp_path: Path) -> None:
    sketch = LatencySketch()
    sketch.add(1.25)
    kept = HopBucket("signup", "ingest", T0, 60.0, ((SeriesKey(Status.OK), 5),), latency=sketch)
    with open_store(tmp_path) as before:
        before.save_hop_buckets([kept])
        before.save_edge_results([edge(T0)])
        before.save_checkpoint("ledger", T0, b"open state")
        before.beat(T0 + 30)
        before.add_gap(T0, T0 + 5, "restart")
        before.save_alerts([{"fingerprint": "f", "state": "firing"}])

    with open_store(tmp_path) as after:
        [got] = after.hop_buckets("signup")
        assert got == kept
        assert got.latency == sketch
        assert after.edge_results("signup") == [edge(T0)]
        assert after.load_checkpoint("ledger") == (T0, b"open state")
        assert after.last_beat() == T0 + 30
        assert after.gaps() == [Gap(T0, T0 + 5, "restart")]
        assert after.load_alerts() == [{"fingerprint": "f", "state": "firing"}]


def test_the_data_dir_is_created_on_first_open(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "lib" / "hopwatch"
    with open_store(data_dir):
        pass
    assert (data_dir / DB_FILENAME).is_file()


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.close()
    store.close()  # closing twice is harmless
    with pytest.raises(StoreError, match=r"hopwatch\.db: the store is closed"):
        store.beat(T0)


def test_the_database_is_in_wal_mode_with_normal_sync(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        assert isinstance(store, SQLiteStore)
        # synchronous is per connection, so it can only be seen through the store's own.
        assert store._conn is not None
        assert store._conn.execute("PRAGMA synchronous").fetchone() == (1,)  # NORMAL
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()


def test_a_new_database_records_the_current_schema_version(tmp_path: Path) -> None:
    open_store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    finally:
        conn.close()


def test_an_empty_file_is_migrated_like_a_new_database(tmp_path: Path) -> None:
    (tmp_path / DB_FILENAME).touch()
    with open_store(tmp_path) as store:
        store.beat(T0)
        assert store.last_beat() == T0


@pytest.fixture
def future_db(tmp_path: Path) -> Path:
    """A data dir written by a hopwatch one schema version ahead of this one."""
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.execute("CREATE TABLE hop_buckets_v2 (x)")
    conn.commit()
    conn.close()
    return tmp_path


def test_a_newer_schema_is_refused_and_left_untouched(future_db: Path) -> None:
    path = future_db / DB_FILENAME
    with pytest.raises(StoreError) as raised:
        open_store(future_db)
    assert str(raised.value) == (
        f"{path}: schema version {SCHEMA_VERSION + 1} is newer than this hopwatch supports "
        f"(version {SCHEMA_VERSION}); it was written by a newer hopwatch — upgrade hopwatch, "
        "or point it at another data dir"
    )
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (SCHEMA_VERSION + 1,)
        ]
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        assert "hop_buckets" not in tables
    finally:
        conn.close()


def test_a_corrupted_file_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    path.write_bytes(b"this is not an SQLite database, it was overwritten by something else" * 20)
    with pytest.raises(StoreError) as raised:
        open_store(tmp_path)
    message = str(raised.value)
    assert message.startswith(f"{path}: cannot open the hopwatch database (")
    assert "move the file aside" in message
    assert "restore it from a backup" in message


def test_a_data_dir_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"not-a-dir: cannot create the data dir"):
        open_store(blocker)


def test_reads_and_writes_from_several_threads_do_not_interfere(store: Store) -> None:
    errors: list[BaseException] = []

    def writer(hop: str) -> None:
        try:
            for i in range(50):
                store.save_hop_buckets([bucket(T0 + 60 * i, hop=hop)])
                store.beat(T0 + i)
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(50):
                store.hop_buckets("signup")
                store.last_beat()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(h,)) for h in ("a", "b", "c")]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.hop_buckets("signup")) == 150


def test_sqlite_store_implements_every_method_of_the_protocol() -> None:
    for name, member in vars(Store).items():
        if name.startswith("_") and name not in ("__enter__", "__exit__"):
            continue
        if not callable(member):
            continue
        implemented = getattr(SQLiteStore, name)
        assert inspect.signature(implemented) == inspect.signature(member), name


Upgrade = Callable[..., None]


@pytest.fixture
def upgrade(monkeypatch: pytest.MonkeyPatch) -> Upgrade:
    """Teach this hopwatch one more schema version, made of the given statements."""
    from monitor.store import schema, sqlite

    def install(*statements: str) -> None:
        migrations = {**schema.MIGRATIONS, SCHEMA_VERSION + 1: statements}
        monkeypatch.setattr(schema, "MIGRATIONS", migrations)
        monkeypatch.setattr(schema, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
        monkeypatch.setattr(sqlite, "SCHEMA_VERSION", SCHEMA_VERSION + 1)

    return install


def _version_and_alert_columns(path: Path) -> tuple[int, list[str]]:
    conn = sqlite3.connect(path)
    try:
        (version,) = conn.execute("SELECT version FROM schema_version").fetchone()
        columns = [row[1] for row in conn.execute("PRAGMA table_info(alerts)")]
        return version, columns
    finally:
        conn.close()


def test_an_older_database_is_migrated_on_open_and_keeps_its_data(
    tmp_path: Path, upgrade: Upgrade
) -> None:
    with open_store(tmp_path) as old:
        old.save_alerts([{"fingerprint": "f"}])
    upgrade("ALTER TABLE alerts ADD COLUMN note TEXT")

    with open_store(tmp_path) as upgraded:
        assert upgraded.load_alerts() == [{"fingerprint": "f"}]
    assert _version_and_alert_columns(tmp_path / DB_FILENAME) == (
        SCHEMA_VERSION + 1,
        ["fingerprint", "payload", "note"],
    )


def test_a_failing_migration_leaves_the_old_version_intact(
    tmp_path: Path, upgrade: Upgrade
) -> None:
    open_store(tmp_path).close()
    upgrade("ALTER TABLE alerts ADD COLUMN note TEXT", "CREATE TABLE alerts (clash)")
    with pytest.raises(StoreError, match=r"hopwatch\.db: cannot open the hopwatch database"):
        open_store(tmp_path)
    assert _version_and_alert_columns(tmp_path / DB_FILENAME) == (
        SCHEMA_VERSION,
        ["fingerprint", "payload"],
    )
