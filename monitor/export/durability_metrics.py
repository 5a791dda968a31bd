"""``/metrics`` for the write-ahead log and checkpoints (``monitor.durability``).

A collector of its own, registered by the daemon beside the main one: the app's golden exposition
(built from a runtime without a data dir) is unchanged, and this file merges apart from the
exporters others edit.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from monitor import names
from monitor.durability import Durability
from monitor.export.family import new_family


class DurabilityCollector(Collector):
    def __init__(self, durability: Durability) -> None:
        self.durability = durability

    def collect(self) -> Iterator[Metric]:
        wal = self.durability.wal.stats
        ck = self.durability.stats
        for metric, value in (
            (names.WAL_APPENDED_BYTES, wal.bytes_appended),
            (names.WAL_SIZE_BYTES, wal.size_bytes),
            (names.WAL_FSYNCS, wal.fsyncs),
            (names.WAL_FSYNC_SECONDS, wal.fsync_seconds_total),
            (names.WAL_REPLAYED_RECORDS, wal.records_replayed),
            (names.WAL_CORRUPT_RECORDS, wal.corrupt_records),
            (names.CHECKPOINT_DURATION, ck.last_seconds),
            (names.CHECKPOINT_SIZE, ck.last_bytes),
        ):
            family = new_family(metric)
            family.add_metric([], float(value))
            yield family
        checkpoints = new_family(names.CHECKPOINTS)
        checkpoints.add_metric(["ok"], float(ck.ok))
        checkpoints.add_metric(["failed"], float(ck.failed))
        yield checkpoints

    def describe(self) -> Iterator[Metric]:
        for metric in names.DURABILITY_ALL:
            yield new_family(metric)
