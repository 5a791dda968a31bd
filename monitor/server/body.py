"""Transport checks of a push request, in the order a client would want to hear about them.

(Auth comes before all of them, in ``monitor.server.auth``'s middleware.)

Content type and encoding (415) → size, first from Content-Length and then while
streaming (413) → gzip, bounded after decompression too (400 / 413). What comes out is the plain
body for ``monitor.sources.push``, which does everything about the items themselves.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import TypeVar

from starlette.requests import Request

from monitor.server.problems import Problem
from monitor.sources.push import JSON_TYPES, NDJSON_TYPES

T = TypeVar("T")

GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
ACCEPTED_TYPES = "application/json (an array of objects) or application/x-ndjson (one per line)"


def check_content_type(request: Request) -> str | None:
    """The media type (lower case, no parameters), or None when absent (the body is sniffed)."""
    header = request.headers.get("content-type")
    if header is None:
        return None
    media = header.split(";", 1)[0].strip().lower()
    if media not in JSON_TYPES and media not in NDJSON_TYPES:
        raise Problem(
            415,
            f"Content-Type {media!r} is not supported",
            f"send {ACCEPTED_TYPES}, optionally with Content-Encoding: gzip",
        )
    return media


def check_encoding(request: Request) -> bool:
    """True when the body is gzip-compressed; 415 for encodings hopwatch cannot read."""
    header = request.headers.get("content-encoding")
    if header is None:
        return False
    encoding = header.strip().lower()
    if encoding in ("", "identity"):
        return False
    if encoding in GZIP_ENCODINGS:
        return True
    raise Problem(
        415,
        f"Content-Encoding {encoding!r} is not supported",
        "send the body uncompressed or with Content-Encoding: gzip",
    )


def _too_large(what: str, limit: int) -> Problem:
    return Problem(
        413,
        f"{what} is larger than server.max_body_size ({limit} bytes)",
        "split the batch into smaller requests (the Python client batches by size), "
        "or raise server.max_body_size",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing more than ``limit`` bytes without reading them all into memory."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Problem(
                400,
                f"Content-Length {declared!r} is not a number",
                "let the HTTP client set Content-Length, or use chunked transfer encoding",
            ) from None
        if size > limit:
            raise _too_large(f"body (Content-Length {size})", limit)
    chunks: list[bytes] = []
    received = 0
    async for chunk in request.stream():
        received += len(chunk)
        if received > limit:
            raise _too_large("body", limit)
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(
    decode: Callable[..., T],
    body: bytes,
    *,
    gzipped: bool,
    limit: int,
    content_type: str | None,
    now: float,
) -> tuple[bytes, T]:
    """The plain body and ``decode(plain, content_type=..., now=...)``: un-gzipping and decoding
    in one call, so a gzip body costs one trip to a worker thread (``monitor.server.offload``)."""
    if gzipped:
        body = gunzip(body, limit)
    return body, decode(body, content_type=content_type, now=now)


def gunzip(data: bytes, limit: int) -> bytes:
    """Decompress a gzip body (several members allowed) into at most ``limit`` bytes: each
    member's output is capped at what is left of ``limit`` plus one byte, so a small body that
    inflates without end costs ``limit`` bytes of memory at most, never more."""
    out: list[bytes] = []
    total = 0
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data, limit - total + 1)
        except zlib.error as exc:
            raise Problem(
                400,
                f"body is not valid gzip (Content-Encoding: gzip): {exc}",
                "compress the whole body with gzip, or drop the Content-Encoding header",
            ) from None
        total += len(chunk)
        if total > limit or inflater.unconsumed_tail:
            raise _too_large("decompressed body", limit)
        if not inflater.eof:
            raise Problem(
                400,
                "body is truncated gzip (Content-Encoding: gzip): the stream ends early",
                "send the complete gzip stream; check that the client flushes and closes it",
            )
        out.append(chunk)
        data = inflater.unused_data
    return out[0] if len(out) == 1 else b"".join(out)
