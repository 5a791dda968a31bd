"""Why push items are refused: the closed set of reasons, the per-item error, the body error.

``monitor.sources.push`` builds these; the server lists ``ItemError`` in its 202 answer, turns
``BodyError`` into a 400, and exports ``RejectReason`` values as the ``reason`` metric label. A bad
item is a result (an ``ItemError``), never an exception; only a body that cannot be split into items
at all is one (``BodyError``).
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Final

import msgspec

from monitor.sources import limits

__all__ = ["MAX_ERRORS", "BodyError", "ItemError", "RejectReason", "Rejections"]

MAX_ERRORS: Final = 100
"""Errors listed per response; all rejections are still counted."""


class RejectReason(enum.StrEnum):
    """Why an item was rejected; the closed set of values of the ``reason`` metric label."""

    MALFORMED = "malformed"
    """Not a JSON object, not JSON at all, or not valid UTF-8."""
    MISSING_FIELD = "missing_field"
    INVALID_VALUE = "invalid_value"
    """A field has the wrong type or an impossible value (a negative count, a bad timestamp)."""
    UNKNOWN_PIPELINE = "unknown_pipeline"
    UNKNOWN_HOP = "unknown_hop"
    FUTURE_EVENT_TIME = "future_event_time"
    TOO_OLD = "too_old"


class BodyError(ValueError):
    """The body as a whole cannot be split into items (not JSON, not an array): the server answers 400."""

    def __init__(self, message: str, hint: str) -> None:
        message = limits.clip_message(message)
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


class Rejections:
    """Collects rejections during one decode and keeps the first ``MAX_ERRORS`` by item index.

    Items are checked in phases (framing, type conversion, semantic checks), each in index order,
    so keeping ``MAX_ERRORS`` per phase and merging at the end lists exactly the first ones.
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


_QUOTED = re.compile(rf"'(?P<value>[^']{{{limits.MAX_ECHO + 1},}})'")
"""A value msgspec quotes in its message (``Invalid enum value 'x…'``): clipped, never echoed whole."""


def _clip_quoted(match: re.Match[str]) -> str:
    return f"'{limits.clip(match.group('value'))}'"


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`")


def from_validation(exc: Exception, index: int, line: int | None) -> ItemError:
    """Map msgspec's message (``Expected `str`, got `int` - at `$.hop```) to field + reason."""
    text = _QUOTED.sub(_clip_quoted, str(exc))
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
            index, None, f"item is not a JSON object: {text}", RejectReason.MALFORMED, line
        )
    return ItemError(index, field_name, f"{field_name}: {text}", RejectReason.INVALID_VALUE, line)


def not_utf8(exc: UnicodeDecodeError, index: int, line: int | None) -> ItemError:
    """An item whose bytes are not UTF-8 (JSON text must be): malformed."""
    return ItemError(
        index,
        None,
        f"item is not valid UTF-8 ({exc.reason}); JSON text must be UTF-8, so encode strings "
        "as UTF-8 before sending",
        RejectReason.MALFORMED,
        line,
    )


def format_time(t: float) -> str:
    """An epoch time as RFC 3339 for messages; the raw number when it is no real date."""
    try:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):
        return repr(t)
