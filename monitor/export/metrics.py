"""The ``/metrics`` collector: engine state read at scrape time, never touched on the ingest path.

``HopwatchCollector`` is registered on the HTTP app's own ``CollectorRegistry`` (never the global
one, so several apps or tests in one process do not collide). Ingest only updates the engine's
plain counters; every scrape turns them into metric families here, so pushing an event costs no
metric call at all. Names, help texts and label names come from ``monitor.names``; the SLO
families (``monitor.slo.names``, built in ``slo_metrics.py``) appear only when the engine has SLOs.

Everything is read from one ``Engine.view()`` per scrape, so a scrape sees one moment and
cannot change the engine. Latency quantiles describe the **last closed bucket**: for an edge,
``EngineView.last_edge``; for a hop, ``EngineView.last_hop``.
Empty sketches and 0/0 loss ratios produce no sample rather than a fake 0 or NaN.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from importlib import metadata
from typing import Any, Protocol

from prometheus_client.core import (
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.samples import Exemplar as PromExemplar

from monitor import names
from monitor.alerting.alert import AlertState
from monitor.anomaly.model import CheckState
from monitor.config.model import Config
from monitor.engine_view import EngineView, HopHistogram, Viewable
from monitor.export.family import new_family
from monitor.export.slo_metrics import slo_families
from monitor.ledger.records import Completeness
from monitor.ledger.sketch import LatencySketch
from monitor.records import Status
from monitor.slo import names as slo_names
from monitor.sources.push import RejectReason
from monitor.stats import DaemonStats

__all__ = ["HopwatchCollector", "MetricsSource", "hopwatch_version"]


class MetricsSource(Protocol):
    """What the collector reads; the server's ``Runtime`` (and the daemon) satisfy it."""

    @property
    def config(self) -> Config: ...

    @property
    def engine(self) -> Viewable: ...

    @property
    def stats(self) -> DaemonStats: ...


def hopwatch_version() -> str:
    """The installed distribution's version, or the package's when running from a source tree."""
    try:
        return metadata.version("hopwatch")
    except metadata.PackageNotFoundError:
        from monitor import __version__

        return __version__


def _add_quantiles(
    family: Any, label_names: tuple[str, ...], labels: list[str], sketch: LatencySketch | None
) -> None:
    """One sample per exported quantile of ``sketch``; nothing for an empty sketch."""
    if sketch is None or not sketch.count:
        return
    for q in names.QUANTILES:
        value = sketch.quantile(q)
        if value is not None:
            values = dict(zip(label_names, [*labels, names.quantile_label(q)], strict=True))
            family.add_sample(family.name, values, value)


def _add_histogram(family: Any, labels: list[str], histogram: HopHistogram) -> None:
    """Cumulative ``le`` buckets with their exemplars (written only in OpenMetrics), and the sum."""
    buckets: list[tuple[str, float] | tuple[str, float, PromExemplar]] = []
    les = [*(repr(float(b)) for b in histogram.bounds), "+Inf"]
    for i, (le, n) in enumerate(zip(les, histogram.cumulative(), strict=True)):
        exemplar = histogram.exemplars.get(i)
        if exemplar is None:
            buckets.append((le, n))
        else:
            trace = {"trace_id": exemplar.trace_id}
            sample = PromExemplar(trace, exemplar.latency_seconds, exemplar.observed_time)
            buckets.append((le, n, sample))
    family.add_metric(labels, buckets, sum_value=histogram.sum)


class HopwatchCollector(Collector):
    """Turns the engine's counters and last closed buckets into metric families on each scrape.

    ``requests`` is the server's per-(kind, status code) request counter, when there is one. Label
    sets that can be known in advance (configured hops and edges, every reject reason, every alert
    state) are always exported, at 0 if nothing happened, so ``rate()`` and absent-alerts work from
    the first scrape.
    """

    def __init__(
        self,
        source: MetricsSource,
        requests: Mapping[tuple[str, str], int] | None = None,
        version: str | None = None,
    ) -> None:
        self._source = source
        self._requests = requests
        self._version = version or hopwatch_version()

    def describe(self) -> Iterable[Metric]:
        """Names only: lets the registry check for clashes without reading the engine."""
        return [new_family(m) for m in (*names.ALL, *slo_names.ALL)]

    def collect(self) -> Iterator[Metric]:
        config, view = self._source.config, self._source.engine.view()
        yield from self._hops(config, view)
        yield from self._edges(view)
        yield from self._ingest(config, view)
        yield from self._ledgers(view)
        yield from self._daemon()
        yield from self._checks(view)
        yield from self._alerts(view)
        yield from slo_families(view)
        info = new_family(names.BUILD_INFO)
        info.add_metric([self._version], 1.0)
        yield info

    # --- families -----------------------------------------------------------------------------

    def _hops(self, config: Config, view: EngineView) -> Iterator[Metric]:
        events = new_family(names.HOP_EVENTS)
        latency = new_family(names.HOP_LATENCY)
        histogram = new_family(names.HOP_EVENT_LATENCY)
        totals = dict(view.hop_totals)
        for pipeline in config.pipelines:
            for hop in pipeline.hop_names:
                for status in Status:
                    n = totals.pop((pipeline.name, hop, status.value), 0)
                    events.add_metric([pipeline.name, hop, status.value], float(n))
                last = view.last_hop.get((pipeline.name, hop))
                sketch = last.latency if last is not None else None
                _add_quantiles(latency, names.HOP_LATENCY.labels, [pipeline.name, hop], sketch)
                _add_histogram(
                    histogram, [pipeline.name, hop], view.hop_histogram(pipeline.name, hop)
                )
        # Series restored from a checkpoint of an older config are still real counts.
        for (pipeline_name, hop, status_name), n in sorted(totals.items()):
            events.add_metric([pipeline_name, hop, status_name], float(n))
        yield events
        yield latency
        yield histogram

    def _edges(self, view: EngineView) -> Iterator[Metric]:
        families = {
            "expected": new_family(names.EDGE_EXPECTED),
            "arrived": new_family(names.EDGE_ARRIVED),
            "missing": new_family(names.EDGE_MISSING),
            "late": new_family(names.EDGE_LATE),
            "duplicates": new_family(names.EDGE_DUPLICATE),
            "incomplete_buckets": new_family(names.EDGE_INCOMPLETE),
        }
        loss = new_family(names.EDGE_LOSS_RATIO)
        latency = new_family(names.EDGE_LATENCY)
        for (pipeline_name, edge), totals in sorted(view.edge_totals.items()):
            labels = [pipeline_name, edge]
            for attr, family in families.items():
                family.add_metric(labels, float(getattr(totals, attr)))
            last = view.last_edge.get((pipeline_name, edge))
            if last is None:
                continue
            ratio = last.loss_ratio
            if ratio is not None and last.completeness is Completeness.COMPLETE:
                loss.add_metric(labels, ratio)
            _add_quantiles(latency, names.EDGE_LATENCY.labels, labels, last.latency)
        yield from families.values()
        yield loss
        yield latency
        forbidden = new_family(names.EDGE_FORBIDDEN)
        for pipeline_name, ledger in sorted(view.ledgers.items()):
            for edge, n in sorted(ledger.forbidden.items()):
                forbidden.add_metric([pipeline_name, edge], float(n))
        yield forbidden

    def _ingest(self, config: Config, view: EngineView) -> Iterator[Metric]:
        stats = view.ingest
        items = new_family(names.INGEST_ITEMS)
        rejected = new_family(names.INGEST_REJECTED)
        by_kind = dict(stats.rejected)
        for kind in names.INGEST_KINDS:
            accepted = stats.accepted.get((kind, names.OUTCOME_ACCEPTED), 0)
            rejected_n = sum(n for (k, _), n in stats.rejected.items() if k == kind)
            items.add_metric([kind, names.OUTCOME_ACCEPTED], float(accepted))
            items.add_metric([kind, names.OUTCOME_REJECTED], float(rejected_n))
            if kind == names.KIND_TRACES:
                skipped = stats.accepted.get((kind, names.OUTCOME_SKIPPED), 0)
                items.add_metric([kind, names.OUTCOME_SKIPPED], float(skipped))
            for reason in RejectReason:
                n = by_kind.pop((kind, reason.value), 0)
                rejected.add_metric([kind, reason.value], float(n))
        for (kind, reason_name), n in sorted(by_kind.items()):
            rejected.add_metric([kind, str(reason_name)], float(n))
        yield items
        yield rejected

        dropped = new_family(names.INGEST_DROPPED_ATTRIBUTES)
        for pipeline in config.pipelines:
            n = stats.dropped_attributes.get(pipeline.name, 0)
            dropped.add_metric([pipeline.name], float(n))
        yield dropped

        if self._requests is not None:
            requests = new_family(names.INGEST_REQUESTS)
            for (kind, code), n in sorted(self._requests.items()):
                requests.add_metric([kind, code], float(n))
            yield requests

    def _ledgers(self, view: EngineView) -> Iterator[Metric]:
        pending = new_family(names.LEDGER_PENDING_IDS)
        open_buckets = new_family(names.LEDGER_OPEN_BUCKETS)
        late = new_family(names.LEDGER_LATE_OBSERVATIONS)
        overflow = new_family(names.LEDGER_OVERFLOW_OBSERVATIONS)
        evicted = new_family(names.LEDGER_PENDING_EVICTED)
        too_late = new_family(names.LEDGER_TOO_LATE)
        for name, ledger in sorted(view.ledgers.items()):
            evicted.add_metric([name], float(ledger.pending_evicted))
            too_late.add_metric([name], float(ledger.too_late_for_edges))
            pending.add_metric([name], float(ledger.pending_ids))
            open_buckets.add_metric([name], float(ledger.open_buckets))
            late.add_metric([name], float(ledger.late_observations))
            overflow.add_metric([name], float(ledger.overflow_observations))
        yield from (pending, open_buckets, late, overflow, evicted, too_late)

    def _checks(self, view: EngineView) -> Iterator[Metric]:
        """State and score of every (check, series); segments are bounded by the ledger's cap."""
        state, score = new_family(names.CHECK_STATE), new_family(names.CHECK_SCORE)
        for entry in view.check_series:
            check, last = entry.check, entry.last
            labels = [check.name, str(check.kind), entry.series]
            for s in CheckState:
                state.add_metric([*labels, s.value], 1.0 if last.state is s else 0.0)
            score.add_metric(labels, float(last.score))
        errors = new_family(names.CHECK_ERRORS)
        for (check_name, reason), n in sorted(view.check_errors.items()):
            errors.add_metric([check_name, reason], float(n))
        yield state
        yield score
        yield errors

    def _daemon(self) -> Iterator[Metric]:
        """The evaluation loop's own health, when the source is a running daemon."""
        stats = self._source.stats
        for metric, value in (
            (names.DAEMON_TICKS, stats.ticks),
            (names.DAEMON_TICK_ERRORS, stats.tick_errors),
            (names.DAEMON_TICK_DURATION, stats.last_tick_seconds),
            (names.CONFIG_LAST_RELOAD_SUCCESSFUL, stats.last_reload_successful),
            (names.CONFIG_LAST_RELOAD_SUCCESS, stats.last_reload_success_at),
        ):
            family = new_family(metric)
            family.add_metric([], float(value))
            yield family
        for metric, counts in (
            (names.NOTIFICATIONS, stats.notifications),
            (names.NOTIFICATION_FAILURES, stats.notification_failures),
        ):
            family = new_family(metric)
            for key, n in sorted(counts.items()):
                family.add_metric(list(key), float(n))
            yield family
        errors = new_family(names.NOTIFY_ERRORS)
        errors.add_metric([], float(stats.notify_errors))
        yield errors

    def _alerts(self, view: EngineView) -> Iterator[Metric]:
        counts = dict.fromkeys(AlertState, 0)
        for alert in view.alerts:
            counts[alert.state] += 1
        family = new_family(names.ALERTS)
        for state, n in counts.items():
            family.add_metric([state.value], float(n))
        yield family
