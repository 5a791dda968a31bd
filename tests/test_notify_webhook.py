"""Webhook (Alertmanager's payload v4) and forwarding to an Alertmanager (``/api/v2/alerts``)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Delivery, Outcome
from monitor.notify.dispatch import open_clients
from monitor.notify.forward import forward_alerts, postable_alerts
from monitor.notify.notifier import Notifier
from monitor.notify.webhook import WebhookNotifier, payload
from monitor.routing.model import (
    DeliveryMode,
    Extensions,
    Secret,
    WebhookConfig,
    default_routing,
)
from monitor.stats import DaemonStats
from monitor.testing import free_port
from monitor.testing_fakes import FakeWebhook, Fault, sample_alert, sample_notification

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def firing() -> Alert:
    return sample_alert(
        annotations={"summary": "10% lost", "runbook_url": "https://runbooks.example/loss"},
        starts_at=T0,
        hop="warehouse",
    )


def gone() -> Alert:
    return sample_alert(
        annotations={"summary": "5% lost"},
        state=AlertState.RESOLVED,
        starts_at=T0 - 60.5,
        ends_at=T0 + 300.25,
        hop="crm",
    )


def test_the_webhook_payload_is_alertmanagers_version_4_field_for_field() -> None:
    notification = sample_notification(gone(), firing())
    assert payload(notification) == {
        "receiver": "team-data",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "HopwatchEdgeDataLoss",
                    "hop": "warehouse",
                    "pipeline": "signup",
                    "severity": "page",
                },
                "annotations": {
                    "runbook_url": "https://runbooks.example/loss",
                    "summary": "10% lost",
                },
                "startsAt": "2023-11-14T22:13:20Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://127.0.0.1:9464/api/v1/alerts?fingerprint="
                + firing().fingerprint,
                "fingerprint": firing().fingerprint,
            },
            {
                "status": "resolved",
                "labels": {
                    "alertname": "HopwatchEdgeDataLoss",
                    "hop": "crm",
                    "pipeline": "signup",
                    "severity": "page",
                },
                "annotations": {"summary": "5% lost"},
                "startsAt": "2023-11-14T22:12:19.5Z",
                "endsAt": "2023-11-14T22:18:20.25Z",
                "generatorURL": "http://127.0.0.1:9464/api/v1/alerts?fingerprint="
                + gone().fingerprint,
                "fingerprint": gone().fingerprint,
            },
        ],
        "groupLabels": {"alertname": "HopwatchEdgeDataLoss", "pipeline": "signup"},
        "commonLabels": {
            "alertname": "HopwatchEdgeDataLoss",
            "pipeline": "signup",
            "severity": "page",
        },
        "commonAnnotations": {},
        "externalURL": "http://127.0.0.1:9464",
        "version": "4",
        "groupKey": '{}/{}:{alertname="HopwatchEdgeDataLoss", pipeline="signup"}',
        "truncatedAlerts": 0,
    }


def test_max_alerts_keeps_the_first_and_counts_the_rest() -> None:
    alerts = [sample_alert(hop=f"hop-{i}", annotations={"summary": "same"}) for i in range(5)]
    body = payload(sample_notification(*alerts), max_alerts=2)
    assert [a["labels"]["hop"] for a in body["alerts"]] == ["hop-0", "hop-1"]
    assert body["truncatedAlerts"] == 3
    assert body["commonAnnotations"] == {"summary": "same"}
    assert payload(sample_notification(*alerts), max_alerts=0)["truncatedAlerts"] == 0


def deliver_webhook(fake: FakeWebhook, notification: Any, **overrides: Any) -> Delivery:
    cfg = WebhookConfig(url=Secret(env="HOOK_URL"), **overrides)

    async def main() -> Delivery:
        async with httpx.AsyncClient() as http:
            notifier = WebhookNotifier(http_client=http, timeout=0.5)
            return await notifier.send(notification, cfg, {"HOOK_URL": f"{fake.url}/hook"})

    return asyncio.run(main())


def test_the_payload_arrives_over_http_as_json() -> None:
    notification = sample_notification(firing(), gone())
    with FakeWebhook() as fake:
        delivery = deliver_webhook(fake, notification)
    assert delivery.outcome is Outcome.SENT
    assert fake.payloads == [payload(notification)]
    assert fake.requests[0].headers["content-type"] == "application/json"


def test_without_send_resolved_resolved_alerts_are_left_out() -> None:
    with FakeWebhook() as fake:
        deliver_webhook(fake, sample_notification(firing(), gone()), send_resolved=False)
        skipped = deliver_webhook(fake, sample_notification(gone()), send_resolved=False)
    [sent] = fake.payloads
    assert [a["status"] for a in sent["alerts"]] == ["firing"]
    assert skipped.outcome is Outcome.SENT and "skipped" in skipped.detail


@pytest.mark.parametrize(
    ("fault", "outcome", "reason"),
    [
        (Fault.server_error(503), Outcome.RETRY, "http_503"),
        (Fault.rate_limited(retry_after=3), Outcome.RETRY, "http_429"),
        (Fault.bad_request(), Outcome.FAILED, "http_400"),
        (Fault.hang(0.8), Outcome.RETRY, "timeout"),
    ],
    ids=["503 can be retried", "429 can be retried", "400 cannot", "a timeout can be retried"],
)
def test_webhook_failures_are_classified(fault: Fault, outcome: Outcome, reason: str) -> None:
    with FakeWebhook() as fake:
        fake.fail_next(fault)
        delivery = deliver_webhook(fake, sample_notification(firing()))
    assert (delivery.outcome, delivery.reason) == (outcome, reason)
    assert fake.url not in repr(delivery)


# -- forward ---------------------------------------------------------------------------------------


def test_forwarded_alerts_are_alertmanagers_postable_alerts() -> None:
    pending = replace(firing(), state=AlertState.PENDING, labels=(("alertname", "Soon"),))
    body = postable_alerts(
        [firing(), gone(), pending], now=T0 + 600, resend_window=240, external_url="http://hw"
    )
    assert body == [
        {
            "labels": dict(firing().labels),
            "annotations": dict(firing().annotations),
            "startsAt": "2023-11-14T22:13:20Z",
            "endsAt": "2023-11-14T22:27:20Z",
            "generatorURL": f"http://hw/api/v1/alerts?fingerprint={firing().fingerprint}",
        },
        {
            "labels": dict(gone().labels),
            "annotations": {"summary": "5% lost"},
            "startsAt": "2023-11-14T22:12:19.5Z",
            "endsAt": "2023-11-14T22:18:20.25Z",
            "generatorURL": f"http://hw/api/v1/alerts?fingerprint={gone().fingerprint}",
        },
    ]


def forward(urls: list[str], alerts: list[Alert]) -> Delivery:
    async def main() -> Delivery:
        async with httpx.AsyncClient() as http:
            return await forward_alerts(urls, alerts, T0 + 600, client=http, timeout=0.5)

    return asyncio.run(main())


def test_forwarding_posts_to_every_alertmanager_and_succeeds_if_one_took_them() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with FakeWebhook() as am:
        delivery = forward([am.url, dead], [firing(), gone()])
    assert delivery.outcome is Outcome.SENT
    assert delivery.detail["failed"] == {dead: "connection"}
    [request] = am.requests
    assert request.path == "/api/v2/alerts"
    assert [a["endsAt"] for a in request.body] == [
        "2023-11-14T22:27:20Z",
        "2023-11-14T22:18:20.25Z",
    ]


def test_forwarding_is_retried_when_no_alertmanager_took_the_alerts() -> None:
    with FakeWebhook() as am:
        am.fail_next(Fault.server_error(503))
        delivery = forward([am.url, f"http://127.0.0.1:{free_port()}"], [firing()])
    assert (delivery.outcome, delivery.reason) == (Outcome.RETRY, "http_503")
    with FakeWebhook() as am:
        am.fail_next(Fault.bad_request())
        assert forward([am.url], [firing()]).outcome is Outcome.FAILED


# -- forward, against the real Alertmanager ---------------------------------------------------------


@contextlib.contextmanager
def running_alertmanager(tmp_path: Path, config_text: str) -> Iterator[str]:
    binary = shutil.which("prometheus-alertmanager")
    if binary is None:
        pytest.skip("prometheus-alertmanager is not installed (scripts/install.sh installs it)")
    config = tmp_path / "alertmanager.yml"
    config.write_text(config_text)
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if httpx.get(f"{url}/-/ready", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                pytest.fail("prometheus-alertmanager did not become ready")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[str]:
    config = "route:\n  receiver: hopwatch\n  group_wait: 1h\nreceivers:\n  - name: hopwatch\n"
    with running_alertmanager(tmp_path, config) as url:
        yield url


@pytest.mark.slow
def test_the_real_alertmanager_accepts_forwarded_alerts_and_resolves_them(
    alertmanager: str,
) -> None:
    now = time.time()
    alert = replace(firing(), starts_at=now - 60)

    async def main(alerts: list[Alert]) -> Delivery:
        async with httpx.AsyncClient() as http:
            return await forward_alerts([alertmanager], alerts, now, client=http, timeout=2.0)

    assert asyncio.run(main([alert])).outcome is Outcome.SENT
    [shown] = httpx.get(f"{alertmanager}/api/v2/alerts").json()
    assert shown["labels"] == dict(alert.labels)
    assert shown["status"]["state"] == "active"

    ended = replace(alert, state=AlertState.RESOLVED, ends_at=now - 1)
    assert asyncio.run(main([ended])).outcome is Outcome.SENT
    active = httpx.get(f"{alertmanager}/api/v2/alerts", params={"active": "true"}).json()
    assert active == []


def wait_for(predicate: Callable[[], object], what: str, seconds: float = 20.0) -> None:
    """Poll a real Alertmanager (it runs on its own clock) until ``predicate`` holds."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_forward_mode_reaches_a_webhook_through_the_real_alertmanager_and_resolves_there(
    tmp_path: Path,
) -> None:
    """hopwatch's notifier in forward mode -> Alertmanager -> its webhook receiver, firing then
    resolved: the whole path a team with an Alertmanager already has."""
    with FakeWebhook() as hook:
        am_config = (
            "route:\n  receiver: hook\n  group_by: [alertname]\n  group_wait: 1s\n"
            "  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n"
            f"    webhook_configs:\n      - url: {hook.url}/alerts\n"
        )
        with running_alertmanager(tmp_path, am_config) as am:
            routing = replace(
                default_routing(),
                extensions=Extensions(delivery=DeliveryMode.FORWARD, forward_urls=(am,)),
            )
            stats = DaemonStats()
            notifier = Notifier(routing, stats=stats)
            now = time.time()
            alert = replace(firing(), starts_at=now - 60)

            async def step(at: float) -> None:
                async with open_clients(timeout=2.0, deadline=10.0) as clients:
                    await notifier.step(at, clients)
                    await notifier.drain()

            notifier.put([alert], now)
            asyncio.run(step(now))
            [shown] = httpx.get(f"{am}/api/v2/alerts").json()
            assert shown["labels"] == dict(alert.labels)
            assert shown["status"]["state"] == "active"
            wait_for(lambda: hook.payloads, "the firing notification")
            first = hook.payloads[0]
            assert first["status"] == "firing"
            assert first["alerts"][0]["labels"] == dict(alert.labels)

            ended = replace(alert, state=AlertState.RESOLVED, ends_at=time.time() - 1)
            notifier.put([ended], time.time())
            asyncio.run(step(time.time()))
            wait_for(
                lambda: any(p["status"] == "resolved" for p in hook.payloads),
                "the resolved notification",
            )
            assert httpx.get(f"{am}/api/v2/alerts", params={"active": "true"}).json() == []
    resolved = [p for p in hook.payloads if p["status"] == "resolved"]
    assert resolved[0]["alerts"][0]["labels"] == dict(alert.labels)
    assert stats.notifications[("alertmanager", "forward", "sent")] == 2
