"""The event-time range one pull reads: shared by the pull loop and its adapters (Prometheus,
SQL, JSON), so neither imports the other."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """The event-time range one pull reads: ``[start, end)``; buckets from ``open_from`` on are
    still open (a pull may lower their counts), earlier ones closed since the previous pull."""

    start: float
    end: float
    open_from: float
    bucket_seconds: float
