"""Wire records to internal records: every per-item check that msgspec cannot do by type.

``WireMapper`` is built once per ``Config`` (hop sets, attribute filters, bucket sizes and the time
window precomputed) and run by ``monitor.sources.push`` on the decoded items. Its two loops are the
ingest hot path: a good item costs a few dict lookups and comparisons, and every rejection is
handed to a function in ``bounds`` that runs only for bad items.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec

from monitor.config.model import Config
from monitor.records import (
    Attributes,
    CountSample,
    CountSampleIn,
    Observation,
    ObservationIn,
    to_epoch,
)
from monitor.sources import bounds
from monitor.sources.attributes import AttributeFilter, NotText
from monitor.sources.bounds import ALIGNMENT_TOLERANCE, MAX_COUNT, TimeBounds
from monitor.sources.limits import clip
from monitor.sources.rejection import ItemError, Rejections, RejectReason

__all__ = ["WireMapper", "not_text"]


class WireMapper:
    """Maps decoded wire items of one ``Config`` to ``Observation`` / ``CountSample``.

    ``indexes`` (the item's position in the body, when some items were already rejected) and
    ``lines`` (NDJSON line numbers by index) only serve to place a rejection.
    """

    def __init__(self, config: Config, attributes_type: Any = dict[str, Any]) -> None:
        """``attributes_type``: what a wire item's ``attributes`` must decode as (the push
        decoder's bounded map)."""
        self.hops: dict[str, frozenset[str]] = {
            p.name: frozenset(p.hop_names) for p in config.pipelines
        }
        self._hop_list = {p.name: ", ".join(p.hop_names) for p in config.pipelines}
        self.attributes = {p.name: AttributeFilter(p.attributes) for p in config.pipelines}
        self.bucket = {p.name: p.bucket_seconds for p in config.pipelines}
        self.bounds = TimeBounds(config.server.max_future_skew, config.storage.retention)
        # For the compiled loop (``monitor.sources._mapper``): filter results by pipeline and
        # attribute bytes, and the shared texts and attribute sets of the records it makes.
        self.raw_memo: dict[str, dict[bytes, tuple[Attributes, int] | NotText | bool]] = {}
        self.shared_texts: dict[str, str] = {}
        self.shared_sets: dict[Attributes, Attributes] = {}
        self._attributes_decoder = msgspec.json.Decoder(attributes_type)

    def attributes_of_raw(
        self, pipeline: str, raw: msgspec.Raw
    ) -> tuple[Attributes, int] | NotText | bool:
        """What ``observations`` makes of an attribute map sent as these bytes: the allow-listed
        set and how many keys were dropped, or ``NotText``; False for a pipeline that is not
        configured. Raises what the typed decode raises for a map it refuses."""
        decoded = self._attributes_decoder.decode(raw)
        attrs = self.attributes.get(pipeline)
        if attrs is None:
            return False
        if not decoded:
            return (), 0
        return attrs.filter(decoded)

    def observations(
        self,
        items: list[ObservationIn],
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        now: float,
        rejections: Rejections,
        dropped: Counter[str],
    ) -> list[Observation]:
        """The hot loop: everything per item that msgspec cannot check by type."""
        hops_of = self.hops
        attribute_filters = self.attributes
        earliest = now - self.bounds.retention
        latest = now + self.bounds.skew
        skew = self.bounds.skew
        out: list[Observation] = []
        append = out.append
        for i, o in enumerate(items):
            pipeline = o.pipeline
            hops = hops_of.get(pipeline)
            if hops is None or o.hop not in hops:
                rejections.add(self._place_error(i, indexes, lines, pipeline, o.hop))
                continue
            t = o.event_time
            if isinstance(t, datetime):
                t = t.timestamp() if t.tzinfo is not None else to_epoch(t)
            if not earliest <= t <= latest:  # written so that NaN is out too
                index, line = _where(i, indexes, lines)
                rejections.add(self.bounds.window_error("event_time", t, now, index, line))
                continue
            observed = o.observed_time
            if observed is None:
                observed = now
            else:
                if isinstance(observed, datetime):
                    observed = (
                        observed.timestamp() if observed.tzinfo is not None else to_epoch(observed)
                    )
                if not (earliest <= observed <= latest and observed >= t - skew):
                    index, line = _where(i, indexes, lines)
                    rejections.add(self.bounds.observed_error(observed, t, now, index, line))
                    continue
            raw = o.attributes
            if raw:
                attrs = attribute_filters[pipeline]
                try:
                    attributes = attrs.memo.get(tuple(raw.items()))
                except TypeError:  # an array or object value: never memoised
                    attributes = None
                if attributes is None:
                    result = attrs.filter(raw)
                    if isinstance(result, NotText):
                        rejections.add(not_text(result, i, indexes, lines))
                        continue
                    attributes, n = result
                    if n:
                        dropped[pipeline] += n
            else:
                attributes = ()
            append(
                Observation(
                    pipeline,
                    o.hop,
                    o.event_type,
                    t,
                    observed,
                    o.status,
                    o.event_id,
                    o.reason,
                    attributes,
                )
            )
        return out

    def counts(
        self,
        items: list[CountSampleIn],
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        now: float,
        rejections: Rejections,
        dropped: Counter[str],
    ) -> list[CountSample]:
        earliest = now - self.bounds.retention
        latest = now + self.bounds.skew
        hops_of, buckets = self.hops, self.bucket
        remainder, tolerance = math.remainder, ALIGNMENT_TOLERANCE
        out: list[CountSample] = []
        for i, s in enumerate(items):
            pipeline = s.pipeline
            hops = hops_of.get(pipeline)
            if hops is None or s.hop not in hops:
                rejections.add(self._place_error(i, indexes, lines, pipeline, s.hop))
                continue
            size = buckets[pipeline]
            start = s.bucket_start
            if start.__class__ is not float:
                start = to_epoch(start)
            if not (
                0 <= s.count <= MAX_COUNT
                and (s.bucket_seconds is None or s.bucket_seconds == size)
                and earliest <= start <= latest
                and abs(remainder(start, size)) <= tolerance
            ):
                rejections.add(self._count_error(s, start, size, now, *_where(i, indexes, lines)))
                continue
            attributes: Attributes = ()
            if s.attributes:
                result = self.attributes[pipeline].filter(s.attributes)
                if isinstance(result, NotText):
                    rejections.add(not_text(result, i, indexes, lines))
                    continue
                attributes, n = result
                if n:
                    dropped[pipeline] += n
            out.append(
                CountSample(
                    pipeline=pipeline,
                    hop=s.hop,
                    bucket_start=start,
                    bucket_seconds=size,
                    count=s.count,
                    status=s.status,
                    event_type=s.event_type,
                    attributes=attributes,
                )
            )
        return out

    def _count_error(
        self, s: CountSampleIn, start: float, size: float, now: float, index: int, line: int | None
    ) -> ItemError:
        """Why a count sample of a known hop is out of bounds, in the order a sender fixes it."""
        if not 0 <= s.count <= MAX_COUNT:
            return bounds.count_error(s.count, index, line)
        if s.bucket_seconds is not None and s.bucket_seconds != size:
            return bounds.bucket_size_error(s.bucket_seconds, s.pipeline, size, index, line)
        if not self.bounds.contains(start, now):
            return self.bounds.window_error("bucket_start", start, now, index, line)
        return bounds.alignment_error(start, s.pipeline, size, index, line)

    def _place_error(
        self,
        i: int,
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        pipeline: str,
        hop: str,
    ) -> ItemError:
        index, line = _where(i, indexes, lines)
        if pipeline not in self.hops:
            known = ", ".join(self.hops) or "(none configured)"
            return ItemError(
                index,
                "pipeline",
                f"unknown pipeline {clip(pipeline)!r}; known pipelines: {clip(known, 512)}",
                RejectReason.UNKNOWN_PIPELINE,
                line,
            )
        return ItemError(
            index,
            "hop",
            f"unknown hop {clip(hop)!r} in pipeline {pipeline!r}; known hops: "
            f"{clip(self._hop_list[pipeline], 512)}",
            RejectReason.UNKNOWN_HOP,
            line,
        )


def _where(
    i: int, indexes: list[int] | None, lines: Sequence[int] | None
) -> tuple[int, int | None]:
    """The body index and NDJSON line of the ``i``-th decoded item."""
    index = indexes[i] if indexes is not None else i
    return index, (lines[index] if lines is not None else None)


def not_text(
    bad: NotText, i: int, indexes: list[int] | None, lines: Sequence[int] | None
) -> ItemError:
    index, line = _where(i, indexes, lines)
    return ItemError(index, bad.field, bad.message, RejectReason.INVALID_VALUE, line)
