"""The bounded buffer between ``observe()`` and the sending thread.

A ``queue.Queue`` whose bound counts every observation that is not yet settled, not only the
ones still waiting: a batch the sending thread has taken and keeps retrying while hopwatch is
down still occupies its places. That makes the bound a bound on memory and makes drops exact:
with the bound at N and hopwatch down, the first N observations are kept and every later one is
dropped and counted, whatever the sending thread happened to be doing.

Only the producer side (``put_nowait``) is the standard ``Queue`` code, so ``observe()`` costs
what a bare ``queue.put`` costs. The consumer side is ``take`` and ``settle``, never ``get``:
``Queue.get`` would see settled-but-empty as non-empty.
"""

from __future__ import annotations

import queue
import time
from typing import Any


class HoldingQueue(queue.Queue[Any]):
    """A bounded FIFO whose ``maxsize`` covers waiting and taken-but-unsettled items alike.

    ``unfinished_tasks`` (the standard ``Queue`` counter of items put and not yet done) is the
    occupancy; ``settle`` is ``task_done`` for a whole batch, and ``wait_settled`` is ``join``
    with a timeout that waits only for the items put before it was called.
    """

    settled: int
    """Items settled (sent or given up) since creation; with FIFO order, everything put before
    the ``put_total`` observed at some moment is settled once ``settled`` reaches it."""

    def _init(self, maxsize: int) -> None:
        super()._init(maxsize)
        self.settled = 0

    def _qsize(self) -> int:
        # The full-check of ``put``: waiting plus taken-but-unsettled items.
        return self.unfinished_tasks

    @property
    def waiting(self) -> int:
        """Items not yet taken by the consumer."""
        return len(self.queue)

    @property
    def put_total(self) -> int:
        """Items ever accepted (settled or not)."""
        with self.mutex:
            return self.settled + self.unfinished_tasks

    def counts(self) -> tuple[int, int]:
        """(items ever accepted, items not yet settled), read together."""
        with self.mutex:
            return self.settled + self.unfinished_tasks, self.unfinished_tasks

    def take(self, n: int) -> list[Any]:
        """Up to ``n`` waiting items, oldest first, without blocking; they stay counted."""
        with self.mutex:
            items = self.queue
            count = min(n, len(items))
            return [items.popleft() for _ in range(count)]

    def settle(self, n: int) -> None:
        """Release ``n`` taken items' places: they were sent or given up."""
        if n <= 0:
            return
        with self.mutex:
            self.unfinished_tasks -= n
            self.settled += n
            self.not_full.notify(n)
            self.all_tasks_done.notify_all()

    def wait_settled(self, target: int, timeout: float) -> bool:
        """Wait until ``target`` items have been settled in all; False when ``timeout`` passes."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self.all_tasks_done:
            while self.settled < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.all_tasks_done.wait(remaining)
            return True
