"""Delivering one notification to every integration of its receiver, concurrently.

This is the one place where the notifiers are put together (the fan-out stage): each integration
(``slack[0]``, ``pagerduty[0]``, ``webhook[0]``, ``console``) runs as its own task with its own
timeout and retries, so a slow or failing one never holds up the others, and an unexpected bug
in one becomes a ``failed`` delivery, never an exception. The caller (the notification log) gets
one ``Delivery`` per integration and records the Slack ``ts`` and PagerDuty ``dedup_key`` from it.

``Clients`` holds what the notifiers share and what tests replace: the HTTP client, the Slack
channel limiter, the clock, the sleep and the random source.
"""

from __future__ import annotations

import asyncio
import logging
import random as _random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify.console import ConsoleNotifier
from monitor.notify.pagerduty import PagerDutyNotifier
from monitor.notify.ratelimit import ChannelLimiter, Clock, Sleep
from monitor.notify.retry import Backoff, with_retries
from monitor.notify.slack import SlackNotifier
from monitor.notify.webhook import WebhookNotifier
from monitor.routing.model import Receiver

log = logging.getLogger("hopwatch.notify")


@dataclass
class Clients:
    """What notifiers share. ``timeout`` bounds each HTTP request; ``deadline`` bounds all the
    attempts of one integration (retries, Slack's channel pacing and 429 waits included) from
    the start of ``deliver``: an attempt still running then is cancelled as a ``timeout``."""

    http: httpx.AsyncClient
    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    random: Callable[[], float] = _random.random
    timeout: float = 10.0
    deadline: float = 60.0
    backoff: Backoff = field(default_factory=Backoff)
    max_inline_wait: float = 5.0
    """Longest Slack ``Retry-After`` waited out inside one attempt (longer: back to the loop)."""
    limiter: ChannelLimiter = field(init=False)

    def __post_init__(self) -> None:
        self.limiter = ChannelLimiter(self.clock, self.sleep)


@asynccontextmanager
async def open_clients(**options: object) -> AsyncIterator[Clients]:
    """``Clients`` with a fresh ``httpx.AsyncClient``, closed on exit (for the daemon and demo)."""
    async with httpx.AsyncClient(follow_redirects=False) as client:
        yield Clients(http=client, **options)  # type: ignore[arg-type]


def integrations(
    receiver: Receiver, clients: Clients
) -> list[tuple[str, Callable[[Notification, Mapping[str, str]], Awaitable[Delivery]]]]:
    """``(name, send)`` for each integration of ``receiver``, named as Alertmanager names them."""
    slack = SlackNotifier(
        limiter=clients.limiter,
        http_client=clients.http,
        timeout=clients.timeout,
        sleep=clients.sleep,
        max_inline_wait=clients.max_inline_wait,
        jitter=clients.random,
    )
    pagerduty = PagerDutyNotifier(http_client=clients.http, timeout=clients.timeout)
    webhook = WebhookNotifier(http_client=clients.http, timeout=clients.timeout)
    out: list[tuple[str, Callable[[Notification, Mapping[str, str]], Awaitable[Delivery]]]] = []
    for i, s in enumerate(receiver.slack):
        out.append((f"slack[{i}]", lambda n, env, c=s: slack.send(n, c, env)))
    for i, p in enumerate(receiver.pagerduty):
        out.append((f"pagerduty[{i}]", lambda n, env, c=p: pagerduty.send(n, c, env)))
    for i, w in enumerate(receiver.webhook):
        out.append((f"webhook[{i}]", lambda n, env, c=w: webhook.send(n, c, env)))
    if receiver.console:
        out.append(("console", ConsoleNotifier().send))
    return out


async def _attempt(
    name: str,
    send: Callable[[Notification, Mapping[str, str]], Awaitable[Delivery]],
    notification: Notification,
    environ: Mapping[str, str],
    timeout: float,
) -> Delivery:
    """One bounded attempt; anything unexpected becomes a ``failed`` delivery."""
    try:
        return await asyncio.wait_for(send(notification, environ), timeout)
    except TimeoutError:
        return Delivery(Outcome.RETRY, "timeout")
    except Exception as exc:
        # The exception's text may hold a URL or a server's words: only its type is logged.
        log.error(
            "notifier raised",
            extra={
                "receiver": notification.receiver,
                "integration": name,
                "error": type(exc).__name__,
            },
        )
        return Delivery(Outcome.FAILED, "error", detail={"error": type(exc).__name__})


async def deliver(
    notification: Notification,
    receiver: Receiver,
    environ: Mapping[str, str],
    clients: Clients,
    only: Collection[str] | None = None,
    budget: float | None = None,
) -> list[tuple[str, Delivery]]:
    """Send ``notification`` through every integration of ``receiver`` at once (or those named in
    ``only``: the ones the notification log says need it), each retried until
    ``clients.deadline`` (or ``budget`` seconds, if shorter); returns ``(integration, delivery)``
    in the receiver's order."""
    deadline = clients.clock() + min(clients.deadline, budget or clients.deadline)
    named = [(n, s) for n, s in integrations(receiver, clients) if only is None or n in only]

    async def one(name: str, send: Callable[..., Awaitable[Delivery]]) -> Delivery:
        own = notification.for_integration(name)
        delivery = await with_retries(
            lambda: _attempt(
                name, send, own, environ, max(deadline - clients.clock(), clients.timeout)
            ),
            deadline=deadline,
            clock=clients.clock,
            sleep=clients.sleep,
            random=clients.random,
            backoff=clients.backoff,
        )
        _log_delivery(notification, name, delivery)
        return delivery

    results = await asyncio.gather(*(one(name, send) for name, send in named))
    return list(zip((name for name, _ in named), results, strict=True))


def _log_delivery(notification: Notification, name: str, delivery: Delivery) -> None:
    fields = {
        "receiver": notification.receiver,
        "integration": name,
        "group_key": notification.group_key,
        "outcome": str(delivery.outcome),
        "reason": delivery.reason,
        "attempts": delivery.detail.get("attempts", 1),
    }
    if delivery.outcome is Outcome.SENT:
        log.debug("notification delivered", extra=fields)
    else:
        log.warning("notification not delivered", extra=fields)
