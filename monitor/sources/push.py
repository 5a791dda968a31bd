"""Push ingest: request bodies in, validated records and per-item rejections out.

This is the parse-at-the-edge step for ``POST /v1/observations`` and ``POST /v1/counts``: wire
records (``ObservationIn`` / ``CountSampleIn``) are decoded by msgspec and mapped to the internal
``Observation`` / ``CountSample`` the ledger consumes. It is pure (``now`` is passed in, no I/O), so
the HTTP app (``monitor.server.app``) only deals with transport concerns: auth, size limits, gzip.

Bad items never spoil a batch: each is rejected with its index, the field at fault and a message,
counted by a closed set of reasons (``RejectReason``, the ``reason`` label of the ingest metrics),
and the rest of the batch is kept. Only a body that does not parse at all raises ``BodyError``.

The hot path decodes the whole body with one typed msgspec decoder and then does a minimal loop
(precomputed hop sets, attributes rebuilt only when present). The slow per-item path runs only
when the typed decode fails, to find out which items are bad.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Generic, TypeVar

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
from monitor.timeutil import format_duration

__all__ = [
    "MAX_ERRORS",
    "BodyError",
    "ItemError",
    "PushBatch",
    "PushDecoder",
    "RejectReason",
    "decode_counts",
    "decode_observations",
]

MAX_ERRORS: Final = 100
"""Errors listed per response; all rejections are still counted."""

NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
JSON_TYPES: Final = frozenset({"application/json", "text/json"})


class RejectReason(enum.StrEnum):
    """Why an item was rejected; the closed set of values of the ``reason`` metric label."""

    MALFORMED = "malformed"
    """Not a JSON object (or an NDJSON line that is not JSON)."""
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    """A field has the wrong type or an impossible value (a negative count, a bad timestamp)."""
    UNKNOWN_PIPELINE = "unknown_pipeline"
    UNKNOWN_HOP = "unknown_hop"
    FUTURE_EVENT_TIME = "future_event_time"
    TOO_OLD = "too_old"


class BodyError(ValueError):
    """The body as a whole cannot be read (not JSON, not an array): the server answers 400."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ItemError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One rejected item, as listed in the 202 response. ``line`` is set for NDJSON (1-based)."""

    index: int
    field: str | None
    message: str
    reason: str
    line: int | None = None


R = TypeVar("R", Observation, CountSample)


@dataclass(frozen=True)
class PushBatch(Generic[R]):
    """The outcome of one push body: what to feed the engine and what to tell the client.

    ``rejected`` counts every rejected item by reason; ``errors`` lists the first ``MAX_ERRORS``.
    ``dropped_attributes`` counts attribute keys outside a pipeline's allow-list, by pipeline (the
    item itself is kept without them).
    """

    accepted: tuple[R, ...] = ()
    errors: tuple[ItemError, ...] = ()
    rejected: Mapping[str, int] = field(default_factory=dict)
    dropped_attributes: Mapping[str, int] = field(default_factory=dict)

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())


# --- body framing ------------------------------------------------------------------------------

_WS: Final = b" \t\r\n"


def _is_ndjson(body: bytes, content_type: str | None) -> bool:
    """NDJSON if declared so; otherwise whatever the first non-space byte says (``[`` is an array)."""
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in NDJSON_TYPES:
            return True
    head = body.lstrip(_WS)[:1]
    return head != b"[" and head != b""


def _ndjson_lines(body: bytes) -> tuple[list[bytes], list[int]]:
    """Non-blank lines and their 1-based line numbers (blank lines are allowed and skipped)."""
    lines: list[bytes] = []
    numbers: list[int] = []
    for n, line in enumerate(body.split(b"\n"), 1):
        if line.strip(_WS):
            lines.append(line)
            numbers.append(n)
    return lines, numbers


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")


def _validation_error(exc: Exception, index: int, line: int | None) -> ItemError:
    """Map msgspec's message (``Expected `str`, got `int` - at `$.hop```) to field + reason."""
    text = str(exc)
    field_name: str | None = None
    match = _AT.search(text)
    if match:
        text = text[: match.start()]
        path = match.group("path").lstrip(".")
        field_name = path.replace("[...]", "") or None
    missing = _MISSING.match(text)
    if missing:
        name = missing.group("name")
        field_name = f"{field_name}.{name}" if field_name else name
        return ItemError(
            index, field_name, f"missing required field {name!r}", RejectReason.MISSING_FIELD, line
        )
    if field_name is None:
        return ItemError(
            index,
            None,
            f"item is not a JSON object: {text}",
            RejectReason.MALFORMED,
            line,
        )
    return ItemError(index, field_name, f"{field_name}: {text}", RejectReason.INVALID_VALUE, line)


def _fmt_time(t: float) -> str:
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return repr(t)


# --- the decoder -------------------------------------------------------------------------------


class _Rejections:
    """Collects rejections during one decode and keeps the first ``MAX_ERRORS`` by item index.

    Items are checked in phases (line parse, type conversion, semantic checks), each in index
    order, so keeping ``MAX_ERRORS`` per phase and merging at the end lists exactly the first ones.
    """

    __slots__ = ("_in_phase", "counts", "kept")

    def __init__(self) -> None:
        self.kept: list[ItemError] = []
        self.counts: Counter[str] = Counter()
        self._in_phase = 0

    def next_phase(self) -> None:
        self._in_phase = 0

    def add(self, error: ItemError) -> None:
        self.counts[error.reason] += 1
        if self._in_phase < MAX_ERRORS:
            self._in_phase += 1
            self.kept.append(error)

    @property
    def errors(self) -> tuple[ItemError, ...]:
        return tuple(sorted(self.kept, key=lambda e: e.index)[:MAX_ERRORS])


class _ObservationWire(ObservationIn, frozen=True, gc=False):
    """``ObservationIn`` without GC tracking: a decoded batch is a flat list of acyclic structs,
    and not tracking them saves the collector passes that otherwise cost as much as the decode."""


class _CountSampleWire(CountSampleIn, frozen=True, gc=False):
    """``CountSampleIn`` without GC tracking (see ``_ObservationWire``)."""


ATTRIBUTE_CACHE_SIZE: Final = 4096
"""Distinct attribute maps remembered per pipeline before the cache starts over (bounded memory)."""


class _Attributes:
    """Allow-list filtering of one pipeline's attribute maps, memoised.

    Attribute sets are few (a pipeline caps them at ``max_attribute_sets``), so most items map to a
    set already seen: the memo hands back the same sorted tuple without building a new one. Only
    maps with nothing to drop are memoised, so a cache hit never needs a drop to be counted and
    values outside the allow-list are never kept.
    """

    __slots__ = ("allowed", "memo")

    def __init__(self, allowed: frozenset[str]) -> None:
        self.allowed = allowed
        self.memo: dict[tuple[tuple[str, str], ...], Attributes] = {}

    def filter(self, raw: dict[str, str]) -> tuple[Attributes, int]:
        """The allow-listed, sorted attributes and how many keys were dropped."""
        allowed = self.allowed
        kept = [kv for kv in raw.items() if kv[0] in allowed]
        kept.sort()
        dropped = len(raw) - len(kept)
        attributes = tuple(kept)
        if not dropped:
            if len(self.memo) >= ATTRIBUTE_CACHE_SIZE:
                self.memo.clear()
            self.memo[tuple(raw.items())] = attributes
        return attributes, dropped


class PushDecoder:
    """Decodes push bodies for one ``Config``; build it once per config (it precomputes lookups).

    Use ``decode_observations`` / ``decode_counts`` for one-off calls; the server keeps one of these
    and rebuilds it when the runtime's config object changes (a reload).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._hops: dict[str, frozenset[str]] = {
            p.name: frozenset(p.hop_names) for p in config.pipelines
        }
        self._hop_list: dict[str, str] = {p.name: ", ".join(p.hop_names) for p in config.pipelines}
        self._attributes: dict[str, _Attributes] = {
            p.name: _Attributes(p.attributes) for p in config.pipelines
        }
        self._bucket: dict[str, float] = {p.name: p.bucket_seconds for p in config.pipelines}
        self._skew = config.server.max_future_skew
        self._retention = config.storage.retention
        self._obs_decoder = msgspec.json.Decoder(list[_ObservationWire])
        self._count_decoder = msgspec.json.Decoder(list[_CountSampleWire])

    # --- public -------------------------------------------------------------------------------

    def observations(
        self, body: bytes, *, content_type: str | None, now: float
    ) -> PushBatch[Observation]:
        return self._decode(
            body, content_type, now, self._obs_decoder, _ObservationWire, self._map_observations
        )

    def counts(
        self, body: bytes, *, content_type: str | None, now: float
    ) -> PushBatch[CountSample]:
        return self._decode(
            body, content_type, now, self._count_decoder, _CountSampleWire, self._map_counts
        )

    # --- framing and the two decode paths -----------------------------------------------------

    def _decode(
        self,
        body: bytes,
        content_type: str | None,
        now: float,
        decoder: msgspec.json.Decoder[Any],
        item_type: type,
        mapper: Callable[..., list[Any]],
    ) -> PushBatch[Any]:
        rejections = _Rejections()
        dropped: Counter[str] = Counter()
        line_numbers: Sequence[int] | None = None
        stripped = body.strip(_WS)
        if not stripped:
            return PushBatch()
        if _is_ndjson(stripped, content_type):
            # Optimistic framing: every line one value. Blank lines inside the body, or a line
            # holding several values, make the typed decode fail or miscount; then the careful
            # per-line path below sorts it out.
            first = body[: len(body) - len(body.lstrip(_WS))].count(b"\n") + 1
            line_numbers = range(first, first + stripped.count(b"\n") + 1)
            array = b"[" + stripped.replace(b"\n", b",") + b"]"
        else:
            array = stripped
        items: list[Any] | None
        try:
            items = decoder.decode(array)
        except msgspec.DecodeError:
            items = None
        indexes: list[int] | None = None
        if items is None or (line_numbers is not None and len(items) != len(line_numbers)):
            # Some item is bad: find out which, keeping the others.
            if line_numbers is None:
                raw, positions = self._parse_array(stripped), None
            else:
                lines, line_numbers = _ndjson_lines(body)
                raw, positions = self._parse_lines(lines, line_numbers, rejections)
            rejections.next_phase()
            items, indexes = self._convert_each(raw, positions, line_numbers, item_type, rejections)
            rejections.next_phase()
        accepted = mapper(items, indexes, line_numbers, now, rejections, dropped)
        return PushBatch(
            accepted=tuple(accepted),
            errors=rejections.errors,
            rejected={str(reason): n for reason, n in rejections.counts.items()},
            dropped_attributes=dict(dropped),
        )

    @staticmethod
    def _parse_array(body: bytes) -> list[Any]:
        """The typed decode failed: decode untyped so items can be converted one by one."""
        try:
            raw = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise BodyError(
                f"body is not valid JSON: {exc}",
                "send a JSON array of objects, or NDJSON (one object per line) with "
                "Content-Type: application/x-ndjson",
            ) from None
        if not isinstance(raw, list):
            raise BodyError(
                f"body is a JSON {type(raw).__name__}, not an array",
                "wrap the items in [ ... ], or send one object per line as application/x-ndjson",
            )
        return raw

    @staticmethod
    def _parse_lines(
        lines: list[bytes], numbers: list[int], rejections: _Rejections
    ) -> tuple[list[Any], list[int]]:
        """Each NDJSON line alone; a line that is not JSON is rejected, the others kept."""
        raw: list[Any] = []
        positions: list[int] = []
        first_error: str | None = None
        for index, line in enumerate(lines):
            try:
                raw.append(msgspec.json.decode(line))
                positions.append(index)
            except msgspec.DecodeError as exc:
                first_error = first_error or f"line {numbers[index]}: {exc}"
                rejections.add(
                    ItemError(
                        index,
                        None,
                        f"line is not valid JSON: {exc}",
                        RejectReason.MALFORMED,
                        numbers[index],
                    )
                )
        if not raw:
            raise BodyError(
                f"body is not JSON or NDJSON: {first_error}",
                "send a JSON array of objects, or one JSON object per line",
            )
        return raw, positions

    @staticmethod
    def _convert_each(
        raw: Sequence[Any],
        positions: list[int] | None,
        lines: Sequence[int] | None,
        item_type: type,
        rejections: _Rejections,
    ) -> tuple[list[Any], list[int]]:
        """Convert items one at a time so one bad item is rejected alone."""
        items: list[Any] = []
        indexes: list[int] = []
        for position, value in enumerate(raw):
            index = positions[position] if positions is not None else position
            try:
                items.append(msgspec.convert(value, item_type))
                indexes.append(index)
            except msgspec.ValidationError as exc:
                line = lines[index] if lines is not None else None
                rejections.add(_validation_error(exc, index, line))
        return items, indexes

    # --- wire → internal ----------------------------------------------------------------------

    def _reject_place(
        self,
        rejections: _Rejections,
        i: int,
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        pipeline: str,
        hop: str,
    ) -> None:
        index = indexes[i] if indexes is not None else i
        line = lines[index] if lines is not None else None
        if pipeline not in self._hops:
            known = ", ".join(self._hops) or "(none configured)"
            rejections.add(
                ItemError(
                    index,
                    "pipeline",
                    f"unknown pipeline {pipeline!r}; known pipelines: {known}",
                    RejectReason.UNKNOWN_PIPELINE,
                    line,
                )
            )
        else:
            rejections.add(
                ItemError(
                    index,
                    "hop",
                    f"unknown hop {hop!r} in pipeline {pipeline!r}; "
                    f"known hops: {self._hop_list[pipeline]}",
                    RejectReason.UNKNOWN_HOP,
                    line,
                )
            )

    def _reject_time(
        self,
        rejections: _Rejections,
        i: int,
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        name: str,
        t: float,
        now: float,
    ) -> None:
        index = indexes[i] if indexes is not None else i
        line = lines[index] if lines is not None else None
        if t > now:
            message = (
                f"{name} {_fmt_time(t)} is {format_duration(t - now)} ahead of hopwatch's clock "
                f"(more than {format_duration(self._skew)} allowed); check the sender's clock "
                "and that the time is in seconds, not milliseconds"
            )
            reason = RejectReason.FUTURE_EVENT_TIME
        else:
            message = (
                f"{name} {_fmt_time(t)} is older than storage.retention "
                f"({format_duration(self._retention)}); it can no longer be counted"
            )
            reason = RejectReason.TOO_OLD
        rejections.add(ItemError(index, name, message, reason, line))

    def _map_observations(
        self,
        items: list[ObservationIn],
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        now: float,
        rejections: _Rejections,
        dropped: Counter[str],
    ) -> list[Observation]:
        """The hot loop: everything per item that msgspec cannot check by type."""
        hops_of = self._hops
        attribute_filters = self._attributes
        earliest = now - self._retention
        latest = now + self._skew
        out: list[Observation] = []
        append = out.append
        for i, o in enumerate(items):
            pipeline = o.pipeline
            hops = hops_of.get(pipeline)
            if hops is None or o.hop not in hops:
                self._reject_place(rejections, i, indexes, lines, pipeline, o.hop)
                continue
            t = o.event_time
            if t.__class__ is not float:
                t = t.timestamp() if t.tzinfo is not None else to_epoch(t)
            if t > latest or t < earliest:
                self._reject_time(rejections, i, indexes, lines, "event_time", t, now)
                continue
            observed = o.observed_time
            if observed is None:
                observed = now
            else:
                if observed.__class__ is not float:
                    observed = (
                        observed.timestamp() if observed.tzinfo is not None else to_epoch(observed)
                    )
                if observed > latest:
                    self._reject_time(rejections, i, indexes, lines, "observed_time", observed, now)
                    continue
            raw = o.attributes
            if raw:
                attrs = attribute_filters[pipeline]
                attributes = attrs.memo.get(tuple(raw.items()))
                if attributes is None:
                    attributes, n = attrs.filter(raw)
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

    def _map_counts(
        self,
        items: list[CountSampleIn],
        indexes: list[int] | None,
        lines: Sequence[int] | None,
        now: float,
        rejections: _Rejections,
        dropped: Counter[str],
    ) -> list[CountSample]:
        earliest = now - self._retention
        latest = now + self._skew
        out: list[CountSample] = []
        for i, s in enumerate(items):
            hops = self._hops.get(s.pipeline)
            if hops is None or s.hop not in hops:
                self._reject_place(rejections, i, indexes, lines, s.pipeline, s.hop)
                continue
            index = indexes[i] if indexes is not None else i
            line = lines[index] if lines is not None else None
            if s.count < 0:
                rejections.add(
                    ItemError(
                        index,
                        "count",
                        f"count: {s.count} is negative; send the number of events in the bucket",
                        RejectReason.INVALID_VALUE,
                        line,
                    )
                )
                continue
            size = self._bucket[s.pipeline] if s.bucket_seconds is None else s.bucket_seconds
            if not size > 0:
                rejections.add(
                    ItemError(
                        index,
                        "bucket_seconds",
                        f"bucket_seconds: {size} is not positive",
                        RejectReason.INVALID_VALUE,
                        line,
                    )
                )
                continue
            start = to_epoch(s.bucket_start)
            if start > latest or start < earliest:
                self._reject_time(rejections, i, indexes, lines, "bucket_start", start, now)
                continue
            attributes: Attributes = ()
            if s.attributes:
                attributes, n = self._attributes[s.pipeline].filter(s.attributes)
                if n:
                    dropped[s.pipeline] += n
            out.append(
                CountSample(
                    pipeline=s.pipeline,
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


def decode_observations(
    body: bytes, *, content_type: str | None, config: Config, now: float
) -> PushBatch[Observation]:
    """Decode a ``POST /v1/observations`` body (JSON array or NDJSON, already un-gzipped)."""
    return PushDecoder(config).observations(body, content_type=content_type, now=now)


def decode_counts(
    body: bytes, *, content_type: str | None, config: Config, now: float
) -> PushBatch[CountSample]:
    """Decode a ``POST /v1/counts`` body (JSON array or NDJSON, already un-gzipped)."""
    return PushDecoder(config).counts(body, content_type=content_type, now=now)
