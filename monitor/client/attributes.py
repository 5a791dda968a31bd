"""Span attribute names that mark an OpenTelemetry span as one event seen at one hop.

One module for the names, so the two ends cannot drift apart: the client's span processor
(``monitor.client.otel``) reads them from ended spans, and hopwatch's OTLP ingestion
(``monitor.sources.otlp``) reads them from received spans. Both turn a span carrying them into an
observation. Change a name here and both ends change together; the names are part of hopwatch's
public contract with instrumented services, so treat a change as a breaking one.

This module imports nothing, so the daemon can import it without pulling in the client.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ATTRIBUTE_PREFIX",
    "EVENT_ID",
    "EVENT_TIME",
    "EVENT_TYPE",
    "HOP",
    "PIPELINE",
    "REASON",
    "REQUIRED",
    "STATUS",
]

PIPELINE: Final = "hopwatch.pipeline"
"""The pipeline's name as in ``hopwatch.yaml`` (string)."""

HOP: Final = "hopwatch.hop"
"""The hop's name within the pipeline (string)."""

EVENT_ID: Final = "hopwatch.event_id"
"""The opaque id the event carries across hops (string); absent for count-only hops."""

EVENT_TYPE: Final = "hopwatch.event_type"
"""The event's type, e.g. ``user_signed_up`` (string). Its presence makes a span a hop span."""

EVENT_TIME: Final = "hopwatch.event_time"
"""When the event was created at its source, not when the span started: epoch seconds (int or
float) or an RFC 3339 string. It travels with the event, so every hop reports the same value."""

STATUS: Final = "hopwatch.status"
"""``ok``, ``rejected``, ``failed`` or ``dropped`` (string). Absent: ``failed`` when the span's
status is ERROR, else ``ok``."""

REASON: Final = "hopwatch.reason"
"""Why the event was not passed on, from a small closed set such as ``consent_denied`` (string)."""

ATTRIBUTE_PREFIX: Final = "hopwatch.attribute."
"""Prefix of observation attributes: ``hopwatch.attribute.region = "eu"`` becomes the attribute
``region``. hopwatch keeps only the keys in the pipeline's ``attributes`` allow-list."""

REQUIRED: Final = (EVENT_TYPE, EVENT_TIME)
"""Without these a span cannot become an observation. ``PIPELINE`` and ``HOP`` are required on
the OTLP path; the client's span processor falls back to its reporter's pipeline and hop."""
