"""Decoding off the event loop: CPU work on a request body runs in a worker thread.

DESIGN.md §8: no request holds the loop for more than a few milliseconds. Un-gzipping and decoding
a 10 MiB push body takes tens to hundreds of milliseconds (seconds for pathological bodies before
``monitor.sources.limits``), and on the loop that stalls every other request, ``/healthz``
included, and the ticker. The decoders are pure functions of the body and an immutable config, so
they are safe on a thread; the engine is not thread-safe, so its calls stay on the loop thread,
after the ``await``.

A limiter bounds how many bodies decode at once: each holds up to ``max_body_size`` bytes and its
decoded items, so unbounded concurrency would be an unbounded memory bill.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from functools import partial
from typing import Final, ParamSpec, TypeVar

import anyio
import anyio.to_thread

__all__ = ["DECODE_THREADS", "off_loop"]

P = ParamSpec("P")
T = TypeVar("T")

DECODE_THREADS: Final = 4
"""Bodies decoded at once (per process); further requests wait their turn without blocking."""

_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = (
    weakref.WeakKeyDictionary()
)


def _capacity() -> anyio.CapacityLimiter:
    """One limiter per running loop (a limiter belongs to the loop it was made in; tests run
    several loops in one process)."""
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(DECODE_THREADS)
    return limiter


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; exceptions propagate to the caller."""
    return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs), limiter=_capacity())
