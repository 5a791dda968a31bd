"""Push ingest: request bodies in, validated records and per-item rejections out.

This is the parse-at-the-edge step for ``POST /v1/observations`` and ``POST /v1/counts``: wire
records (``ObservationIn`` / ``CountSampleIn``) are decoded by msgspec and mapped to the internal
``Observation`` / ``CountSample`` the ledger consumes. It is pure (``now`` is passed in, no I/O), so
the HTTP app (``monitor.server.app``) only deals with transport concerns: auth, size limits, gzip.

Bad items never spoil a batch: each is rejected with its index, the field at fault and a message,
counted by a closed set of reasons (``RejectReason``, the ``reason`` label of the ingest metrics),
and the rest of the batch is kept. Only a body that cannot be split into items raises ``BodyError``.

The stages live in their own modules: ``framing`` (array / NDJSON splitting), ``mapping`` (the
per-item checks, the hot loop), ``bounds`` (time window, counts, buckets), ``attributes`` (the
allow-list) and ``rejection`` (reasons and errors). This module runs them: one typed msgspec decode
of the whole body, and only when that fails the slow path that decodes item by item to find out
which items are bad.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Final, Generic, TypeVar

import msgspec

from monitor.config.model import Config
from monitor.ledger.core import compiled
from monitor.records import (
    CountSample,
    CountSampleIn,
    Observation,
    ObservationIn,
    StatusText,
    to_epoch,
)
from monitor.sources import framing, limits, rejection
from monitor.sources.framing import JSON_TYPES, NDJSON_TYPES
from monitor.sources.mapping import WireMapper, not_text
from monitor.sources.rejection import (
    MAX_ERRORS,
    BodyError,
    ItemError,
    Rejections,
    RejectReason,
)

__all__ = [
    "JSON_TYPES",
    "MAX_ERRORS",
    "NDJSON_TYPES",
    "BodyError",
    "ItemError",
    "PushBatch",
    "PushDecoder",
    "RejectReason",
    "decode_counts",
    "decode_observations",
]

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


# Strings of at most so many characters, checked by msgspec while it decodes (so a too-long value
# is an item rejection naming the field, and is never copied into a record). Spelled out as type
# aliases, one per limit, so type checkers read them as types.
_Name = Annotated[str, msgspec.Meta(max_length=limits.MAX_NAME)]
_EventType = Annotated[str, msgspec.Meta(max_length=limits.MAX_EVENT_TYPE)]
_EventId = Annotated[str, msgspec.Meta(max_length=limits.MAX_EVENT_ID)]
_Reason = Annotated[str, msgspec.Meta(max_length=limits.MAX_REASON)]
_AttributeKey = Annotated[str, msgspec.Meta(max_length=limits.MAX_ATTRIBUTE_KEY)]
_Attributes = Annotated[dict[_AttributeKey, Any], msgspec.Meta(max_length=limits.MAX_ATTRIBUTES)]


class _ObservationWire(ObservationIn, frozen=True, gc=False):
    """``ObservationIn`` without GC tracking: a decoded batch is a flat list of acyclic structs,
    and not tracking them saves the collector passes that otherwise cost as much as the decode.
    Its strings are bounded (``monitor.sources.limits``)."""

    pipeline: _Name
    hop: _Name
    event_type: _EventType
    event_time: datetime | float
    event_id: _EventId | None = None
    observed_time: datetime | float | None = None
    status: StatusText = "ok"
    reason: _Reason | None = None
    attributes: _Attributes = msgspec.field(default_factory=dict)


_NO_ATTRIBUTES: Final = msgspec.Raw(b"")


class _ObservationLean(_ObservationWire, frozen=True, gc=False):
    """``_ObservationWire`` with the attributes left undecoded (``msgspec.Raw``), for the
    compiled mapper (``monitor.sources._mapper``), which decodes each distinct map once. An item
    this accepts but ``_ObservationWire`` refuses has an attribute map the typed decode refuses,
    which the mapper finds and hands back."""

    attributes: msgspec.Raw = _NO_ATTRIBUTES  # type: ignore[assignment]


_compiled = compiled("monitor.sources._mapper")
"""The compiled observation mapper, or None (``monitor.ledger.core``): then every body takes the
reference path (typed decode, ``WireMapper``)."""


class _CountSampleWire(CountSampleIn, frozen=True, gc=False):
    """``CountSampleIn`` without GC tracking (see ``_ObservationWire``), strings bounded."""

    pipeline: _Name
    hop: _Name
    bucket_start: datetime | float
    count: int
    bucket_seconds: float | None = None
    status: StatusText = "ok"
    event_type: _EventType | None = None
    attributes: _Attributes = msgspec.field(default_factory=dict)


_UNREADABLE = (msgspec.DecodeError, UnicodeDecodeError)
"""What a decode raises for bytes that are not JSON of the type (or not UTF-8 at all)."""


class PushDecoder:
    """Decodes push bodies for one ``Config``; build it once per config (it precomputes lookups).

    Use ``decode_observations`` / ``decode_counts`` for one-off calls; the server keeps one of these
    and rebuilds it when the runtime's config object changes (a reload).
    """

    def __init__(self, config: Config) -> None:
        self.config = config
        self._mapper = WireMapper(config, _Attributes)
        self._fast = _compiled
        self._lean_decoder = msgspec.json.Decoder(list[_ObservationLean])
        self._lean_item = msgspec.json.Decoder(_ObservationLean)
        self._obs_decoder = msgspec.json.Decoder(list[_ObservationWire])
        self._count_decoder = msgspec.json.Decoder(list[_CountSampleWire])
        self._obs_item = msgspec.json.Decoder(_ObservationWire)
        self._count_item = msgspec.json.Decoder(_CountSampleWire)

    def observations(
        self, body: bytes, *, content_type: str | None, now: float
    ) -> PushBatch[Observation]:
        if self._fast is not None:
            batch = self._observations_fast(body, content_type, now)
            if batch is not None:
                return batch
        return self.observations_reference(body, content_type=content_type, now=now)

    def _observations_fast(
        self, body: bytes, content_type: str | None, now: float
    ) -> PushBatch[Observation] | None:
        """The compiled path for a body whose items are all well typed (the common case): the
        lean decode and the compiled mapper; None when the body needs the reference path (some
        item is badly typed), which then rejects exactly what it always did."""
        fast = self._fast
        if fast is None:
            return None
        stripped = body.strip(framing.WS)
        if not stripped:
            return PushBatch()
        newlines, opens = fast.counts(stripped)
        lines: range | None = None
        try:
            if framing.is_ndjson(stripped, content_type):
                # Numbered as ``framing.frame`` numbers them; one value a line, or the count
                # below differs and the reference path sorts the lines out.
                first = body[: len(body) - len(body.lstrip(framing.WS))].count(b"\n") + 1
                lines = range(first, first + newlines + 1)
                if len(lines) > limits.MAX_ITEMS:
                    _check_nesting(body, stripped, True)  # the reference's order of refusals
                    _check_count(len(lines))
                items = self._lean_item.decode_lines(stripped)
                if len(items) != len(lines):
                    return None
            else:
                items = self._lean_decoder.decode(stripped)
        except _UNREADABLE:
            return None
        if len(items) > limits.MAX_ITEMS:
            _check_nesting(body, stripped, lines is not None)
            _check_count(len(items))
        rejections, dropped = Rejections(), Counter[str]()
        mapped = fast.observations(
            self._mapper,
            items,
            lines,
            now,
            rejections,
            dropped,
            self._mapper.attributes_of_raw,
            Observation,
            to_epoch,
            not_text,
        )
        if mapped is None:
            return None
        accepted, attribute_brackets, flat = mapped
        # Well typed items are flat objects; only their attribute maps can nest. When every map
        # is flat and the body holds no bracket but those of its items and maps, it nests at
        # most three levels (array, item, map): the nesting scan could only say so.
        brackets = len(items) + attribute_brackets + (lines is None)
        if not flat or opens != brackets:
            _check_nesting(body, stripped, lines is not None)
        return _batch(accepted, rejections, dropped)

    def observations_reference(
        self, body: bytes, *, content_type: str | None, now: float
    ) -> PushBatch[Observation]:
        """``observations`` by the typed decode and ``WireMapper``: the reference the compiled
        path is tested against, and the path of every body with a badly typed item."""
        rejections, dropped = Rejections(), Counter[str]()
        items, indexes, lines = self._items(
            body, content_type, self._obs_decoder, self._obs_item, rejections
        )
        accepted = self._mapper.observations(items, indexes, lines, now, rejections, dropped)
        return _batch(accepted, rejections, dropped)

    def counts(
        self, body: bytes, *, content_type: str | None, now: float
    ) -> PushBatch[CountSample]:
        rejections, dropped = Rejections(), Counter[str]()
        items, indexes, lines = self._items(
            body, content_type, self._count_decoder, self._count_item, rejections
        )
        accepted = self._mapper.counts(items, indexes, lines, now, rejections, dropped)
        return _batch(accepted, rejections, dropped)

    # --- the two decode paths -----------------------------------------------------------------

    @staticmethod
    def _items(
        body: bytes,
        content_type: str | None,
        decoder: msgspec.json.Decoder[Any],
        item_decoder: msgspec.json.Decoder[Any],
        rejections: Rejections,
    ) -> tuple[list[Any], list[int] | None, Sequence[int] | None]:
        """Decoded items, their body indexes (``None``: all of them, in order) and NDJSON lines."""
        framed = framing.frame(body, content_type)
        if framed is None:
            return [], None, None
        lines: Sequence[int] | None = framed.lines
        _check_nesting(body, framed.array, lines is not None)
        if lines is not None:
            _check_count(len(lines))
        try:
            items = decoder.decode(framed.array)
        except _UNREADABLE:
            pass
        else:
            if lines is None or len(items) == len(lines):
                _check_count(len(items))
                return items, None, lines
        # Some item is bad: decode one at a time, keeping the others.
        if lines is None:
            raws: Sequence[bytes | msgspec.Raw] = framing.array_items(framed.array)
        else:
            raws, lines = framing.ndjson_lines(body)
        _check_count(len(raws))
        items, indexes = _decode_each(raws, lines, item_decoder, rejections)
        rejections.next_phase()
        return items, indexes, lines


_NESTING_HINT: Final = (
    "a push item is a flat object whose attributes map names to strings; "
    f"nesting is limited to {limits.MAX_DEPTH} levels"
)


def _check_nesting(body: bytes, array: bytes, ndjson: bool) -> None:
    """``BodyError`` for a body nested deeper than ``limits.MAX_DEPTH``. NDJSON is scanned as
    sent (framing joins its lines with commas), so lines are counted."""
    nesting = limits.nesting_error(body if ndjson else array, per_line=ndjson)
    if nesting is not None:
        raise BodyError(nesting, _NESTING_HINT)


def _check_count(n: int) -> None:
    """``BodyError`` for a batch of more than ``MAX_ITEMS`` items: checked before the per-item
    work, so a body of millions of tiny items costs one split, not millions of rejections."""
    if n > limits.MAX_ITEMS:
        raise BodyError(
            f"batch has {n} items; at most {limits.MAX_ITEMS} are accepted in one request",
            "split the batch into smaller requests (the Python client batches for you)",
        )


def _decode_each(
    raws: Sequence[bytes | msgspec.Raw],
    lines: Sequence[int] | None,
    item_decoder: msgspec.json.Decoder[Any],
    rejections: Rejections,
) -> tuple[list[Any], list[int]]:
    """Each item alone, so that one bad item is rejected alone.

    An NDJSON body none of whose lines is JSON is no NDJSON at all: ``BodyError``.
    """
    items: list[Any] = []
    indexes: list[int] = []
    not_json: list[str] = []
    for index, raw in enumerate(raws):
        line = lines[index] if lines is not None else None
        try:
            items.append(item_decoder.decode(raw))
            indexes.append(index)
        except UnicodeDecodeError as exc:
            rejections.add(rejection.not_utf8(exc, index, line))
        except msgspec.ValidationError as exc:
            if lines is None or _is_json(raw):
                rejections.add(rejection.from_validation(exc, index, line))
            else:
                not_json.append(f"line {line}: {exc}")
                rejections.add(_not_json_line(exc, index, line))
        except msgspec.DecodeError as exc:
            utf8 = _utf8_error(raw) if "UTF-8" in str(exc) else None
            if utf8 is not None:
                rejections.add(rejection.not_utf8(utf8, index, line))
                continue
            not_json.append(f"line {line}: {exc}")
            rejections.add(_not_json_line(exc, index, line))
    if not_json and len(not_json) == len(raws):
        raise BodyError(
            f"body is not JSON or NDJSON: {not_json[0]}",
            "send a JSON array of objects, or one JSON object per line",
        )
    return items, indexes


def _utf8_error(raw: bytes | msgspec.Raw) -> UnicodeDecodeError | None:
    """Why the bytes are not UTF-8, if they are not (newer msgspec reports it as a DecodeError)."""
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc
    return None


def _is_json(raw: bytes | msgspec.Raw) -> bool:
    """Whether a line is JSON at all (a typed decode stops at the first wrong type)."""
    try:
        msgspec.json.decode(raw, type=msgspec.Raw)
    except _UNREADABLE:
        return False
    return True


def _not_json_line(exc: Exception, index: int, line: int | None) -> ItemError:
    return ItemError(index, None, f"line is not valid JSON: {exc}", RejectReason.MALFORMED, line)


def _batch(accepted: list[R], rejections: Rejections, dropped: Counter[str]) -> PushBatch[R]:
    return PushBatch(
        accepted=tuple(accepted),
        errors=rejections.errors,
        rejected={str(reason): n for reason, n in rejections.counts.items()},
        dropped_attributes=dict(dropped),
    )


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
