"""Slack: one Block Kit message per group, updated in place, against a fake Slack over real HTTP."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from notify_support import run

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.notification import Delivery, Notification, Outcome, Prior
from monitor.notify.dispatch import Clients, deliver
from monitor.notify.ratelimit import ChannelLimiter
from monitor.notify.slack import api_base_url
from monitor.notify.slack_blocks import (
    MAX_BLOCKS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    render_message,
    thread_reply,
)
from monitor.routing.model import Receiver, Secret, SlackConfig, SlackMode
from monitor.testing_fakes import (
    FakeAsyncTime,
    FakeSlack,
    Fault,
    sample_alert,
    sample_notification,
)

TOKEN = "xoxb-1111-2222-very-secret-token"
ENV = {"SLACK_TOKEN": TOKEN}
EVIDENCE = {
    "expected": 1000,
    "arrived": 900,
    "missing": 100,
    "p_value": 1.2e-9,
    "missing_ids": ["ev-1", "ev-2", "ev-3", "ev-4", "ev-5", "ev-6", "ev-7"],
}


def api_config(slack: FakeSlack, **overrides: Any) -> SlackConfig:
    return SlackConfig(
        channel="#data-alerts",
        mode=SlackMode.API,
        api_url=Secret(value=slack.api_url),
        token=Secret(env="SLACK_TOKEN"),
        **overrides,
    )


def loss_alert(**kw: Any) -> Alert:
    return sample_alert(
        annotations={
            "summary": "10% of events lost between identity and warehouse",
            "runbook_url": "https://runbooks.example/loss",
            "dashboard_url": "https://grafana.example/d/edges",
        },
        evidence=EVIDENCE,
        edge="identity->warehouse",
        **kw,
    )


def resolved(alert: Alert, at: float = 1_700_000_900.0) -> Alert:
    return replace(alert, state=AlertState.RESOLVED, ends_at=at)


def prior_from(notification: Notification, delivery: Delivery) -> Prior:
    """What the notification log would remember of ``delivery``."""
    return Prior(
        sent_at=notification.at,
        firing=tuple(a.fingerprint for a in notification.firing),
        resolved=tuple(a.fingerprint for a in notification.resolved),
        state=delivery.state,
    )


async def send_one(clients: Clients, notification: Notification, config: SlackConfig) -> Delivery:
    [(name, delivery)] = await deliver(
        notification, Receiver("team-data", (*(config,),)), ENV, clients
    )
    assert name == "slack[0]"
    return delivery


# -- one message per group, updated in place -----------------------------------------------------


def test_a_group_is_posted_once_then_updated_in_place_on_change_and_on_resolve() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack)
        first, second = loss_alert(hop="warehouse"), loss_alert(hop="crm")

        async def body(clients: Clients, _: FakeAsyncTime) -> list[Delivery]:
            n1 = sample_notification(first)
            d1 = await send_one(clients, n1, config)
            n2 = sample_notification(first, second, prior=prior_from(n1, d1))
            d2 = await send_one(clients, n2, config)
            n3 = sample_notification(resolved(first), resolved(second), prior=prior_from(n2, d2))
            d3 = await send_one(clients, n3, config)
            return [d1, d2, d3]

        deliveries = run(body)

    assert [d.outcome for d in deliveries] == [Outcome.SENT] * 3
    assert len({d.state["ts"] for d in deliveries}) == 1
    [post] = slack.posts
    assert post.ts == deliveries[0].state["ts"]
    assert len(post.updates) == 2
    assert post.blocks[0]["text"]["text"].startswith("\N{WHITE HEAVY CHECK MARK} [RESOLVED]")
    assert post.text.startswith("[RESOLVED] HopwatchEdgeDataLoss")
    assert slack.count("/api/chat.postMessage") == 1
    assert slack.count("/api/chat.update") == 2


def test_the_message_carries_evidence_links_and_the_group() -> None:
    message = render_message(sample_notification(loss_alert()))
    header, section, context = message.blocks
    assert header["text"]["text"] == "\N{FIRE} [FIRING:1] HopwatchEdgeDataLoss · page"
    text = section["text"]["text"]
    assert "10% of events lost between identity and warehouse" in text
    assert (
        "_observed 900 vs expected 1000 · missing 100 · p-value 1.2e-09 · "
        "missing ids: ev-1, ev-2, ev-3, ev-4, ev-5 (+2)_"
    ) in text
    assert (
        "<https://runbooks.example/loss|Runbook> · <https://grafana.example/d/edges|Dashboard>"
        in text
    )
    assert "`edge=identity-&gt;warehouse`" in text
    assert (
        'group `{}/{}:{alertname="HopwatchEdgeDataLoss", pipeline="signup"}`'
        in (context["elements"][0]["text"])
    )
    assert message.text == (
        "[FIRING:1] HopwatchEdgeDataLoss: 10% of events lost between identity and warehouse"
    )


def test_a_message_deleted_in_slack_is_posted_anew() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack)
        alert = loss_alert()
        gone = Prior(
            sent_at=0.0, firing=(alert.fingerprint,), state={"channel": "C0GONE", "ts": "1.000001"}
        )

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            return await send_one(clients, sample_notification(resolved(alert), prior=gone), config)

        delivery = run(body)

    assert delivery.outcome is Outcome.SENT
    [post] = slack.posts
    assert delivery.state["ts"] == post.ts != "1.000001"
    assert [r.path for r in slack.requests] == ["/api/chat.update", "/api/chat.postMessage"]


def test_thread_replies_say_what_changed_and_nothing_when_nothing_did() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack, thread_replies=True)
        a, b = loss_alert(hop="warehouse"), loss_alert(hop="crm")

        async def body(clients: Clients, _: FakeAsyncTime) -> None:
            n1 = sample_notification(a)
            d1 = await send_one(clients, n1, config)
            n2 = sample_notification(a, prior=prior_from(n1, d1))  # a repeat: no change
            d2 = await send_one(clients, n2, config)
            n3 = sample_notification(a, b, prior=prior_from(n2, d2))
            d3 = await send_one(clients, n3, config)
            n4 = sample_notification(resolved(a), resolved(b), prior=prior_from(n3, d3))
            await send_one(clients, n4, config)

        run(body)

    [post] = slack.posts
    assert [r.thread_ts for r in slack.replies] == [post.ts, post.ts]
    assert [r.text for r in slack.replies] == [
        "\N{FIRE} 1 new firing: 10% of events lost between identity and warehouse",
        "\N{WHITE HEAVY CHECK MARK} 2 resolved: 10% of events lost between identity and "
        "warehouse, 10% of events lost between identity and warehouse; all alerts of the group "
        "are resolved",
    ]


def test_no_thread_reply_without_a_prior_message() -> None:
    assert thread_reply(sample_notification(loss_alert())) is None


def test_incoming_webhook_mode_posts_each_change_as_a_new_message() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = SlackConfig(
            channel="#data-alerts", mode=SlackMode.WEBHOOK, api_url=Secret(value=slack.webhook_url)
        )
        alert = loss_alert()

        async def body(clients: Clients, _: FakeAsyncTime) -> list[Delivery]:
            n1 = sample_notification(alert)
            d1 = await send_one(clients, n1, config)
            n2 = sample_notification(resolved(alert), prior=prior_from(n1, d1))
            return [d1, await send_one(clients, n2, config)]

        deliveries = run(body)

    assert [d.outcome for d in deliveries] == [Outcome.SENT, Outcome.SENT]
    assert [p["text"][:10] for p in slack.webhook_posts] == ["[FIRING:1]", "[RESOLVED]"]
    assert slack.webhook_posts[0]["blocks"][0]["type"] == "header"


def test_resolved_only_groups_are_not_sent_without_send_resolved() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack, send_resolved=False)

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            return await send_one(clients, sample_notification(resolved(loss_alert())), config)

        delivery = run(body)

    assert delivery.outcome is Outcome.SENT
    assert "skipped" in delivery.detail
    assert slack.requests == []


# -- failures: retried when they can be, once delivered -----------------------------------------


@pytest.mark.parametrize(
    "fault",
    [Fault.rate_limited(retry_after=1), Fault.server_error(500), Fault.hang(1.0)],
    ids=["a 429 with Retry-After", "a 500", "a timeout"],
)
def test_a_transient_failure_ends_in_exactly_one_delivered_message(fault: Fault) -> None:
    with FakeSlack(token=TOKEN) as slack:
        slack.fail_next(fault)
        config = api_config(slack)

        async def body(clients: Clients, time: FakeAsyncTime) -> Delivery:
            return await send_one(clients, sample_notification(loss_alert()), config)

        delivery = run(body, timeout=0.3)

    assert delivery.outcome is Outcome.SENT
    assert len(slack.posts) == 1
    assert slack.count("/api/chat.postMessage") == 2


def test_a_429_waits_at_least_its_retry_after() -> None:
    with FakeSlack(token=TOKEN) as slack:
        slack.fail_next(Fault.rate_limited(retry_after=2))
        config = api_config(slack)

        async def body(clients: Clients, time: FakeAsyncTime) -> list[float]:
            await send_one(clients, sample_notification(loss_alert()), config)
            return time.sleeps

        sleeps = run(body)

    assert sleeps == [2.0]


def test_a_long_retry_after_is_handed_back_to_the_retry_loop() -> None:
    with FakeSlack(token=TOKEN) as slack:
        slack.fail_next(Fault.rate_limited(retry_after=60))
        config = api_config(slack)

        async def body(clients: Clients, time: FakeAsyncTime) -> tuple[Delivery, list[float]]:
            delivery = await send_one(clients, sample_notification(loss_alert()), config)
            return delivery, time.sleeps

        delivery, sleeps = run(body)

    assert delivery.outcome is Outcome.SENT
    assert sleeps == [60.0]
    assert slack.count("/api/chat.postMessage") == 2 and len(slack.posts) == 1


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        (Fault.slack("invalid_auth"), "slack_invalid_auth"),
        (Fault.slack("channel_not_found"), "slack_channel_not_found"),
        (Fault.bad_request(), "http_400"),
    ],
    ids=["invalid_auth", "channel_not_found", "HTTP 400"],
)
def test_a_permanent_error_fails_at_once_and_is_never_retried(fault: Fault, reason: str) -> None:
    with FakeSlack(token=TOKEN) as slack:
        slack.fail_next(fault)
        config = api_config(slack)

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            return await send_one(clients, sample_notification(loss_alert()), config)

        delivery = run(body)

    assert (delivery.outcome, delivery.reason) == (Outcome.FAILED, reason)
    assert slack.count() == 1
    assert slack.posts == []


def test_a_missing_token_fails_without_a_request() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack)

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            [(_, d)] = await deliver(
                sample_notification(loss_alert()), Receiver("r", (*(config,),)), {}, clients
            )
            return d

        delivery = run(body)

    assert (delivery.outcome, delivery.reason) == (Outcome.FAILED, "secret")
    assert slack.requests == []


# -- Slack's limits, exactly ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alerts", "sections", "more"),
    [
        (1, 1, None),
        (48, 48, None),
        (49, 47, "_and 2 more alerts_"),
        (100, 47, "_and 53 more alerts_"),
    ],
    ids=["one alert", "48 alerts fill 50 blocks", "49 alerts: 2 summarised", "100 alerts"],
)
def test_a_message_has_at_most_50_blocks_and_summarises_the_rest(
    alerts: int, sections: int, more: str | None
) -> None:
    group = [loss_alert(hop=f"hop-{i:03d}") for i in range(alerts)]
    blocks = render_message(sample_notification(*group)).blocks
    assert len(blocks) <= MAX_BLOCKS
    assert blocks[0]["type"] == "header" and blocks[-1]["type"] == "context"
    alert_sections = [b for b in blocks[1:-1] if "hop-" in b["text"]["text"]]
    assert len(alert_sections) == sections
    assert (blocks[-2]["text"]["text"] if more else None) == more
    if alerts >= 48:
        assert len(blocks) == MAX_BLOCKS


def test_long_texts_are_cut_to_slacks_limits_with_an_ellipsis() -> None:
    long_alert = sample_alert(
        "Hopwatch" + "VeryLongName" * 20,
        annotations={"summary": "x" * 5000, "runbook_url": "https://runbooks.example/loss"},
        evidence=EVIDENCE,
    )
    message = render_message(sample_notification(long_alert))
    header = message.blocks[0]["text"]["text"]
    section = message.blocks[1]["text"]["text"]
    assert len(header) == MAX_HEADER_TEXT and header.endswith("…")
    assert len(section) <= MAX_SECTION_TEXT
    assert "x…" in section
    assert section.endswith("<https://runbooks.example/loss|Runbook>")
    assert message.text and len(message.text) <= 3000


def test_the_fallback_text_is_always_set() -> None:
    message = render_message(sample_notification(sample_alert()))
    assert message.text == "[FIRING:1] HopwatchEdgeDataLoss: HopwatchEdgeDataLoss (pipeline=signup)"


# -- pacing ---------------------------------------------------------------------------------------


def test_posts_are_paced_to_one_per_second_per_channel() -> None:
    async def main() -> list[float]:
        time = FakeAsyncTime()
        limiter = ChannelLimiter(time.clock, time.sleep)
        waits = [limiter.reserve("#a", 1.0) for _ in range(3)]
        waits.append(limiter.reserve("#b", 1.0))
        time.now += 10
        waits.append(limiter.reserve("#a", 1.0))
        waits.append(await limiter.acquire("#a", 2.0))
        return waits

    assert asyncio.run(main()) == [0.0, 1.0, 2.0, 0.0, 0.0, 1.0]


def test_back_to_back_notifications_to_one_channel_wait_for_their_slot() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack)

        async def body(clients: Clients, time: FakeAsyncTime) -> list[float]:
            for hop in ("a", "b", "c"):
                await send_one(
                    clients, sample_notification(loss_alert(hop=hop), group_by=("hop",)), config
                )
            return time.sleeps

        assert run(body) == [1.0, 1.0]
    assert len(slack.posts) == 3


@pytest.mark.parametrize(
    ("api_url", "base"),
    [
        ("https://slack.com/api/chat.postMessage", "https://slack.com/api/"),
        ("http://127.0.0.1:9/api/", "http://127.0.0.1:9/api/"),
        ("http://127.0.0.1:9/api", "http://127.0.0.1:9/api/"),
    ],
)
def test_the_sdk_base_url_is_the_api_url_without_its_method(api_url: str, base: str) -> None:
    assert api_base_url(api_url) == base


def test_a_huge_group_is_accepted_by_slack_as_one_message() -> None:
    with FakeSlack(token=TOKEN) as slack:
        config = api_config(slack)
        group = [
            sample_alert(annotations={"summary": "lost " * 1000}, hop=f"hop-{i:03d}")
            for i in range(120)
        ]

        async def body(clients: Clients, _: FakeAsyncTime) -> Delivery:
            return await send_one(clients, sample_notification(*group), config)

        delivery = run(body)

    assert delivery.outcome is Outcome.SENT
    [post] = slack.posts
    assert len(post.blocks) == MAX_BLOCKS
    assert post.blocks[-2]["text"]["text"] == "_and 73 more alerts_"
