"""What every notifier shares and what tests replace: the HTTP client, the Slack channel limiter,
the clock, the sleep, the random source and the time limits.

A notifier gets ``Clients`` with each call (``Notifier.notify``) rather than building its own, so a
test points every integration at a fake server and a fake clock in one place.
"""

from __future__ import annotations

import asyncio
import random as _random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx

from monitor.notify.ratelimit import ChannelLimiter, Clock, Sleep
from monitor.notify.retry import Backoff


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


__all__ = ["Clients", "open_clients"]
