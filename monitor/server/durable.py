"""The push handlers' one hook into durability: await it after the engine took a batch, before
answering, and a 202 means the batch is on disk (``monitor.durability``).

The hook is optional on the ``Runtime``: a runtime without ``durable`` (tests' ``StaticRuntime``,
an in-memory setup) answers at once. A log that cannot be written is a 503 with a hint, never a
202: the client keeps the batch and retries.
"""

from __future__ import annotations

from typing import Any

from monitor.server.problems import Problem
from monitor.store.wal import WalError


async def make_durable(runtime: Any, kind: str, items: Any, now: float) -> None:
    """Log ``items`` (what the engine was just given, in the same loop step) and wait for its
    fsync; must be called with no ``await`` between the engine call and this one, so the log's
    order is the engine's."""
    hook = getattr(runtime, "durable", None)
    if hook is None:
        return
    try:
        await hook(kind, items, now)
    except WalError as exc:
        raise Problem(
            503,
            "hopwatch took the batch but cannot make it durable: the write-ahead log is not "
            "writable",
            f"retry later; the operator should check the data dir's disk ({str(exc)[:200]})",
        ) from None
