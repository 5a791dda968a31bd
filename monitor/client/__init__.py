"""The pipeline-side client: report what each hop sees to hopwatch without ever hurting the hop.

``HopReporter`` is the whole API for code that calls it directly; ``monitor.client.otel`` holds
the OpenTelemetry span processor (imported separately, so this package needs only httpx), and
``monitor.client.attributes`` the span attribute names shared with hopwatch's OTLP ingestion.
Nothing here imports the daemon: a service installs hopwatch for this package alone and pays for
no scipy, pandas or server code.
"""

from __future__ import annotations

from monitor.client.reporter import HopReporter
from monitor.client.retry import Backoff
from monitor.client.stats import ReporterStats

__all__ = ["Backoff", "HopReporter", "ReporterStats"]
