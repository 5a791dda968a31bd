"""Fan-out to a receiver's integrations, retries with backoff, the console line, and secrets."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import httpx
import pytest

from monitor.alerting.notification import Delivery, Outcome, Prior
from monitor.notify.console import ConsoleNotifier
from monitor.notify.dispatch import Clients, deliver
from monitor.notify.retry import Backoff, with_retries
from monitor.notify.webhook import WebhookNotifier
from monitor.routing.model import (
    ConsoleConfig,
    PagerDutyConfig,
    Receiver,
    Secret,
    SlackConfig,
    SlackMode,
    WebhookConfig,
)
from monitor.testing import free_port
from monitor.testing_fakes import (
    FakeAsyncTime,
    FakePagerDuty,
    FakeSlack,
    FakeWebhook,
    Fault,
    channel_id,
    sample_alert,
    sample_notification,
)

SLACK_TOKEN = "xoxb-9999-SLACK-TOKEN-never-logged"
ROUTING_KEY = "PDKEY-0123456789-never-logged-abc"
HOOK_SECRET = "hook-secret-path-never-logged"
ENV = {"SLACK_TOKEN": SLACK_TOKEN, "PD_KEY": ROUTING_KEY}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything hopwatch, slack_sdk and httpx log, at DEBUG, even if logging was set up to not
    propagate (``monitor.logs.setup_logging``)."""
    names = ("hopwatch", "slack_sdk", "httpx", "httpcore")
    loggers = [logging.getLogger(n) for n in names]
    saved = [(lg.level, lg.propagate) for lg in loggers]
    for lg in loggers:
        lg.addHandler(caplog.handler)
        lg.setLevel(logging.DEBUG)
        lg.propagate = False
    caplog.handler.setLevel(logging.DEBUG)
    yield caplog
    for lg, (level, propagate) in zip(loggers, saved, strict=True):
        lg.removeHandler(caplog.handler)
        lg.setLevel(level)
        lg.propagate = propagate


def run(body: Any, *, timeout: float = 1.0, deadline: float = 60.0) -> Any:
    async def main() -> Any:
        time = FakeAsyncTime()
        async with httpx.AsyncClient() as http:
            clients = Clients(
                http=http,
                clock=time.clock,
                sleep=time.sleep,
                random=lambda: 0.0,
                timeout=timeout,
                deadline=deadline,
            )
            return await body(clients)

    return asyncio.run(main())


def slack_config(slack: FakeSlack, channel: str = "#data-alerts") -> SlackConfig:
    return SlackConfig(
        channel=channel,
        mode=SlackMode.API,
        api_url=Secret(value=slack.api_url),
        token=Secret(env="SLACK_TOKEN"),
    )


# -- fan-out ----------------------------------------------------------------------------------------


def test_a_failing_integration_never_blocks_the_others() -> None:
    with FakeSlack(token=SLACK_TOKEN) as slack, FakePagerDuty() as pd, FakeWebhook() as hook:
        slack.fail_next(Fault.slack("invalid_auth"))
        pd.fail_next(*[Fault.hang(0.6)] * 3)
        receiver = Receiver(
            "team-data",
            (
                *(slack_config(slack),),
                *(PagerDutyConfig(routing_key=Secret(env="PD_KEY"), url=pd.enqueue_url),),
                *(WebhookConfig(url=Secret(value=f"{hook.url}/hook")),),
                ConsoleConfig(),
            ),
        )

        async def body(clients: Clients) -> list[tuple[str, Delivery]]:
            return await deliver(sample_notification(sample_alert()), receiver, ENV, clients)

        results = run(body, timeout=0.3, deadline=3.0)

    assert [(name, d.outcome, d.reason) for name, d in results] == [
        ("slack[0]", Outcome.FAILED, "slack_invalid_auth"),
        ("pagerduty[0]", Outcome.RETRY, "timeout"),
        ("webhook[0]", Outcome.SENT, ""),
        ("console", Outcome.SENT, ""),
    ]
    assert dict(results)["pagerduty[0]"].detail["attempts"] == 3
    assert len(hook.payloads) == 1


def test_a_notifier_that_raises_becomes_a_failed_delivery(
    monkeypatch: pytest.MonkeyPatch, logs: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any) -> Delivery:
        raise RuntimeError(f"bug holding {HOOK_SECRET}")

    monkeypatch.setattr(WebhookNotifier, "send", broken)
    receiver = Receiver(
        "r",
        (
            *(WebhookConfig(url=Secret(value="http://127.0.0.1:9/x")),),
            ConsoleConfig(),
        ),
    )

    async def body(clients: Clients) -> list[tuple[str, Delivery]]:
        return await deliver(sample_notification(sample_alert()), receiver, {}, clients)

    results = run(body)
    assert [(n, d.outcome, d.reason) for n, d in results] == [
        ("webhook[0]", Outcome.FAILED, "error"),
        ("console", Outcome.SENT, ""),
    ]
    assert HOOK_SECRET not in logs.text


def test_each_integration_gets_its_own_prior() -> None:
    with FakeSlack(token=SLACK_TOKEN) as slack:
        receiver = Receiver("r", (*(slack_config(slack, "#one"), slack_config(slack, "#two")),))

        async def body(clients: Clients) -> list[tuple[str, Delivery]]:
            first = await deliver(sample_notification(sample_alert()), receiver, ENV, clients)
            two = dict(first)["slack[1]"]
            prior = Prior(0.0, state=two.state)
            notification = replace(sample_notification(sample_alert()), priors={"slack[1]": prior})
            return await deliver(notification, receiver, ENV, clients)

        second = run(body)

    assert slack.count("/api/chat.update") == 1
    assert len(slack.posts) == 3  # #one twice (no prior), #two once then updated
    [two] = [p for p in slack.posts if p.channel == channel_id("#two")]
    assert dict(second)["slack[1]"].state["ts"] == two.ts
    assert len(two.updates) == 1


# -- retries ----------------------------------------------------------------------------------------


def scripted(*outcomes: Delivery) -> Any:
    queue = list(outcomes)

    async def attempt() -> Delivery:
        return queue.pop(0)

    return attempt


RETRY = Delivery(Outcome.RETRY, "http_500")
SENT = Delivery(Outcome.SENT)


@pytest.mark.parametrize(
    ("outcomes", "deadline", "rnd", "sleeps", "final"),
    [
        ([SENT], 60, 0.0, [], Outcome.SENT),
        ([RETRY, RETRY, RETRY, SENT], 60, 0.0, [0.5, 1.0, 2.0], Outcome.SENT),
        ([RETRY, RETRY, SENT], 60, 1.0, [0.25, 0.5], Outcome.SENT),
        (
            [Delivery(Outcome.RETRY, "http_429", retry_after=7.0), SENT],
            60,
            0.0,
            [7.0],
            Outcome.SENT,
        ),
        ([Delivery(Outcome.FAILED, "http_400"), SENT], 60, 0.0, [], Outcome.FAILED),
        ([RETRY, RETRY, RETRY, RETRY], 3, 0.0, [0.5, 1.0], Outcome.RETRY),
        (
            [Delivery(Outcome.RETRY, "http_429", retry_after=120.0), SENT],
            60,
            0.0,
            [],
            Outcome.RETRY,
        ),
    ],
    ids=[
        "a success is not retried",
        "retries back off exponentially",
        "jitter shortens a wait by up to half",
        "Retry-After longer than the backoff wins",
        "a permanent failure is never retried",
        "no attempt starts after the deadline",
        "a Retry-After past the deadline ends the retries",
    ],
)
def test_with_retries(
    outcomes: list[Delivery], deadline: float, rnd: float, sleeps: list[float], final: Outcome
) -> None:
    time = FakeAsyncTime(0.0)
    delivery = asyncio.run(
        with_retries(
            scripted(*outcomes),
            deadline=deadline,
            clock=time.clock,
            sleep=time.sleep,
            random=lambda: rnd,
        )
    )
    assert time.sleeps == sleeps
    assert delivery.outcome is final
    assert delivery.detail["attempts"] == len(sleeps) + 1


def test_backoff_is_capped() -> None:
    assert [Backoff(cap=4.0).delay(n, 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 4.0]


# -- console ----------------------------------------------------------------------------------------


def test_the_console_writes_one_structured_line(logs: pytest.LogCaptureFixture) -> None:
    alert = sample_alert(evidence={"missing_ids": ["person-42"]}, annotations={"summary": "lost"})
    delivery = asyncio.run(ConsoleNotifier().send(sample_notification(alert)))
    [record] = [r for r in logs.records if r.name == "hopwatch.notify.console"]
    assert delivery.outcome is Outcome.SENT
    assert record.getMessage() == (
        "[FIRING:1] HopwatchEdgeDataLoss firing (1 firing, 0 resolved) to team-data"
    )
    assert record.__dict__["status"] == "firing"
    assert record.__dict__["alertnames"] == "HopwatchEdgeDataLoss"
    assert record.__dict__["fingerprints"] == alert.fingerprint
    assert "person-42" not in logs.text


# -- secrets ------------------------------------------------------------------------------------------


def test_secrets_never_appear_in_logs_or_deliveries(logs: pytest.LogCaptureFixture) -> None:
    secrets = (SLACK_TOKEN, ROUTING_KEY, HOOK_SECRET)
    with FakeSlack(token=SLACK_TOKEN) as slack, FakePagerDuty() as pd, FakeWebhook() as hook:
        api = "/api/chat.postMessage"
        slack.fail_next(Fault.server_error(500), Fault.slack("invalid_auth"), path=api)
        pd.fail_next(Fault.server_error(502), Fault.bad_request({"errors": [f"key {ROUTING_KEY}"]}))
        hook.fail_next(Fault.server_error(500), Fault.bad_request({"echo": HOOK_SECRET}))
        dead = f"http://127.0.0.1:{free_port()}/{HOOK_SECRET}"
        receiver = Receiver(
            "team-data",
            (
                *(
                    slack_config(slack),
                    SlackConfig(
                        channel="#x",
                        mode=SlackMode.WEBHOOK,
                        api_url=Secret(value=f"{slack.url}/services/{HOOK_SECRET}"),
                    ),
                ),
                *(PagerDutyConfig(routing_key=Secret(env="PD_KEY"), url=pd.enqueue_url),),
                *(
                    WebhookConfig(url=Secret(value=f"{hook.url}/{HOOK_SECRET}")),
                    WebhookConfig(url=Secret(value=dead)),
                ),
                ConsoleConfig(),
            ),
        )

        async def body(clients: Clients) -> list[tuple[str, Delivery]]:
            return await deliver(sample_notification(sample_alert()), receiver, ENV, clients)

        # One fake timeline for all integrations: the deadline leaves room for everyone's retry.
        results = run(body, timeout=0.5, deadline=30.0)

    outcomes = {name: (d.outcome, d.reason) for name, d in results}
    assert outcomes["slack[0]"] == (Outcome.FAILED, "slack_invalid_auth")
    assert outcomes["pagerduty[0]"] == (Outcome.FAILED, "http_400")
    assert outcomes["webhook[0]"] == (Outcome.FAILED, "http_400")
    assert outcomes["webhook[1]"] == (Outcome.RETRY, "connection")
    for secret in secrets:
        assert secret not in repr(results)
        assert secret not in repr(receiver)
    # Credentials sent in headers or bodies are in no log line, even httpx's at DEBUG.
    assert SLACK_TOKEN not in logs.text
    assert ROUTING_KEY not in logs.text
    # A webhook URL is itself a secret: hopwatch and slack_sdk never log it; httpx logs request
    # URLs at INFO, which is why the daemon keeps the ``httpx`` logger at WARNING.
    ours = [r for r in logs.records if not r.name.startswith(("httpx", "httpcore"))]
    assert ours
    assert not [r for r in ours if HOOK_SECRET in logs.handler.format(r)]
