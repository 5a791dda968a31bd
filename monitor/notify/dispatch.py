"""Delivering one notification to every integration of its receiver, concurrently.

This is the one place where the notifiers are put together (the fan-out stage): each integration
(``slack[0]``, ``pagerduty[0]``, ``msteamsv2[0]``, ``console``) is looked up in the notifier
registry by its config's ``integration`` and runs as its own task with its own timeout and
retries, so a slow or failing one never holds up the others, and an unexpected bug in one becomes
a ``failed`` delivery, never an exception. The caller (the notification log) gets one
``Delivery`` per integration and keeps its opaque ``state`` for that integration's next time.

``Clients`` (``clients.py``) holds what the notifiers share and what tests replace.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping

from monitor.alerting.notification import Delivery, Notification, Outcome
from monitor.notify import registry
from monitor.notify.clients import Clients, open_clients
from monitor.notify.registry import Notifier
from monitor.notify.retry import with_retries
from monitor.routing.model import Receiver

log = logging.getLogger("hopwatch.notify")


def integrations(
    receiver: Receiver, clients: Clients, notifiers: Mapping[str, Notifier] | None = None
) -> list[tuple[str, Callable[[Notification, Mapping[str, str]], Awaitable[Delivery]]]]:
    """``(name, send)`` for each integration of ``receiver``, named as Alertmanager names them;
    each config goes to the notifier registered under its ``integration`` (``registry.discover``).
    A config with no notifier (a plug-in removed) fails on its own, not the whole receiver."""
    found = registry.discover() if notifiers is None else notifiers
    out: list[tuple[str, Callable[[Notification, Mapping[str, str]], Awaitable[Delivery]]]] = []
    for name, config in receiver.named():
        notifier = found.get(config.integration)
        if notifier is None:
            out.append((name, _no_notifier))
            continue
        out.append(
            (name, lambda n, env, c=config, nt=notifier: nt.notify(n, c, env, clients))  # type: ignore[misc]
        )
    return out


async def _no_notifier(notification: Notification, environ: Mapping[str, str]) -> Delivery:
    return Delivery(Outcome.FAILED, "no_notifier")


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


__all__ = ["Clients", "deliver", "integrations", "open_clients"]
