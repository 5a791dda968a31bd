"""Sends spooled batches to the server, oldest first, until each is acknowledged.

One batch in flight at a time, in seq order, so the server's record of applied seqs stays a
contiguous prefix. Outcomes are classified as the notifiers classify theirs:

- 200 (``applied`` or ``duplicate``): acknowledged; the batch leaves the spool;
- network errors, timeouts, 408, 429, 5xx: worth retrying, after a backoff with full jitter
  (``Retry-After`` wins) — the batch stays and nothing behind it overtakes it;
- any other 4xx (a batch naming a pipeline the server does not know, a wrong token): retrying
  the same bytes cannot help, so the batch is dropped, counted and logged.

Time comes from the passed clock, so tests move through backoffs without sleeping.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from dataclasses import dataclass, field

import httpx

from monitor.agent.spool import Spool
from monitor.client.retry import Backoff, parse_retry_after
from monitor.timeutil import Clock

log = logging.getLogger("hopwatch.agent")

CONTENT_TYPE = "application/msgpack"
PATH = "/v1/aggregates"
RETRYABLE = frozenset({408, 429})
DEFAULT_BACKOFF = Backoff(base=1.0, cap=30.0)


@dataclass
class ForwardStats:
    """Monotonic counters for the agent's ``/metrics``."""

    sent: int = 0
    duplicates: int = 0
    retries: int = 0
    refused: int = 0
    errors: Counter[str] = field(default_factory=Counter)


class Forwarder:
    """Drains ``spool`` into ``POST {server}/v1/aggregates``."""

    def __init__(
        self,
        spool: Spool,
        server_url: str,
        client: httpx.Client,
        clock: Clock,
        *,
        bearer_token: str | None = None,
        backoff: Backoff = DEFAULT_BACKOFF,
        rng: random.Random | None = None,
    ) -> None:
        self.spool = spool
        self.url = server_url.rstrip("/") + PATH
        self.client = client
        self.clock = clock
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.stats = ForwardStats()
        self._headers = {"content-type": CONTENT_TYPE}
        if bearer_token:
            self._headers["authorization"] = f"Bearer {bearer_token}"
        self._attempt = 0
        self.next_attempt_at = 0.0

    def drain(self, max_batches: int = 1000) -> int:
        """Send what is due, oldest first; returns how many batches left the spool."""
        done = 0
        while done < max_batches and self.clock.now() >= self.next_attempt_at:
            item = self.spool.oldest()
            if item is None:
                break
            if not self._send(*item):
                break
            done += 1
        return done

    def _send(self, seq: int, body: bytes) -> bool:
        """True when the batch left the spool (acknowledged or refused for good)."""
        try:
            response = self.client.post(self.url, content=body, headers=self._headers)
        except httpx.HTTPError as exc:
            self._retry_later(type(exc).__name__, None)
            return False
        code = response.status_code
        if code == 200:
            self.spool.ack(seq)
            outcome = response.json().get("outcome") if response.content else None
            self.stats.sent += 1
            self.stats.duplicates += outcome == "duplicate"
            self._attempt = 0
            return True
        if code in RETRYABLE or code >= 500:
            self._retry_later(f"http_{code}", response.headers.get("retry-after"))
            return False
        log.error(
            "server refused an aggregate batch; dropped",
            extra={"seq": seq, "status": code, "answer": response.text[:300]},
        )
        self.spool.ack(seq)
        self.stats.refused += 1
        return True

    def _retry_later(self, reason: str, retry_after: str | None) -> None:
        now = self.clock.now()
        delay = self.backoff.delay(self._attempt, self.rng, parse_retry_after(retry_after, now))
        self._attempt += 1
        self.stats.retries += 1
        self.stats.errors[reason] += 1
        self.next_attempt_at = now + delay
        if self._attempt == 1 or self._attempt % 20 == 0:
            log.warning(
                "server unreachable; aggregates stay in the spool",
                extra={"reason": reason, "attempt": self._attempt, "depth": self.spool.depth},
            )
