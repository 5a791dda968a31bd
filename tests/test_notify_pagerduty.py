"""PagerDuty Events API v2: trigger and resolve with one dedup_key, against a fake over real HTTP."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from notify_support import run

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Delivery, Notification, Outcome, Prior
from monitor.notify.dispatch import Clients, deliver
from monitor.notify.pagerduty import (
    MAX_DEDUP_KEY,
    MAX_DETAILS_BYTES,
    MAX_SUMMARY,
    PagerDutyNotifier,
    dedup_key,
    severity,
    trigger_event,
)
from monitor.routing.model import PagerDutyConfig, Receiver, Secret
from monitor.testing_fakes import (
    FakeAsyncTime,
    FakePagerDuty,
    Fault,
    sample_alert,
    sample_notification,
)

ROUTING_KEY = "R0UT1NGKEY0123456789abcdefSECRET"
ENV = {"PD_ROUTING_KEY": ROUTING_KEY}


def config(pd: FakePagerDuty, **overrides: Any) -> PagerDutyConfig:
    return PagerDutyConfig(
        routing_key=Secret(env="PD_ROUTING_KEY"), url=pd.enqueue_url, **overrides
    )


def loss_alert(**labels: str) -> Alert:
    return sample_alert(
        annotations={
            "summary": "10% of events lost between identity and warehouse",
            "runbook_url": "https://runbooks.example/loss",
            "dashboard_url": "https://grafana.example/d/edges",
        },
        evidence={"expected": 1000, "arrived": 900, "missing": 100, "p_value": 1e-9},
        hop="warehouse",
        check="divergence",
        **labels,
    )


def resolved(alert: Alert) -> Alert:
    return replace(alert, state=AlertState.RESOLVED, ends_at=alert.starts_at + 900)


async def send_one(clients: Clients, notification: Notification, cfg: PagerDutyConfig) -> Delivery:
    [(name, delivery)] = await deliver(
        notification, Receiver("team-data", (*(cfg,),)), ENV, clients
    )
    assert name == "pagerduty[0]"
    return delivery


def test_a_group_triggers_then_resolves_one_incident_with_the_same_dedup_key() -> None:
    with FakePagerDuty() as pd:
        cfg = config(pd)
        alert = loss_alert()

        async def body(clients: Clients, _: FakeAsyncTime) -> list[Delivery]:
            n1 = sample_notification(alert)
            d1 = await send_one(clients, n1, cfg)
            prior = Prior(sent_at=n1.at, firing=(alert.fingerprint,), state=d1.state)
            d2 = await send_one(clients, sample_notification(resolved(alert), prior=prior), cfg)
            return [d1, d2]

        d1, d2 = run(body)

    assert (d1.outcome, d2.outcome) == (Outcome.SENT, Outcome.SENT)
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"]
    assert {e["dedup_key"] for e in pd.events} == {d1.state["dedup_key"]} == {d2.state["dedup_key"]}
    assert pd.incidents == {d1.state["dedup_key"]: "resolved"}


def test_the_trigger_event_has_pagerdutys_fields() -> None:
    event = trigger_event(
        sample_notification(loss_alert()), PagerDutyConfig(Secret(value="k")), "k"
    )
    payload = event.pop("payload")
    details = payload.pop("custom_details")
    assert event == {
        "routing_key": "k",
        "event_action": "trigger",
        "dedup_key": "hopwatch/team-data/alertname=HopwatchEdgeDataLoss,pipeline=signup/"
        + event["dedup_key"][-12:],
        "client": "hopwatch",
        "client_url": "http://127.0.0.1:9464",
        "links": [
            {"href": "https://runbooks.example/loss", "text": "Runbook"},
            {"href": "https://grafana.example/d/edges", "text": "Dashboard"},
        ],
    }
    assert payload == {
        "summary": "[FIRING:1] HopwatchEdgeDataLoss: 10% of events lost between identity and warehouse",
        "source": "signup",
        "severity": "critical",
        "timestamp": "2023-11-14T22:13:20Z",
        "component": "warehouse",
        "group": "signup",
        "class": "divergence",
    }
    assert details["num_firing"] == 1
    assert details["alerts"][0]["evidence"] == {
        "expected": 1000,
        "arrived": 900,
        "missing": 100,
        "p_value": 1e-9,
    }
    assert (
        FakePagerDuty.problems({**event, "payload": {**payload, "custom_details": details}}) == []
    )


@pytest.mark.parametrize(
    ("label", "configured", "expected"),
    [
        ("page", "error", "critical"),
        ("ticket", "error", "warning"),
        ("info", "critical", "info"),
        ("", "warning", "warning"),
        ("unheard-of", "nonsense", "error"),
    ],
    ids=[
        "page maps to critical",
        "ticket maps to warning",
        "a known label wins over the config",
        "no label: the configured severity",
        "neither known: error",
    ],
)
def test_severity_is_mapped_from_the_label_or_the_config(
    label: str, configured: str, expected: str
) -> None:
    notification = sample_notification(sample_alert(severity=label))
    assert (
        severity(notification, PagerDutyConfig(Secret(value="k"), severity=configured)) == expected
    )


def test_the_dedup_key_is_readable_stable_and_at_most_255_characters() -> None:
    short = sample_notification(loss_alert())
    assert dedup_key(short) == dedup_key(sample_notification(loss_alert()))
    assert dedup_key(short).startswith("hopwatch/team-data/alertname=HopwatchEdgeDataLoss,")
    long = sample_notification(loss_alert(segment="s" * 400), group_by=("alertname", "segment"))
    other = sample_notification(
        loss_alert(segment="s" * 399 + "t"), group_by=("alertname", "segment")
    )
    assert len(dedup_key(long)) == MAX_DEDUP_KEY
    assert dedup_key(long) != dedup_key(other)
    remembered = replace(long, prior=Prior(sent_at=0.0, state={"dedup_key": "from-the-log"}))
    assert dedup_key(remembered) == "from-the-log"


def test_the_summary_and_details_stay_within_pagerdutys_limits() -> None:
    alerts = [
        sample_alert(
            annotations={"summary": "lost " * 500},
            evidence={
                "missing_ids": [f"id-{i}-" + "x" * 2000 for i in range(40)],
                "blob": "y" * 10**6,
            },
            hop=f"hop-{i}",
        )
        for i in range(200)
    ]
    event = trigger_event(sample_notification(*alerts), PagerDutyConfig(Secret(value="k")), "k")
    payload = event["payload"]
    assert len(payload["summary"]) == MAX_SUMMARY and payload["summary"].endswith("…")
    details = payload["custom_details"]
    assert len(json.dumps(details)) <= MAX_DETAILS_BYTES
    assert details["truncated_alerts"] == 200 - len(details["alerts"]) > 0
    assert len(json.dumps(event)) < 512 * 1024 / 4


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limited(retry_after=1), Fault.server_error(500), Fault.hang(0.6)],
    ids=["a 429 with Retry-After", "a 500", "a timeout"],
)
def test_a_transient_failure_ends_in_exactly_one_delivered_event(fault: Fault) -> None:
    with FakePagerDuty() as pd:
        pd.fail_next(fault)
        cfg = config(pd)

        async def body(clients: Clients, time: FakeAsyncTime) -> tuple[Delivery, list[float]]:
            d = await send_one(clients, sample_notification(loss_alert()), cfg)
            return d, time.sleeps

        delivery, sleeps = run(body, timeout=0.3)

    assert delivery.outcome is Outcome.SENT
    assert delivery.detail["attempts"] == 2
    assert len(pd.events) == 1
    assert pd.count("/v2/enqueue") == 2
    if fault.retry_after:
        assert sleeps == [1.0]


def test_a_429_hands_back_its_retry_after() -> None:
    with FakePagerDuty() as pd:
        pd.fail_next(Fault.rate_limited(retry_after=7))

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            notifier = PagerDutyNotifier(http_client=clients.http, timeout=1.0)
            return await notifier.send(sample_notification(loss_alert()), config(pd), ENV)

        delivery = run(body)

    assert (delivery.outcome, delivery.reason, delivery.retry_after) == (
        Outcome.RETRY,
        "http_429",
        7.0,
    )


def test_a_400_fails_at_once_is_never_retried_and_names_the_problem() -> None:
    with FakePagerDuty() as pd:
        rejected = {"status": "invalid event", "errors": [f"routing key {ROUTING_KEY} unknown"]}
        pd.fail_next(Fault.bad_request(rejected))

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            return await send_one(clients, sample_notification(loss_alert()), config(pd))

        delivery = run(body)

    assert (delivery.outcome, delivery.reason) == (Outcome.FAILED, "http_400")
    assert pd.count() == 1
    assert pd.events == []
    assert delivery.detail["errors"] == ["routing key *** unknown"]


def test_resolved_groups_are_not_sent_without_send_resolved() -> None:
    with FakePagerDuty() as pd:

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            n = sample_notification(resolved(loss_alert()))
            return await send_one(clients, n, config(pd, send_resolved=False))

        delivery = run(body)

    assert delivery.outcome is Outcome.SENT and "skipped" in delivery.detail
    assert pd.requests == []
