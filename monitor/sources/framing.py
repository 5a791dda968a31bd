"""Splitting a push body into items: a JSON array or NDJSON, told apart by header or first byte.

``monitor.sources.push`` first tries the whole body in one typed decode (``optimistic_array``);
only when that fails does it split the body here, item by item, so that one bad item (a line that
is not JSON, bytes that are not UTF-8, a number out of range) is rejected alone. A body that cannot
be split at all raises ``BodyError``.
"""

from __future__ import annotations

from typing import Final

import msgspec

from monitor.sources.rejection import BodyError

__all__ = ["JSON_TYPES", "NDJSON_TYPES", "Framed", "array_items", "frame", "ndjson_lines"]

NDJSON_TYPES: Final = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)
JSON_TYPES: Final = frozenset({"application/json", "text/json"})

WS: Final = b" \t\r\n"

_JSON_KINDS: Final = {
    b"{": "object",
    b'"': "string",
    b"t": "boolean",
    b"f": "boolean",
    b"n": "null",
}
"""What a JSON value is, by its first byte (for a body that is valid JSON but no array)."""

_RAW_ARRAY: Final = msgspec.json.Decoder(list[msgspec.Raw])

ARRAY_HINT: Final = (
    "send a JSON array of objects, or NDJSON (one object per line) with "
    "Content-Type: application/x-ndjson"
)


class Framed(msgspec.Struct, frozen=True):
    """A body ready for the one-shot typed decode: ``array`` holds every item in ``[ ... ]``.

    ``lines`` is the 1-based line number of each item for NDJSON (``None`` for a JSON array); it is
    optimistic (one value per line, no blank lines inside) and checked against the decoded count.
    """

    array: bytes
    lines: range | None


def is_ndjson(body: bytes, content_type: str | None) -> bool:
    """NDJSON if declared so; otherwise whatever the first non-space byte says (``[`` is an array)."""
    if content_type is not None:
        media = content_type.split(";", 1)[0].strip().lower()
        if media in NDJSON_TYPES:
            return True
    head = body.lstrip(WS)[:1]
    return head != b"[" and head != b""


def frame(body: bytes, content_type: str | None) -> Framed | None:
    """The body as one array for the fast path; ``None`` for an empty (or all blank) body."""
    stripped = body.strip(WS)
    if not stripped:
        return None
    if not is_ndjson(stripped, content_type):
        return Framed(stripped, None)
    # Every line one value: blank lines inside the body, or a line holding several values, make
    # the typed decode fail or miscount, and then the careful per-line path sorts it out.
    first = body[: len(body) - len(body.lstrip(WS))].count(b"\n") + 1
    lines = range(first, first + stripped.count(b"\n") + 1)
    return Framed(b"[" + stripped.replace(b"\n", b",") + b"]", lines)


def ndjson_lines(body: bytes) -> tuple[list[bytes], list[int]]:
    """Non-blank lines and their 1-based line numbers (blank lines are allowed and skipped)."""
    lines: list[bytes] = []
    numbers: list[int] = []
    for n, line in enumerate(body.split(b"\n"), 1):
        if line.strip(WS):
            lines.append(line)
            numbers.append(n)
    return lines, numbers


def array_items(body: bytes) -> list[msgspec.Raw]:
    """The raw bytes of each item of a JSON array, not decoded yet.

    Splitting checks only the array's structure, so an item with bytes that are not UTF-8 or a
    number out of range is still delimited and can be rejected alone when it is decoded.
    """
    try:
        return _RAW_ARRAY.decode(body)
    except msgspec.ValidationError:
        pass
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise BodyError(f"body is not valid JSON: {exc}", ARRAY_HINT) from None
    kind = _JSON_KINDS.get(body[:1], "number")
    raise BodyError(
        f"body is a JSON {kind}, not an array",
        "wrap the items in [ ... ], or send one object per line as application/x-ndjson",
    )
