"""The records that flow from sources into the ledger.

Wire records (``ObservationIn``, ``CountSampleIn``) are what clients send; they are decoded by msgspec
and then normalised into the internal records (``Observation``, ``CountSample``) that the ledger
consumes: times as float epoch seconds, attributes already allow-listed and sorted. Nothing past the
ingest edge sees a wire record.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, Literal

import msgspec


class Status(enum.StrEnum):
    """What a hop did with an event. ``ok`` passed it on; the others did not, for a reason."""

    OK = "ok"
    REJECTED = "rejected"
    FAILED = "failed"
    DROPPED = "dropped"


StatusText = Literal["ok", "rejected", "failed", "dropped"]
"""Statuses as plain strings inside records: hashing a str is C-fast, hashing an Enum is not."""

Attributes = tuple[tuple[str, str], ...]
"""Allow-listed attributes, sorted by key: hashable, so it can key a bucket."""


class ObservationIn(msgspec.Struct, frozen=True):
    """One event seen at one hop, as a client sends it (JSON). Times: RFC 3339 or epoch seconds.

    ``attributes`` may hold any JSON values: keys outside the pipeline's allow-list are dropped
    whatever they hold, and allow-listed ones must be strings (``monitor.sources.attributes``).
    """

    pipeline: str
    hop: str
    event_type: str
    event_time: datetime | float
    event_id: str | None = None
    observed_time: datetime | float | None = None
    status: StatusText = "ok"
    reason: str | None = None
    attributes: dict[str, Any] = {}


class CountSampleIn(msgspec.Struct, frozen=True):
    """An aggregate for hops that only know counts (pulled sources, batch jobs)."""

    pipeline: str
    hop: str
    bucket_start: datetime | float
    count: int
    bucket_seconds: float | None = None
    status: StatusText = "ok"
    event_type: str | None = None
    attributes: dict[str, Any] = {}


class Observation(msgspec.Struct, frozen=True, gc=False):
    """A validated observation: float epoch seconds, allow-listed sorted attributes."""

    pipeline: str
    hop: str
    event_type: str
    event_time: float
    observed_time: float
    status: str = "ok"
    event_id: str | None = None
    reason: str | None = None
    attributes: Attributes = ()
    trace_id: str | None = None
    """The W3C trace id (32 hex digits) of the span this came from (OTLP only): kept as the
    exemplar of a slow event, so a latency alert or metric links to the trace."""

    def field(self, name: str) -> str | float | None:
        """Value of a top-level field or ``attributes.KEY`` for the ``where`` language."""
        if name.startswith("attributes."):
            key = name[len("attributes.") :]
            for k, v in self.attributes:
                if k == key:
                    return v
            return None
        return getattr(self, name, None)


class CountSample(msgspec.Struct, frozen=True, gc=False):
    """A validated count sample; ``bucket_start`` is epoch seconds aligned by the ledger."""

    pipeline: str
    hop: str
    bucket_start: float
    bucket_seconds: float
    count: int
    status: str = "ok"
    event_type: str | None = None
    attributes: Attributes = ()


def to_epoch(value: datetime | float) -> float:
    """Epoch seconds from an RFC 3339 datetime (naive means UTC) or a number."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            from datetime import UTC

            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    return float(value)
