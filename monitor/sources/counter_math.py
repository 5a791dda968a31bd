"""Prometheus counter samples → exact per-bucket increments, with resets and staleness handled.

Pure arithmetic for ``monitor.sources.prometheus``: the adapter fetches points, this module decides
how many events each event-time bucket gained. The rules, the same as Prometheus's ``increase``
but without its extrapolation (hopwatch wants whole events, not a rate times a window):

- an increase is counted in the bucket whose interval ``(start, end]`` holds the point that
  revealed it (a query_range point at ``t`` carries the last scrape at or before ``t``, so with a
  step that tiles the bucket, a bucket gets exactly the events scraped inside it);
- a value below the previous one is a counter reset: the process restarted and counted from 0,
  so the whole new value is the increase;
- a gap in the points (the series went stale: target down, or scrapes failing for longer than the
  lookback) is bridged by the same rule, from the last value before the gap;
- a series first seen after the window's start was born inside it (a new label value, a new
  process): it counted from 0. One present at the start only sets the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Point", "bucket_increments", "increase"]


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one series at one time (epoch seconds)."""

    t: float
    value: float


def increase(previous: float, current: float) -> float:
    """Events counted between two values of one counter; a drop means it restarted from 0."""
    return current - previous if current >= previous else current


def bucket_index(t: float, bucket_seconds: float) -> int:
    """Index of the bucket whose interval ``(start, end]`` holds ``t`` (a point at exactly a
    bucket's end reports what was scraped inside it, so it belongs to that bucket)."""
    return math.ceil(t / bucket_seconds) - 1


def bucket_increments(
    points: Sequence[Point],
    *,
    window_start: float,
    bucket_seconds: float,
    baseline: float | None = None,
) -> dict[float, int]:
    """Increments per bucket start for buckets at or after ``window_start``.

    ``points`` are one series' points in time order, starting at most a lookback before
    ``window_start``; ``baseline`` is the series' last value known from earlier pulls, used only
    when no point precedes the window (the series was stale at its start). Points at or before
    ``window_start`` only move the baseline. Without any baseline the series was born inside the
    window and its first value is all increase.
    """
    previous = baseline
    out: dict[float, int] = {}
    for point in points:
        if point.t <= window_start:
            previous = point.value
            continue
        gained = point.value if previous is None else increase(previous, point.value)
        previous = point.value
        if gained:
            start = bucket_index(point.t, bucket_seconds) * bucket_seconds
            out[start] = out.get(start, 0) + round(gained)
    return out


def last_value_before(points: Iterable[Point], t: float) -> float | None:
    """The series' value at ``t`` as far as ``points`` tell, to carry to the next pull."""
    last = None
    for point in points:
        if point.t > t:
            break
        last = point.value
    return last
