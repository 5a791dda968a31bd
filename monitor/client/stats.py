"""What became of every observation handed to a reporter: a frozen snapshot of its counters.

Every ``observe()`` call ends in exactly one place: sent, one of the ``dropped_*`` counters, or
still ``pending``. So ``observed == sent + dropped + pending`` at any snapshot, which is how the
tests (and an operator reading a service's own metrics) check that nothing vanished unseen.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["ReporterStats", "Tally"]


@dataclass(frozen=True)
class ReporterStats:
    """Counters since the reporter was created; read them with ``HopReporter.stats()``."""

    queued: int = 0
    """Observations taken into the buffer."""
    pending: int = 0
    """Of those, not yet sent nor given up: waiting, or in a batch being (re)tried."""
    sent: int = 0
    """Accepted by hopwatch."""
    dropped_queue_full: int = 0
    """Not buffered: the buffer held ``max_queue`` unsettled observations (hopwatch down or slow)."""
    dropped_invalid: int = 0
    """Not sendable: a wrong type or value (``last_error`` says which field)."""
    dropped_rejected: int = 0
    """Refused by hopwatch: a 4xx for the whole batch, or listed as rejected in its 202."""
    dropped_unsent: int = 0
    """Still unsent when ``close()`` ran out of time."""
    dropped_closed: int = 0
    """Observed after ``close()``."""
    retries: int = 0
    """Batches sent again after a failed attempt."""
    failures: int = 0
    """Failed attempts: network errors, timeouts, 408, 429 and 5xx answers."""
    batches: int = 0
    """Requests hopwatch answered with 2xx."""
    last_error: str | None = None
    """The latest failure, rejection or invalid item, for a log line or a debug page."""

    @property
    def dropped(self) -> int:
        """Observations given up for any reason."""
        return (
            self.dropped_queue_full
            + self.dropped_invalid
            + self.dropped_rejected
            + self.dropped_unsent
            + self.dropped_closed
        )

    @property
    def observed(self) -> int:
        """Every observation handed to the reporter: ``sent + dropped + pending``."""
        return self.sent + self.dropped + self.pending


@dataclass(slots=True)
class Tally:
    """The mutable counters behind ``ReporterStats`` (all but the buffer's own two); the reporter
    changes them under its lock and hands out frozen snapshots, never this object."""

    sent: int = 0
    dropped_queue_full: int = 0
    dropped_invalid: int = 0
    dropped_rejected: int = 0
    dropped_unsent: int = 0
    dropped_closed: int = 0
    retries: int = 0
    failures: int = 0
    batches: int = 0
    last_error: str | None = None

    def snapshot(self, queued: int, pending: int) -> ReporterStats:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        return ReporterStats(queued=queued, pending=pending, **counts)
