"""``HopSpanProcessor``: OpenTelemetry spans that carry hop attributes become observations.

For services already traced with the OpenTelemetry SDK: add the processor to the tracer
provider and set the ``hopwatch.*`` attributes (``monitor.client.attributes``) on the span that
covers an event's handling at the hop. When the span ends, the processor hands one observation to
a ``HopReporter``; the reporter's buffer, batching and retries apply unchanged, so tracing never
waits on hopwatch either. Spans without ``hopwatch.event_type`` are not hop spans and are ignored.

The alternative, exporting the same spans over OTLP to hopwatch's ``POST /v1/traces``, needs no
reporter in the service but sends every span; this processor sends only hop spans, already as
observations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.trace import StatusCode

from monitor.client import attributes as names
from monitor.client.reporter import HopReporter

__all__ = ["HopAttributeNames", "HopSpanProcessor"]


@dataclass(frozen=True)
class HopAttributeNames:
    """Which span attributes hold each field; the defaults are hopwatch's shared names.

    Override them when a service already records, say, the event id as ``app.event.id``.
    """

    pipeline: str = names.PIPELINE
    hop: str = names.HOP
    event_id: str = names.EVENT_ID
    event_type: str = names.EVENT_TYPE
    event_time: str = names.EVENT_TIME
    status: str = names.STATUS
    reason: str = names.REASON
    attribute_prefix: str = names.ATTRIBUTE_PREFIX


class HopSpanProcessor(SpanProcessor):
    """Reports each ended hop span through ``reporter``; never raises into the tracer.

    A span without a pipeline or hop attribute is reported under the reporter's own. Its status
    is the ``status`` attribute, else ``failed`` for an ERROR span, else ``ok``. Missing or bad
    values are counted by the reporter (``dropped_invalid``), like any bad ``observe``.
    ``shutdown`` and ``force_flush`` flush the reporter but do not close it: it may be shared,
    and it closes itself at exit.
    """

    def __init__(self, reporter: HopReporter, names: HopAttributeNames | None = None) -> None:
        self.reporter = reporter
        self.names = names or HopAttributeNames()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Nothing to do: an observation is made when the hop is done with the event."""

    def on_end(self, span: ReadableSpan) -> None:
        try:
            attrs = span.attributes or {}
            if self.names.event_type in attrs:
                self._report(span, attrs)
        except Exception:  # a tracer must never break because of hopwatch
            self.reporter._drop("dropped_invalid", "span could not be read")

    def shutdown(self) -> None:
        self.reporter.flush()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.reporter.flush(timeout_millis / 1000)

    def _report(self, span: ReadableSpan, attrs: Mapping[str, Any]) -> None:
        n = self.names
        self.reporter.observe_at(
            attrs.get(n.pipeline, self.reporter.pipeline),
            attrs.get(n.hop, self.reporter.hop),
            attrs.get(n.event_id),
            attrs[n.event_type],
            # A span without one is refused when its batch is encoded (``wire._time``), counted
            # as ``dropped_invalid`` like any other bad value.
            attrs.get(n.event_time),  # type: ignore[arg-type]
            attrs.get(n.status) or _status_of(span),
            attrs.get(n.reason),
            _prefixed(attrs, n.attribute_prefix),
        )


def _status_of(span: ReadableSpan) -> str:
    return "failed" if span.status.status_code is StatusCode.ERROR else "ok"


def _prefixed(attrs: Mapping[str, Any], prefix: str) -> dict[str, Any] | None:
    """``{prefix}region = "eu"`` → ``{"region": "eu"}``; None when there are none."""
    found = {key[len(prefix) :]: value for key, value in attrs.items() if key.startswith(prefix)}
    return found or None
