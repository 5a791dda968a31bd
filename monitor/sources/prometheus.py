"""The ``prometheus`` source: a counter expression read with ``query_range``, counted per bucket.

The query should return raw counters (``signup_events_total{job="ingest"}`` or a ``sum by``
of them is fine only if no member resets on its own: prefer raw series and map their labels).
Each pull reads the window (``monitor.sources.pull.Window``) plus a lookback before it, so every
series has the value it had at the window's start; ``counter_math`` turns the points into exact
per-bucket increments across resets and stale stretches. Series are mapped to attribute sets by
``labels`` (attribute key → label name) and summed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from monitor.config.model import PrometheusSource
from monitor.records import Attributes
from monitor.sources.counter_math import Point, bucket_increments, last_value_before
from monitor.sources.health import FailureReason, SourceError, SourceKey
from monitor.sources.http_client import get_json, make_client
from monitor.sources.reported import BucketCount
from monitor.sources.window import Window

__all__ = ["LOOKBACK", "PrometheusPull", "parse_matrix"]

LOOKBACK = 300.0
"""Prometheus's default lookback delta: a series with no sample for this long is stale."""

SeriesId = tuple[tuple[str, str], ...]


class PrometheusPull:
    """A ``PullSource`` over Prometheus's HTTP API (``/api/v1/query_range``)."""

    def __init__(
        self, key: SourceKey, spec: PrometheusSource, allowed: frozenset[str] = frozenset()
    ) -> None:
        self.key = key
        self.spec = spec
        self.schedule = spec.schedule
        self._labels = tuple((a, label) for a, label in spec.labels if a in allowed)
        self._client = make_client(spec.schedule.timeout, spec.bearer_token)
        self._carry: dict[SeriesId, float] = {}

    def __repr__(self) -> str:
        return f"PrometheusPull({self.key}, url={self.spec.url!r})"

    async def pull(self, window: Window) -> Sequence[BucketCount]:
        step = self.spec.step
        params = {
            "query": self.spec.query,
            "start": _fmt(math.floor((window.start - LOOKBACK) / step) * step),
            "end": _fmt(math.floor(window.end / step) * step),
            "step": _fmt(step),
        }
        url = self.spec.url.rstrip("/") + "/api/v1/query_range"
        series = parse_matrix(await get_json(self._client, url, params))
        return self.counts(series, window)

    def counts(self, series: Mapping[SeriesId, list[Point]], window: Window) -> list[BucketCount]:
        """Per (bucket, attribute set) totals of every series' increments in the window."""
        totals: dict[tuple[float, Attributes], int] = {}
        for sid, points in series.items():
            increments = bucket_increments(
                points,
                window_start=window.start,
                bucket_seconds=window.bucket_seconds,
                baseline=self._carry.get(sid),
            )
            attributes = self._attributes(dict(sid))
            for start, n in increments.items():
                totals[(start, attributes)] = totals.get((start, attributes), 0) + n
            last = last_value_before(points, window.start)
            if last is not None:
                self._carry[sid] = last
        status = self.spec.status
        return [BucketCount(b, n, status, attrs) for (b, attrs), n in sorted(totals.items())]

    def _attributes(self, metric: Mapping[str, str]) -> Attributes:
        return tuple(sorted((a, metric[label]) for a, label in self._labels if metric.get(label)))

    async def aclose(self) -> None:
        await self._client.aclose()


def parse_matrix(body: Any) -> dict[SeriesId, list[Point]]:
    """Series → points of a ``query_range`` answer; ``SourceError`` for any other shape."""
    if not isinstance(body, dict) or body.get("status") != "success":
        raise SourceError(FailureReason.BAD_RESPONSE, "Prometheus did not answer success")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise SourceError(
            FailureReason.QUERY,
            f"the query returns {kind or 'no'} result, not a range of counter series",
        )
    out: dict[SeriesId, list[Point]] = {}
    try:
        for item in data["result"]:
            sid = tuple(sorted(item["metric"].items()))
            out[sid] = [Point(float(t), float(v)) for t, v in item["values"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceError(FailureReason.BAD_RESPONSE, f"malformed matrix: {exc!r}") from None
    for points in out.values():
        if any(not math.isfinite(p.value) or p.value < 0 for p in points):
            raise SourceError(
                FailureReason.QUERY, "the query returns negative or non-finite values"
            )
    return out


def _fmt(t: float) -> str:
    return repr(float(t))
