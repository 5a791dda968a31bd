"""The notification shell: alert changes in, deliveries out, the notification log kept on disk.

The pure dispatcher (``monitor/alerting/dispatch.py``) decides which group is due and what it
must say; this runs its decisions. Each due notification is delivered by its own task, so a
receiver that hangs for its whole deadline holds up neither the other groups nor the tick that
feeds the engine. What was delivered goes to the notification log and from there to SQLite at
once, so a daemon killed right after a delivery does not repeat it, and one killed before the
delivery was recorded sends it again on restart (at least once, never silently lost).

In ``forward`` mode there is no dispatcher: every ``forward_interval`` (and whenever an alert
changes) the active and recently resolved alerts are posted to the configured Alertmanagers, as
Prometheus's notifier does; they group, silence and notify.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.dispatch import Dispatcher
from monitor.alerting.inhibit import PipelineLike
from monitor.alerting.mute import Silences
from monitor.alerting.nflog import Entry, NflogPersistence, NotificationLog
from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify.dispatch import Clients, deliver
from monitor.notify.forward import DEFAULT_RESEND_WINDOW, forward_alerts
from monitor.routing.model import DeliveryMode, RoutingConfig
from monitor.stats import DaemonStats
from monitor.timeutil import Clock

log = logging.getLogger("hopwatch.notify")

FORWARD_INTERVAL = 60.0
"""Prometheus's default evaluation interval: how often forwarded alerts are re-sent."""
RESOLVED_RESEND = 15 * 60.0
"""How long a resolved alert is still forwarded (Prometheus sends them for 15 minutes), so an
Alertmanager that missed one post still learns of the resolve."""
PRUNE_INTERVAL = 3600.0


@dataclass
class _Forwarding:
    urls: tuple[str, ...]
    interval: float
    last_sent: float | None = None
    changed: bool = True
    alerts: dict[str, Alert] = field(default_factory=dict)


class Notifier:
    """Routes alert changes to receivers (``builtin``) or to Alertmanager (``forward``).

    Use: ``start(alerts, now)`` with every alert the book holds after a restart; ``put(changed,
    now)`` after each tick; ``await step(now, clients)`` every second or so (``run`` does this);
    ``await drain()`` to wait for deliveries in flight. Nothing here raises into the caller:
    failures are logged and counted in ``stats``."""

    def __init__(
        self,
        routing: RoutingConfig,
        *,
        silences: Silences | None = None,
        topology: Iterable[PipelineLike] = (),
        nflog_store: NflogPersistence | None = None,
        environ: Mapping[str, str] | None = None,
        stats: DaemonStats | None = None,
        forward_interval: float = FORWARD_INTERVAL,
        resend_window: float = DEFAULT_RESEND_WINDOW,
    ) -> None:
        self.routing = routing
        self.store = nflog_store
        self.environ = dict(environ or {})
        self.stats = stats if stats is not None else DaemonStats()
        self.resend_window = resend_window
        entries = self._load_log()
        self.dispatcher = Dispatcher(routing, silences, tuple(topology), NotificationLog(entries))
        self.forwarding: _Forwarding | None = None
        if routing.extensions.delivery is DeliveryMode.FORWARD:
            self.forwarding = _Forwarding(routing.extensions.forward_urls, forward_interval)
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_prune: float | None = None

    # --- alerts in ----------------------------------------------------------------------------

    def start(self, alerts: Iterable[Alert], now: float) -> None:
        """After a restart: groups whose alerts started long ago flush at once, and the log
        (loaded from disk) tells which of them were already notified."""
        self.put(alerts, now)

    def put(self, alerts: Iterable[Alert], now: float) -> None:
        alerts = list(alerts)
        if self.forwarding is not None:
            for alert in alerts:
                self.forwarding.alerts[alert.fingerprint] = alert
            self.forwarding.changed |= bool(alerts)
            return
        self.dispatcher.put(alerts, now)

    def reroute(
        self,
        routing: RoutingConfig,
        topology: Iterable[PipelineLike],
        alerts: Iterable[Alert],
        now: float,
    ) -> None:
        """A config reload: route by the new tree from now on, as Alertmanager's reload does.

        The groups are rebuilt from ``alerts`` (every alert the engine holds) as after a restart,
        and the notification log is kept, so a group already notified under a route that did not
        change is not notified again; deliveries in flight finish and are logged as usual."""
        self.routing = routing
        self.dispatcher = Dispatcher(
            routing, self.dispatcher.silences, tuple(topology), self.dispatcher.nflog
        )
        previous = self.forwarding
        self.forwarding = None
        if routing.extensions.delivery is DeliveryMode.FORWARD:
            interval = previous.interval if previous is not None else FORWARD_INTERVAL
            self.forwarding = _Forwarding(routing.extensions.forward_urls, interval)
            if previous is not None:
                self.forwarding.alerts = previous.alerts
                self.forwarding.last_sent = previous.last_sent
        self.start(alerts, now)

    # --- one round ----------------------------------------------------------------------------

    async def step(self, now: float, clients: Clients) -> None:
        """Start the deliveries that are due at ``now``; returns without waiting for them."""
        try:
            if self.forwarding is not None:
                self._forward_if_due(now, clients)
            else:
                for notification in self.dispatcher.due(now):
                    self._spawn(self._deliver(notification, clients))
            self._persist(now)
        except Exception:
            self.stats.notify_errors += 1
            log.exception("notification round failed")

    async def drain(self, timeout: float | None = None) -> None:
        """Wait for the deliveries in flight (tests, and a clean stop)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)

    async def run(self, clock: Clock, clients: Clients, interval: float = 1.0) -> None:
        """``step`` every ``interval`` seconds until cancelled; in-flight deliveries are
        cancelled with it (their notifications were not logged, so a restart sends them)."""
        try:
            while True:
                await self.step(clock.now(), clients)
                await asyncio.sleep(interval)
        finally:
            for task in list(self._tasks):
                task.cancel()
            self._persist(None)

    # --- builtin delivery ---------------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, notification: Notification, clients: Clients) -> None:
        receiver = self.routing.receivers.get(notification.receiver)
        if receiver is None:  # validation forbids it; a missing receiver must not stop others
            self._count(notification.receiver, "-", Delivery(Outcome.FAILED, "no_receiver"))
            return
        only = self.dispatcher.targets(notification)
        # The group's next flush waits for this one: a receiver that keeps failing must give up
        # before then, or it would hold back the others' next change (a resolve) by its deadline.
        budget = max(clients.timeout, 0.9 * self.dispatcher.group_interval(notification))
        try:
            results = await deliver(
                notification, receiver, self.environ, clients, only=only, budget=budget
            )
        except Exception:
            log.exception("delivery failed", extra={"receiver": notification.receiver})
            results = [(name, Delivery(Outcome.FAILED, "error")) for name in only]
        self.dispatcher.record_deliveries(notification, results, at=notification.at)
        for name, delivery in results:
            self._count(notification.receiver, name, delivery)
        self._persist(None)

    def _count(self, receiver: str, integration: str, delivery: Delivery) -> None:
        integration_kind = integration.partition("[")[0]
        key = (receiver, integration_kind)
        self.stats.notifications[(*key, str(delivery.outcome))] += 1
        if delivery.outcome is not Outcome.SENT:
            self.stats.notification_failures[(*key, delivery.reason or "unknown")] += 1

    # --- forward delivery ---------------------------------------------------------------------

    def _forward_if_due(self, now: float, clients: Clients) -> None:
        fwd = self.forwarding
        assert fwd is not None
        due = fwd.last_sent is None or now - fwd.last_sent >= fwd.interval
        if not (due or fwd.changed):
            return
        for fp, alert in list(fwd.alerts.items()):
            if (
                alert.state is AlertState.RESOLVED
                and (alert.ends_at or now) < now - RESOLVED_RESEND
            ):
                del fwd.alerts[fp]
        fwd.last_sent, fwd.changed = now, False
        if fwd.alerts:
            self._spawn(self._forward(list(fwd.alerts.values()), now, clients))

    async def _forward(self, alerts: list[Alert], now: float, clients: Clients) -> None:
        fwd = self.forwarding
        assert fwd is not None
        try:
            delivery = await forward_alerts(
                fwd.urls,
                alerts,
                now,
                client=clients.http,
                resend_window=self.resend_window,
                external_url=self.routing.extensions.external_url,
                timeout=clients.timeout,
            )
        except Exception:
            log.exception("forwarding failed")
            delivery = Delivery(Outcome.FAILED, "error")
        self._count("alertmanager", "forward", delivery)
        if delivery.outcome is not Outcome.SENT:
            fwd.changed = True  # try again next round rather than a whole interval later
            log.warning(
                "alerts not forwarded",
                extra={
                    "reason": delivery.reason,
                    "failed": dict(delivery.detail.get("failed", {})),
                },
            )

    # --- the log on disk ----------------------------------------------------------------------

    def _load_log(self) -> list[Entry]:
        if self.store is None:
            return []
        try:
            return self.store.load()
        except Exception:
            self.stats.notify_errors += 1
            log.exception("notification log unreadable; starting with an empty one")
            return []

    def _persist(self, now: float | None) -> None:
        """Write what the log learned; prune expired entries once an hour. A store failure is
        logged and retried at the next round (the entries stay dirty in memory)."""
        if self.store is None:
            return
        nflog = self.dispatcher.nflog
        changes = nflog.changes()
        try:
            if changes:
                self.store.save(changes)
            if now is not None and (
                self._last_prune is None or now - self._last_prune >= PRUNE_INTERVAL
            ):
                self.store.delete(nflog.prune(now))
                self._last_prune = now
        except Exception:
            self.stats.notify_errors += 1
            nflog.unsaved(changes)
            log.exception("saving the notification log failed")


__all__ = ["FORWARD_INTERVAL", "Notifier"]
