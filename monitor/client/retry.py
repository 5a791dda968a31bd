"""How long to wait before sending a batch again: exponential backoff with full jitter.

Full jitter (a uniform draw between 0 and the exponential ceiling, as in AWS's "Exponential
Backoff and Jitter") spreads the retries of many reporters that lost hopwatch at the same moment,
so they do not return in lockstep when it comes back. A ``Retry-After`` from hopwatch (or a proxy
in front of it) wins over the draw: the server knows better when it can take traffic again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Final

__all__ = ["MAX_RETRY_AFTER", "Backoff", "parse_retry_after"]

MAX_RETRY_AFTER: Final = 300.0
"""The longest ``Retry-After`` honoured, in seconds: a misconfigured proxy answering "one day"
must not park the buffer for a day."""


@dataclass(frozen=True)
class Backoff:
    """Delays for attempt 0, 1, 2, …: uniform in ``[0, min(cap, base · 2^attempt)]``."""

    base: float = 0.5
    cap: float = 30.0

    def ceiling(self, attempt: int) -> float:
        """The largest delay drawn for ``attempt`` (0 for the first retry)."""
        return min(self.cap, self.base * 2.0 ** min(attempt, 62))

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt; at least ``retry_after`` when one was sent."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
        return rng.uniform(0.0, self.ceiling(attempt))


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), None if unusable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)
