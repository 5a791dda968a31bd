"""The dispatcher: alerts in, one notification per aggregation group when its timer says so.

Alertmanager's ``dispatch/dispatch.go`` and its notify pipeline, pure (time is passed in):

- ``put`` routes each alert with ``route.match`` and files it, per matched route, in the
  aggregation group of that route and its group labels (``group_by``; ``...`` takes every label;
  none: one group per route). Pending alerts are not routed (Prometheus does not send them).
- A new group flushes ``group_wait`` after its first alert, at once if an alert of it started more
  than ``group_wait`` ago (a restart catching up); after that it flushes every ``group_interval``.
- Each flush runs the stages in order: inhibition → silences → time intervals → dedup against the
  notification log, per integration of the receiver (``nflog.needs_update``). So a change goes out
  at the next ``group_interval`` tick, and an unchanged firing group is repeated at the first tick
  after ``repeat_interval`` has passed since the last delivery.
- ``record`` tells the dispatcher what was delivered. Resolved alerts leave their group once a
  flush that contained them was delivered (or needed no delivery); an empty group is removed.

Where a flush is still being delivered (no ``record`` yet), the group's next flush waits for it,
as a group's goroutine does in Alertmanager, for at most ``in_flight_timeout`` seconds.

Times are exact: a flush due at ``t`` and run at ``now >= t`` schedules the next at
``t + group_interval`` (or ``now + group_interval`` if that has passed already), so a daemon
ticking every second does not drift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.inhibit import Inhibitor, PipelineLike, Topology
from monitor.alerting.mute import NOT_MUTED, MuteStatus, Silences, TimeMuter
from monitor.alerting.nflog import (
    NotificationLog,
    integration_names,
    needs_update,
    sends_resolved,
)
from monitor.alerting.notification import Delivery, Notification, Outcome, Prior
from monitor.labels import Labels
from monitor.routing.model import Receiver, Route, RouteOpts, RoutingConfig

IN_FLIGHT_TIMEOUT = 600.0


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote``, which Alertmanager's label sets print with."""
    out = ['"']
    named = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    named |= {"\v": "\\v", "\\": "\\\\", '"': '\\"'}
    for ch in text:
        if ch in named:
            out.append(named[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def label_set_string(labels: Labels) -> str:
    """``{a="1", b="2"}`` exactly as Go's ``model.LabelSet.String()`` prints it."""
    return "{" + ", ".join(sorted(f"{k}={go_quote(v)}" for k, v in labels)) + "}"


def group_labels(labels: Labels, opts: RouteOpts) -> Labels:
    """The alert's labels a route groups by (Alertmanager's ``getGroupLabels``)."""
    if opts.group_by_all:
        return labels
    wanted = set(opts.group_by)
    return tuple((k, v) for k, v in labels if k in wanted)


def group_key(route: Route, labels: Labels) -> str:
    """Alertmanager's ``aggrGroup.GroupKey()``: ``{}/{severity="page"}:{alertname="X"}``."""
    return f"{route.key}:{label_set_string(labels)}"


@dataclass
class _Flight:
    """A flush handed out by ``due`` and not yet fully recorded."""

    at: float
    resolved: dict[str, Alert]
    waiting: set[str]
    targets: tuple[str, ...] = ()
    failed: bool = False


@dataclass
class Group:
    """One aggregation group (Alertmanager's ``aggrGroup``)."""

    route: Route
    labels: Labels
    key: str
    next_flush: float
    alerts: dict[str, Alert] = field(default_factory=dict)
    has_flushed: bool = False
    flight: _Flight | None = None

    @property
    def opts(self) -> RouteOpts:
        return self.route.opts


class Dispatcher:
    """Groups alerts by route and flushes them through the mute and dedup stages.

    Use: ``put`` the alerts that changed (the alert book's ``apply`` result, and after a restart
    every alert the book loaded); call ``due(now)`` at ``next_wakeup()`` (or every tick) and hand
    each notification to its receiver; report each integration's outcome with ``record`` (or
    ``record_deliveries``). Persist ``nflog.changes()`` after each round."""

    def __init__(
        self,
        routing: RoutingConfig,
        silences: Silences | None = None,
        topology: Iterable[PipelineLike] | Topology | None = None,
        nflog: NotificationLog | None = None,
        in_flight_timeout: float = IN_FLIGHT_TIMEOUT,
    ) -> None:
        self.routing = routing
        self.silences = silences
        self.nflog = nflog if nflog is not None else NotificationLog()
        self.in_flight_timeout = in_flight_timeout
        if topology is not None and not isinstance(topology, Topology):
            topology = Topology(topology)
        if not routing.extensions.topology_inhibition:
            topology = None
        self.inhibitor = Inhibitor(routing.inhibit_rules, topology)
        self.time_muter = TimeMuter(routing.time_intervals)
        self._route_ids = {id(r): i for i, r in enumerate(routing.route.walk())}
        self._groups: dict[tuple[int, Labels], Group] = {}
        self._alerts: dict[str, Alert] = {}
        self._status: dict[str, MuteStatus] = {}

    # --- alerts in ----------------------------------------------------------------------------

    def put(self, alerts: Iterable[Alert], now: float) -> None:
        """File alerts in their groups; a newer state of an alert replaces the older one."""
        for alert in alerts:
            if alert.state is AlertState.PENDING:
                continue
            fp = alert.fingerprint
            self._alerts[fp] = alert
            for route in self.routing.route.match(dict(alert.labels)):
                labels = group_labels(alert.labels, route.opts)
                gid = (self._route_ids[id(route)], labels)
                group = self._groups.get(gid)
                if group is None:
                    group = Group(
                        route, labels, group_key(route, labels), now + route.opts.group_wait
                    )
                    self._groups[gid] = group
                group.alerts[fp] = alert
                if not group.has_flushed and alert.starts_at + route.opts.group_wait < now:
                    group.next_flush = min(group.next_flush, now)

    # --- flushing -----------------------------------------------------------------------------

    def next_wakeup(self) -> float | None:
        """When the next group is due, if any group exists."""
        return min((g.next_flush for g in self._groups.values()), default=None)

    def due(self, now: float) -> list[Notification]:
        """Flush every group whose timer has come; one notification per group that needs one."""
        self.mark(now)
        out = []
        ready = sorted(
            (g for g in self._groups.values() if g.next_flush <= now),
            key=lambda g: (g.next_flush, g.key),
        )
        for group in ready:
            scheduled = group.next_flush
            step = group.opts.group_interval
            group.next_flush = scheduled + step if scheduled + step > now else now + step
            group.has_flushed = True
            if group.flight is not None and now - group.flight.at < self.in_flight_timeout:
                continue
            group.flight = None
            notification = self._flush(group, now)
            if notification is not None:
                out.append(notification)
        return out

    def _flush(self, group: Group, now: float) -> Notification | None:
        alerts = sorted(
            group.alerts.values(), key=lambda a: (a.state is not AlertState.FIRING, a.labels)
        )
        resolved_now = {a.fingerprint: a for a in alerts if a.state is AlertState.RESOLVED}
        time_muted = self.time_muter.mutes(group.opts, now)
        muted = [a for a in alerts if time_muted or self._muted_here(a.fingerprint)]
        gone = {a.fingerprint for a in muted}
        kept = tuple(a for a in alerts if a.fingerprint not in gone)
        reasons = sorted(
            {r for a in muted for r in self.status(a.fingerprint).silenced_by}
            | {r for a in muted for r in self.status(a.fingerprint).inhibited_by}
        )
        reasons += [n for n in time_muted if n not in reasons]
        firing = {a.fingerprint for a in kept if a.state is AlertState.FIRING}
        resolved = {a.fingerprint for a in kept if a.state is AlertState.RESOLVED}
        receiver = self.routing.receivers.get(group.opts.receiver)
        names = integration_names(receiver)
        priors = self.nflog.query(group.opts.receiver, group.key)
        targets: list[str] = []
        if kept:  # Alertmanager: a stage that leaves no alerts ends the pipeline, successfully
            for name in names:
                wants_resolved = sends_resolved(receiver, name)
                prior = priors.get(name)
                repeat = group.opts.repeat_interval
                if not needs_update(prior, firing, resolved, repeat, wants_resolved, now):
                    continue
                if firing or wants_resolved:
                    targets.append(name)
                else:  # nothing to send, but the log must forget the firing set
                    self.nflog.log(
                        group.opts.receiver,
                        group.key,
                        name,
                        Prior(now, (), tuple(sorted(resolved))),
                        repeat,
                    )
        if not targets:
            self._drop_resolved(group, resolved_now)
            return None
        group.flight = _Flight(now, resolved_now, set(targets), tuple(targets))
        return Notification(
            receiver=group.opts.receiver,
            group_key=group.key,
            group_labels=group.labels,
            alerts=kept,
            at=now,
            external_url=self.routing.extensions.external_url,
            prior=priors.get(names[0]) if len(names) == 1 else None,
            muted_by=tuple(reasons),
            priors=priors,
        )

    # --- deliveries back ----------------------------------------------------------------------

    def record(
        self,
        notification: Notification,
        delivered: bool,
        prior: Prior,
        integration: str | None = None,
    ) -> None:
        """What came of ``notification`` for ``integration`` (every integration of its receiver
        if ``None``): if delivered, the log takes its firing and resolved sets at
        ``prior.sent_at`` with the integration's ``prior.state``."""
        receiver = self.routing.receivers.get(notification.receiver)
        names = (integration,) if integration else integration_names(receiver)
        group = self._group_of(notification)
        repeat = (
            group.opts.repeat_interval
            if group is not None
            else self.routing.route.opts.repeat_interval
        )
        if delivered:
            sent = Prior(
                sent_at=prior.sent_at,
                firing=tuple(sorted(a.fingerprint for a in notification.firing)),
                resolved=tuple(sorted(a.fingerprint for a in notification.resolved)),
                state=prior.state,
            )
            for name in names:
                self.nflog.log(notification.receiver, notification.group_key, name, sent, repeat)
        if group is None or group.flight is None or group.flight.at != notification.at:
            return
        flight = group.flight
        flight.waiting -= set(names)
        flight.failed |= not delivered
        if not flight.waiting:
            group.flight = None
            if not flight.failed:
                self._drop_resolved(group, flight.resolved)

    def record_deliveries(
        self, notification: Notification, results: Iterable[tuple[str, Delivery]], at: float
    ) -> None:
        """``record`` for each ``(integration, delivery)`` as ``notify.dispatch.deliver`` returns."""
        for name, delivery in results:
            prior = Prior(sent_at=at, state=delivery.state)
            self.record(notification, delivery.outcome is Outcome.SENT, prior, name)

    def group_interval(self, notification: Notification) -> float:
        """The ``group_interval`` of the notification's group (the root's if it is gone)."""
        group = self._group_of(notification)
        opts = group.opts if group is not None else self.routing.route.opts
        return opts.group_interval

    def targets(self, notification: Notification) -> tuple[str, ...]:
        """The integrations whose dedup asked for ``notification`` (the others were sent the same
        sets already and may skip it); every integration once it is no longer in flight."""
        group = self._group_of(notification)
        if group is not None and group.flight is not None and group.flight.at == notification.at:
            return group.flight.targets
        return integration_names(self.routing.receivers.get(notification.receiver))

    def _muted_here(self, fingerprint: str) -> bool:
        status = self.status(fingerprint)
        return bool(status.silenced_by or status.inhibited_by)

    def _group_of(self, notification: Notification) -> Group | None:
        for group in self._groups.values():
            if group.key == notification.group_key and group.opts.receiver == notification.receiver:
                return group
        return None

    def _drop_resolved(self, group: Group, resolved: Mapping[str, Alert]) -> None:
        """Alertmanager's ``DeleteIfNotModified``: an alert that fired again meanwhile stays."""
        for fp, alert in resolved.items():
            if group.alerts.get(fp) == alert:
                del group.alerts[fp]
        if not group.alerts:
            self._groups = {k: g for k, g in self._groups.items() if g is not group}
        held = {fp for g in self._groups.values() for fp in g.alerts}
        for fp in [fp for fp in self._alerts if fp not in held]:
            del self._alerts[fp]
            self._status.pop(fp, None)

    # --- muting, for flushes and for the API --------------------------------------------------

    def mark(self, now: float) -> None:
        """Work out at ``now`` why each alert is muted (``due`` does this first)."""
        self.inhibitor.index(self._alerts.values())
        routes: dict[str, dict[int, Route]] = {}
        for (route_id, _), group in self._groups.items():
            for fp in group.alerts:
                routes.setdefault(fp, {})[route_id] = group.route
        status = {}
        for fp, alert in self._alerts.items():
            silenced = (
                () if self.silences is None else self.silences.muting(dict(alert.labels), now)
            )
            timed: list[str] = []
            for _, route in sorted(routes.get(fp, {}).items()):
                timed += [n for n in self.time_muter.mutes(route.opts, now) if n not in timed]
            status[fp] = MuteStatus(
                tuple(sorted(silenced)), self.inhibitor.mutes(alert), tuple(timed)
            )
        self._status = status

    def status(self, fingerprint: str) -> MuteStatus:
        """Why the alert is muted, as of the last ``mark`` / ``due``. Time intervals count only for
        flushes of the route that has them; here they are listed for any route of the alert."""
        return self._status.get(fingerprint, NOT_MUTED)

    def muted_by(self, fingerprint: str) -> tuple[str, ...]:
        """Silence ids, inhibiting alert fingerprints and time interval names, for the API."""
        return self.status(fingerprint).reasons()

    # --- looking in ---------------------------------------------------------------------------

    def groups(self) -> list[Group]:
        return sorted(self._groups.values(), key=lambda g: g.key)

    def receiver(self, name: str) -> Receiver | None:
        return self.routing.receivers.get(name)


__all__ = [
    "IN_FLIGHT_TIMEOUT",
    "Dispatcher",
    "Group",
    "go_quote",
    "group_key",
    "group_labels",
    "label_set_string",
]
