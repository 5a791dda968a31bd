"""Helpers several kind plug-ins share: event counts of a hop bucket by one attribute.

Not a kind (its name starts with ``_``, so discovery skips it)."""

from __future__ import annotations

from collections import Counter

from monitor.ledger.records import HopBucket


def segment_counts(bucket: HopBucket, key: str | None) -> Counter[str]:
    """Events of ``bucket`` by the value of attribute ``key`` (all under ``""`` without one)."""
    out: Counter[str] = Counter()
    for series, n in bucket.counts:
        value = dict(series.attributes).get(key, "") if key else ""
        out[value] += n
    return out


def segment_count(bucket: HopBucket, key: str | None, value: str) -> tuple[int, int]:
    """(events in the segment ``key=value``, events in the bucket), as the runner splits series."""
    return segment_counts(bucket, key).get(value, 0), bucket.total
