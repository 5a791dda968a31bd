"""Pulled sources: the ``PullSource`` protocol and the runner that schedules them.

Each source re-reads every bucket the watermark has not closed yet (plus those closed since its
previous pull, so late rows still arrive), as absolute counts; ``ReportedCounts`` turns those into
the deltas the ledger adds, so a bucket read ten times is counted once. A pull that fails or
outlasts its timeout never reaches the ledger: the source's health records why, the pipeline gets a
``Gap`` for the outage (its buckets come out ``incomplete``, never as loss) and, after the source's
grace period, ``SourceHealth.down_verdict`` fires ``HopwatchSourceDown`` through the engine's tick
(the daemon passes ``SourceRunner.verdicts`` to the engine as one of its ``verdict_sources``).

The runner is the I/O shell around the engine for pulls: the daemon starts ``run(engine, clock)``
as a task; tests call ``poll`` with an explicit ``now``. It feeds the engine through the narrow
``PullSink`` only, and never imports it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import astuple
from typing import Protocol

import msgspec

from monitor.config.model import Config, Pipeline, PullSourceDef, Schedule, SourceKind
from monitor.ledger.watermark import Gap, Watermark
from monitor.records import CountSample
from monitor.sources.health import FailureReason, SourceError, SourceHealth, SourceKey
from monitor.sources.reported import BucketCount, ReportedCounts
from monitor.sources.window import Window
from monitor.timeutil import Clock
from monitor.verdict import Verdict

__all__ = ["PullSink", "PullSource", "SourceRunner", "Window", "build_sources", "pull_window"]

log = logging.getLogger("hopwatch.sources")


class PullSource(Protocol):
    """One adapter (Prometheus, SQL, JSON): absolute counts per bucket for a window."""

    key: SourceKey
    schedule: Schedule

    async def pull(self, window: Window) -> Sequence[BucketCount]:
        """Every count in the window (absent means zero); raise ``SourceError`` on failure."""
        ...

    async def aclose(self) -> None: ...


class PullSink(Protocol):
    """What pulling feeds: counts into the ledgers, and the gaps of sources' outages
    (``monitor.engine.Engine`` satisfies it)."""

    def observe_counts(self, samples: Iterable[CountSample]) -> None: ...

    def set_gap(self, pipeline: str, gap: Gap, replaces: Gap | None = None) -> None: ...


def pull_window(watermark: Watermark, now: float, interval: float) -> Window:
    """The buckets still open at ``now`` and those that were open at the previous pull."""
    size = watermark.bucket_seconds
    open_from = (watermark.last_closable(now) + 1) * size
    start = (watermark.last_closable(now - interval) + 1) * size
    return Window(start=start, end=now, open_from=open_from, bucket_seconds=size)


class SourceRunner:
    """Runs every pulled source on its own schedule and keeps each one's health."""

    def __init__(self, sources: Sequence[PullSource], config: Config) -> None:
        self.sources = list(sources)
        self._pipelines = {p.name: p for p in config.pipelines}
        self.health = {s.key: SourceHealth(s.key, grace=s.schedule.grace) for s in self.sources}
        self._reported = {
            s.key: ReportedCounts(s.key.pipeline, s.key.hop, self._pipeline(s.key).bucket_seconds)
            for s in self.sources
        }
        self._gaps: dict[SourceKey, Gap] = {}

    @classmethod
    def from_config(cls, config: Config) -> SourceRunner:
        """One adapter per ``pipelines[].hops[].sources[]`` entry."""
        return cls(build_sources(config), config)

    def to_bytes(self) -> bytes:
        """The counts each source has reported, saved with the engine's checkpoint (same instant,
        so the two agree): a restarted daemon sends only what is new."""
        return msgspec.msgpack.encode(
            [[*astuple(k), r.to_state()] for k, r in sorted(self._reported.items())]
        )

    def restore(self, data: bytes) -> None:
        """Resume from ``to_bytes``; sources no longer configured are skipped."""
        for *key, state in msgspec.msgpack.decode(data):
            reported = self._reported.get(SourceKey(*key))
            if reported is not None:
                reported.restore(state)

    def carry_over(self, old: SourceRunner) -> None:
        """On a config reload: keep what ``old`` knew of every source whose definition did not
        change (the counts it reported, so nothing is counted twice; its health and outage gap,
        so a source down before the reload stays one outage). A changed or new source starts
        afresh, as at a first start."""
        for key in self._reported.keys() & old._reported.keys():
            if self._spec(key) != old._spec(key):
                continue
            self._reported[key].restore(old._reported[key].to_state())
            self.health[key] = old.health[key]
            if key in old._gaps:
                self._gaps[key] = old._gaps[key]

    def _spec(self, key: SourceKey) -> tuple[object, ...]:
        pipeline = self._pipeline(key)
        hop = next(h for h in pipeline.hops if h.name == key.hop)
        spec = next(s for s in hop.sources if s.name == key.source)
        return (spec, pipeline.bucket_seconds, pipeline.allowed_lateness, pipeline.attributes)

    def _pipeline(self, key: SourceKey) -> Pipeline:
        return self._pipelines[key.pipeline]

    # --- judging --------------------------------------------------------------------------

    def verdicts(self, now: float) -> list[Verdict]:
        """One verdict per source, for the engine's ``verdict_sources``: ``HopwatchSourceDown``
        fires for a source failing past its grace period and resolves when it pulls again."""
        return [h.down_verdict(now) for _, h in sorted(self.health.items())]

    # --- pulling --------------------------------------------------------------------------

    async def poll(self, source: PullSource, engine: PullSink, now: float) -> bool:
        """One pull of one source at ``now``; True when it succeeded. Never raises."""
        key, schedule = source.key, source.schedule
        window = pull_window(self._watermark(key), now, schedule.interval)
        try:
            counts = await asyncio.wait_for(source.pull(window), schedule.timeout)
        except Exception as exc:  # classified; the loop never dies
            self._failed(key, schedule, engine, now, _classify(exc, schedule))
            return False
        reported = self._reported[key]
        engine.observe_counts(reported.deltas(counts, window.start, window.open_from))
        reported.forget(window.start)
        ended = self.health[key].succeeded(now)
        if ended is not None:
            self._set_gap(
                key, engine, Gap(ended, now, self._gaps[key].reason, frozenset({key.hop}))
            )
            log.info("source recovered", extra={"source": str(key), "down_seconds": now - ended})
        return True

    def _failed(
        self, key: SourceKey, schedule: Schedule, engine: PullSink, now: float, error: SourceError
    ) -> None:
        health = self.health[key]
        first = health.down_since is None
        health.failed(now, error)
        assert health.down_since is not None
        # Until the next pull can tell otherwise, everything from the first failure on is unseen.
        until = now + schedule.interval + schedule.timeout
        reason = f"source {key.source} of hop {key.hop} down ({error.reason})"
        self._set_gap(key, engine, Gap(health.down_since, until, reason, frozenset({key.hop})))
        if first or health.consecutive_failures % 60 == 0:  # not a line every interval
            log.warning(
                "source pull failed",
                extra={"source": str(key), "reason": str(error.reason), "error": error.message},
            )

    def _set_gap(self, key: SourceKey, engine: PullSink, gap: Gap) -> None:
        """Open or extend this outage's gap in the pipeline's ledger, so one outage is one gap
        however many pulls it spans."""
        engine.set_gap(key.pipeline, gap, replaces=self._gaps.get(key))
        self._gaps[key] = gap

    def _watermark(self, key: SourceKey) -> Watermark:
        p = self._pipeline(key)
        return Watermark(p.bucket_seconds, p.allowed_lateness)

    async def poll_all(self, engine: PullSink, now: float) -> None:
        """One pull of every source at ``now``, concurrently (for tests and one-shot use)."""
        await asyncio.gather(*(self.poll(s, engine, now) for s in self.sources))

    async def run(
        self,
        engine: PullSink,
        clock: Clock,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        """Pull every source every ``interval`` until cancelled; closes the adapters on the way out."""
        try:
            await asyncio.gather(*(self._loop(s, engine, clock, sleep) for s in self.sources))
        finally:
            for source in self.sources:
                try:
                    await source.aclose()
                except Exception:
                    log.exception("closing source failed", extra={"source": str(source.key)})

    async def _loop(
        self,
        source: PullSource,
        engine: PullSink,
        clock: Clock,
        sleep: Callable[[float], Awaitable[object]],
    ) -> None:
        while True:
            await self.poll(source, engine, clock.now())
            await sleep(source.schedule.interval)


def _classify(exc: BaseException, schedule: Schedule) -> SourceError:
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, TimeoutError):
        return SourceError(FailureReason.TIMEOUT, f"no answer within {schedule.timeout:g}s")
    log.exception("source adapter raised an unclassified error", exc_info=exc)
    return SourceError(FailureReason.INTERNAL, type(exc).__name__)


def build_sources(config: Config) -> list[PullSource]:
    """Adapters for every configured source; imported lazily so a config without SQL sources
    never needs SQLAlchemy."""
    out: list[PullSource] = []
    for pipeline in config.pipelines:
        for hop in pipeline.hops:
            for spec in hop.sources:
                if spec.kind == SourceKind.KAFKA:
                    continue  # a stream, not a puller: run by monitor.sources.kafka
                out.append(_adapter(SourceKey(pipeline.name, hop.name, spec.name), spec, pipeline))
    return out


def _adapter(key: SourceKey, spec: PullSourceDef, pipeline: Pipeline) -> PullSource:
    from monitor.config.model import HttpJsonSource, PrometheusSource, SqlSource

    if isinstance(spec, PrometheusSource):
        from monitor.sources.prometheus import PrometheusPull

        return PrometheusPull(key, spec, pipeline.attributes)
    if isinstance(spec, SqlSource):
        from monitor.sources.sql import SqlPull

        return SqlPull(key, spec)
    assert isinstance(spec, HttpJsonSource)
    from monitor.sources.http_json import HttpJsonPull

    return HttpJsonPull(key, spec)
