"""OTLP traces in: hop spans become observations, checked exactly like pushed ones.

The decoding half of ``POST /v1/traces`` (the route is ``monitor.server.otlp``). Pure: bytes, a
content type, the config and ``now`` in; a ``TraceBatch`` out, the same kind of batch the push
decoder returns (accepted observations, per-span errors, rejections by reason, dropped attribute
keys) plus how many spans were skipped.

A span is a hop span when it carries ``hopwatch.event_type`` (``monitor.client.attributes``
names every key); other spans (HTTP, database, framework spans of the same service) are skipped
and counted, never errors. ``hopwatch.pipeline`` and ``hopwatch.hop`` may sit on the span or,
as a fallback, on its resource. A hop span becomes an ``ObservationIn`` and goes through the
push path's ``WireMapper``, so unknown hops, the time window, the attribute allow-list and the
reject reasons are the same whichever way an observation arrives; only the span-specific checks
(a missing key, a value of the wrong type) are made here. The trace id rides along on the
observation (``Observation.trace_id``) so that a slow event can be linked to its trace.

Times: ``event_time`` is ``hopwatch.event_time`` (epoch seconds or RFC 3339), else the span's
start; ``observed_time`` is the span's end (the hop has decided the event's status by then).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, get_args

import msgspec
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from monitor.client import attributes as keys
from monitor.config.model import Config
from monitor.records import Observation, ObservationIn, StatusText
from monitor.sources import limits, otlp_wire
from monitor.sources.mapping import WireMapper
from monitor.sources.push import PushBatch
from monitor.sources.rejection import BodyError, ItemError, Rejections, RejectReason

__all__ = ["OtlpDecoder", "TraceBatch", "decode_traces"]

_STATUSES: Final = frozenset(get_args(StatusText))
_NANOS: Final = 1e-9
_MESSAGE_ERRORS: Final = 3
"""Errors quoted in a partial success's ``error_message`` (all are counted)."""

Attrs = Mapping[str, AnyValue]


@dataclass(frozen=True)
class TraceBatch(PushBatch[Observation]):
    """A push batch from spans; ``skipped`` spans were no hop spans, ``spans`` is all of them."""

    skipped: int = 0
    spans: int = 0

    def error_message(self) -> str:
        """The ``error_message`` of an OTLP partial success: counts by reason, first errors."""
        if not self.rejected_total:
            return ""
        reasons = ", ".join(f"{reason}: {n}" for reason, n in sorted(self.rejected.items()))
        first = "; ".join(f"span {e.index}: {e.message}" for e in self.errors[:_MESSAGE_ERRORS])
        return f"{self.rejected_total} of {self.spans} spans rejected ({reasons}); {first}"


class OtlpDecoder:
    """Decodes ``POST /v1/traces`` bodies for one ``Config``; rebuild it when the config changes."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._mapper = WireMapper(config)

    def traces(self, body: bytes, *, content_type: str, now: float) -> TraceBatch:
        """Every hop span of the request mapped; ``BodyError`` if the body is no OTLP request."""
        request = otlp_wire.parse(body, content_type)
        _check_span_count(request)
        rejections, dropped = Rejections(), Counter[str]()
        accepted: list[Observation] = []
        skipped = index = 0
        for resource_spans in request.resource_spans:
            resource = _attribute_map(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    item = _wire_item(span, resource, index)
                    if item is None:
                        skipped += 1
                    elif isinstance(item, ItemError):
                        rejections.add(item)
                    else:
                        accepted.extend(self._map(item, span, index, now, rejections, dropped))
                    index += 1
        return TraceBatch(
            accepted=tuple(accepted),
            errors=rejections.errors,
            rejected={str(reason): n for reason, n in rejections.counts.items()},
            dropped_attributes=dict(dropped),
            skipped=skipped,
            spans=index,
        )

    def _map(
        self,
        item: ObservationIn,
        span: Span,
        index: int,
        now: float,
        rejections: Rejections,
        dropped: Counter[str],
    ) -> list[Observation]:
        """The push path's checks on one span (one at a time, so each keeps its trace id)."""
        mapped = self._mapper.observations([item], [index], None, now, rejections, dropped)
        trace_id = _trace_id(span.trace_id)
        if trace_id is None:
            return mapped
        return [msgspec.structs.replace(obs, trace_id=trace_id) for obs in mapped]


def _check_span_count(request: Any) -> None:
    """``BodyError`` for more than ``MAX_ITEMS`` spans, before any per-span work."""
    n = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    if n > limits.MAX_ITEMS:
        raise BodyError(
            f"export has {n} spans; at most {limits.MAX_ITEMS} are accepted in one request",
            "lower the exporter's max_export_batch_size",
        )


def decode_traces(body: bytes, *, content_type: str, config: Config, now: float) -> TraceBatch:
    """Decode one ``POST /v1/traces`` body (already un-gzipped); see ``OtlpDecoder``."""
    return OtlpDecoder(config).traces(body, content_type=content_type, now=now)


# --- one span -----------------------------------------------------------------------------------


class _Refused(Exception):
    """A hop span that cannot become an observation; carries the error to report."""

    def __init__(self, error: ItemError) -> None:
        super().__init__(error.message)
        self.error = error


def _wire_item(span: Span, resource: Attrs, index: int) -> ObservationIn | ItemError | None:
    """The observation a span describes, the reason it cannot, or None for a non-hop span."""
    attrs = _attribute_map(span.attributes)
    if keys.EVENT_TYPE not in attrs:
        return None
    try:
        item = ObservationIn(
            pipeline=_required_text(attrs, keys.PIPELINE, index, resource),
            hop=_required_text(attrs, keys.HOP, index, resource),
            event_type=_required_text(attrs, keys.EVENT_TYPE, index),
            event_time=_event_time(attrs, span, index),
            event_id=_event_id(attrs, index),
            observed_time=_nanos(span.end_time_unix_nano or span.start_time_unix_nano),
            status=_status(attrs, span, index),
            reason=_optional_text(attrs, keys.REASON, index),
            attributes=_observation_attributes(resource, attrs, index),
        )
        _check_lengths(item, index)
    except _Refused as refused:
        return refused.error
    return item


_LENGTHS: Final = (
    ("pipeline", keys.PIPELINE, limits.MAX_NAME),
    ("hop", keys.HOP, limits.MAX_NAME),
    ("event_type", keys.EVENT_TYPE, limits.MAX_EVENT_TYPE),
    ("event_id", keys.EVENT_ID, limits.MAX_EVENT_ID),
    ("reason", keys.REASON, limits.MAX_REASON),
)


def _check_lengths(item: ObservationIn, index: int) -> None:
    """The push path's string bounds (msgspec checks them there while decoding)."""
    for name, key, limit in _LENGTHS:
        value = getattr(item, name)
        if value is not None and len(value) > limit:
            raise _refuse(
                index,
                key,
                f"{key}: {len(value)} characters, longer than the {limit} allowed",
                RejectReason.INVALID_VALUE,
            )
    if len(item.attributes) > limits.MAX_ATTRIBUTES:
        raise _refuse(
            index,
            keys.ATTRIBUTE_PREFIX + "*",
            f"{len(item.attributes)} {keys.ATTRIBUTE_PREFIX}* attributes; at most "
            f"{limits.MAX_ATTRIBUTES} are allowed",
            RejectReason.INVALID_VALUE,
        )
    for attribute in item.attributes:
        if len(attribute) > limits.MAX_ATTRIBUTE_KEY:
            raise _refuse(
                index,
                keys.ATTRIBUTE_PREFIX + limits.clip(attribute),
                f"attribute name of {len(attribute)} characters, longer than the "
                f"{limits.MAX_ATTRIBUTE_KEY} allowed",
                RejectReason.INVALID_VALUE,
            )


def _attribute_map(kvs: Any) -> dict[str, AnyValue]:
    """Key → value of a repeated ``KeyValue`` (the last one wins, as in the SDK)."""
    out: dict[str, AnyValue] = {}
    kv: KeyValue
    for kv in kvs:
        out[kv.key] = kv.value
    return out


def _value(value: AnyValue, key: str, index: int, depth: int = 0) -> Any:
    """An ``AnyValue`` as a plain Python value (None when unset).

    Arrays and maps nest at most ``MAX_ANY_VALUE_DEPTH`` deep: a deeper value refuses the span
    (naming the attribute) instead of recursing towards ``RecursionError``.
    """
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind in ("array_value", "kvlist_value"):
        if depth >= limits.MAX_ANY_VALUE_DEPTH:
            raise _refuse(
                index,
                key,
                f"{limits.clip(key)}: arrays/maps nested deeper than "
                f"{limits.MAX_ANY_VALUE_DEPTH} levels",
                RejectReason.INVALID_VALUE,
            )
        if kind == "array_value":
            return [_value(v, key, index, depth + 1) for v in value.array_value.values]
        return {kv.key: _value(kv.value, key, index, depth + 1) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def _refuse(index: int, key: str, message: str, reason: RejectReason) -> _Refused:
    return _Refused(ItemError(index, key, message, str(reason)))


def _type_name(value: Any) -> str:
    return {bool: "a boolean", int: "an int", float: "a double", bytes: "bytes"}.get(
        type(value), "an array" if isinstance(value, list) else "a map"
    )


def _required_text(attrs: Attrs, key: str, index: int, resource: Attrs | None = None) -> str:
    """A string attribute of the span (else of its ``resource``, when given) that must be there."""
    raw = attrs.get(key)
    if raw is None and resource is not None:
        raw = resource.get(key)
    value = None if raw is None else _value(raw, key, index)
    if value is None:
        where = "the span or its resource" if resource is not None else "the span"
        raise _refuse(
            index,
            key,
            f"hop span has no {key} attribute (on {where}); a span with {keys.EVENT_TYPE} "
            f"needs {keys.PIPELINE}, {keys.HOP} and {keys.EVENT_TYPE} as in hopwatch.yaml",
            RejectReason.MISSING_FIELD,
        )
    if not isinstance(value, str):
        raise _refuse(
            index,
            key,
            f"{key}: expected a string, got {_type_name(value)}",
            RejectReason.INVALID_VALUE,
        )
    return value


def _optional_text(attrs: Attrs, key: str, index: int) -> str | None:
    return _required_text(attrs, key, index) if key in attrs else None


def _event_id(attrs: Attrs, index: int) -> str | None:
    """An opaque string; integer ids are accepted as their decimal text."""
    raw = attrs.get(keys.EVENT_ID)
    value = None if raw is None else _value(raw, keys.EVENT_ID, index)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise _refuse(
        index,
        keys.EVENT_ID,
        f"{keys.EVENT_ID}: expected a string, got {_type_name(value)}",
        RejectReason.INVALID_VALUE,
    )


def _event_time(attrs: Attrs, span: Span, index: int) -> datetime | float:
    """``hopwatch.event_time`` as epoch seconds or RFC 3339, else the span's start."""
    raw = attrs.get(keys.EVENT_TIME)
    value = None if raw is None else _value(raw, keys.EVENT_TIME, index)
    if value is None:
        return _nanos(span.start_time_unix_nano) or 0.0
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise _refuse(
        index,
        keys.EVENT_TIME,
        f"{keys.EVENT_TIME}: {limits.clip(repr(value))} is neither epoch seconds nor an RFC 3339 time; send when "
        "the event was created at its source, e.g. 1700000000.25 or 2023-11-14T22:13:20.25Z",
        RejectReason.INVALID_VALUE,
    )


def _status(attrs: Attrs, span: Span, index: int) -> StatusText:
    """``hopwatch.status``; without it, ``failed`` for an ERROR span and ``ok`` otherwise."""
    value = _optional_text(attrs, keys.STATUS, index)
    if value is None:
        return "failed" if span.status.code == Status.STATUS_CODE_ERROR else "ok"
    if value not in _STATUSES:
        raise _refuse(
            index,
            keys.STATUS,
            f"{keys.STATUS}: {limits.clip(value)!r} is not a status; use one of "
            + ", ".join(sorted(_STATUSES)),
            RejectReason.INVALID_VALUE,
        )
    return value  # type: ignore[return-value]


def _observation_attributes(resource: Attrs, attrs: Attrs, index: int) -> dict[str, Any]:
    """``hopwatch.attribute.*`` keys of the resource, then of the span (which wins).

    The pipeline's allow-list is applied by ``WireMapper``, which drops and counts the others.
    """
    prefix, n = keys.ATTRIBUTE_PREFIX, len(keys.ATTRIBUTE_PREFIX)
    out: dict[str, Any] = {}
    for source in (resource, attrs):
        for key, value in source.items():
            if key.startswith(prefix):
                out[key[n:]] = _value(value, key, index)
    return out


def _nanos(value: int) -> float | None:
    """Epoch seconds from OTLP's nanoseconds; None for 0 (unset)."""
    return value * _NANOS if value else None


def _trace_id(raw: bytes) -> str | None:
    """32 lower-case hex digits, or None for a missing or invalid (all-zero) trace id."""
    if len(raw) != 16 or not any(raw):
        return None
    return raw.hex()
