"""Decoding off the event loop, and back-pressure when bodies arrive faster than they decode.

DESIGN.md §8: no request holds the loop for more than a few milliseconds. Un-gzipping and decoding
a 10 MiB push body takes tens to hundreds of milliseconds (seconds for pathological bodies before
``monitor.sources.limits``), and on the loop that stalls every other request, ``/healthz``
included, and the ticker. The decoders are pure functions of the body and an immutable config, so
they are safe on a thread; the engine is not thread-safe, so its calls stay on the loop thread,
after the ``await``.

Small plain bodies (``INLINE_BYTES``: a few hundred observations, well under a millisecond of
decoding) are decoded on the loop: the hand-off to a thread and back costs more than they do.
Gzip bodies always go to a thread (a small one may inflate to ``max_body_size``), and the
un-gzipping and the decoding are one trip there, not two.

``DecodeGate`` bounds the push requests in progress per process: each holds up to
``max_body_size`` bytes and its decoded items until it is answered (the write-ahead log's fsync
included), so unbounded concurrency would be an unbounded memory bill. ``DECODE_THREADS`` decode
at once; up to ``MAX_WAITING`` more wait their turn (for a thread or for the log); beyond that a
request is refused at once with 503 and ``Retry-After`` (before its body is read), which the
Python client and OTLP exporters honour, instead of queueing without end.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import Final, ParamSpec, TypeVar

import anyio
import anyio.to_thread

from monitor.server.problems import Problem

__all__ = [
    "DECODE_THREADS",
    "INLINE_BYTES",
    "MAX_WAITING",
    "RETRY_AFTER_SECONDS",
    "DecodeGate",
    "decode_gate",
    "off_loop",
]

P = ParamSpec("P")
T = TypeVar("T")

DECODE_THREADS: Final = 4
"""Bodies decoded at once (per process)."""
MAX_WAITING: Final = 16
"""Push requests admitted beyond ``DECODE_THREADS`` (waiting for a thread or for the log's
fsync) before more are refused with 503."""
INLINE_BYTES: Final = 64 * 1024
"""Plain bodies up to this size are decoded on the loop (about 250 observations: well under a
millisecond)."""
RETRY_AFTER_SECONDS: Final = 1


class DecodeGate:
    """Admission of push requests on one loop: ``admit`` around everything a request holds
    memory for, ``run`` for its CPU work. ``refused`` counts the 503s it caused."""

    def __init__(self, threads: int | None = None, waiting: int | None = None) -> None:
        threads = DECODE_THREADS if threads is None else threads
        self.limiter = anyio.CapacityLimiter(threads)
        self.capacity = threads + (MAX_WAITING if waiting is None else waiting)
        self.in_progress = 0
        self.refused = 0

    @contextmanager
    def admit(self, what: str) -> Iterator[None]:
        """Hold a place for one request, or raise the 503 that tells its client to come back."""
        if self.in_progress >= self.capacity:
            self.refused += 1
            raise Problem(
                503,
                f"hopwatch is busy: {self.in_progress} {what} requests are being processed",
                f"retry after {RETRY_AFTER_SECONDS} s (Retry-After); the Python client does so "
                "by itself. If this persists, send fewer, larger batches or add capacity",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.in_progress += 1
        try:
            yield
        finally:
            self.in_progress -= 1

    async def run(self, inline: bool, fn: Callable[P, T], /, *args: P.args, **kw: P.kwargs) -> T:
        """``fn(*args, **kw)`` on the loop when ``inline``, else in a worker thread."""
        if inline:
            return fn(*args, **kw)
        return await anyio.to_thread.run_sync(partial(fn, *args, **kw), limiter=self.limiter)


_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DecodeGate] = (
    weakref.WeakKeyDictionary()
)


def decode_gate() -> DecodeGate:
    """The running loop's gate (a limiter belongs to the loop it was made in; tests run several
    loops in one process)."""
    loop = asyncio.get_running_loop()
    gate = _gates.get(loop)
    if gate is None:
        gate = _gates[loop] = DecodeGate()
    return gate


async def off_loop(fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``fn(*args, **kwargs)`` in a worker thread; exceptions propagate to the caller."""
    return await decode_gate().run(False, fn, *args, **kwargs)
