"""Observations as hopwatch's push endpoint reads them: gzip NDJSON, one JSON object per line.

The format is the one ``monitor.sources.push`` decodes for ``POST /v1/observations`` (fields of
``monitor.records.ObservationIn``). It is written here with the standard library only, so the
client needs no msgspec and nothing else from the daemon.

Each item is encoded alone: one bad item (a wrong type, a value JSON cannot hold) is counted
and left out, and the rest of its batch is sent. The checks are the ones that would make the
whole line unreadable or certainly rejected; the server still decides everything else (unknown
pipeline, the allow-list, time bounds) and answers which items it rejected.
"""

from __future__ import annotations

import gzip
import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "CONTENT_TYPE",
    "STATUSES",
    "Encoded",
    "Item",
    "chunks",
    "encode",
    "gzip_body",
]

CONTENT_TYPE: Final = "application/x-ndjson"
STATUSES: Final = frozenset({"ok", "rejected", "failed", "dropped"})

Item = tuple[Any, Any, Any, Any, Any, Any, Any, Any, float]
"""What ``observe()`` puts on the buffer, unchecked: (pipeline, hop, event_id, event_type,
event_time, status, reason, attributes, observed_time). A plain tuple because building it is
the cheapest thing ``observe()`` can do; checking waits for the sending thread."""

_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class Encoded:
    """The outcome of encoding taken items: NDJSON lines to send, and the items left out."""

    lines: tuple[bytes, ...]
    invalid: int
    first_error: str | None = None


def encode(items: Sequence[Item], id_hash: Callable[[str], str] | None = None) -> Encoded:
    """One NDJSON line per valid item; invalid items are counted, with the first reason why.

    ``id_hash`` (``monitor.client.idhash.IdHasher``) replaces each event id by its keyed hash
    here, on the sending thread, so the raw id never leaves the process and ``observe()`` stays
    as cheap as a queue put."""
    lines: list[bytes] = []
    invalid = 0
    first_error: str | None = None
    for item in items:
        try:
            lines.append(_dumps(_wire(item, id_hash)).encode())
        except (TypeError, ValueError, RuntimeError) as exc:
            invalid += 1
            first_error = first_error or str(exc)
    return Encoded(tuple(lines), invalid, first_error)


def chunks(lines: Sequence[bytes], max_bytes: int) -> Iterator[Sequence[bytes]]:
    """Consecutive runs of lines whose NDJSON body stays within ``max_bytes`` (at least one line
    each: a line larger than the limit goes alone, and hopwatch's 413 says so)."""
    start, size = 0, 0
    for index, line in enumerate(lines):
        if index > start and size + len(line) + 1 > max_bytes:
            yield lines[start:index]
            start, size = index, 0
        size += len(line) + 1
    if start < len(lines):
        yield lines[start:]


def gzip_body(lines: Sequence[bytes]) -> bytes:
    """The request body. Level 1: the sending thread shares the GIL with the pipeline it
    observes, and NDJSON of repetitive fields compresses well even at the fastest level."""
    return gzip.compress(b"\n".join(lines), compresslevel=1)


def _wire(item: Item, id_hash: Callable[[str], str] | None = None) -> dict[str, Any]:
    pipeline, hop, event_id, event_type, event_time, status, reason, attributes, seen = item
    out: dict[str, Any] = {
        "pipeline": _name("pipeline", pipeline),
        "hop": _name("hop", hop),
        "event_type": _name("event_type", event_type),
        "event_time": _time(event_time),
        "observed_time": seen,
        "status": _status(status),
    }
    if event_id is not None:
        raw = _name("event_id", event_id)
        out["event_id"] = raw if id_hash is None else id_hash(raw)
    if reason is not None:
        out["reason"] = _name("reason", reason)
    if attributes:
        out["attributes"] = _attributes(attributes)
    return out


def _name(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{field}: expected a non-empty string, got {type(value).__name__}")
    return value


def _status(value: Any) -> str:
    if value not in STATUSES or not isinstance(value, str):
        raise ValueError(f"status: {value!r} is not one of {', '.join(sorted(STATUSES))}")
    return str(value)


def _time(value: Any) -> float | str:
    """Epoch seconds, or an RFC 3339 string passed through (hopwatch parses it; naive = UTC)."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.timestamp()
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    raise TypeError(
        f"event_time: expected epoch seconds, a datetime or an RFC 3339 string, got {value!r}"
    )


def _attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"attributes: expected a mapping, got {type(value).__name__}")
    for key, item in value.items():
        if not isinstance(key, str) or not isinstance(item, _SCALARS):
            raise TypeError(f"attributes: {key!r} must be a string key with a scalar value")
    return dict(value)
