"""Retrying a delivery: exponential backoff with jitter, ``Retry-After`` honoured, a deadline.

Only ``retry`` outcomes are retried (Alertmanager's ``Retrier``): a ``failed`` one is final at
once. The clock, the sleep and the random source are passed in, so a test runs many attempts
without waiting and a replay is deterministic.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from monitor.alerting.notification import Delivery, Outcome
from monitor.notify.ratelimit import Clock, Sleep


@dataclass(frozen=True)
class Backoff:
    """Waits of ``initial · factor^n`` seconds, at most ``cap``, each drawn uniformly from its
    upper half (``jitter = 0.5``) so that receivers failing together do not retry together."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, rnd: float) -> float:
        """The wait after failed attempt number ``attempt`` (0-based), with ``rnd`` in [0, 1)."""
        base = min(self.cap, self.initial * self.factor**attempt)
        return base * (1.0 - self.jitter * rnd)


async def with_retries(
    attempt: Callable[[], Awaitable[Delivery]],
    *,
    deadline: float,
    clock: Clock,
    sleep: Sleep,
    random: Callable[[], float],
    backoff: Backoff = Backoff(),
) -> Delivery:
    """Call ``attempt`` until it is not ``retry`` or the next try would start after ``deadline``
    (an absolute time on ``clock``). The last delivery is returned, with the number of attempts
    in ``detail["attempts"]``. A ``retry_after`` longer than the backoff wins."""
    tries = 0
    while True:
        delivery = await attempt()
        tries += 1
        if delivery.outcome is not Outcome.RETRY:
            break
        wait = backoff.delay(tries - 1, random())
        if delivery.retry_after is not None:
            wait = max(wait, delivery.retry_after)
        if clock() + wait > deadline:
            break
        await sleep(wait)
    return replace(delivery, detail={**delivery.detail, "attempts": tries})
