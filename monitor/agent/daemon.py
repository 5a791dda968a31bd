"""``hopwatch run --mode agent``: the push API next to a hop, aggregates to a server.

Wiring only. The local HTTP app reuses the server's push handlers (``monitor.server.ingest``):
they call ``engine.observe`` / ``observe_counts`` / ``record_ingest``, which ``AgentSink``
provides by bucketing locally (``Bucketer``). Every ``flush_interval`` a tick freezes what
accumulated into one ``AggregateBatch`` with the next seq, writes it to the spool, and the
forwarder drains the spool to the server. The spool is written before anything is sent, and a
batch leaves it only on an acknowledgement, so a server outage or an agent restart loses
nothing that was flushed; the server's ``(agent, instance, seq)`` record makes resends harmless.

Liveness: a flush with nothing to send spools an empty batch (a heartbeat) when the spool is
empty, so the server hears from every agent at least once per ``flush_interval`` even when its
hops are idle; while batches wait in the spool, the oldest of them is the heartbeat. Every batch
declares the hops the agent serves, so a server that stops hearing from it marks those hops
unobserved (``monitor.ledger.agents``) instead of judging their buckets as loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import httpx
import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.agent.bucketer import Bucketer
from monitor.agent.forwarder import Forwarder
from monitor.agent.spool import Spool
from monitor.client.idhash import IdHasher
from monitor.config.model import Config
from monitor.config.spec import AGENT_ID_PATTERN
from monitor.ledger.aggregate import AggregateBatch
from monitor.records import CountSample, Observation
from monitor.routing.silence import SilenceBook
from monitor.server.auth import AuthCollector, protect
from monitor.server.ingest import Ingest
from monitor.server.problems import Problem, handle_problem
from monitor.stats import DaemonStats
from monitor.timeutil import Clock

log = logging.getLogger("hopwatch.agent")


class AgentSink:
    """What the push handlers call ``engine`` in agent mode: a thread-safe front of ``Bucketer``.

    The lock is there because the HTTP handlers run on the event loop while ticks run in a worker
    thread (the spool and the forwarder do blocking I/O).
    """

    def __init__(self, config: Config) -> None:
        self.bucketer = Bucketer(config)
        key = config.agent.id_hash_key
        self.id_hash: IdHasher | None = None if key is None else IdHasher(key)
        """Keyed hashing of event ids before they are bucketed: with a key, the agent keeps and
        ships only ``k:`` tokens, never a raw id (tokens a client already hashed pass as they are)."""
        self.lock = threading.Lock()
        self.accepted: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()

    def observe(self, observations: Iterable[Observation]) -> None:
        if self.id_hash is not None:
            observations = [_hashed(o, self.id_hash) for o in observations]
        with self.lock:
            self.bucketer.observe(observations)

    def observe_counts(self, samples: Iterable[CountSample]) -> None:
        with self.lock:
            self.bucketer.observe_counts(samples)

    def record_ingest(
        self,
        kind: str,
        accepted: int,
        rejected: Mapping[str, int],
        dropped_attributes: Mapping[str, int],
        skipped: int = 0,
    ) -> None:
        self.accepted[kind] += accepted
        self.rejected[kind] += sum(rejected.values())


class Agent:
    """One agent process; tests drive ``tick`` with a fake clock, ``serve`` runs it for real."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        data_dir: Path,
        *,
        server_url: str,
        agent_id: str,
        client: httpx.Client | None = None,
        tick_interval: float = 1.0,
    ) -> None:
        if not AGENT_ID_PATTERN.fullmatch(agent_id):
            # The server refuses every batch of such an agent: better not to start at all.
            raise ValueError(
                f"agent id {agent_id!r} is not a valid agent id (up to 63 letters, digits, '.', "
                "'_' or '-', starting with a letter or digit); set agent.id or --agent-id"
            )
        self.config = config
        self.clock = clock
        self.agent_id = agent_id
        self.engine = AgentSink(config)
        self.spool = Spool(data_dir, config.agent.spool_limit_bytes)
        self.forwarder = Forwarder(
            self.spool,
            server_url,
            client or httpx.Client(timeout=10.0),
            clock,
            bearer_token=config.agent.bearer_token,
        )
        self.tick_interval = tick_interval
        self.silences = SilenceBook()
        self.stats = DaemonStats()
        self.store = None
        self._last_flush = clock.now()
        self.engine.bucketer.advance(self._last_flush)
        known = frozenset(h for h in self.spool.served_hops() if _configured(config, h))
        self._served = known
        self.engine.bucketer.served.update(known)

    def ready(self) -> bool:
        return True

    def flush(self) -> int | None:
        """Freeze what accumulated into the next spooled batch; its seq, or None when nothing
        was spooled (nothing accumulated, and a batch already waits to be the heartbeat)."""
        now = self.clock.now()
        with self.engine.lock:
            aggregates, samples = self.engine.bucketer.take(now)
            served = frozenset(self.engine.bucketer.served)
        self._last_flush = now
        if served != self._served:
            self.spool.set_served_hops(served)
            self._served = served
        if not aggregates and not samples and self.spool.depth:
            return None
        seq = self.spool.next_seq()
        batch = AggregateBatch(
            agent_id=self.agent_id,
            instance=self.spool.instance,
            seq=seq,
            low_water=self.spool.low_water(),
            aggregates=tuple(aggregates),
            samples=tuple(samples),
            hops=tuple(sorted(served)),
        )
        self.spool.put(seq, msgspec.msgpack.encode(batch))
        return seq

    def tick(self) -> None:
        """Flush when the interval has passed, then send what is due. Never raises."""
        try:
            if self.clock.now() - self._last_flush >= self.config.agent.flush_interval:
                self.flush()
            self.forwarder.drain()
        except Exception:
            log.exception("agent tick failed")

    def stop(self) -> None:
        """Flush what is in memory to the spool and try once to send it; the rest waits on disk."""
        try:
            self.flush()
            self.forwarder.drain()
        except Exception:
            log.exception("final flush failed")
        finally:
            self.spool.close()

    # --- serving ------------------------------------------------------------------------------

    def app(self, registry: CollectorRegistry | None = None) -> Starlette:
        """The local push API (``/v1/observations``, ``/v1/counts``), ``/metrics``, ``/healthz``."""
        registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        registry.register(AgentCollector(self))
        ingest = Ingest(self)  # type: ignore[arg-type]  # duck-typed Runtime: engine is AgentSink

        async def metrics(_request: Request) -> Response:
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

        async def healthz(_request: Request) -> Response:
            return Response("ok\n", media_type="text/plain")

        app = Starlette(
            routes=[
                Route("/v1/observations", ingest.observations, methods=["POST"]),
                Route("/v1/counts", ingest.counts, methods=["POST"]),
                Route("/metrics", metrics, methods=["GET"]),
                Route("/healthz", healthz, methods=["GET"]),
            ],
            exception_handlers={Problem: handle_problem},
        )
        # The local push API takes the same server.auth as a server's (push scope).
        registry.register(AuthCollector(protect(app, lambda: self.config.server)))
        return app

    async def serve(self, host: str, port: int) -> None:
        """Serve until SIGINT/SIGTERM, ticking in a worker thread; flush to the spool on exit."""
        import uvicorn

        from monitor.server.fast import http_protocol

        server = uvicorn.Server(
            uvicorn.Config(
                self.app(),
                host=host,
                port=port,
                log_level="warning",
                access_log=False,
                lifespan="off",
                log_config=None,
                http=http_protocol(),  # httptools when installed (monitor.server.fast)
            )
        )
        server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))

        async def ticker() -> None:
            while True:
                await asyncio.to_thread(self.tick)
                await asyncio.sleep(self.tick_interval)

        log.info("agent listening", extra={"listen": f"{host}:{port}", "agent": self.agent_id})
        task = asyncio.create_task(ticker())
        try:
            await server.serve()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.to_thread(self.stop)


def _hashed(obs: Observation, id_hash: IdHasher) -> Observation:
    """``obs`` with its event id replaced by its keyed hash (hashing outside the lock)."""
    if obs.event_id is None:
        return obs
    return msgspec.structs.replace(obs, event_id=id_hash(obs.event_id))


def _configured(config: Config, hop: tuple[str, str]) -> bool:
    """Whether a hop remembered in the spool is still in the config (a reload may drop it)."""
    pipeline = config.pipeline(hop[0])
    return pipeline is not None and hop[1] in pipeline.hop_names


class AgentCollector(Collector):
    """The agent's own series: spool depth and bytes, batches sent, retries, drops."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        spool, stats = self.agent.spool, self.agent.forwarder.stats
        yield GaugeMetricFamily(
            "hopwatch_agent_spool_batches", "Batches waiting in the spool.", value=spool.depth
        )
        yield GaugeMetricFamily(
            "hopwatch_agent_spool_bytes", "Bytes waiting in the spool.", value=spool.bytes
        )
        sent = CounterMetricFamily(
            "hopwatch_agent_sent_batches",
            "Batches the server acknowledged, by outcome (duplicate: it had applied it already).",
            labels=["outcome"],
        )
        sent.add_metric(["applied"], stats.sent - stats.duplicates)
        sent.add_metric(["duplicate"], stats.duplicates)
        yield sent
        retries = CounterMetricFamily(
            "hopwatch_agent_send_retries",
            "Failed sends that will be retried after a backoff, by reason.",
            labels=["reason"],
        )
        for reason, n in sorted(stats.errors.items()):
            retries.add_metric([reason], n)
        yield retries
        dropped = CounterMetricFamily(
            "hopwatch_agent_dropped_batches",
            "Batches given up: spool full (oldest dropped) or refused by the server (4xx).",
            labels=["reason"],
        )
        dropped.add_metric(["spool_full"], spool.dropped_batches)
        dropped.add_metric(["refused"], stats.refused)
        yield dropped
        ingested = CounterMetricFamily(
            "hopwatch_agent_ingested_items",
            "Pushed items, by kind and outcome.",
            labels=["kind", "outcome"],
        )
        sink = self.agent.engine
        for kind in sorted(set(sink.accepted) | set(sink.rejected)):
            ingested.add_metric([kind, "accepted"], sink.accepted[kind])
            ingested.add_metric([kind, "rejected"], sink.rejected[kind])
        yield ingested
