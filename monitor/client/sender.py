"""The background thread of a reporter: takes batches off the buffer and sends each until it is
settled (delivered, refused, or given up at ``close``).

One batch is in flight at a time and it keeps its places in the buffer while it is retried, so
while hopwatch is down the buffer fills up to its bound and the rest is dropped and counted; when
hopwatch is back the held batch goes first and the waiting ones follow in order.

The loop never dies: an unexpected error settles the batch it happened in (counted, logged) and
the loop goes on with the next one.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.client.buffer import HoldingQueue
from monitor.client.retry import Backoff
from monitor.client.stats import Tally
from monitor.client.transport import Answer, Delivery, Verdict
from monitor.client.wire import Item, chunks, encode

__all__ = ["BatchSender", "Batching"]

log = logging.getLogger("hopwatch.client")


@dataclass(frozen=True)
class Batching:
    """How the sender cuts and paces batches (see ``HopReporter`` for each knob)."""

    batch_size: int
    max_batch_bytes: int
    flush_interval: float
    backoff: Backoff


class BatchSender:
    """Owns the thread; the reporter owns the buffer and the counters and shares them."""

    def __init__(
        self,
        buffer: HoldingQueue,
        poster: Delivery,
        tally: Tally,
        lock: threading.Lock,
        batching: Batching,
        rng: random.Random,
        id_hash: Callable[[str], str] | None = None,
    ) -> None:
        self.buffer, self.poster, self.tally, self.lock = buffer, poster, tally, lock
        self.id_hash = id_hash
        self.batching, self.rng = batching, rng
        self.wake = threading.Event()
        """Set to send now: a full batch is waiting, a flush or a close was asked for."""
        self.closing = threading.Event()
        self.deadline: float | None = None
        """Monotonic time after which ``close`` gives up what is still unsent."""
        self._unsettled = 0
        self._failing = False
        self._instance = uuid.uuid4().hex  # one reporter's keys never collide with another's
        self._sequence = 0
        self.thread = threading.Thread(target=self._run, name="hopwatch-reporter", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float) -> bool:
        """Send what is left for up to ``timeout`` seconds, then give the rest up; True when the
        thread has finished."""
        self.deadline = time.monotonic() + max(0.0, timeout)
        self.closing.set()
        self.wake.set()
        # A request already on the wire may outlast the deadline by its own timeout; wait a
        # little past the deadline for the thread to count what it gives up, not for that.
        self.thread.join(max(0.0, timeout) + 0.5)
        return not self.thread.is_alive()

    def settle(self, n: int, counter: str, detail: str | None = None) -> None:
        """Count ``n`` taken items under ``counter`` and free their places in the buffer."""
        if n <= 0:
            return
        with self.lock:
            setattr(self.tally, counter, getattr(self.tally, counter) + n)
            if detail:
                self.tally.last_error = detail
            self.buffer.settle(n)
            self._unsettled -= n

    # --- the loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self.closing.is_set():
                self.wake.wait(self.batching.flush_interval)
                self.wake.clear()
                self._drain()
            self._drain()
        finally:
            self.poster.close()

    def _drain(self) -> None:
        """Send everything waiting, a batch at a time."""
        while items := self.buffer.take(self.batching.batch_size):
            self._unsettled = len(items)
            try:
                self._deliver(items)
            except Exception as exc:  # a bug here must not stop reporting
                log.exception("hopwatch client: a batch could not be processed")
                self.settle(self._unsettled, "dropped_rejected", f"internal error: {exc!r}")

    def _deliver(self, items: Sequence[Item]) -> None:
        encoded = encode(items, self.id_hash)
        self.settle(encoded.invalid, "dropped_invalid", encoded.first_error)
        for lines in chunks(encoded.lines, self.batching.max_batch_bytes):
            self._send(lines)

    def _send(self, lines: Sequence[bytes]) -> None:
        """Post ``lines`` until hopwatch takes or refuses them, or ``close`` gives them up."""
        n = len(lines)
        body = self.poster.prepare(lines)
        key = self._next_key()
        attempt = 0
        while not self._expired():
            if attempt:
                self._count("retries")
            answer = self.poster.post(body, n, key)
            if answer.verdict is Verdict.DELIVERED:
                self._delivered(n, answer)
                return
            if answer.verdict is Verdict.TOO_LARGE and n > 1:
                self._send(lines[: n // 2])
                self._send(lines[n // 2 :])
                return
            if answer.verdict is not Verdict.RETRY:
                log.warning("hopwatch refused %d observations: %s", n, answer.detail)
                self.settle(n, "dropped_rejected", answer.detail)
                return
            self._failed(answer)
            self._pause(self.batching.backoff.delay(attempt, self.rng, answer.retry_after))
            attempt += 1
        self.settle(n, "dropped_unsent", "closed before hopwatch took these observations")

    # --- small decisions ----------------------------------------------------------------------

    def _next_key(self) -> str:
        """The batch's ``Idempotency-Key``: this reporter's id and the batch's number."""
        self._sequence += 1
        return f"{self._instance}-{self._sequence}"

    def _delivered(self, n: int, answer: Answer) -> None:
        if self._failing:
            self._failing = False
            log.info("hopwatch reachable again")
        self._count("batches")
        self.settle(answer.accepted, "sent")
        self.settle(n - answer.accepted, "dropped_rejected", answer.detail)

    def _failed(self, answer: Answer) -> None:
        if not self._failing:
            self._failing = True
            log.warning("cannot deliver to hopwatch, buffering and retrying: %s", answer.detail)
        with self.lock:
            self.tally.failures += 1
            self.tally.last_error = answer.detail

    def _pause(self, delay: float) -> None:
        """Wait before a retry. Before ``close`` a close cuts the wait short for one prompt last
        try; after it, waits end at the deadline at the latest."""
        if not self.closing.is_set():
            self.closing.wait(delay)
            return
        assert self.deadline is not None
        time.sleep(max(0.0, min(delay, self.deadline - time.monotonic())))

    def _expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def _count(self, counter: str) -> None:
        with self.lock:
            setattr(self.tally, counter, getattr(self.tally, counter) + 1)
