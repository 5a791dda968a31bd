"""Wiring: the engine, its store and its clock, the HTTP server and the ticker, start and stop.

This is the I/O shell around ``Engine``. On start it restores the last checkpoint and records the time
it was not running as a gap, so buckets it could not fully observe come out ``incomplete`` instead of
as loss. Every tick closes buckets and persists what closed; every ``checkpoint_interval`` it saves the
open state; SIGTERM / SIGINT save once more and exit 0. A failing tick is logged and counted, and the
loop goes on. SIGHUP (or ``POST /-/reload``) reloads the config without a restart (``reload``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.alerting.alert import Alert, AlertState
from monitor.alerting.nflog import NflogPersistence
from monitor.anomaly.model import CheckDef
from monitor.config import ConfigError
from monitor.config.model import Config
from monitor.durability import MODE_WAL, Durability, data_dir_of
from monitor.engine import Engine, TickOutput
from monitor.ledger import core as ingest_core
from monitor.ledger.records import merge_hop_buckets
from monitor.ledger.watermark import Gap
from monitor.notify.dispatch import open_clients
from monitor.notify.notifier import Notifier
from monitor.records import Observation
from monitor.reload import Loaded, ReloadOutcome, keep_running_settings, load_all
from monitor.routing.model import RoutingConfig, default_routing
from monitor.routing.silence import SilenceBook
from monitor.slo.model import SLO
from monitor.sources.health import SourceHealth, SourceKey
from monitor.sources.kafka import KafkaRunner
from monitor.sources.kafka_journal import OffsetJournal
from monitor.sources.pull import SourceRunner
from monitor.stats import DaemonStats
from monitor.store import Store
from monitor.store.shared import SharedState
from monitor.timeutil import Clock

if TYPE_CHECKING:
    from monitor.standby import Elector

log = logging.getLogger("hopwatch.daemon")

CHECKPOINT = "engine"
SOURCES_CHECKPOINT = "sources"
KAFKA_CHECKPOINT = "kafka"


def _kafka_runner(config: Config) -> KafkaRunner | None:
    """Only when a hop is a kafka topic, so other configs never need confluent-kafka."""
    if not any(s.kind == "kafka" for p in config.pipelines for h in p.hops for s in h.sources):
        return None
    return KafkaRunner(config)


class Daemon:
    """One hopwatch process: what ``hopwatch run`` and ``hopwatch demo`` start."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        store: Store,
        *,
        tick_interval: float = 1.0,
        checkpoint_interval: float = 10.0,
        retention_interval: float = 3600.0,
        slos: Sequence[SLO] = (),
        checks: Sequence[CheckDef] = (),
        silences: SilenceBook | None = None,
        routing: RoutingConfig | None = None,
        nflog_store: NflogPersistence | None = None,
        environ: Mapping[str, str] | None = None,
        data_dir: Path | None = None,
        durability: str | None = None,
        shared: SharedState | None = None,
    ) -> None:
        self.config = config
        self.file_config = config
        """The config as its file says, before command-line overrides (``hopwatch run`` sets
        it): a reload reports what the file changed since, not the overrides."""
        self.config_path: Path | None = config.source
        """The main config file a reload reads again."""
        self.silences = silences if silences is not None else SilenceBook()
        self.clock = clock
        self.shared = shared
        """The PostgreSQL state a leader and its standbys share (``monitor.standby``); None:
        this process is alone and always leads."""
        self.store: Store = shared.store if shared is not None else store
        self.leading = shared is None
        self.exit_code = 0
        self.followed_at: float | None = None
        """A standby: the time of the leader's checkpoint its read view was restored from."""
        self.elector: Elector | None = None
        self._slos, self._checks = tuple(slos), tuple(checks)
        self._environ = os.environ if environ is None else environ
        self._nflog_store = shared.nflog if shared is not None else nflog_store
        self._clients: Any = None
        self._leader_tasks: list[asyncio.Task[Any]] = []
        self.sources = SourceRunner.from_config(config)
        self.kafka = _kafka_runner(config)
        self.kafka_journal = OffsetJournal()
        """The kafka sources' offsets of every begun engine checkpoint not yet superseded."""
        # Pulled sources' health is judged on the engine's tick, alongside every other check.
        verdict_sources = [self.sources.verdicts]
        if self.kafka is not None:
            verdict_sources.append(self.kafka.verdicts)
        self.engine = Engine(config, slos=slos, checks=checks, verdict_sources=verdict_sources)
        self.durability = Durability(
            data_dir if data_dir is not None else data_dir_of(store, config.storage.data_dir),
            self.engine,
            durability or config.storage.durability,
            log=None if shared is None else shared.new_log(lambda: shared.lock.term),
            snapshots=None if shared is None else shared.snapshots,
        )
        self.background_checkpoints = False
        """Set by ``serve``: checkpoints are then written by a forked child, off the loop; a
        daemon driven by hand (tests, replay) checkpoints synchronously in ``tick``."""
        self.tick_interval = tick_interval
        self.checkpoint_interval = checkpoint_interval
        self.retention_interval = retention_interval
        self.stats = DaemonStats()
        self._ready = False
        self._last_checkpoint = 0.0
        self._last_purge = 0.0
        self.on_alerts: list = []
        self._server: Any = None
        self._outbox: list[TickOutput] = []
        self._failing = 0
        self._serving = False
        self._sources_task: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()
        self._reloads: set[asyncio.Task[ReloadOutcome]] = set()
        self.notifier = self._new_notifier(routing if routing is not None else default_routing())

    def _new_notifier(self, routing: RoutingConfig) -> Notifier:
        """A notifier on the current silences, its log loaded from the store (a new leader
        reads what the previous one sent)."""
        return Notifier(
            routing,
            silences=self.silences,
            topology=self.config.pipelines,
            nflog_store=self._nflog_store,
            environ=self._environ,
            stats=self.stats,
        )

    def fresh_engine(self) -> Engine:
        """An empty engine on the running config (a standby's view, a new leader's restore)."""
        verdict_sources = [self.sources.verdicts]
        if self.kafka is not None:
            verdict_sources.append(self.kafka.verdicts)
        return Engine(
            self.config, slos=self._slos, checks=self._checks, verdict_sources=verdict_sources
        )

    def use_view(self, engine: Engine, alerts: Iterable[dict[str, Any]]) -> None:
        """A standby: serve reads from ``engine`` (restored from the leader's checkpoint)."""
        engine.load_alerts(Alert.from_json(a) for a in alerts)
        self.engine = engine
        self.durability.use_engine(engine)

    # --- leader and standby (``monitor.standby``) ----------------------------------------------

    def standby_of(self) -> str | None:
        """None while this process takes writes; on a standby, the leader's URL ('' unknown)."""
        if self.leading:
            return None
        url = self.elector.leader_url if self.elector is not None else None
        return url or ""

    def take_over(self) -> None:
        """The lock is ours: restore the shared state, then judge and notify (``start``)."""
        assert self.shared is not None
        try:
            self.durability.use_engine(self.fresh_engine())
            self.engine = self.durability.engine
            self.silences = self.shared.silences.book()
            self.notifier = self._new_notifier(self.notifier.routing)
            self.leading = True
            self.start()
        except Exception as exc:
            self.leading = False
            log.exception("taking over as leader failed; stopping (restart to rejoin)")
            self._leave(1, f"take-over failed: {type(exc).__name__}")
            return
        self._start_leader_tasks()

    def step_down(self, why: str) -> None:
        """Stop judging and notifying now and exit without writing: another server may lead."""
        from monitor.standby import EXIT_DEMOTED

        if not self.leading:
            return
        self.leading = False
        for task in self._leader_tasks:
            task.cancel()
        log.error(
            why + "; this server stops judging and exits (restart it: it rejoins as a standby)"
        )
        self._leave(EXIT_DEMOTED, why)

    def _leave(self, code: int, why: str) -> None:
        self.exit_code = code
        self._ready = False
        if self._server is not None:
            self._server.should_exit = True
        log.warning("leaving", extra={"exit_status": code, "reason": why})

    def _start_leader_tasks(self) -> None:
        if self._clients is None:
            return  # not serving (tests drive ``tick`` by hand)
        self._leader_tasks.append(asyncio.create_task(self.notifier.run(self.clock, self._clients)))
        self._restart_sources(self.sources)
        if self.kafka is not None:
            # Through the daemon: a reload swaps the engine under a running consumer.
            feed = _CurrentEngine(self)
            self._leader_tasks.append(asyncio.create_task(self.kafka.run(feed, self.clock.now)))

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Gap | None:
        """Restore state; returns the gap recorded for the time hopwatch was not observing, if any.

        The checkpoint, then the write-ahead log after it. The time not observed starts at the
        last sign of life: in ``wal`` mode the last logged batch or heartbeat (nothing acknowledged
        before then was lost), in ``checkpoint`` mode the checkpoint itself (what came after it
        is gone). Raises StoreError (the daemon cannot start on this data dir) with one line
        naming the file and what to do.
        """
        now = self.clock.now()
        gap = None
        at, last_record = self.durability.restore(self.store)
        if at is not None or last_record is not None:
            since = at if at is not None else now
            if self.durability.mode == MODE_WAL:
                beat = self.store.last_beat()
                since = max(t for t in (at, beat, last_record) if t is not None)
                if at is not None and at > now:
                    since = at
            if now > since:
                gap = Gap(since, now, "hopwatch was not running")
            elif since > now:
                # The clock went back (NTP step, a restored VM): what lies between is unreliable.
                gap = Gap(now, since, "the clock moved back")
                log.warning("checkpoint is newer than the clock", extra={"checkpoint_at": since})
            if gap is not None:
                self.store.add_gap(gap.start, gap.end, gap.reason)
                self.engine.mark_gap(gap)
            log.info(
                "restored",
                extra={
                    "checkpoint_at": at,
                    "replayed_records": self.durability.wal.stats.records_replayed,
                    "gap_seconds": round(now - since, 3),
                },
            )
        self._restore_kafka(at)
        self._restore_sources()
        self.engine.load_alerts(Alert.from_json(a) for a in self.store.load_alerts())
        self.notifier.start(self.engine.view().alerts, now)
        self._last_checkpoint = now
        self.stats.last_reload_success_at = now
        self._ready = True
        return gap

    async def durable(self, kind: str, items: object, now: float) -> None:
        """The ``Runtime`` hook the push handlers await before answering: the batch the engine
        just took is in the write-ahead log, fsync'ed (``monitor.durability``)."""
        await self.durability.durable(kind, items, now)

    def _restore_kafka(self, engine_at: float | None) -> None:
        """Resume the kafka sources at the offsets of the engine checkpoint just restored (of
        ``engine_at``; None: no checkpoint, so the group's commits, which are never ahead)."""
        saved = self.store.load_checkpoint(KAFKA_CHECKPOINT) if self.kafka is not None else None
        if saved is None or self.kafka is None:
            return
        blob: bytes | None
        try:
            self.kafka_journal = OffsetJournal.decode(saved[1])
        except ValueError:  # an older hopwatch saved the offsets alone
            blob, exact = saved[1], saved[0] == engine_at
        else:
            if engine_at is None:
                return
            blob, exact = self.kafka_journal.for_checkpoint(engine_at)
        if not exact:
            log.warning(
                "kafka offsets of the restored checkpoint not found; resuming from older ones "
                "(records since may count twice)",
                extra={"checkpoint_at": engine_at},
            )
        if blob is None:
            return
        try:
            self.kafka.restore(blob)
        except Exception:  # then the group's committed offsets (never ahead of a checkpoint)
            log.exception("kafka sources' checkpoint unreadable; resuming from the group's offsets")

    def _begin_kafka(self, now: float) -> None:
        """Before an engine checkpoint of ``now`` is written: save its offsets in the journal."""
        if self.kafka is not None:
            self.kafka_journal.begin(now, self.kafka.to_bytes())
            self.store.save_checkpoint(KAFKA_CHECKPOINT, now, self.kafka_journal.encode())

    def _kafka_settled(self, at: float) -> None:
        """The engine checkpoint of ``at`` is on disk: commit its offsets to the group."""
        if self.kafka is not None:
            offsets = self.kafka_journal.settled(at)
            if offsets is not None:
                self.kafka.commit_saved(offsets)

    def _restore_sources(self) -> None:
        saved = self.store.load_checkpoint(SOURCES_CHECKPOINT) if self.sources.sources else None
        if saved is None:
            return
        try:
            self.sources.restore(saved[1])
        except Exception:  # an unreadable blob must not stop the daemon: re-read from scratch
            log.exception("pull sources' checkpoint unreadable; open buckets are re-read")

    def ready(self) -> bool:
        return self._ready

    def tick(self) -> TickOutput | None:
        """Close buckets, judge, persist. Never raises.

        What a tick closes goes to an outbox first and leaves it only once stored, so a failing
        store (disk full, locked) delays results instead of losing them; no checkpoint is written
        while the outbox holds anything, so a crash replays those buckets from the older checkpoint.
        """
        started = time.perf_counter()
        out = None
        now = self.clock.now()
        try:
            out = self.engine.tick(now)
            self._outbox.append(out)
            while self._outbox:
                self._persist(self._outbox[0])
                self._outbox.pop(0)
            self.store.beat(now)
            done = self.durability.poll()
            if done is not None and done.ok:
                self._kafka_settled(done.at)
            if now - self._last_checkpoint >= self.checkpoint_interval:
                if self.background_checkpoints:
                    self.checkpoint_in_background(now)
                else:
                    self.checkpoint(now)
            if now - self._last_purge >= self.retention_interval:
                self.store.purge(now - self.config.storage.retention)
                self.silences.gc(now)
                self._last_purge = now
            if self._failing:
                log.info("tick recovered", extra={"failed_ticks": self._failing})
                self._failing = 0
        except Exception:
            self.stats.tick_errors += 1
            self._failing += 1
            if self._failing == 1 or self._failing % 60 == 0:  # not a traceback every second
                log.exception(
                    "tick failed",
                    extra={"failed_ticks": self._failing, "outbox": len(self._outbox)},
                )
        finally:
            self.stats.ticks += 1
            self.stats.last_tick_seconds = time.perf_counter() - started
        if out is not None and out.alerts_changed:
            try:
                self.notifier.put(out.alerts_changed, now)
            except Exception:
                self.stats.notify_errors += 1
                log.exception("routing alerts failed")
            for callback in self.on_alerts:
                callback(out.alerts_changed)
        return out

    def _persist(self, out: TickOutput) -> None:
        for closed in out.closed.values():
            if closed.hop_buckets:
                self.store.save_hop_buckets(closed.hop_buckets)
            if closed.edge_results:
                self.store.save_edge_results(closed.edge_results)
            for delta in closed.partial_hop_buckets:
                stored = self.store.hop_buckets(
                    delta.pipeline, delta.hop, delta.bucket_start, delta.bucket_start + 0.001
                )
                merged = merge_hop_buckets(stored[0], delta) if stored else delta
                self.store.save_hop_buckets([merged])
        removed = self.engine.drain_removed_alerts()
        if removed:
            self.store.delete_alerts(removed)
        if out.alerts_changed:
            self.store.save_alerts(a.to_json() for a in out.alerts_changed)
            for alert in out.alerts_changed:
                if alert.state is AlertState.FIRING and alert.updated_at != alert.starts_at:
                    continue  # refreshed evidence, not news
                log.warning(
                    "alert " + str(alert.state),
                    extra={
                        "alert": alert.name,
                        "labels": dict(alert.labels),
                        "summary": dict(alert.annotations).get("summary", ""),
                    },
                )

    def checkpoint(self, now: float | None = None) -> None:
        """Checkpoint synchronously, here and now (shutdown, tests): the loop waits for it."""
        now = self.clock.now() if now is None else now
        self._begin_kafka(now)
        self.durability.checkpoint_now(now)
        self._kafka_settled(now)
        self._save_side_state(now)
        self.stats.checkpoints += 1

    def checkpoint_in_background(self, now: float) -> None:
        """Fork the engine's checkpoint (``monitor.store.snapshot``); the loop goes on serving.
        The WAL segments it covers are deleted when ``tick`` sees it finished."""
        if self.durability.background.running:
            return  # the previous one still runs: try again at the next tick
        # The offsets first: the child may have renamed its file before this returns.
        self._begin_kafka(now)
        if self.durability.begin_checkpoint(now):
            self._save_side_state(now)
            self.stats.checkpoints += 1
        # else the previous one still runs: try again at the next tick

    def _save_side_state(self, now: float) -> None:
        if self.sources.sources:
            self.store.save_checkpoint(SOURCES_CHECKPOINT, now, self.sources.to_bytes())
        self.store.beat(now)
        self._last_checkpoint = now

    def stop(self) -> None:
        """Flush: the open state is saved so a restart resumes exactly where this left off.

        A failure here is logged, never raised: the process still exits cleanly, and the next
        start resumes from the previous checkpoint with the time since marked as a gap.
        """
        self._ready = False
        try:
            if not self.leading:  # a standby or a deposed leader writes nothing
                abandon = getattr(self.durability.wal, "abandon", None)
                if abandon is not None:
                    abandon()
                return
            for out in self._outbox:
                self._persist(out)
            self._outbox.clear()
            self.checkpoint()
        except Exception:
            log.exception("final checkpoint failed; the next start resumes from the previous one")
        finally:
            try:
                self.durability.close()
            except Exception:
                log.exception("closing the write-ahead log failed")
            try:
                self.store.close()
            except Exception:
                log.exception("closing the store failed")
        log.info("stopped")

    # --- reload -------------------------------------------------------------------------------

    async def reload(self) -> ReloadOutcome:
        """Reload the config file (SIGHUP, ``POST /-/reload``): read and validate it off the loop,
        then swap it in on the loop (``apply``). One reload at a time."""
        async with self._reload_lock:
            path = self.config_path
            if path is None:
                return self._refused(["this hopwatch was not started from a config file"])
            try:
                loaded = await asyncio.to_thread(load_all, path)
            except ConfigError as err:
                return self._refused([str(issue) for issue in err.issues])
            except Exception as exc:  # unreadable file, a loader bug: still keep running
                log.exception("config reload failed")
                return self._refused([f"{path}: {type(exc).__name__}: {exc}"])
            return self.apply(loaded)

    def reload_now(self) -> ReloadOutcome:
        """``reload`` without a loop (tests, tools): load and swap here and now."""
        path = self.config_path
        if path is None:
            return self._refused(["this hopwatch was not started from a config file"])
        try:
            loaded = load_all(path)
        except ConfigError as err:
            return self._refused([str(issue) for issue in err.issues])
        return self.apply(loaded)

    def apply(self, loaded: Loaded) -> ReloadOutcome:
        """Swap in a validated config, keeping the state of everything that did not change.

        Synchronous, so it runs between ticks and handlers on the one loop: nothing sees half
        of it. The new engine is built from the new config and restored from the running
        engine's checkpoint bytes (the same path as a restart: pipelines, edges and checks no
        longer configured are dropped, new ones start empty, a changed check re-learns), then
        takes what a checkpoint leaves out (``Engine.carry_over``). Pulled sources, the
        write-ahead log, the notifier's routing and the HTTP app (it reads ``self.config`` and
        ``self.engine`` per request) follow. If building any of it fails, nothing is swapped.
        """
        now = self.clock.now()
        try:
            config, notes = keep_running_settings(self.config, loaded.config, self.file_config)
            sources = SourceRunner.from_config(config)
            sources.carry_over(self.sources)
            # Kafka consumers keep the config they started with (a change needs a restart);
            # their health stays judged by the new engine.
            kafka = [self.kafka.verdicts] if self.kafka is not None else []
            engine = Engine(
                config,
                slos=loaded.slos,
                checks=loaded.checks,
                verdict_sources=[sources.verdicts, *kafka],
            )
            engine.restore(self.engine.checkpoint())
            engine.carry_over(self.engine)
        except Exception as exc:
            log.exception("config reload failed while building the new state")
            return self._refused([f"{type(exc).__name__}: {exc}"])
        old_engine, old_sources = self.engine, self.sources
        with contextlib.suppress(Exception):  # the store retries at the next alert change
            removed = old_engine.drain_removed_alerts()
            if removed:
                self.store.delete_alerts(removed)
        self.config, self.file_config = config, loaded.config
        self._slos, self._checks = tuple(loaded.slos), tuple(loaded.checks)
        self.engine, self.sources = engine, sources
        self.durability.use_engine(engine)
        self.notifier.reroute(loaded.routing, config.pipelines, engine.view().alerts, now)
        self._restart_sources(old_sources)
        self.stats.last_reload_successful = True
        self.stats.last_reload_success_at = now
        for note in notes:
            log.warning("config reload: " + note)
        log.info(
            "config reloaded",
            extra={
                "file": str(self.config_path),
                "pipelines": len(config.pipelines),
                "slos": len(loaded.slos),
                "checks": len(loaded.checks),
            },
        )
        return ReloadOutcome(True, notes=notes, at=now)

    def _refused(self, errors: list[str]) -> ReloadOutcome:
        """A config that does not validate: the old one keeps running; one log line says why."""
        self.stats.last_reload_successful = False
        log.error(
            "config reload refused, the previous config keeps running: " + "; ".join(errors),
            extra={"file": str(self.config_path), "errors": errors},
        )
        return ReloadOutcome(False, errors=tuple(errors), at=self.clock.now())

    def _restart_sources(self, old: SourceRunner) -> None:
        """Stop the old runner's pulls (its adapters close as it ends) and start the new
        runner's, feeding the new engine; a pull in flight is cancelled, never fed."""
        if self._sources_task is not None:
            self._sources_task.cancel()
            self._sources_task = None
        if self._serving and self.leading and self.sources.sources:
            self._sources_task = asyncio.create_task(self.sources.run(self.engine, self.clock))

    def _on_sighup(self) -> None:
        task = asyncio.create_task(self.reload())
        self._reloads.add(task)
        task.add_done_callback(self._reloads.discard)

    # --- serving ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask a running ``serve`` to stop as SIGTERM would (flush, then return)."""
        if self._server is not None:
            self._server.should_exit = True

    async def tick_forever(self) -> None:
        from monitor.standby import follow

        while True:
            if self.leading:
                self.tick()
            elif self.shared is not None and not self.exit_code:
                follow(self)
            await asyncio.sleep(self.tick_interval)

    async def serve(self, host: str, port: int, extra_tasks: tuple = ()) -> None:
        """Serve HTTP and tick until SIGINT/SIGTERM or ``request_stop``, then flush and return."""
        import uvicorn

        from monitor.export.source_metrics import SourceCollector
        from monitor.server.app import create_app
        from monitor.server.fast import http_protocol

        class _Server(uvicorn.Server):
            # The daemon owns SIGTERM/SIGINT: uvicorn would re-raise them after shutting down,
            # killing the process before the flush and with a non-zero status.
            def capture_signals(self):
                return contextlib.nullcontext()

        from monitor.export.durability_metrics import DurabilityCollector

        app = create_app(self)
        app.state.registry.register(SourceCollector(_CurrentSources(self)))
        if self.kafka is not None:
            from monitor.export.source_metrics import KafkaCollector

            app.state.registry.register(KafkaCollector(self.kafka))
        app.state.registry.register(DurabilityCollector(self.durability))
        # process_* (memory, CPU, open files): the "hopwatch itself" dashboard plots them, and
        # the app's own registry leaves them out so test apps in one process stay comparable.
        from prometheus_client import ProcessCollector

        ProcessCollector(registry=app.state.registry)
        server = self._server = _Server(
            uvicorn.Config(
                app,
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                log_config=None,  # uvicorn logs through hopwatch's handlers (JSON by default)
                http=http_protocol(),  # httptools when installed (monitor.server.fast)
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        from monitor.export.leader_metrics import LeaderCollector

        app.state.registry.register(LeaderCollector(self))
        postgres = self.config.storage.postgres
        if self.shared is None:
            self.start()
        else:  # a standby until the lock says otherwise: reads from the leader's checkpoint
            from monitor.standby import Elector, follow

            self.elector = Elector(self, postgres.lease if postgres else self.shared.lock.lease)
            follow(self)
            self._ready = True
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        self.background_checkpoints = True
        log.info(
            "listening",
            extra={"listen": f"{host}:{port}", "ingest_core": ingest_core.NAME},  # issue 16
        )
        for module, error in ingest_core.UNLOADABLE.items():
            log.warning(
                "compiled core not loaded; running the Python one",
                extra={"module": module, "error": error},
            )
        async with open_clients() as clients:
            self._clients = clients
            tasks: list[asyncio.Task[Any]] = [asyncio.create_task(self.tick_forever())]
            tasks += [asyncio.create_task(t) for t in extra_tasks]
            self._serving = True
            if self.elector is not None:
                tasks.append(asyncio.create_task(self.elector.run()))
            else:
                self._start_leader_tasks()
            try:
                await server.serve()
            finally:
                self._serving = False
                loop.remove_signal_handler(signal.SIGHUP)
                tasks += [*self._reloads]
                if self._sources_task is not None:
                    tasks.append(self._sources_task)
                tasks += self._leader_tasks
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                self.stop()
                if self.shared is not None:
                    await self.shared.lock.release()  # a standby takes over within a second
                    self.shared.close()


class _CurrentEngine:
    """The daemon's engine as it is now, for a feeder that outlives a reload (Kafka)."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    def observe(self, observations: Iterable[Observation]) -> None:
        self._daemon.engine.observe(observations)

    def set_gap(self, pipeline: str, gap: Gap, replaces: Gap | None = None) -> None:
        self._daemon.engine.set_gap(pipeline, gap, replaces)


class _CurrentSources:
    """The daemon's pulled sources as they are now (a reload replaces the runner), for the
    ``hopwatch_source_*`` collector registered once per app."""

    def __init__(self, daemon: Daemon) -> None:
        self._daemon = daemon

    @property
    def health(self) -> Mapping[SourceKey, SourceHealth]:
        return self._daemon.sources.health
