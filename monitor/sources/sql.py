"""The ``sql`` source: the sink's own ``COUNT(*) … GROUP BY`` over event time, via SQLAlchemy.

The query binds ``:start`` and ``:end`` (the pull window, ``[start, end)``) and returns
``bucket_start, count`` followed by the configured attribute columns, in that order. Rows are summed
into the pipeline bucket holding ``bucket_start``, so a query may group finer than the pipeline.
Because every pull re-reads the open buckets, rows that land late (a sink that commits in batches)
are counted as soon as they are visible, until the watermark closes their bucket.

SQLAlchemy is synchronous; each pull runs in a worker thread. A connection the server dropped
(restart, failover, ``pg_terminate_backend``) fails the first statement; the pull is retried once on
a fresh connection before it counts as a failure. The password never appears in the URL the
adapter shows (``repr``, logs, errors): it is set on the URL object only.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.config.model import SqlSource
from monitor.ledger.watermark import Watermark
from monitor.sources.health import FailureReason, SourceError, SourceKey
from monitor.sources.reported import BucketCount, to_epoch_seconds
from monitor.sources.window import Window

__all__ = ["SqlPull", "bucket_rows", "to_epoch_seconds"]

log = logging.getLogger("hopwatch.sources.sql")


class SqlPull:
    """A ``PullSource`` over any database SQLAlchemy can reach."""

    def __init__(self, key: SourceKey, spec: SqlSource) -> None:
        self.key = key
        self.spec = spec
        self.schedule = spec.schedule
        url = make_url(spec.url)
        if spec.password is not None:
            url = url.set(password=spec.password)
        self.display_url = url.render_as_string(hide_password=True)
        self._engine: SqlEngine = create_engine(url, pool_size=1, max_overflow=0)
        self._lock = threading.Lock()
        self.reconnects = 0
        """Pulls that succeeded on a second connection after the first was found dropped."""

    def __repr__(self) -> str:
        return f"SqlPull({self.key}, url={self.display_url!r})"

    async def pull(self, window: Window) -> Sequence[BucketCount]:
        return await asyncio.to_thread(self._pull_blocking, window)

    def _pull_blocking(self, window: Window) -> list[BucketCount]:
        # A pull abandoned by its timeout may still hold the connection: skip, do not queue up.
        if not self._lock.acquire(blocking=False):
            raise SourceError(FailureReason.TIMEOUT, "the previous query is still running")
        try:
            rows = self._query(window)
        finally:
            self._lock.release()
        return bucket_rows(rows, window, self.spec)

    def _query(self, window: Window) -> list[Sequence[Any]]:
        params = self._params(window)
        for attempt in (1, 2):
            try:
                conn = self._engine.connect()
            except DBAPIError as exc:
                raise SourceError(FailureReason.CONNECTION, _first_line(exc)) from None
            try:
                with conn:
                    return [tuple(r) for r in conn.execute(text(self.spec.query), params)]
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    self.reconnects += 1
                    log.info("sql connection dropped; retrying", extra={"source": str(self.key)})
                    continue
                reason = (
                    FailureReason.CONNECTION if exc.connection_invalidated else FailureReason.QUERY
                )
                raise SourceError(reason, _first_line(exc)) from None
            except SQLAlchemyError as exc:
                raise SourceError(FailureReason.QUERY, type(exc).__name__) from None
        raise AssertionError("unreachable")

    def _params(self, window: Window) -> dict[str, Any]:
        if self.spec.time_params == "epoch":
            return {"start": window.start, "end": window.end}
        return {
            "start": datetime.fromtimestamp(window.start, UTC),
            "end": datetime.fromtimestamp(window.end, UTC),
        }

    async def aclose(self) -> None:
        await asyncio.to_thread(self._engine.dispose)


def _first_line(exc: DBAPIError) -> str:
    """The driver's own message, first line only: without the SQL and parameters SQLAlchemy
    appends (drivers do not put passwords in their messages)."""
    if exc.orig is None:
        return type(exc).__name__
    lines = str(exc.orig).strip().splitlines()
    return (lines[0] if lines else type(exc.orig).__name__)[:200]


def bucket_rows(
    rows: Sequence[Sequence[Any]], window: Window, spec: SqlSource
) -> list[BucketCount]:
    """Rows → counts per (pipeline bucket, attribute set) within the window."""
    width = 2 + len(spec.attributes)
    buckets = Watermark(window.bucket_seconds, 0.0)
    totals: dict[tuple[float, tuple[tuple[str, str], ...]], int] = {}
    for i, row in enumerate(rows):
        if len(row) != width:
            names = ", ".join(("bucket_start", "count", *spec.attributes))
            raise SourceError(
                FailureReason.BAD_RESPONSE,
                f"row {i} has {len(row)} columns; the query must return {names}",
            )
        start = to_epoch_seconds(row[0])
        count = row[1]
        if start is None or not isinstance(count, int | Decimal) or count < 0:
            raise SourceError(
                FailureReason.BAD_RESPONSE,
                f"row {i}: bucket_start {row[0]!r} or count {row[1]!r} is not a time and a count",
            )
        b = buckets.start(buckets.bucket_of(start))
        if not window.start <= b < window.end:
            continue
        attributes = tuple(
            sorted((k, str(v)) for k, v in zip(spec.attributes, row[2:], strict=True) if v)
        )
        totals[(b, attributes)] = totals.get((b, attributes), 0) + int(count)
    return [BucketCount(b, n, spec.status, a) for (b, a), n in sorted(totals.items())]
