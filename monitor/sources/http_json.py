"""The ``http_json`` source: a JSON endpoint (a vendor's delivery API) with a field mapping.

The URL may hold ``{start}`` and ``{end}`` (the pull window, as epoch seconds or RFC 3339); the
answer is a list of items, or holds one at the dotted path ``items``. Each item gives a bucket
start, a count and optionally a status and attributes, each at a dotted path of its own. Like the
other sources, every pull returns the window's absolute counts and the runner sends differences.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from monitor.config.model import HttpJsonSource
from monitor.ledger.watermark import Watermark
from monitor.records import Status
from monitor.sources.health import FailureReason, SourceError, SourceKey
from monitor.sources.http_client import get_json, make_client
from monitor.sources.reported import BucketCount, to_epoch_seconds
from monitor.sources.window import Window

__all__ = ["HttpJsonPull", "items_to_counts", "lookup"]

_MISSING = object()


class HttpJsonPull:
    """A ``PullSource`` over a JSON endpoint."""

    def __init__(self, key: SourceKey, spec: HttpJsonSource) -> None:
        self.key = key
        self.spec = spec
        self.schedule = spec.schedule
        self._client = make_client(spec.schedule.timeout, spec.bearer_token)

    def __repr__(self) -> str:
        return f"HttpJsonPull({self.key}, url={self.spec.url!r})"

    async def pull(self, window: Window) -> Sequence[BucketCount]:
        url = self.spec.url.format(
            start=_time(window.start, self.spec.time_format),
            end=_time(window.end, self.spec.time_format),
        )
        body = await get_json(self._client, url, {})
        items = lookup(body, self.spec.items) if self.spec.items else body
        if not isinstance(items, list):
            where = f"at {self.spec.items!r}" if self.spec.items else "at the top"
            raise SourceError(FailureReason.BAD_RESPONSE, f"no list of items {where}")
        return items_to_counts(items, window, self.spec)

    async def aclose(self) -> None:
        await self._client.aclose()


def lookup(item: Any, path: str) -> Any:
    """The value at a dotted path (``stats.delivered``), or ``_MISSING``."""
    node = item
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def items_to_counts(items: list[Any], window: Window, spec: HttpJsonSource) -> list[BucketCount]:
    """Items → counts per (pipeline bucket, status, attribute set) within the window."""
    buckets = Watermark(window.bucket_seconds, 0.0)
    totals: dict[tuple[float, str, tuple[tuple[str, str], ...]], int] = {}
    for i, item in enumerate(items):
        start = to_epoch_seconds(lookup(item, spec.bucket_start_field))
        count = lookup(item, spec.count_field)
        if start is None or isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SourceError(
                FailureReason.BAD_RESPONSE,
                f"item {i}: {spec.bucket_start_field!r} and {spec.count_field!r} must be a time "
                "and a whole number ≥ 0",
            )
        status = _status(item, i, spec)
        b = buckets.start(buckets.bucket_of(start))
        if not window.start <= b < window.end:
            continue
        attributes = []
        for key, path in spec.attributes:
            value = lookup(item, path)
            if isinstance(value, str) and value:
                attributes.append((key, value))
        k = (b, status, tuple(sorted(attributes)))
        totals[k] = totals.get(k, 0) + count
    return [BucketCount(b, n, s, a) for (b, s, a), n in sorted(totals.items())]


def _status(item: Any, index: int, spec: HttpJsonSource) -> str:
    if spec.status_field is None:
        return spec.status
    value = lookup(item, spec.status_field)
    if value not in {s.value for s in Status}:
        raise SourceError(
            FailureReason.BAD_RESPONSE,
            f"item {index}: {spec.status_field!r} must be one of ok, rejected, failed, dropped",
        )
    return str(value)


def _time(t: float, time_format: str) -> str:
    if time_format == "rfc3339":
        return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
    return repr(float(t))
