"""Bounds on what one request may hold: items, nesting, string lengths, and what an answer echoes.

DESIGN.md §8 asks that every input be bounded and that error answers never echo unbounded input.
``max_body_size`` bounds the bytes; the limits here bound what those bytes may expand into, so
that no item is stored with a megabyte ``event_id``, no batch costs seconds of per-item work, and
no decoder (msgspec, protobuf's JSON parser, our own recursion over OTLP ``AnyValue``) is ever
driven into ``RecursionError``. Every limit is documented in ``docs/config.md`` ("Input limits").

``nesting_error`` finds the first place a JSON body nests deeper than ``MAX_DEPTH`` in one compiled
pass over the bytes (``_nesting.pyx``; with numpy where it is not built: tens of milliseconds for
10 MiB, run off the event loop with the rest of the decode), so the decoders after it only ever
see shallow documents.
"""

from __future__ import annotations

import re
from typing import Final

import numpy as np

from monitor.ledger.core import compiled

__all__ = [
    "ELLIPSIS",
    "MAX_ANY_VALUE_DEPTH",
    "MAX_ATTRIBUTES",
    "MAX_ATTRIBUTE_KEY",
    "MAX_ATTRIBUTE_VALUE",
    "MAX_DEPTH",
    "MAX_ECHO",
    "MAX_EVENT_ID",
    "MAX_EVENT_TYPE",
    "MAX_ITEMS",
    "MAX_MESSAGE",
    "MAX_NAME",
    "MAX_OTLP_DEPTH",
    "MAX_REASON",
    "clip",
    "clip_message",
    "first_too_deep",
    "nesting_error",
    "text_error",
]

MAX_ITEMS: Final = 100_000
"""Items (array elements, NDJSON lines, OTLP spans) in one request; more is a 400 for the body."""
MAX_DEPTH: Final = 32
"""JSON nesting (arrays and objects) anywhere in a body; a push item needs 3 levels, OTLP about 10."""
MAX_OTLP_DEPTH: Final = 64
"""JSON nesting of an OTLP/JSON body: a span attribute sits 9 levels deep, and each level of an
``arrayValue`` adds 3 more, so ``MAX_ANY_VALUE_DEPTH`` levels fit."""
MAX_ANY_VALUE_DEPTH: Final = 8
"""Nesting of an OTLP ``AnyValue`` (``arrayValue`` / ``kvlistValue``) in an attribute."""
MAX_NAME: Final = 128
"""``pipeline`` and ``hop`` (configured names are short identifiers)."""
MAX_EVENT_TYPE: Final = 128
MAX_EVENT_ID: Final = 256
"""Enough for a UUID, a ULID or a composite key; hopwatch keeps ids to spot duplicates."""
MAX_REASON: Final = 1024
MAX_ATTRIBUTE_KEY: Final = 128
MAX_ATTRIBUTE_VALUE: Final = 256
"""An allow-listed attribute value becomes a label value and a bucket key."""
MAX_ATTRIBUTES: Final = 64
"""Keys in one item's ``attributes`` (allow-listed or not)."""
MAX_ECHO: Final = 64
"""Characters of a client's value quoted in an error message before ``…``."""
MAX_MESSAGE: Final = 512
"""Characters of one error message (a decoder's own text may quote input)."""
ELLIPSIS: Final = "…"

_ESCAPE: Final = re.compile(rb"\\.", re.DOTALL)
_CHUNK: Final = 1 << 20
_NEWLINE: Final = b"\n"
_OPEN: Final = np.zeros(256, dtype=np.int8)
_OPEN[[ord("["), ord("{")]] = 1
_OPEN[[ord("]"), ord("}")]] = -1
_compiled = compiled("monitor.sources._nesting")


def clip(value: object, limit: int = MAX_ECHO) -> str:
    """``value`` as text for an error message: at most ``limit`` characters, then ``…``."""
    text = value if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit] + ELLIPSIS


def clip_message(message: str) -> str:
    """A whole error message bounded (``MAX_MESSAGE``), for texts that may quote the input."""
    return clip(message, MAX_MESSAGE)


def text_error(field: str, value: str, limit: int) -> str | None:
    """Why a string is refused (too long, or not encodable as UTF-8: a lone surrogate), or None."""
    if len(value) > limit:
        return f"{field}: {len(value)} characters, longer than the {limit} allowed"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{field}: not valid Unicode (a lone surrogate such as \\ud800)"
    return None


def nesting_error(body: bytes, limit: int = MAX_DEPTH, *, per_line: bool = False) -> str | None:
    """Where ``body`` (JSON, or NDJSON when ``per_line``) first nests deeper than ``limit``.

    Brackets inside strings do not count, and a backslash escapes the byte after it. Returns a
    message naming the byte offset (and NDJSON line), or None. Malformed JSON is left to the
    decoder to report. The scan is the compiled one (``_nesting.first_too_deep``, one pass over
    the bytes) when it is built, else ``first_too_deep``: the same answer.
    """
    found: tuple[int, int] | None
    if _compiled is not None:
        found = _compiled.first_too_deep(body, limit, per_line)
    elif body.count(b"[") + body.count(b"{") <= limit:
        return None
    else:
        found = first_too_deep(body, limit, per_line)
    if found is None:
        return None
    offset, line = found
    where = f"byte {offset}" + (f" (line {line})" if per_line else "")
    return (
        f"body nests arrays/objects deeper than {limit} levels at {where}; "
        "send flat items (attributes as an object of strings)"
    )


def first_too_deep(body: bytes, limit: int, per_line: bool) -> tuple[int, int] | None:
    """``(offset, line)`` of the first byte of ``body`` nesting deeper than ``limit``, or None.

    With numpy over the bytes: escape sequences are blanked first (same length, so offsets stay
    true), then a running count of quotes tells string bytes apart; with ``per_line`` depth
    counts from the depth at the last newline. The body is scanned in 1 MiB slices to keep the
    arrays small. ``line`` is 1 + the newlines before ``offset`` no backslash escaped. The
    reference of the compiled scan (``monitor/sources/_nesting.pyx``).
    """
    if b"\\" in body:
        body = _ESCAPE.sub(b"__", body)
    depth = 0
    line_depth = 0
    in_string = False
    for start in range(0, len(body), _CHUNK):
        chunk = np.frombuffer(
            body, dtype=np.uint8, count=min(_CHUNK, len(body) - start), offset=start
        )
        quotes = chunk == ord('"')
        # Inside a string: after an odd number of quotes (counting the carried-in state).
        parity = (np.cumsum(quotes, dtype=np.int64) + in_string) & 1
        outside = (parity == 0) & ~quotes
        steps = np.where(outside, _OPEN[chunk], 0).astype(np.int64)
        levels = np.cumsum(steps) + depth
        if per_line:
            newlines = chunk == ord("\n")
            marks = np.where(newlines, np.arange(len(chunk)), -1)
            last = np.maximum.accumulate(marks)
            base = np.where(last >= 0, levels[np.maximum(last, 0)], line_depth)
            relative = levels - base
        else:
            relative = levels
        over = np.flatnonzero(relative > limit)
        if over.size:
            offset = start + int(over[0])
            return offset, body.count(_NEWLINE, 0, offset) + 1
        depth = int(levels[-1]) if len(levels) else depth
        in_string = bool(parity[-1]) if len(parity) else in_string
        if per_line:
            nl = np.flatnonzero(chunk == ord("\n"))
            if nl.size:
                line_depth = int(levels[int(nl[-1])])
    return None
