"""Alertmanager's group timers through the daemon's notifier on the wall clock, under freezegun.

The dispatcher's own tests pass ``now`` explicitly; these run the shell the daemon runs
(``Notifier.step`` with ``SystemClock``) while freezegun moves time, and count what the console
receiver was handed. Defaults are Alertmanager's: group_wait 30s, group_interval 5m,
repeat_interval 4h.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from freezegun import freeze_time

from monitor.alerting.alert import Alert, AlertState
from monitor.clock import SystemClock
from monitor.notify.dispatch import Clients, open_clients
from monitor.notify.notifier import Notifier
from monitor.routing.matchers import parse_matchers
from monitor.routing.model import RoutingConfig, default_routing
from monitor.routing.silence import SilenceBook
from monitor.stats import DaemonStats
from monitor.testing_fakes import sample_alert

T0 = "2026-12-02 10:00:00"
SENT = ("log", "console", "sent")


class Harness:
    def __init__(self, routing: RoutingConfig, silences: SilenceBook | None = None) -> None:
        self.clock = SystemClock()
        self.stats = DaemonStats()
        self.notifier = Notifier(routing, silences=silences, stats=self.stats)

    def step(self) -> int:
        """One notifier round at the frozen ``now``; the number of notifications sent so far."""

        async def main() -> None:
            async with open_clients() as clients:
                await self._step(clients)

        asyncio.run(main())
        return self.stats.notifications[SENT]

    async def _step(self, clients: Clients) -> None:
        await self.notifier.step(self.clock.now(), clients)
        await self.notifier.drain()


def loss(hop: str, at: float) -> Alert:
    return sample_alert("HopwatchEdgeDataLoss", starts_at=at, hop=hop)


def test_group_wait_then_group_interval_then_repeat_interval() -> None:
    with freeze_time(T0, real_asyncio=True) as frozen:
        t0 = SystemClock().now()
        h = Harness(default_routing())
        first = loss("crm", t0)
        h.notifier.put([first], t0)
        assert h.step() == 0
        frozen.tick(29)
        assert h.step() == 0  # group_wait not over
        frozen.tick(1)
        assert h.step() == 1  # 30 s: the group's first notification

        frozen.tick(30)
        h.notifier.put([loss("warehouse", SystemClock().now())], SystemClock().now())
        frozen.tick(269)
        assert h.step() == 1  # a new alert waits for the group's interval ...
        frozen.tick(1)
        assert h.step() == 2  # ... 5 m after the first flush (30 s), not group_wait after it came

        # Nothing changes: repeated only at the first flush after 4 h since the last one.
        for _ in range(48):
            frozen.tick(300)
            assert h.step() == 2
        frozen.tick(300)
        assert h.step() == 3

        ended = SystemClock().now()
        resolved = replace(first, state=AlertState.RESOLVED, ends_at=ended)
        h.notifier.put([resolved], ended)
        frozen.tick(299)
        assert h.step() == 3
        frozen.tick(1)
        assert h.step() == 4  # the resolve goes out at the next group_interval tick


def test_an_alert_that_started_before_group_wait_is_notified_at_once() -> None:
    """After a restart the book hands over alerts that fired long ago: no second group_wait."""
    with freeze_time(T0, real_asyncio=True):
        now = SystemClock().now()
        h = Harness(default_routing())
        h.notifier.start([loss("crm", now - 600)], now)
        assert h.step() == 1


def test_a_silence_mutes_exactly_what_it_matches() -> None:
    with freeze_time(T0, real_asyncio=True) as frozen:
        now = SystemClock().now()
        silences = SilenceBook()
        silences.add(
            parse_matchers('hop="crm"'),
            ends_at=now + 3600,
            created_by="ops",
            comment="crm vendor maintenance",
            now=now,
        )
        routing = default_routing()
        routing = replace(
            routing,
            route=replace(routing.route, opts=replace(routing.route.opts, group_by=("hop",))),
        )
        h = Harness(routing, silences)
        crm, warehouse = loss("crm", now), loss("warehouse", now)
        h.notifier.put([crm, warehouse], now)
        frozen.tick(30)
        assert h.step() == 1  # the warehouse group only
        assert h.notifier.dispatcher.muted_by(crm.fingerprint)
        assert h.notifier.dispatcher.muted_by(warehouse.fingerprint) == ()
