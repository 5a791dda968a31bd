"""The harness of the notifier tests: a body run with real HTTP and a fake clock and sleep.

``run(body)`` gives ``body`` the ``Clients`` the dispatcher sends with (a real ``httpx`` client,
so requests reach the fakes of ``monitor.testing_fakes`` over HTTP; time that moves only when the
code sleeps; no jitter) and the ``FakeAsyncTime`` behind them, and returns what ``body`` returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from monitor.notify.dispatch import Clients
from monitor.testing_fakes import FakeAsyncTime


def run(body: Callable[[Clients, FakeAsyncTime], Awaitable[Any]], *, timeout: float = 2.0) -> Any:
    async def main() -> Any:
        time = FakeAsyncTime()
        async with httpx.AsyncClient() as http:
            clients = Clients(
                http=http, clock=time.clock, sleep=time.sleep, random=lambda: 0.0, timeout=timeout
            )
            return await body(clients, time)

    return asyncio.run(main())
