"""A per-key pacing limiter: at most ``rate`` calls per second per key (Slack: per channel).

Slack allows about one message per second per channel; bursts beyond that get HTTP 429. Rather
than provoke the 429, each caller reserves the next free slot of its channel and sleeps until it.
The clock and the sleep are passed in, so tests advance a fake clock instead of waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class ChannelLimiter:
    """Paces calls per key. One instance per process, shared by every Slack integration.

    ``acquire`` reserves a slot before it awaits anything, so concurrent callers on one event
    loop queue up in order without a lock.
    """

    def __init__(self, clock: Clock, sleep: Sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._next: dict[str, float] = {}

    def reserve(self, key: str, rate: float) -> float:
        """Reserve the next slot for ``key``; returns how long to wait for it (0 if free now)."""
        now = self._clock()
        if rate <= 0:
            return 0.0
        slot = max(now, self._next.get(key, now))
        self._next[key] = slot + 1.0 / rate
        self._forget(now)
        return slot - now

    async def acquire(self, key: str, rate: float) -> float:
        """Wait for ``key``'s next slot; returns the time waited."""
        wait = self.reserve(key, rate)
        if wait > 0:
            await self._sleep(wait)
        return wait

    def _forget(self, now: float) -> None:
        if len(self._next) > 1024:
            self._next = {k: t for k, t in self._next.items() if t > now}
