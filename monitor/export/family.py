"""One prometheus_client metric family per ``monitor.names.Metric``: the only place a name's kind
(counter, gauge, histogram, summary) becomes a family, for every collector of hopwatch.

The families' ``add_metric`` signatures differ by kind (a histogram takes buckets and a sum), and
which one a name gets is decided by ``names.py`` at run time, so ``family`` is typed ``Any``:
the golden exposition tests and ``promtool check metrics`` are what hold each call to its kind.
"""

from __future__ import annotations

from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)

from monitor import names


def new_family(metric: names.Metric) -> Any:
    """An empty family for ``metric``, to fill with ``add_metric`` and yield from ``collect``."""
    if metric.kind == "counter":
        return CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
    if metric.kind == "histogram":
        return HistogramMetricFamily(metric.name, metric.help, labels=metric.labels)
    if metric.kind == "summary":
        # Quantile samples only (see names.py); the family's labels exclude ``quantile``.
        labels = [label for label in metric.labels if label != names.QUANTILE]
        return SummaryMetricFamily(metric.name, metric.help, labels=labels)
    return GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)
