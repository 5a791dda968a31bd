"""The ``hopwatch_source_*`` families: health of every pulled source, read at scrape time.

A collector of its own rather than part of ``HopwatchCollector``, because source health lives in
the ``SourceRunner`` (the I/O shell), not in the engine. Register it on the app's registry next to
the main collector: ``app.state.registry.register(SourceCollector(runner))``. Every configured
source is exported from the first scrape, every failure reason at 0, so ``rate()`` and absence
alerts work before anything has gone wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from monitor import names
from monitor.export.family import new_family
from monitor.sources.health import FailureReason, SourceHealth, SourceKey

__all__ = ["KafkaCollector", "SourceCollector"]


class HealthSource(Protocol):
    """What the collector reads; ``SourceRunner`` satisfies it."""

    @property
    def health(self) -> Mapping[SourceKey, SourceHealth]: ...


class SourceCollector(Collector):
    def __init__(self, source: HealthSource) -> None:
        self._source = source

    def describe(self) -> Iterable[Metric]:
        return [new_family(m) for m in names.SOURCE_ALL]

    def collect(self) -> Iterator[Metric]:
        up, last = new_family(names.SOURCE_UP), new_family(names.SOURCE_LAST_SUCCESS)
        errors = new_family(names.SOURCE_ERRORS)
        failing = new_family(names.SOURCE_CONSECUTIVE_FAILURES)
        for key, health in sorted(self._source.health.items()):
            labels = [key.pipeline, key.hop, key.source]
            up.add_metric(labels, 1.0 if health.up else 0.0)
            if health.last_success is not None:
                last.add_metric(labels, health.last_success)
            for reason in FailureReason:
                errors.add_metric([*labels, reason.value], float(health.errors[reason]))
            failing.add_metric(labels, float(health.consecutive_failures))
        yield from (up, last, errors, failing)


class KafkaCollector(Collector):
    """Per-partition lag and end offsets and bad records of kafka sources (``KafkaRunner``);
    registered only when a hop is a kafka topic."""

    def __init__(self, runner: Any) -> None:
        self._runner = runner

    def describe(self) -> Iterable[Metric]:
        return [new_family(m) for m in names.SOURCE_KAFKA_ALL]

    def collect(self) -> Iterator[Metric]:
        lag, end = new_family(names.SOURCE_KAFKA_LAG), new_family(names.SOURCE_KAFKA_END_OFFSET)
        seconds = new_family(names.SOURCE_KAFKA_LAG_SECONDS)
        bad = new_family(names.SOURCE_KAFKA_BAD_RECORDS)
        for source in self._runner.sources:
            labels = [source.key.pipeline, source.key.hop, source.key.source]
            for partition, stats in sorted(source.partitions.items()):
                lag.add_metric([*labels, str(partition)], float(stats.lag))
                seconds.add_metric([*labels, str(partition)], stats.lag_seconds)
                end.add_metric([*labels, str(partition)], float(stats.end_offset))
            for reason, n in sorted(source.mapper.bad.items()):
                bad.add_metric([*labels, reason], float(n))
        yield from (lag, seconds, end, bad)
