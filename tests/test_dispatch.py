"""The dispatcher under an explicit clock: Alertmanager's grouping, timers, muting and dedup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import pytest

from monitor.alerting.alert import Alert, AlertState, labels_of
from monitor.alerting.dispatch import Dispatcher, go_quote, group_key, group_labels
from monitor.alerting.notification import Delivery, Notification, Outcome, Prior
from monitor.routing.model import (
    ConsoleConfig,
    Extensions,
    InhibitRule,
    Matcher,
    MatchOp,
    PagerDutyConfig,
    Receiver,
    Route,
    RouteOpts,
    RoutingConfig,
    Secret,
    SlackConfig,
    SlackMode,
)
from monitor.time_intervals import Span, TimeInterval, TimeRange

WAIT, INTERVAL, REPEAT = 30.0, 300.0, 3600.0


def alert(name: str, at: float = 0.0, state: AlertState = AlertState.FIRING, **labels: str):
    return Alert(
        labels=labels_of({"alertname": name, "severity": "page", **labels}),
        state=state,
        starts_at=at,
        ends_at=at if state is AlertState.RESOLVED else None,
        updated_at=at,
    )


def resolved(a: Alert, at: float) -> Alert:
    return replace(a, state=AlertState.RESOLVED, ends_at=at, updated_at=at)


def opts(receiver: str = "log", **kw: object) -> RouteOpts:
    base: dict[str, object] = {
        "group_by": ("alertname",),
        "group_wait": WAIT,
        "group_interval": INTERVAL,
        "repeat_interval": REPEAT,
    }
    return RouteOpts(receiver=receiver, **{**base, **kw})  # type: ignore[arg-type]


def config(
    route: Route | None = None,
    receivers: Mapping[str, Receiver] | None = None,
    **kw: object,
) -> RoutingConfig:
    return RoutingConfig(
        route=route or Route(opts()),
        receivers=receivers or {"log": Receiver("log", (ConsoleConfig(),))},
        **kw,  # type: ignore[arg-type]
    )


def run(
    d: Dispatcher,
    events: Mapping[float, list[Alert]],
    until: float,
    step: float = 1.0,
    deliver: bool = True,
) -> list[tuple[float, str, tuple[str, ...], tuple[str, ...]]]:
    """Drive the dispatcher one tick per ``step``: put the events of each tick, flush, deliver."""
    sent = []
    t = 0.0
    while t <= until:
        if t in events:
            d.put(events[t], t)
        for n in d.due(t):
            sent.append(
                (t, n.group_key, tuple(a.name for a in n.firing), tuple(a.name for a in n.resolved))
            )
            if deliver:
                d.record(n, True, Prior(sent_at=t))
        t += step
    return sent


# --- group keys ---------------------------------------------------------------------------------


def test_group_key_is_alertmanagers_string():
    route = Route(opts(), key='{}/{severity="page"}')
    assert group_key(route, labels_of({"alertname": "X"})) == '{}/{severity="page"}:{alertname="X"}'
    two = labels_of({"pipeline": "signup", "alertname": "X"})
    assert group_key(Route(opts()), two) == '{}:{alertname="X", pipeline="signup"}'
    assert group_key(Route(opts()), ()) == "{}:{}"


def test_label_values_are_quoted_like_go():
    assert go_quote('a"b\\c\nd\x01é') == '"a\\"b\\\\c\\nd\\x01é"'


@pytest.mark.parametrize(
    ("route_opts", "expected"),
    [
        (opts(group_by=("alertname",)), (("alertname", "X"),)),
        (opts(group_by=("alertname", "region")), (("alertname", "X"),)),
        (opts(group_by=()), ()),
        (
            opts(group_by=(), group_by_all=True),
            (("alertname", "X"), ("hop", "ingest"), ("severity", "page")),
        ),
    ],
    ids=[
        "group_by names the labels of the group",
        "a group_by label the alert lacks is left out",
        "no group_by: one group for the whole route",
        "'...' groups by every label",
    ],
)
def test_group_labels(route_opts, expected):
    assert group_labels(alert("X", hop="ingest").labels, route_opts) == expected


# --- timers -------------------------------------------------------------------------------------


def test_group_wait_interval_repeat_and_resolve_at_exact_times():
    a, b, c = alert("X", 0, hop="a"), alert("X", 10, hop="b"), alert("X", 100, hop="c")
    events = {
        0.0: [a],
        10.0: [b],  # joins the group before its first flush
        100.0: [c],  # news: waits for the next group_interval tick (330)
        4300.0: [resolved(a, 4300)],  # a resolve is news too: the tick at 4530
        4600.0: [resolved(b, 4600), resolved(c, 4600)],
    }
    d = Dispatcher(config())
    sent = run(d, events, until=9000)
    key = '{}:{alertname="X"}'
    assert sent == [
        (30.0, key, ("X", "X"), ()),  # group_wait after the first alert
        (330.0, key, ("X", "X", "X"), ()),  # group_interval later, with c
        # unchanged: repeated at the first tick strictly after 330 + repeat_interval (3930)
        (4230.0, key, ("X", "X", "X"), ()),
        (4530.0, key, ("X", "X"), ("X",)),
        (4830.0, key, (), ("X", "X")),  # all resolved: one resolved notification
    ]
    assert d.groups() == [] and d.next_wakeup() is None


def test_unchanged_group_is_repeated_every_repeat_interval_at_group_interval_ticks():
    d = Dispatcher(config())
    sent = run(d, {0.0: [alert("X")]}, until=12000, step=30.0)
    assert [t for t, *_ in sent] == [30.0, 3930.0, 7830.0, 11730.0]


def test_an_alert_older_than_group_wait_flushes_a_new_group_at_once():
    d = Dispatcher(config())
    d.put([alert("X", at=-100.0)], 0.0)
    assert d.next_wakeup() == 0.0
    [n] = d.due(0.0)
    assert n.at == 0.0 and n.status == "firing"


def test_an_alert_that_fires_and_resolves_within_group_wait_sends_nothing():
    a = alert("X", 0)
    d = Dispatcher(config())
    assert run(d, {0.0: [a], 10.0: [resolved(a, 10)]}, until=1000) == []
    assert d.groups() == []


def test_a_resolve_that_does_not_reach_the_receiver_is_retried_at_the_next_tick():
    a = alert("X", 0)
    d = Dispatcher(config())
    d.put([a], 0)
    [first] = d.due(30)
    d.record(first, True, Prior(sent_at=30))
    d.put([resolved(a, 100)], 100)
    [resolve] = d.due(330)
    d.record(resolve, False, Prior(sent_at=330))
    assert d.due(600) == []  # not yet the next tick
    [again] = d.due(630)
    assert again.status == "resolved" and again.resolved[0].fingerprint == a.fingerprint
    d.record(again, True, Prior(sent_at=630))
    assert d.groups() == [] and d.due(930) == []


def test_a_flush_still_being_delivered_holds_the_next_one():
    d = Dispatcher(config(), in_flight_timeout=600.0)
    d.put([alert("X", 0, hop="a")], 0)
    [first] = d.due(30)
    d.put([alert("X", 40, hop="b")], 40)
    assert d.due(330) == []  # the first is still in flight: no duplicate
    d.record(first, True, Prior(sent_at=340))
    [second] = d.due(630)
    assert len(second.firing) == 2


def test_a_resolved_alert_for_a_group_never_notified_sends_nothing():
    d = Dispatcher(config())
    d.put([alert("X", -500, state=AlertState.RESOLVED)], 0)
    assert d.due(0) == [] and d.groups() == []


def test_pending_alerts_are_not_routed():
    d = Dispatcher(config())
    d.put([alert("X", 0, state=AlertState.PENDING)], 0)
    assert d.groups() == [] and d.next_wakeup() is None


def test_alert_that_fires_again_during_the_flush_is_kept():
    a = alert("X", 0)
    d = Dispatcher(config())
    d.put([a], 0)
    d.record(d.due(30)[0], True, Prior(sent_at=30))
    d.put([resolved(a, 100)], 100)
    [n] = d.due(330)
    d.put([replace(a, starts_at=331, updated_at=331)], 331)  # fires again before delivery
    d.record(n, True, Prior(sent_at=332))
    assert len(d.groups()) == 1


# --- grouping and routing -----------------------------------------------------------------------


def test_group_by_variants_decide_how_many_notifications():
    alerts = [alert("X", 0, hop="a"), alert("X", 0, hop="b"), alert("Y", 0, hop="a")]

    def keys(route_opts: RouteOpts) -> list[str]:
        d = Dispatcher(config(Route(route_opts)))
        d.put(alerts, 0)
        return sorted(n.group_key for n in d.due(WAIT))

    assert keys(opts(group_by=("alertname",))) == ['{}:{alertname="X"}', '{}:{alertname="Y"}']
    assert keys(opts(group_by=())) == ["{}:{}"]
    assert keys(opts(group_by=(), group_by_all=True)) == [
        '{}:{alertname="X", hop="a", severity="page"}',
        '{}:{alertname="X", hop="b", severity="page"}',
        '{}:{alertname="Y", hop="a", severity="page"}',
    ]


def test_continue_files_an_alert_in_a_group_of_every_matching_route():
    pages = Route(
        opts("pager"),
        matchers=(Matcher("severity", MatchOp.EQ, "page"),),
        continue_=True,
        key='{}/{severity="page"}',
    )
    team = Route(
        opts("team"),
        matchers=(Matcher("team", MatchOp.EQ, "data"),),
        key='{}/{team="data"}',
        index=1,
    )
    receivers = {n: Receiver(n, (ConsoleConfig(),)) for n in ("log", "pager", "team")}
    d = Dispatcher(config(Route(opts(), routes=(pages, team)), receivers))
    d.put([alert("X", 0, team="data")], 0)
    out = sorted((n.receiver, n.group_key) for n in d.due(WAIT))
    assert out == [
        ("pager", '{}/{severity="page"}:{alertname="X"}'),
        ("team", '{}/{team="data"}:{alertname="X"}'),
    ]


# --- muting -------------------------------------------------------------------------------------


class FakeSilences:
    """Silences as ``{id: {label: value}}``, active from ``start`` until ``end``."""

    def __init__(self, silences: Mapping[str, Mapping[str, str]], end: float = 1e18) -> None:
        self.silences, self.end = silences, end

    def muting(self, labels: Mapping[str, str], now: float) -> tuple[str, ...]:
        if now >= self.end:
            return ()
        return tuple(
            sid
            for sid, want in self.silences.items()
            if all(labels.get(k) == v for k, v in want.items())
        )


def test_silences_mute_exactly_the_alerts_they_match():
    quiet, loud = alert("X", 0, hop="a"), alert("X", 0, hop="b")
    d = Dispatcher(config(), silences=FakeSilences({"s1": {"hop": "a"}}, end=500))
    d.put([quiet, loud], 0)
    [n] = d.due(WAIT)
    assert [a.fingerprint for a in n.alerts] == [loud.fingerprint]
    assert n.muted_by == ("s1",)
    assert d.muted_by(quiet.fingerprint) == ("s1",) and d.muted_by(loud.fingerprint) == ()
    d.record(n, True, Prior(sent_at=WAIT))
    [after] = d.due(630)  # the silence ended at 500: the alert is news at the next tick
    assert {a.fingerprint for a in after.firing} == {quiet.fingerprint, loud.fingerprint}


def test_a_group_whose_alerts_are_all_silenced_sends_nothing():
    d = Dispatcher(config(), silences=FakeSilences({"s1": {"alertname": "X"}}))
    d.put([alert("X", 0)], 0)
    assert d.due(WAIT) == []


@pytest.mark.parametrize(
    ("target", "muted"),
    [
        ({"severity": "ticket", "pipeline": "signup"}, True),
        ({"severity": "ticket", "pipeline": "billing"}, False),
        ({"severity": "page", "pipeline": "signup"}, False),
    ],
    ids=[
        "a ticket with the same pipeline as a firing page is inhibited",
        "equal labels must be equal: another pipeline is not",
        "an alert the target matchers do not match is not",
    ],
)
def test_inhibit_rules_mute_exactly_their_targets(target, muted):
    rule = InhibitRule(
        source=(Matcher("severity", MatchOp.EQ, "page"),),
        target=(Matcher("severity", MatchOp.EQ, "ticket"),),
        equal=("pipeline",),
    )
    source = alert("Stall", 0, pipeline="signup", hop="ingest")
    other = Alert(labels_of({"alertname": "Drop", **target}), starts_at=0)
    d = Dispatcher(config(Route(opts(group_by=(), group_by_all=True)), inhibit_rules=(rule,)))
    d.put([source, other], 0)
    d.due(WAIT)
    assert d.muted_by(other.fingerprint) == ((source.fingerprint,) if muted else ())
    assert d.muted_by(source.fingerprint) == ()


def test_a_resolved_source_inhibits_nothing():
    rule = InhibitRule(
        source=(Matcher("alertname", MatchOp.EQ, "Stall"),),
        target=(Matcher("alertname", MatchOp.EQ, "Drop"),),
    )
    stall, drop = alert("Stall", 0), alert("Drop", 0)
    d = Dispatcher(config(inhibit_rules=(rule,)))
    d.put([stall, drop], 0)
    d.due(WAIT)
    assert d.muted_by(drop.fingerprint) == (stall.fingerprint,)
    d.put([resolved(stall, 100)], 100)
    d.mark(100)
    assert d.muted_by(drop.fingerprint) == ()


def test_an_alert_matching_both_sides_does_not_inhibit_itself():
    rule = InhibitRule(
        source=(Matcher("alertname", MatchOp.RE, ".+"),),
        target=(Matcher("alertname", MatchOp.RE, ".+"),),
    )
    d = Dispatcher(config(inhibit_rules=(rule,)))
    a = alert("X", 0)
    d.put([a], 0)
    [n] = d.due(WAIT)
    assert n.alerts == (a,)


def flush_all(d: Dispatcher, ticks: list[float]) -> list[Notification]:
    out = []
    for t in ticks:
        for n in d.due(t):
            d.record(n, True, Prior(sent_at=t))
            out.append(n)
    return out


SATURDAY = 1_700_870_400.0  # 2023-11-25 00:00 UTC
MONDAY = SATURDAY + 2 * 86400


def test_mute_time_intervals_mute_the_route_while_they_hold():
    weekends = (TimeInterval(weekdays=(Span(0, 0), Span(6, 6))),)
    route = Route(opts(mute_time_intervals=("weekends",)))
    d = Dispatcher(config(route, time_intervals={"weekends": weekends}))
    a = replace(alert("X"), starts_at=SATURDAY, updated_at=SATURDAY)
    d.put([a], SATURDAY)
    assert d.due(SATURDAY + WAIT) == []
    assert d.muted_by(a.fingerprint) == ("weekends",)
    ticks = [SATURDAY + WAIT + k * INTERVAL for k in range(1, 600)]
    sent = flush_all(d, ticks)
    # group_interval ticks fall at SATURDAY + 30 + 300k: the first one on Monday is 00:00:30
    assert [n.at for n in sent][:2] == [MONDAY + 30, MONDAY + 30 + REPEAT + INTERVAL]
    assert sent[0].firing == (a,)


def test_active_time_intervals_mute_the_route_outside_them():
    business = (TimeInterval(times=(TimeRange(9 * 60, 17 * 60),)),)
    route = Route(opts(active_time_intervals=("business",)))
    d = Dispatcher(config(route, time_intervals={"business": business}))
    night = MONDAY + 2 * 3600
    d.put([replace(alert("X"), starts_at=night, updated_at=night)], night)
    assert d.due(night + WAIT) == []
    assert d.muted_by(Alert(labels_of({"alertname": "X", "severity": "page"})).fingerprint) == (
        "business",
    )
    morning = MONDAY + 9 * 3600
    ticks = [night + WAIT + k * INTERVAL for k in range(1, 100)]
    assert [n.at for n in flush_all(d, ticks)][:1] == [morning + 30]


def test_topology_inhibition_can_be_switched_off():
    from monitor.config.model import Edge, Hop, Pipeline

    pipe = Pipeline("signup", (Hop("a"), Hop("b"), Hop("c")), (Edge("a", "b"), Edge("b", "c")))
    stall = alert("Stall", 0, pipeline="signup", hop="a")
    drop = alert("Drop", 0, pipeline="signup", hop="c")
    on = Dispatcher(config(), topology=[pipe])
    off = Dispatcher(config(extensions=Extensions(topology_inhibition=False)), topology=[pipe])
    for d in (on, off):
        d.put([stall, drop], 0)
        d.due(WAIT)
    assert on.muted_by(drop.fingerprint) == (stall.fingerprint,)
    assert off.muted_by(drop.fingerprint) == ()


# --- per integration ----------------------------------------------------------------------------


def two_integrations(send_resolved: bool = True) -> Receiver:
    return Receiver(
        "team",
        (
            *(
                SlackConfig(
                    "#alerts", SlackMode.API, Secret(value="u"), send_resolved=send_resolved
                ),
            ),
            *(PagerDutyConfig(Secret(value="k"), send_resolved=send_resolved),),
        ),
    )


def test_priors_are_kept_per_integration_and_handed_back():
    d = Dispatcher(config(Route(opts("team")), {"team": two_integrations()}))
    a = alert("X", 0)
    d.put([a], 0)
    [n] = d.due(WAIT)
    assert n.prior is None and n.priors == {}
    d.record_deliveries(
        n,
        [
            ("slack[0]", Delivery(Outcome.SENT, state={"channel": "C1", "ts": "111.222"})),
            ("pagerduty[0]", Delivery(Outcome.SENT, state={"dedup_key": "hopwatch/team/X"})),
        ],
        at=WAIT,
    )
    d.put([resolved(a, 100)], 100)
    [r] = d.due(330)
    assert r.for_integration("slack[0]").prior.state["ts"] == "111.222"
    assert r.for_integration("pagerduty[0]").prior.state["dedup_key"] == "hopwatch/team/X"
    assert r.for_integration("slack[0]").prior.firing == (a.fingerprint,)


def test_resolved_only_group_to_integrations_without_send_resolved_sends_nothing_but_logs_it():
    d = Dispatcher(config(Route(opts("team")), {"team": two_integrations(send_resolved=False)}))
    a = alert("X", 0)
    d.put([a], 0)
    [n] = d.due(WAIT)
    d.record(n, True, Prior(sent_at=WAIT))
    d.put([resolved(a, 100)], 100)
    assert d.due(330) == []
    assert d.nflog.get("team", n.group_key, "slack[0]").firing == ()
    assert d.groups() == []


def test_notification_lists_firing_then_resolved():
    a, b = alert("X", 0, hop="a"), alert("X", 0, hop="b")
    d = Dispatcher(config())
    d.put([a, b], 0)
    d.record(d.due(WAIT)[0], True, Prior(sent_at=WAIT))
    d.put([resolved(a, 50)], 50)
    [n] = d.due(330)
    assert isinstance(n, Notification)
    assert [x.state for x in n.alerts] == [AlertState.FIRING, AlertState.RESOLVED]
    assert n.status == "firing"


def test_only_integrations_whose_delivery_failed_are_targets_of_the_retry():
    d = Dispatcher(config(Route(opts("team")), {"team": two_integrations()}))
    d.put([alert("X", 0)], 0)
    [n] = d.due(WAIT)
    assert d.targets(n) == ("slack[0]", "pagerduty[0]")
    d.record_deliveries(
        n,
        [("slack[0]", Delivery(Outcome.SENT)), ("pagerduty[0]", Delivery(Outcome.RETRY))],
        at=WAIT,
    )
    [retry] = d.due(330)
    assert d.targets(retry) == ("pagerduty[0]",)
