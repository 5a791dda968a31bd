"""The shared PostgreSQL store's parts beyond the records (``test_store_records`` runs those on
both stores): checkpoints, heartbeat and gaps, alerts, the notification log, silences, the
write-ahead log with its fencing, the leader's lock, schema versions, and keeping the password
out of every message. Against the session's real PostgreSQL (``pg_support``), a fresh database
per test."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from pg_support import pg_query, pg_url

from monitor.alerting.nflog import Entry, LogKey
from monitor.alerting.notification import Prior
from monitor.config.model import PostgresConfig
from monitor.leadership import Outcome
from monitor.routing.silence import parse_silence_matcher
from monitor.store.base import Gap, StoreError
from monitor.store.pg_connection import PgTarget
from monitor.store.postgres import PostgresStore
from monitor.store.shared import SharedState, open_shared
from monitor.store.wal import WalError

T0 = 1_700_000_000.0


@pytest.fixture
def url(postgres: int, pg_database: str) -> str:
    return pg_url(postgres, pg_database)


@pytest.fixture
def shared(url: str) -> Iterator[SharedState]:
    state = open_shared(PostgresConfig(url, lease=4.0), "127.0.0.1:1", holder="a")
    yield state
    state.close()


def test_a_checkpoint_covering_less_of_the_log_never_replaces_one_covering_more(
    shared: SharedState,
) -> None:
    store = shared.store
    store.save_checkpoint("engine", T0, b"new", lsn=10)
    store.save_checkpoint("engine", T0 + 5, b"orphan's", lsn=7)  # a dead leader's late child
    assert store.load_checkpoint_at("engine") == (T0, 10, b"new")
    store.save_checkpoint("engine", T0 + 10, b"newer", lsn=10)
    assert store.load_checkpoint("engine") == (T0 + 10, b"newer")
    assert (store.checkpoint_time("engine"), store.checkpoint_time("nope")) == (T0 + 10, None)


def test_heartbeat_gaps_and_alerts_round_trip(shared: SharedState) -> None:
    store = shared.store
    assert store.last_beat() is None
    store.beat(T0)
    store.beat(T0 + 1)
    store.add_gap(T0, T0 + 30, "hopwatch was not running")
    store.add_gap(T0, T0 + 30, "hopwatch was not running")
    store.add_gap(T0 + 100, T0 + 130, "the clock moved back")
    store.save_alerts([{"fingerprint": "b", "state": "firing"}, {"fingerprint": "a", "x": 1}])
    store.save_alerts([{"fingerprint": "b", "state": "resolved"}])
    assert store.last_beat() == T0 + 1
    assert store.gaps(since=T0 + 30) == [Gap(T0 + 100, T0 + 130, "the clock moved back")]
    assert len(store.gaps()) == 2
    assert store.load_alerts() == [
        {"fingerprint": "a", "x": 1},
        {"fingerprint": "b", "state": "resolved"},
    ]
    assert store.delete_alerts(["a", "zz"]) == 1
    assert store.purge(T0 + 31) == 1
    with pytest.raises(ValueError, match=r"alerts\[0\]: 'fingerprint' must be a non-empty string"):
        store.save_alerts([{"state": "firing"}])


def _entry(group: str, sent_at: float, firing: tuple[str, ...]) -> Entry:
    prior = Prior(sent_at, firing, (), {"ts": f"{sent_at}"})
    return Entry(LogKey("oncall", group, "webhook[0]"), prior, sent_at + 3600)


def test_the_notification_log_is_shared_and_never_moves_back_to_an_older_delivery(
    shared: SharedState, url: str
) -> None:
    shared.nflog.save([_entry("g1", T0 + 10, ("a", "b")), _entry("g2", T0, ("c",))])
    shared.nflog.save([_entry("g1", T0 + 5, ("a",))])  # a deposed leader's late write
    other = open_shared(PostgresConfig(url), "127.0.0.1:2", holder="b")  # the other server
    try:
        loaded = other.nflog.load()
        assert [(e.key.group_key, e.prior.sent_at, e.prior.firing) for e in loaded] == [
            ("g1", T0 + 10, ("a", "b")),
            ("g2", T0, ("c",)),
        ]
        assert loaded[0] == _entry("g1", T0 + 10, ("a", "b"))
        other.nflog.delete([LogKey("oncall", "g2", "webhook[0]")])
        assert other.nflog.prune(T0 + 10 + 3600) == 1
        assert shared.nflog.load() == []
    finally:
        other.close()


def test_silences_are_shared(shared: SharedState, url: str) -> None:
    book = shared.silences.book()
    s = book.add(
        [parse_silence_matcher('hop="warehouse"')],
        ends_at=T0 + 3600,
        created_by="ana",
        comment="backfill",
        now=T0,
    )
    expired = book.expire(
        book.add(
            [parse_silence_matcher("a=b")], ends_at=T0 + 60, created_by="b", comment="c", now=T0
        ).id,
        T0 + 1,
    )
    other = open_shared(PostgresConfig(url), "127.0.0.1:2", holder="b")
    try:
        assert {x.id: x for x in other.silences.load()} == {s.id: s, expired.id: expired}
        assert other.silences.book().muting({"hop": "warehouse"}, T0 + 2) == (s.id,)
    finally:
        other.close()


def _port_db(url: str) -> tuple[int, str]:
    port, db = url.rsplit(":", 1)[1].split("/")
    return int(port), db


def _claim(url: str, term: int) -> None:
    """Another server took over in ``term`` (what ``LockSession`` writes when it gets the lock)."""
    port, db = _port_db(url)
    pg_query(
        port,
        "INSERT INTO hopwatch_leader VALUES (1, %s, 'test', 'http://x', 0) "
        "ON CONFLICT (id) DO UPDATE SET term = excluded.term",
        [term],
        dbname=db,
    )


def test_the_log_replays_after_a_checkpoint_and_refuses_writes_once_another_leads(
    shared: SharedState, url: str
) -> None:
    _claim(url, 1)
    log = shared.new_log(lambda: 1)
    assert log.open(0, lambda payload: None) == 0
    lsns = [log.append(f"r{i}".encode()) for i in range(5)]
    log.sync()
    assert (lsns, log.synced_lsn) == ([1, 2, 3, 4, 5], 5)
    assert log.delete_covered(2) == 2
    log.close()

    replayed: list[bytes] = []
    successor = shared.new_log(lambda: 2)
    _claim(url, 2)
    assert successor.open(2, replayed.append) == 5
    assert replayed == [b"r2", b"r3", b"r4"]
    assert successor.stats.records_replayed == 3
    assert successor.append(b"r5") == 6  # continues after the last row
    successor.sync()

    deposed = shared.new_log(lambda: 1)  # still believes it leads in term 1
    _claim(url, 1)
    deposed.open(6, lambda payload: None)
    _claim(url, 2)
    deposed.append(b"late")
    with pytest.raises(WalError, match=r"no longer the leader \(term 1, the database says 2\)"):
        deposed.sync()
    port, db = _port_db(url)
    rows = pg_query(port, "SELECT lsn FROM hopwatch_wal ORDER BY lsn", dbname=db)
    assert [r[0] for r in rows] == [3, 4, 5, 6]
    successor.close()


def test_one_session_holds_the_lock_and_a_released_lock_goes_to_the_other_in_the_next_term(
    shared: SharedState, url: str
) -> None:
    other = open_shared(PostgresConfig(url, lease=4.0), "127.0.0.1:2", holder="b")

    async def scenario() -> list[tuple[str, Outcome, int, str | None]]:
        seen = []
        for name, lock in (("a", shared.lock), ("b", other.lock), ("a", shared.lock)):
            a = await lock.attempt(timeout=5)
            seen.append((name, a.outcome, a.term, a.leader_url))
        await shared.lock.release()  # what a clean stop (or the kernel after kill -9) does
        b = await other.lock.attempt(timeout=5)
        seen.append(("b", b.outcome, b.term, b.leader_url))
        await other.lock.release()
        return seen

    try:
        assert asyncio.run(scenario()) == [
            ("a", Outcome.HELD, 1, "http://127.0.0.1:1"),
            ("b", Outcome.TAKEN, 0, "http://127.0.0.1:1"),
            ("a", Outcome.HELD, 1, "http://127.0.0.1:1"),
            ("b", Outcome.HELD, 2, "http://127.0.0.1:2"),
        ]
    finally:
        other.close()


def test_a_lock_session_the_server_ended_is_lost_and_the_lock_is_free(
    shared: SharedState, url: str, postgres: int
) -> None:
    async def scenario() -> list[Outcome]:
        first = await shared.lock.attempt(timeout=5)
        pg_query(
            postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name LIKE 'hopwatch-leader-lock%%'",
        )
        lost = await shared.lock.attempt(timeout=5)
        again = await shared.lock.attempt(timeout=5)
        await shared.lock.release()
        return [first.outcome, lost.outcome, again.outcome]

    assert asyncio.run(scenario()) == [Outcome.HELD, Outcome.LOST, Outcome.HELD]


def test_a_database_from_a_newer_hopwatch_is_refused(url: str, shared: SharedState) -> None:
    port, db = _port_db(url)
    pg_query(port, "UPDATE hopwatch_schema SET version = 99", dbname=db)
    with pytest.raises(StoreError, match=r"schema version 99 is newer than this hopwatch supports"):
        PostgresStore(PgTarget(url))


def test_the_password_is_in_no_message_and_no_repr() -> None:
    target = PgTarget("postgresql://hopwatch@127.0.0.1:1/none", password="s3cret-pw")
    with pytest.raises(StoreError) as err:
        PostgresStore(target)
    assert "s3cret-pw" not in str(err.value) and "s3cret-pw" not in repr(target)
    assert str(err.value).startswith(
        "PostgreSQL 127.0.0.1:1/none: cannot create hopwatch's tables ("
    )
    assert str(err.value).endswith(
        "check that PostgreSQL is up and reachable; hopwatch retries at the next call"
    )
    assert "s3cret-pw" not in repr(PostgresConfig("postgresql://x@h/db", password="s3cret-pw"))
