"""The pure heart of the daemon: ledgers per pipeline, the judges, the alert book.

``Engine`` takes validated records and explicit times and returns what happened; it never touches a
clock, a socket or a file. The daemon (``daemon.py``) owns the I/O around it: the HTTP server feeds it,
a ticker calls ``tick(now)``, and what ``tick`` returns goes to the store.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TypeVar

from monitor.alerting.alert import Alert
from monitor.alerting.book import AlertBook, AlertPolicy
from monitor.alerting.leaks import ForbiddenFlowJudge
from monitor.anomaly.factory import detector_for
from monitor.anomaly.model import CheckDef
from monitor.anomaly.runner import CheckRunner, default_divergence_checks
from monitor.config.model import Config
from monitor.engine_record import ENGINE_VERSION, EngineRecord, decode_engine, encode_engine
from monitor.engine_view import (
    AgentView,
    CheckSeries,
    EdgeTotals,
    EngineView,
    HopHistogram,
    IngestView,
    LedgerView,
    SLOTotals,
    frozen_map,
)
from monitor.ledger.agents import SILENT_AFTER_FLUSHES, AgentLiveness, Outage
from monitor.ledger.aggregate import AggregateBatch, HopAggregate
from monitor.ledger.applied import UNKNOWN_AGENT, AppliedSequences
from monitor.ledger.latency_totals import HopLatencyTotals, LatencyHistogram
from monitor.ledger.ledger import Closed, PipelineLedger
from monitor.ledger.records import Completeness, EdgeResult, HopBucket
from monitor.ledger.watermark import Gap
from monitor.records import CountSample, Observation
from monitor.slo.evaluate import SLOEvaluator, SLOStatus
from monitor.slo.indicators import SLIRecorder
from monitor.slo.model import SLO
from monitor.verdict import Verdict


@dataclass(frozen=True)
class TickOutput:
    """Everything one tick produced, for the store and the notifiers."""

    closed: Mapping[str, Closed]
    verdicts: tuple[Verdict, ...]
    alerts_changed: tuple[Alert, ...]

    @property
    def edge_results(self) -> list[EdgeResult]:
        return [r for c in self.closed.values() for r in c.edge_results]


@dataclass
class IngestStats:
    """Counters of the push path, by kind (observations/counts) and reason."""

    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    rejected: Counter[tuple[str, str]] = field(default_factory=Counter)
    dropped_attributes: Counter[str] = field(default_factory=Counter)


RECENT_BUCKETS = 60
"""Closed buckets kept per edge and per hop for the view's ``recent_*`` (the status page's
sparklines): bounded so memory does not grow with uptime; older history is in the store."""

_B = TypeVar("_B", EdgeResult, HopBucket)

_PRUNE_EVERY = 3600.0
"""Per-bucket numbers are pruned at most this often (seconds of ``now``)."""


def remember(recent: tuple[_B, ...], item: _B, keep: int = RECENT_BUCKETS) -> tuple[_B, ...]:
    """``recent`` with ``item`` in bucket order: an amended bucket replaces its earlier version
    (same ``bucket_start``), and only the newest ``keep`` buckets stay. A tuple, rebuilt on each
    change, so a view can share it without copying."""
    kept = [r for r in recent if r.bucket_start != item.bucket_start]
    kept.append(item)
    kept.sort(key=lambda r: r.bucket_start)
    return tuple(kept[-keep:])


VerdictSource = Callable[[float], Iterable[Verdict]]
"""A judge outside the ledger asked for verdicts at each tick (``now`` in, verdicts out)."""


class Engine:
    """The one mutable hub of judging: ledgers per pipeline, checks, SLOs and the alert book.

    Use it wherever observations must become buckets, edge results, verdicts and alerts: the
    daemon (``monitor.daemon.Daemon``) builds one per process, feeds it from the HTTP handlers
    and the pulled sources (``observe``, ``observe_counts``, ``absorb``, ``mark_gap``,
    ``set_gap``), calls ``tick(now)`` from its ticker and persists what ``tick`` returns;
    replays and tests drive it the same way with explicit times. Everything that only reads
    state — exporters, the HTTP API, status printing — reads ``view()``, a frozen snapshot, and
    never the engine's attributes: those are its own (the few not yet underscored are the
    state ``checkpoint``/``restore`` save, kept under their names while that format changes).

    ``verdict_sources`` are judges outside the ledger (a ``SourceRunner``'s pulled sources'
    health) asked for verdicts on each tick, so their alerts go through the same book, store
    and notifiers as every other alert; agents' liveness is one the engine adds itself.
    """

    def __init__(
        self,
        config: Config,
        amend_horizon: float = 3600.0,
        slos: Sequence[SLO] = (),
        checks: Sequence[CheckDef] = (),
        verdict_sources: Sequence[VerdictSource] = (),
    ) -> None:
        self._config = config
        self._ledgers = {p.name: PipelineLedger(p, amend_horizon) for p in config.pipelines}
        self._book = AlertBook(
            policies={
                c.name: AlertPolicy(for_=c.for_, keep_firing_for=c.keep_firing_for)
                for c in checks
                if c.for_ or c.keep_firing_for
            }
        )
        self._leaks = ForbiddenFlowJudge(config)
        self._book.policies.update(self._leaks.policies())
        self._ingest_stats = IngestStats()
        self._edge_totals: dict[tuple[str, str], EdgeTotals] = {
            (p.name, e.name): EdgeTotals() for p in config.pipelines for e in p.edges
        }
        self._last_edge: dict[tuple[str, str], EdgeResult] = {}
        self._last_hop: dict[tuple[str, str], HopBucket] = {}
        self._recent_edges: dict[tuple[str, str], tuple[EdgeResult, ...]] = {}
        self._recent_hops: dict[tuple[str, str], tuple[HopBucket, ...]] = {}
        self._hop_latency = HopLatencyTotals()
        self._emitted: dict[tuple[str, str, float], tuple[int, int, int, int, int]] = {}
        self._next_prune = -math.inf
        self._amend_horizon = amend_horizon
        self._last_tick: float | None = None
        self._slos = SLOEvaluator(slos)
        self._sli = SLIRecorder(slos, samplers={n: led.sampler for n, led in self._ledgers.items()})
        self._slo_statuses: list[SLOStatus] = []
        # Every edge is watched for loss: a configured divergence check, or the built-in default.
        checks = [*checks, *default_divergence_checks(config, checks)]
        self._checks = CheckRunner(checks, config, detector_for)
        self._verdict_sources: list[VerdictSource] = list(verdict_sources)
        self._applied = AppliedSequences()
        """Agent batches already in the ledgers, checkpointed with them (``absorb``)."""
        self._agents = AgentLiveness(SILENT_AFTER_FLUSHES * config.agent.flush_interval)
        """Agents' last contact and hops: a silent agent's hops get a gap, not loss (``tick``)."""

    # --- reading ------------------------------------------------------------------------------

    @property
    def config(self) -> Config:
        """The config the engine was built from (a reload builds a new engine)."""
        return self._config

    def view(self) -> EngineView:
        """A frozen snapshot for readers (see ``monitor.engine_view``): frozen records shared,
        small counters copied, nothing deep-copied, so it is cheap enough to build per scrape."""
        bounds = self._hop_latency.bounds
        good, bad, _ = self._slos.ledger.totals()
        agents = self._agents
        return EngineView(
            last_tick=self._last_tick,
            edge_totals=frozen_map(self._edge_totals),
            last_edge=frozen_map(self._last_edge),
            last_hop=frozen_map(self._last_hop),
            recent_edges=frozen_map(self._recent_edges),
            recent_hops=frozen_map(self._recent_hops),
            hop_totals=frozen_map(self._hop_totals()),
            hop_latency=MappingProxyType(
                {k: _frozen(h, bounds) for k, h in self._hop_latency.by_hop.items()}
            ),
            latency_bounds=bounds,
            ingest=IngestView(
                accepted=frozen_map(self._ingest_stats.accepted),
                rejected=frozen_map(self._ingest_stats.rejected),
                dropped_attributes=frozen_map(self._ingest_stats.dropped_attributes),
            ),
            ledgers=MappingProxyType({n: _ledger_view(led) for n, led in self._ledgers.items()}),
            checks=self._checks.checks,
            check_series=tuple(CheckSeries(c, s, last) for c, s, last in self._checks.states()),
            check_errors=frozen_map(self._checks.errors),
            slos=tuple(self._slos.slos),
            slo_statuses=tuple(self._slo_statuses),
            slo_totals=tuple(SLOTotals(int(g), int(b)) for g, b in zip(good, bad, strict=True)),
            alerts=tuple(self._book.alerts()),
            agent_batches=frozen_map(self._applied.outcomes),
            agents=MappingProxyType(
                {
                    name: AgentView(
                        name, c.last_contact, agents.silent_since(c), agents.silent_after
                    )
                    for name, c in agents.contacts.items()
                }
            ),
        )

    def _hop_totals(self) -> Counter[tuple[str, str, str]]:
        """Events seen per (pipeline, hop, status) since the first start: monotonic, for counters."""
        out: Counter[tuple[str, str, str]] = Counter()
        for name, ledger in self._ledgers.items():
            for (hop, status), n in ledger.hop_totals().items():
                out[(name, hop, status)] += n
        return out

    # --- ingest -------------------------------------------------------------------------------

    def observe(self, observations: Iterable[Observation]) -> int:
        """Validated observations (any pipelines, any order) into their ledgers.

        Returns how many were too late for edge reconciliation (``PipelineLedger.observe``), so
        the push API can say so in its answer instead of leaving the sender to find a counter.
        """
        if self._slos.slos:
            observations = list(observations)
            decided: list[tuple[str, float, int, int]] = []
            append = decided.append
            self._sli.observe(observations, lambda slo, at, g, b: append((slo, at, g, b)))
            self._slos.ledger.record_batch(decided)  # summed per SLO and minute: the hot part
        if len(self._ledgers) == 1:  # the push decoder already refused other pipelines
            return next(iter(self._ledgers.values())).observe(observations)
        by_pipeline: dict[str, list[Observation]] = {}
        for obs in observations:
            by_pipeline.setdefault(obs.pipeline, []).append(obs)
        return sum(self._ledgers[name].observe(batch) for name, batch in by_pipeline.items())

    def observe_counts(self, samples: Iterable[CountSample]) -> None:
        by_pipeline: dict[str, list[CountSample]] = {}
        for s in samples:
            by_pipeline.setdefault(s.pipeline, []).append(s)
        for name, batch in by_pipeline.items():
            self._ledgers[name].observe_counts(batch)

    def applied_through(self, agent_id: str, instance: str) -> int:
        """See ``AppliedSequences.applied_through`` (answered with every aggregate batch)."""
        return self._applied.applied_through(agent_id, instance)

    def absorb(
        self,
        batch: AggregateBatch,
        now: float,
        dropped_attributes: Mapping[str, int] | None = None,
    ) -> bool:
        """An agent's batch of aggregates (or heartbeat), at most once per (agent, instance, seq).

        False when it was applied before (a retry after a lost answer): nothing changes then but
        the agent's last contact — any request proves it reaches the server, and ends the gap of
        an outage at ``now``. Only for a batch ``monitor.sources.agent_batch.BatchGate`` admitted:
        the ledgers trust every value in it, and its agent is tracked from here on (a refused
        batch goes to ``refuse``). ``dropped_attributes`` (keys off the allow-list the gate
        removed, by pipeline) are counted with the push path's, once: not again for a resend.
        Latency SLO indicators need single observations and are not fed from aggregates.
        """
        self._watch_agents()
        ended = self._agents.heard(batch.agent_id, batch.served_hops(), now)
        if ended is not None:
            self._set_agent_gaps(ended, now)
        if self._applied.seen(batch):
            self._applied.record(batch, applied=False)
            return False
        by_pipeline: dict[str, list[HopAggregate]] = {}
        for agg in batch.aggregates:
            by_pipeline.setdefault(agg.pipeline, []).append(agg)
        for name, aggregates in by_pipeline.items():
            self._ledgers[name].absorb(aggregates)
        self.observe_counts(batch.samples)
        self._applied.record(batch, applied=True)
        for pipeline, n in (dropped_attributes or {}).items():
            self._ingest_stats.dropped_attributes[pipeline] += n
        return True

    def refuse(self, agent: str | None) -> None:
        """Count a batch refused whole (undecodable: ``agent`` None). Nothing else changes: the
        agent is not heard from. Agents not heard from before are counted as ``"unknown"``, so a
        stream of made-up ids cannot grow the label set."""
        self._applied.refused(
            agent if agent is not None and agent in self._agents.contacts else UNKNOWN_AGENT
        )

    def record_ingest(
        self,
        kind: str,
        accepted: int,
        rejected: Mapping[str, int],
        dropped_attributes: Mapping[str, int],
        skipped: int = 0,
    ) -> None:
        """Count one push batch's outcome; the exporters read these, nothing else does.

        ``skipped`` counts OTLP spans that were no hop spans (kept apart from rejections: they
        are not errors).
        """
        self._ingest_stats.accepted[(kind, "accepted")] += accepted
        if skipped:
            self._ingest_stats.accepted[(kind, "skipped")] += skipped
        for reason, n in rejected.items():
            self._ingest_stats.rejected[(kind, reason)] += n
        for pipeline, n in dropped_attributes.items():
            self._ingest_stats.dropped_attributes[pipeline] += n

    # --- time passes --------------------------------------------------------------------------

    def tick(self, now: float) -> TickOutput:
        """Close what the watermark allows, judge every edge result, update alerts."""
        for outage in self._agents.silent(now):
            # Until the next tick can tell otherwise, the silent agent's hops stay unseen.
            self._set_agent_gaps(outage, now + self._agents.silent_after)
        closed = {name: ledger.close(now) for name, ledger in self._ledgers.items()}
        # Forbidden flows are judged on every tick, not per closed bucket: a leak pages at once.
        leaks = [batch for ledger in self._ledgers.values() for batch in ledger.drain_leaks()]
        firing = (dict(a.labels).get("check_name", "") for a in self._book.firing())
        verdicts = self._leaks.verdicts(leaks, now, firing)
        new_hops: list[HopBucket] = []
        new_edges: list[EdgeResult] = []
        amended: list[tuple[EdgeResult, int]] = []  # late arrivals into buckets already judged
        for c in closed.values():
            for bucket in c.hop_buckets:
                last = self._last_hop.get((bucket.pipeline, bucket.hop))
                if last is None or bucket.bucket_start >= last.bucket_start:
                    self._last_hop[(bucket.pipeline, bucket.hop)] = bucket
                key = (bucket.pipeline, bucket.hop)
                self._recent_hops[key] = remember(self._recent_hops.get(key, ()), bucket)
                if bucket.late == 0:  # a hop bucket is amended only by late sightings
                    new_hops.append(bucket)
            for result in c.edge_results:
                before = self._emitted.get(result.key)
                if before is None:
                    self._sli.edge_results([result], now, self._record_outcome)
                    new_edges.append(result)
                elif result.arrived > before[1]:
                    amended.append((result, result.arrived - before[1]))
                self._account(result)
        self._hop_latency.add(new_hops)
        verdicts.extend(self._checks.feed(new_hops, new_edges, now))
        verdicts.extend(self._checks.amend(amended, now))
        verdicts.extend(self._judge_slos(now))
        for judge in self._verdict_sources:
            verdicts.extend(judge(now))
        changed = self._book.apply(verdicts, now)
        self._prune(now)
        self._last_tick = now
        return TickOutput(closed, tuple(verdicts), tuple(changed))

    def _record_outcome(self, slo: str, at: float, good: int, bad: int) -> None:
        self._slos.ledger.record(slo, at, good, bad)

    def _judge_slos(self, now: float) -> list[Verdict]:
        """Decide what the clock decides (latency deadlines, matured labels), then every tier."""
        if not self._slos.slos:
            return []
        self._sli.expire(now, self._record_outcome)
        for name, n in self._sli.pending().items():
            self._slos.ledger.set_pending(name, n)
        self._slo_statuses = self._slos.evaluate(now)
        out = []
        for verdict in self._slos.verdicts(self._slo_statuses, now):
            evidence = self._sli.evidence[dict(verdict.labels)["slo"]]
            top = evidence.top_segment()
            extra = {
                "top_segment": None if top is None else {"segment": top[0], "bad": top[1]},
                "sample_event_ids": list(evidence.bad_ids),
            }
            out.append(dataclasses.replace(verdict, evidence={**verdict.evidence, **extra}))
        return out

    def _account(self, result: EdgeResult) -> None:
        """Add what is new in this (possibly amended) result to the monotonic totals.

        Counters only ever go up: ``missing`` counts what was missing when the bucket first closed
        (late arrivals that make up for it are counted in ``late``), and amendments add only their
        increases. Incomplete buckets never add to the loss counters.
        """
        key = (result.pipeline, result.edge)
        totals = self._edge_totals[key]
        before = self._emitted.get(result.key)
        numbers = (result.expected, result.arrived, result.missing, result.duplicates, result.late)
        self._emitted[result.key] = numbers
        last = self._last_edge.get(key)
        if last is None or result.bucket_start >= last.bucket_start:
            self._last_edge[key] = result
        self._recent_edges[key] = remember(self._recent_edges.get(key, ()), result)
        if result.completeness is Completeness.INCOMPLETE:
            if before is None:
                self._edge_totals[key] = dataclasses.replace(
                    totals, incomplete_buckets=totals.incomplete_buckets + 1
                )
            return
        old = before or (0, 0, 0, 0, 0)
        self._edge_totals[key] = dataclasses.replace(
            totals,
            expected=totals.expected + max(0, numbers[0] - old[0]),
            arrived=totals.arrived + max(0, numbers[1] - old[1]),
            missing=totals.missing + (numbers[2] if before is None else 0),
            duplicates=totals.duplicates + max(0, numbers[3] - old[3]),
            late=totals.late + max(0, numbers[4] - old[4]),
        )

    def _prune(self, now: float) -> None:
        """Forget per-bucket numbers once no amendment can come (the ledger evicted the bucket).

        Each pipeline keeps its own horizon (a pipeline with days of lateness must not hold a
        minute-bucket pipeline's numbers for weeks), and the scan runs at most once per
        ``_PRUNE_EVERY``: scanning every bucket on every tick cost more than the judging did."""
        if now < self._next_prune:
            return
        self._next_prune = now + _PRUNE_EVERY
        base = now - 2 * self._amend_horizon
        horizons = {
            p.name: base - max(86400.0, 2 * p.allowed_lateness) for p in self._config.pipelines
        }
        oldest = min(horizons.values(), default=base - 86400.0)
        for key in [k for k in self._emitted if k[2] < horizons.get(k[0], oldest)]:
            del self._emitted[key]

    # --- restarts -----------------------------------------------------------------------------

    def mark_gap(self, gap: Gap) -> None:
        """hopwatch itself was not observing during ``gap``: no bucket overlapping it is loss."""
        for ledger in self._ledgers.values():
            ledger.add_gap(gap)
        if gap.hops is None:
            self._agents.resumed(gap.end)

    def set_gap(self, pipeline: str, gap: Gap, replaces: Gap | None = None) -> None:
        """Open an outage's gap in one pipeline, or extend it: ``replaces`` (the gap this outage
        set before, if it is still there and starts at the same time) gives way to ``gap``, so
        one outage is one gap however many pulls or ticks it spans."""
        gaps = self._ledgers[pipeline].gaps
        if replaces is not None and replaces in gaps and replaces.start == gap.start:
            gaps[gaps.index(replaces)] = gap
        else:
            self._ledgers[pipeline].add_gap(gap)

    # --- alerts kept elsewhere ----------------------------------------------------------------

    def load_alerts(self, alerts: Iterable[Alert]) -> None:
        """Take alerts as the store kept them (at start); a pending one resumes its ``for``."""
        self._book.load(alerts)

    def drain_removed_alerts(self) -> list[str]:
        """Fingerprints of alerts dropped since the last call, for the store to delete."""
        return self._book.drain_removed()

    def _watch_agents(self) -> None:
        """Ask the agents' tracker for ``HopwatchAgentDown`` verdicts on every tick, from the
        first agent contact on (a server no agent talks to judges nothing more)."""
        if self._agents.verdicts not in self._verdict_sources:
            self._verdict_sources.append(self._agents.verdicts)

    def _set_agent_gaps(self, outage: Outage, end: float) -> None:
        """Open, extend or (at the agent's return) end the outage's gap in each pipeline it
        touches: one gap per outage however many ticks it spans, found again by its start,
        reason and hops (so a restarted server extends the gap it restored)."""
        for pipeline, hops in outage.by_pipeline().items():
            ledger = self._ledgers.get(pipeline)
            if ledger is None:
                continue  # a pipeline no longer configured
            gap = Gap(outage.since, end, outage.reason, hops)
            for i, old in enumerate(ledger.gaps):
                if (old.start, old.reason, old.hops) == (gap.start, gap.reason, gap.hops):
                    ledger.gaps[i] = gap
                    break
            else:
                ledger.add_gap(gap)

    def checkpoint(self) -> bytes:
        """Everything a restart needs, as a versioned ``EngineRecord`` (``engine_record``)."""
        return encode_engine(
            EngineRecord(
                version=ENGINE_VERSION,
                ledgers={name: ledger.to_bytes() for name, ledger in self._ledgers.items()},
                edge_totals=[
                    (p, e, *dataclasses.astuple(t)) for (p, e), t in self._edge_totals.items()
                ],
                emitted=[(*k, *v) for k, v in self._emitted.items()],
                slo_outcomes=self._slos.ledger.to_bytes(),
                slo_phases=self._slos.phases_to_bytes(),
                checks=self._checks.to_bytes(),
                alert_book=self._book.to_bytes(),
                agents=self._applied.to_bytes(),
                agent_contacts=self._agents.to_bytes(),
            )
        )

    def restore(self, data: bytes) -> None:
        """Resume from a checkpoint of this or an older version; pipelines no longer configured
        are skipped. A newer version raises ``CheckpointVersionError``."""
        state = decode_engine(data)
        for name, blob in state.ledgers.items():
            if name in self._ledgers:
                self._ledgers[name].restore(blob)
        for p, e, *numbers in state.edge_totals:
            if (p, e) in self._edge_totals:
                self._edge_totals[(p, e)] = EdgeTotals(*numbers)
        for p, e, b, *numbers in state.emitted:
            self._emitted[(p, e, b)] = tuple(numbers)  # type: ignore[assignment]
        if state.slo_outcomes is not None:
            self._slos.ledger.restore(state.slo_outcomes)
        if state.slo_phases is not None:
            self._slos.restore_phases(state.slo_phases)
        if state.checks is not None:
            self._checks.restore(state.checks)
        if state.alert_book is not None:
            self._book.restore(state.alert_book)
        if state.agents is not None:
            self._applied.restore(state.agents)
        if state.agent_contacts is not None:
            self._agents.restore(state.agent_contacts)
            if self._agents.contacts:
                self._watch_agents()

    def carry_over(self, old: Engine) -> None:
        """On a reload, after ``restore(old.checkpoint())``: take from the running engine what
        a checkpoint leaves out (a restart rebuilds it; a reload need not), for what is still
        configured: the last and recent buckets (status page), the hop latency histograms and
        push counters (counters must not reset on a reload), the last tick, and the SLI
        recorder's in-flight latency events when the SLOs and their pipelines' id sampling are
        unchanged (otherwise its pending events are re-learned, as after a restart)."""
        edges = self._edge_totals.keys()
        hops = {(p.name, h.name) for p in self._config.pipelines for h in p.hops}
        self._last_edge = {k: v for k, v in old._last_edge.items() if k in edges}
        self._recent_edges = {k: v for k, v in old._recent_edges.items() if k in edges}
        self._last_hop = {k: v for k, v in old._last_hop.items() if k in hops}
        self._recent_hops = {k: v for k, v in old._recent_hops.items() if k in hops}
        for key, histogram in old._hop_latency.by_hop.items():
            if key in hops and old._hop_latency.bounds == self._hop_latency.bounds:
                self._hop_latency.by_hop[key] = histogram
        self._ingest_stats = old._ingest_stats
        self._last_tick = old._last_tick

        def sampling(config: Config) -> dict[str, float]:
            return {p.name: p.id_sampling for p in config.pipelines}

        if old._sli.slos == self._sli.slos and sampling(old._config) == sampling(self._config):
            self._sli = old._sli


def _frozen(histogram: LatencyHistogram, bounds: tuple[float, ...]) -> HopHistogram:
    return HopHistogram(
        bounds, tuple(histogram.counts), histogram.sum, frozen_map(histogram.exemplars)
    )


def _ledger_view(ledger: PipelineLedger) -> LedgerView:
    stats = ledger.stats
    return LedgerView(
        pending_ids=ledger.pending_ids,
        open_buckets=ledger.open_buckets(),
        late_observations=stats.late_observations,
        overflow_observations=stats.overflow_observations,
        pending_evicted=stats.pending_evicted,
        too_late_for_edges=stats.too_late_for_edges,
        gaps=tuple(ledger.gaps),
        forbidden=frozen_map({name: log.total for name, log in ledger.leaks.items()}),
    )
