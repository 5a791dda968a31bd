"""Ledger records to SQL rows and back, exactly: the judges replay history from these rows.

Kept apart from the SQLite adapter so a PostgreSQL store can share the same encoding of counts,
missing ids and sketches (JSON for what a person may want to read in a shell, the sketch's own bytes
for the rest). Enums are stored by their string values; numbers are coerced to plain ``int`` and
``float`` so numpy scalars from the statistics code bind like any other.
"""

from __future__ import annotations

from typing import Any

import msgspec

from monitor.ledger.records import Completeness, EdgeResult, HopBucket, JoinMode, SeriesKey
from monitor.ledger.sketch import LatencySketch
from monitor.records import Status

_CountsWire = list[tuple[Status, tuple[tuple[str, str], ...], int]]

HOP_BUCKET_COLUMNS = (
    "pipeline",
    "hop",
    "bucket_start",
    "bucket_seconds",
    "counts",
    "late",
    "latency",
    "completeness",
)

EDGE_RESULT_COLUMNS = (
    "pipeline",
    "edge",
    "from_hop",
    "to_hop",
    "bucket_start",
    "bucket_seconds",
    "expected",
    "arrived",
    "missing",
    "duplicates",
    "late",
    "mode",
    "sample_rate",
    "missing_ids",
    "latency",
    "completeness",
    "closed_at",
)


def hop_bucket_row(bucket: HopBucket) -> tuple[Any, ...]:
    counts = [(key.status, key.attributes, int(n)) for key, n in bucket.counts]
    return (
        bucket.pipeline,
        bucket.hop,
        float(bucket.bucket_start),
        float(bucket.bucket_seconds),
        msgspec.json.encode(counts).decode(),
        int(bucket.late),
        bucket.latency.to_bytes(),
        Completeness(bucket.completeness).value,
    )


def hop_bucket_from_row(row: tuple[Any, ...]) -> HopBucket:
    pipeline, hop, start, seconds, counts, late, latency, completeness = row
    decoded = msgspec.json.decode(counts, type=_CountsWire)
    return HopBucket(
        pipeline=pipeline,
        hop=hop,
        bucket_start=start,
        bucket_seconds=seconds,
        counts=tuple((SeriesKey(status, attributes), n) for status, attributes, n in decoded),
        late=late,
        latency=LatencySketch.from_bytes(latency),
        completeness=Completeness(completeness),
    )


def edge_result_row(result: EdgeResult) -> tuple[Any, ...]:
    return (
        result.pipeline,
        result.edge,
        result.from_hop,
        result.to_hop,
        float(result.bucket_start),
        float(result.bucket_seconds),
        int(result.expected),
        int(result.arrived),
        int(result.missing),
        int(result.duplicates),
        int(result.late),
        JoinMode(result.mode).value,
        float(result.sample_rate),
        msgspec.json.encode(list(result.missing_ids)).decode(),
        result.latency.to_bytes(),
        Completeness(result.completeness).value,
        float(result.closed_at),
    )


def edge_result_from_row(row: tuple[Any, ...]) -> EdgeResult:
    (
        pipeline,
        edge,
        from_hop,
        to_hop,
        start,
        seconds,
        expected,
        arrived,
        missing,
        duplicates,
        late,
        mode,
        sample_rate,
        missing_ids,
        latency,
        completeness,
        closed_at,
    ) = row
    return EdgeResult(
        pipeline=pipeline,
        edge=edge,
        from_hop=from_hop,
        to_hop=to_hop,
        bucket_start=start,
        bucket_seconds=seconds,
        expected=expected,
        arrived=arrived,
        missing=missing,
        duplicates=duplicates,
        late=late,
        mode=JoinMode(mode),
        sample_rate=sample_rate,
        missing_ids=msgspec.json.decode(missing_ids, type=tuple[str, ...]),
        latency=LatencySketch.from_bytes(latency),
        completeness=Completeness(completeness),
        closed_at=closed_at,
    )


def upsert_sql(table: str, columns: tuple[str, ...], key: tuple[str, ...], mark: str) -> str:
    """An insert-or-update by ``key``; ``mark`` is the driver's placeholder (``?`` or ``%s``)."""
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(mark for _ in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


def range_query(
    table: str,
    columns: tuple[str, ...],
    name_column: str,
    pipeline: str,
    name: str | None,
    since: float | None,
    until: float | None,
    mark: str,
) -> tuple[str, list[Any]]:
    """The buckets of one pipeline (one hop or edge if ``name``), ``since <= start < until``."""
    where: list[str] = [f"pipeline = {mark}"]
    params: list[Any] = [pipeline]
    for clause, value in (
        (f"{name_column} = {mark}", name),
        (f"bucket_start >= {mark}", since),
        (f"bucket_start < {mark}", until),
    ):
        if value is not None:
            where.append(clause)
            params.append(value if isinstance(value, str) else float(value))
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} WHERE {' AND '.join(where)} "
        f"ORDER BY bucket_start, {name_column}"
    )
    return sql, params
