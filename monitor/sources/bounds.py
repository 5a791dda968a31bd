"""What values a pushed item may hold beyond its types: times in the window, counts, bucket sizes.

``TimeBounds`` is the window hopwatch can still count in: from ``now - storage.retention`` to
``now + server.max_future_skew``. The hot loops in ``monitor.sources.mapping`` compare against it
inline; the functions here run only for an item already found out of bounds and say why, naming
the field and the fix. Values that would overflow what is downstream (a checkpoint's float
arithmetic, SQLite's 64-bit integers) are refused here, at the edge.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from monitor.sources.rejection import ItemError, RejectReason, format_time
from monitor.timeutil import format_duration

__all__ = [
    "ALIGNMENT_TOLERANCE",
    "MAX_COUNT",
    "TimeBounds",
    "aligned",
    "alignment_error",
    "bucket_size_error",
    "count_error",
]

MAX_COUNT: Final = 2**53
"""The largest count accepted: above it, float sums (loss ratios) are no longer exact."""

ALIGNMENT_TOLERANCE: Final = 1e-3
"""A ``bucket_start`` this close (seconds) to a boundary is aligned: RFC 3339 → float rounding."""

_CLOCK_HINT: Final = "check the sender's clock and that the time is in seconds, not milliseconds"


def aligned(start: float, size: float) -> bool:
    """Whether ``start`` is a bucket boundary for buckets of ``size`` seconds (epoch-aligned).

    ``WireMapper.counts`` inlines this test in its hot loop; keep the two in step.
    """
    return abs(math.remainder(start, size)) <= ALIGNMENT_TOLERANCE


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """The window of times an item may carry, relative to hopwatch's ``now``."""

    skew: float
    """``server.max_future_skew``: how far ahead of hopwatch's clock a sender's clock may be."""
    retention: float
    """``storage.retention``: older times can no longer be counted."""

    def contains(self, t: float, now: float) -> bool:
        """Whether ``t`` is in the window (never for NaN); the hot loops inline this comparison."""
        return now - self.retention <= t <= now + self.skew

    def window_error(
        self, name: str, t: float, now: float, index: int, line: int | None
    ) -> ItemError:
        """``event_time`` or ``bucket_start`` outside the window (or not a finite number)."""
        if not math.isfinite(t):
            return _not_finite(name, t, index, line)
        if t > now:
            message = (
                f"{name} {format_time(t)} is {format_duration(t - now)} ahead of hopwatch's clock "
                f"(more than {format_duration(self.skew)} allowed); {_CLOCK_HINT}"
            )
            return ItemError(index, name, message, RejectReason.FUTURE_EVENT_TIME, line)
        message = (
            f"{name} {format_time(t)} is older than storage.retention "
            f"({format_duration(self.retention)}); it can no longer be counted"
        )
        return ItemError(index, name, message, RejectReason.TOO_OLD, line)

    def observed_error(
        self, observed: float, event_time: float, now: float, index: int, line: int | None
    ) -> ItemError:
        """``observed_time`` outside the window, or before the event existed (beyond skew)."""
        name = "observed_time"
        if not math.isfinite(observed):
            return _not_finite(name, observed, index, line)
        if observed > now:
            message = (
                f"{name} {format_time(observed)} is {format_duration(observed - now)} ahead of "
                f"hopwatch's clock (more than {format_duration(self.skew)} allowed); {_CLOCK_HINT}"
            )
        elif observed < now - self.retention:
            message = (
                f"{name} {format_time(observed)} is older than storage.retention "
                f"({format_duration(self.retention)}); send the time the hop saw the event"
            )
        else:
            message = (
                f"{name} {format_time(observed)} is {format_duration(event_time - observed)} "
                f"before event_time {format_time(event_time)} (more than "
                f"{format_duration(self.skew)} allowed): a hop cannot see an event before it "
                f"exists; {_CLOCK_HINT}"
            )
        return ItemError(index, name, message, RejectReason.INVALID_VALUE, line)


def count_error(count: int, index: int, line: int | None) -> ItemError:
    """A count below 0 or above ``MAX_COUNT``."""
    if count < 0:
        message = f"count: {count} is negative; send the number of events in the bucket"
    else:
        message = (
            f"count: {count} is larger than 2**53 ({MAX_COUNT}); send the number of events "
            "in one bucket (is it a cumulative counter or an unset sentinel?)"
        )
    return ItemError(index, "count", message, RejectReason.INVALID_VALUE, line)


def bucket_size_error(
    given: float, pipeline: str, size: float, index: int, line: int | None
) -> ItemError:
    """``bucket_seconds`` sent and not the pipeline's bucket size."""
    message = (
        f"bucket_seconds: {given!r} is not the bucket size of pipeline {pipeline!r}, which "
        f"counts in {format_duration(size)} ({size!r} s) buckets; send one sample per "
        f"{format_duration(size)} bucket, or leave bucket_seconds out"
    )
    return ItemError(index, "bucket_seconds", message, RejectReason.INVALID_VALUE, line)


def alignment_error(
    start: float, pipeline: str, size: float, index: int, line: int | None
) -> ItemError:
    """``bucket_start`` not on a bucket boundary of the pipeline."""
    floor = math.floor(start / size) * size
    message = (
        f"bucket_start {format_time(start)} is not the start of a bucket of pipeline "
        f"{pipeline!r}, which counts in {format_duration(size)} ({size!r} s) buckets; send a "
        f"multiple of {size!r} s since the epoch, such as {format_time(floor)}"
    )
    return ItemError(index, "bucket_start", message, RejectReason.INVALID_VALUE, line)


def _not_finite(name: str, t: float, index: int, line: int | None) -> ItemError:
    message = f"{name}: {t!r} is not a finite number of seconds; send RFC 3339 or epoch seconds"
    return ItemError(index, name, message, RejectReason.INVALID_VALUE, line)
