"""``POST /v1/aggregates``: agents' bucket aggregates into the engine, each batch at most once.

The body is one msgpack ``AggregateBatch``. The whole batch is checked before anything is applied
(every pipeline and hop must be configured), so a batch is either applied entirely or refused
with a 400 naming what is unknown — never half-applied, which exactly-once could not repair.
The answer to a batch applied now or before is 200 with ``outcome`` ``applied`` or
``duplicate``: both are acknowledgements, and the agent deletes the batch on either. Every
request, a duplicate or an empty heartbeat included, is the agent's last contact
(``Engine.absorb``): the server's measure of which agents are cut off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.config.model import Config
from monitor.export import names
from monitor.ledger.aggregate import AggregateBatch
from monitor.server.body import check_bearer, check_encoding, gunzip, read_body
from monitor.server.problems import Problem, json_response, problem_response
from monitor.server.runtime import Runtime

log = logging.getLogger("hopwatch.server")

MEDIA_TYPES = frozenset({"application/msgpack", "application/x-msgpack"})


def unknown_names(batch: AggregateBatch, config: Config) -> list[str]:
    """What the batch names that this server is not configured for (empty: all known)."""
    out: list[str] = []
    for agg in batch.aggregates:
        pipeline = config.pipeline(agg.pipeline)
        if pipeline is None:
            out.append(f"pipeline {agg.pipeline!r}")
        elif agg.hop not in pipeline.hop_names:
            out.append(f"hop {agg.pipeline}/{agg.hop}")
    for name, hop in (*((s.pipeline, s.hop) for s in batch.samples), *batch.hops):
        pipeline = config.pipeline(name)
        if pipeline is None or hop not in pipeline.hop_names:
            out.append(f"hop {name}/{hop}")
    return sorted(set(out))


class AggregateIngest:
    """The handler, bound to one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def aggregates(self, request: Request) -> Response:
        try:
            return await self._apply(request)
        except Problem as problem:
            return problem_response(problem)

    async def _apply(self, request: Request) -> Response:
        config = self.runtime.config
        check_bearer(request, config.server.bearer_token)
        media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if media not in MEDIA_TYPES:
            raise Problem(
                415,
                f"Content-Type {media!r} is not supported on /v1/aggregates",
                "this endpoint takes hopwatch agents' batches: application/msgpack",
            )
        body = await read_body(request, config.server.max_body_bytes)
        if check_encoding(request):
            body = gunzip(body, config.server.max_body_bytes)
        try:
            batch = msgspec.msgpack.decode(body, type=AggregateBatch)
        except msgspec.DecodeError as exc:
            raise Problem(
                400, f"not an aggregate batch: {exc}", "send what hopwatch agents send"
            ) from None
        unknown = unknown_names(batch, config)
        if unknown:
            raise Problem(
                400,
                f"batch {batch.seq} of agent {batch.agent_id!r} names unknown {', '.join(unknown)}",
                "the agent and the server must run the same pipelines config",
            )
        applied = self.runtime.engine.absorb(batch, self.runtime.clock.now())
        outcome = "applied" if applied else "duplicate"
        return json_response({"outcome": outcome, "seq": batch.seq}, 200)


class AgentCollector(Collector):
    """``hopwatch_agent_*`` on the server: batches by outcome, liveness and last contact per agent.

    Agents are a configured, bounded set of label values. Nothing is exported before an agent
    first talks to the server (a server no agent talks to exposes nothing new, and its golden
    file holds).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        engine = self.runtime.engine
        outcomes, contacts = engine.applied.outcomes, engine.agents.contacts
        if outcomes:
            batches = _family(names.AGENT_BATCHES)
            for (agent, outcome), n in sorted(outcomes.items()):
                batches.add_metric([agent, outcome], n)
            yield batches
        if contacts:
            now = self.runtime.clock.now()
            up, last = _family(names.AGENT_UP), _family(names.AGENT_LAST_CONTACT)
            for agent, contact in sorted(contacts.items()):
                up.add_metric([agent], 1.0 if engine.agents.is_up(agent, now) else 0.0)
                last.add_metric([agent], contact.last_contact)
            yield from (up, last)


def _family(metric: names.Metric) -> Metric:
    if metric.kind == "counter":
        return CounterMetricFamily(metric.name, metric.help, labels=metric.labels)
    return GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)


def aggregate_route(runtime: Runtime, registry: CollectorRegistry) -> Route:
    """The route for ``create_app``, with its counters registered in the app's registry."""
    registry.register(AgentCollector(runtime))
    return Route("/v1/aggregates", AggregateIngest(runtime).aggregates, methods=["POST"])
