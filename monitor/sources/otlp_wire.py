"""OTLP/HTTP trace bodies in and answers out, in both encodings (binary protobuf and JSON).

The edge of ``monitor.sources.otlp``: bytes become an ``ExportTraceServiceRequest`` (or a
``BodyError``, which the server answers 400), and an outcome becomes the
``ExportTraceServiceResponse`` (or a ``google.rpc.Status`` for a refused request) in the encoding
the client used, as the OTLP specification asks. Nothing here knows about pipelines or hops.

OTLP's JSON is protobuf's JSON mapping with one exception: trace and span ids are hex strings,
not base64. ``parse_json`` converts them before handing the document to protobuf's parser, so
both encodings go through the same generated message classes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Final

import msgspec
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from monitor.sources import limits
from monitor.sources.rejection import BodyError

__all__ = [
    "JSON",
    "PROTOBUF",
    "SUPPORTED_TYPES",
    "encode_response",
    "encode_status",
    "parse",
]

PROTOBUF: Final = "application/x-protobuf"
JSON: Final = "application/json"
SUPPORTED_TYPES: Final = frozenset({PROTOBUF, JSON})

_ID_KEYS: Final = ("traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id")
_PROTOBUF_HINT: Final = (
    "send an OTLP ExportTraceServiceRequest (the OpenTelemetry SDK's OTLP/HTTP exporter does)"
)
_JSON_HINT: Final = (
    'send an OTLP/JSON ExportTraceServiceRequest: {"resourceSpans": [...]}, with trace and '
    "span ids as hex strings"
)
_GRPC_CODES: Final = {400: 3, 401: 16, 403: 7, 404: 5, 413: 8, 415: 3, 429: 8, 503: 14}
"""``google.rpc.Code`` for an HTTP status, for the ``code`` of a ``Status`` answer (else 13)."""


def parse(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The request in ``body``; ``BodyError`` when it is not one (the whole request is refused)."""
    if content_type == JSON:
        return parse_json(body)
    try:
        return ExportTraceServiceRequest.FromString(body)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise BodyError(
            f"body is not a protobuf ExportTraceServiceRequest: {exc}", _PROTOBUF_HINT
        ) from None


def parse_json(body: bytes) -> ExportTraceServiceRequest:
    """An OTLP/JSON request: hex ids turned into what protobuf's JSON parser expects (base64)."""
    nesting = limits.nesting_error(body, limits.MAX_OTLP_DEPTH)
    if nesting is not None:
        raise BodyError(nesting, _JSON_HINT)
    try:
        document = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BodyError(f"body is not valid JSON: {exc}", _JSON_HINT) from None
    if not isinstance(document, dict):
        raise BodyError("body is not a JSON object", _JSON_HINT)
    for span in _spans_and_links(document):
        for key in _ID_KEYS:
            value = span.get(key)
            if isinstance(value, str):
                span[key] = _hex_to_base64(key, value)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError) as exc:
        raise BodyError(
            f"body is not an OTLP ExportTraceServiceRequest: {exc}", _JSON_HINT
        ) from None
    return request


def _spans_and_links(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Every span and span link object of a JSON request (camelCase or snake_case keys)."""
    out: list[dict[str, Any]] = []
    for resource_spans in _objects(document, "resourceSpans", "resource_spans"):
        for scope_spans in _objects(resource_spans, "scopeSpans", "scope_spans"):
            for span in _objects(scope_spans, "spans"):
                out.append(span)
                out.extend(_objects(span, "links"))
    return out


def _objects(parent: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    """The objects of the list under the first of ``keys`` present; the parser rejects the rest."""
    for key in keys:
        value = parent.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []


def _hex_to_base64(key: str, value: str) -> str:
    try:
        return base64.b64encode(bytes.fromhex(value)).decode("ascii")
    except (ValueError, binascii.Error):
        raise BodyError(
            f"{key}: {limits.clip(value, 40)!r} is not a hex string",
            "OTLP/JSON carries trace and span ids as hex (32 and 16 hex digits), not base64",
        ) from None


def encode_response(rejected: int, error_message: str, content_type: str) -> bytes:
    """The 200 answer: ``partial_success`` is set only when some spans were rejected."""
    response = ExportTraceServiceResponse()
    if rejected or error_message:
        response.partial_success.CopyFrom(
            ExportTracePartialSuccess(rejected_spans=rejected, error_message=error_message)
        )
    if content_type == JSON:
        return msgspec.json.encode(json_format.MessageToDict(response))
    return response.SerializeToString()


def encode_status(http_status: int, message: str, content_type: str) -> bytes:
    """A ``google.rpc.Status`` for a refused request, as OTLP/HTTP asks of every 4xx and 5xx.

    Written by hand (two fields) rather than pulling in ``googleapis-common-protos`` for it:
    ``code`` is field 1 (varint), ``message`` field 2 (length-delimited UTF-8).
    """
    code = _GRPC_CODES.get(http_status, 13)
    if content_type == JSON:
        return msgspec.json.encode({"code": code, "message": message})
    text = message.encode("utf-8")
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
