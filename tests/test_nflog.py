"""The notification log: Alertmanager's dedup rule, merge rules, SQLite persistence, restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from monitor.alerting.alert import Alert, AlertState, labels_of
from monitor.alerting.book import AlertBook
from monitor.alerting.dispatch import Dispatcher
from monitor.alerting.nflog import (
    FIRING_RETENTION,
    Entry,
    LogKey,
    NotificationLog,
    integration_names,
    needs_update,
    sends_resolved,
)
from monitor.alerting.notification import Delivery, Outcome, Prior
from monitor.routing.model import (
    ConsoleConfig,
    PagerDutyConfig,
    Receiver,
    Route,
    RouteOpts,
    RoutingConfig,
    Secret,
    SlackConfig,
    SlackMode,
)
from monitor.store import DB_FILENAME, SQLiteStore, open_store
from monitor.store.nflog_sqlite import NflogStore, open_nflog
from monitor.verdict import Judgement, Verdict

NOW = 10_000.0
REPEAT = 3600.0

DEDUP_CASES = [
    ("never notified and something fires", None, {"a"}, set(), True, True),
    ("never notified and only resolved alerts", None, set(), {"a"}, True, False),
    ("a new firing alert", Prior(NOW - 10, ("a",)), {"a", "b"}, set(), True, True),
    (
        "the same firing set within repeat",
        Prior(NOW - 10, ("a", "b")),
        {"a", "b"},
        set(),
        True,
        False,
    ),
    ("fewer firing, nothing resolved", Prior(NOW - 10, ("a", "b")), {"a"}, set(), True, False),
    ("all resolved after firing", Prior(NOW - 10, ("a",)), set(), {"a"}, True, True),
    ("all resolved, send_resolved false", Prior(NOW - 10, ("a",)), set(), {"a"}, False, True),
    ("the resolve was already sent", Prior(NOW - 10, (), ("a",)), set(), {"a"}, True, False),
    ("a new resolved alert, send_resolved", Prior(NOW - 10, ("a", "b")), {"a"}, {"b"}, True, True),
    (
        "a new resolved alert, no send_resolved",
        Prior(NOW - 10, ("a", "b")),
        {"a"},
        {"b"},
        False,
        False,
    ),
    ("repeat interval passed", Prior(NOW - REPEAT - 1, ("a",)), {"a"}, set(), True, True),
    ("repeat interval exactly now", Prior(NOW - REPEAT, ("a",)), {"a"}, set(), True, False),
]


@pytest.mark.parametrize(
    ("prior", "firing", "resolved", "send_resolved", "expected"),
    [c[1:] for c in DEDUP_CASES],
    ids=[c[0] for c in DEDUP_CASES],
)
def test_needs_update_is_alertmanagers_dedup(prior, firing, resolved, send_resolved, expected):
    assert needs_update(prior, firing, resolved, REPEAT, send_resolved, NOW) is expected


def test_integrations_are_named_like_alertmanager():
    receiver = Receiver(
        "team",
        (
            *(SlackConfig("#a", SlackMode.API, Secret(value="u"), send_resolved=False),),
            *(PagerDutyConfig(Secret(value="k")), PagerDutyConfig(Secret(value="k2"))),
            ConsoleConfig(),
        ),
    )
    assert integration_names(receiver) == ("slack[0]", "pagerduty[0]", "pagerduty[1]", "console")
    assert not sends_resolved(receiver, "slack[0]") and sends_resolved(receiver, "pagerduty[1]")


def test_a_delivery_keeps_the_message_and_key_of_the_one_before():
    log = NotificationLog()
    log.log("r", "g", "slack[0]", Prior(10, ("a",), state={"channel": "C", "ts": "1.2"}), REPEAT)
    log.log("r", "g", "slack[0]", Prior(20, (), ("a",)), REPEAT)
    prior = log.get("r", "g", "slack[0]")
    assert prior == Prior(20, (), ("a",), state={"channel": "C", "ts": "1.2"})


def test_entries_expire_after_twice_repeat_or_a_week_while_firing():
    log = NotificationLog()
    log.log("r", "resolved", "console", Prior(0, (), ("a",)), REPEAT)
    log.log("r", "firing", "console", Prior(0, ("a",)), REPEAT)
    assert log.prune(2 * REPEAT) == [LogKey("r", "resolved", "console")]
    assert log.prune(FIRING_RETENTION) == [LogKey("r", "firing", "console")]


def test_merging_keeps_the_newer_delivery():
    key = LogKey("r", "g", "console")
    old, new = Entry(key, Prior(10, ("a",)), 100), Entry(key, Prior(20, ()), 100)
    assert NotificationLog([new, old]).get("r", "g", "console") == new.prior
    assert NotificationLog([old, new]).get("r", "g", "console") == new.prior


def test_the_store_round_trips_and_never_moves_an_entry_backwards(tmp_path: Path):
    key = LogKey("r", '{}:{alertname="X"}', "slack[0]")
    newer = Entry(key, Prior(20, ("a", "b"), ("c",), {"channel": "C", "ts": "1.2"}), 1000)
    older = Entry(key, Prior(10, ("a",)), 900)
    with open_nflog(tmp_path) as store:
        store.save([newer])
        store.save([older])
        assert store.load() == [newer]
        assert store.prune(1000) == 1 and store.load() == []


def test_the_tables_live_beside_the_main_store(tmp_path: Path):
    main = SQLiteStore(tmp_path / DB_FILENAME)
    with NflogStore(main.path) as store:
        store.save([Entry(LogKey("r", "g", "console"), Prior(1), 10)])
    main.save_alerts([{"fingerprint": "f", "x": 1}])
    main.close()
    with open_nflog(tmp_path) as again:
        assert len(again.load()) == 1


# --- restart ------------------------------------------------------------------------------------

ROUTING = RoutingConfig(
    route=Route(RouteOpts("team", group_by=("alertname",), repeat_interval=REPEAT)),
    receivers={
        "team": Receiver(
            "team",
            (
                *(SlackConfig("#alerts", SlackMode.API, Secret(value="u")),),
                *(PagerDutyConfig(Secret(value="k")),),
            ),
        )
    },
)
DELIVERED = [
    ("slack[0]", Delivery(Outcome.SENT, state={"channel": "C42", "ts": "1700000000.000100"})),
    ("pagerduty[0]", Delivery(Outcome.SENT, state={"dedup_key": "hopwatch/team/alertname=X/abc"})),
]


def verdict(judgement: Judgement, at: float) -> Verdict:
    labels = labels_of({"pipeline": "signup", "edge": "a->b", "from_hop": "a", "to_hop": "b"})
    return Verdict("divergence", labels, judgement, at, 0.0, "loss", at)


class Daemon:
    """The daemon's wiring in small: book → dispatcher → (fake) delivery → nflog → store; the
    book's whole state goes into a checkpoint, as the engine's checkpoint carries it."""

    def __init__(self, data: Path, now: float) -> None:
        self.store = open_store(data)
        self.nflog_store = open_nflog(data)
        self.book = AlertBook()
        saved = self.store.load_checkpoint("alert_book")
        if saved is not None:
            self.book.restore(saved[1])
        else:
            self.book.load(Alert.from_json(a) for a in self.store.load_alerts())
        self.dispatcher = Dispatcher(ROUTING, nflog=NotificationLog(self.nflog_store.load()))
        self.dispatcher.put(self.book.alerts(), now)
        self.sent: list = []

    def tick(self, now: float, verdicts: list[Verdict] = ()) -> None:  # type: ignore[assignment]
        changed = self.book.apply(verdicts, now)
        self.store.save_alerts(a.to_json() for a in changed)
        self.store.save_checkpoint("alert_book", now, self.book.to_bytes())
        self.dispatcher.put(changed, now)
        for n in self.dispatcher.due(now):
            self.sent.append(n)
            self.dispatcher.record_deliveries(n, DELIVERED, now)
        self.nflog_store.save(self.dispatcher.nflog.changes())

    def stop(self) -> None:
        self.store.close()
        self.nflog_store.close()


def run(daemon: Daemon, start: float, end: float, verdicts: dict[float, list[Verdict]]) -> None:
    t = start
    while t <= end:
        daemon.tick(t, verdicts.get(t, []))
        t += 10.0


def test_a_restart_neither_repeats_nor_forgets_the_resolve(tmp_path: Path):
    first = Daemon(tmp_path, 1000.0)
    run(first, 1000.0, 1100.0, {1000.0: [verdict(Judgement.FIRING, 1000.0)]})
    [trigger] = first.sent
    assert trigger.at == 1030.0 and trigger.status == "firing"
    first.stop()

    second = Daemon(tmp_path, 2000.0)
    run(second, 2000.0, 3000.0, {})
    assert second.sent == []  # the same firing set within repeat_interval: not repeated
    ok = verdict(Judgement.OK, 3010.0)
    run(second, 3010.0, 5000.0, {3010.0: [ok], 3020.0: [verdict(Judgement.OK, 3020.0)]})
    [resolve] = second.sent
    assert resolve.status == "resolved"
    assert resolve.for_integration("slack[0]").prior.state["ts"] == "1700000000.000100"
    assert resolve.for_integration("slack[0]").prior.state["channel"] == "C42"
    assert resolve.for_integration("pagerduty[0]").prior.state["dedup_key"] == (
        "hopwatch/team/alertname=X/abc"
    )
    # the first flush after the restart was at 2000; group_interval ticks: 2300 ... 3200
    assert resolve.at == 3200.0
    second.stop()


def test_a_resolve_stored_but_not_notified_before_a_crash_is_sent_once_after(tmp_path: Path):
    first = Daemon(tmp_path, 1000.0)
    run(first, 1000.0, 1100.0, {1000.0: [verdict(Judgement.FIRING, 1000.0)]})
    run(
        first,
        1110.0,
        1120.0,
        {1110.0: [verdict(Judgement.OK, 1110.0)], 1120.0: [verdict(Judgement.OK, 1120.0)]},
    )
    assert [n.status for n in first.sent] == ["firing"]  # crashed before the next tick (1330)
    assert first.book.alerts()[0].state is AlertState.RESOLVED
    first.stop()

    second = Daemon(tmp_path, 5000.0)
    run(second, 5000.0, 9000.0, {})
    [resolve] = second.sent
    assert resolve.at == 5000.0 and resolve.status == "resolved"
    assert resolve.for_integration("pagerduty[0]").prior.state["dedup_key"] == (
        "hopwatch/team/alertname=X/abc"
    )
    second.stop()


OLD_SCHEMA = """CREATE TABLE IF NOT EXISTS notification_log (
        receiver TEXT NOT NULL,
        group_key TEXT NOT NULL,
        integration TEXT NOT NULL,
        sent_at REAL NOT NULL,
        firing TEXT NOT NULL,
        resolved TEXT NOT NULL,
        slack_channel TEXT NOT NULL,
        slack_ts TEXT NOT NULL,
        dedup_key TEXT NOT NULL,
        expires_at REAL NOT NULL,
        PRIMARY KEY (receiver, group_key, integration)
    ) WITHOUT ROWID"""
"""The table as it was before the opaque ``state`` column, word for word."""


def test_a_database_with_the_old_columns_is_migrated_in_place(tmp_path: Path):
    path = tmp_path / DB_FILENAME
    with sqlite3.connect(path) as conn:
        conn.execute(OLD_SCHEMA)
        conn.execute(
            "CREATE INDEX IF NOT EXISTS notification_log_by_expiry ON notification_log (expires_at)"
        )
        conn.executemany(
            "INSERT INTO notification_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                ("r", "g", "slack[0]", 20.0, '["a"]', "[]", "C42", "1.2", "", 1000.0),
                ("r", "g", "pagerduty[0]", 21.0, '["a"]', '["b"]', "", "", "hopwatch/r/x", 900.0),
                ("r", "g", "console", 22.0, "[]", '["a"]', "", "", "", 800.0),
            ],
        )
    conn.close()
    with open_nflog(tmp_path) as store:
        loaded = {e.key.integration: e for e in store.load()}
        columns = {r[1] for r in store._conn.execute("PRAGMA table_info(notification_log)")}
    assert loaded["slack[0]"] == Entry(
        LogKey("r", "g", "slack[0]"),
        Prior(20.0, ("a",), (), {"channel": "C42", "ts": "1.2"}),
        1000.0,
    )
    assert loaded["pagerduty[0]"].prior == Prior(
        21.0, ("a",), ("b",), {"dedup_key": "hopwatch/r/x"}
    )
    assert loaded["console"].prior == Prior(22.0, (), ("a",), {})
    assert "state" in columns and not columns & {"slack_channel", "slack_ts", "dedup_key"}
    with open_nflog(tmp_path) as again:  # opening a migrated file again changes nothing
        assert {e.key.integration: e for e in again.load()} == loaded
