"""``POST /v1/aggregates``: agents' bucket aggregates into the engine, each batch at most once.

The body is one msgpack ``AggregateBatch``. The whole batch is checked before anything is applied
(every pipeline and hop must be configured), so a batch is either applied entirely or refused
with a 400 naming what is unknown — never half-applied, which exactly-once could not repair.
The answer to a batch applied now or before is 200 with ``outcome`` ``applied`` or
``duplicate``: both are acknowledgements, and the agent deletes the batch on either.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.config.model import Config
from monitor.ledger.aggregate import AggregateBatch
from monitor.server.body import check_bearer, check_encoding, gunzip, read_body
from monitor.server.problems import Problem, json_response, problem_response
from monitor.server.runtime import Runtime

log = logging.getLogger("hopwatch.server")

MEDIA_TYPES = frozenset({"application/msgpack", "application/x-msgpack"})
AGENT_BATCHES = "hopwatch_agent_batches"


def unknown_names(batch: AggregateBatch, config: Config) -> list[str]:
    """What the batch names that this server is not configured for (empty: all known)."""
    out: list[str] = []
    for agg in batch.aggregates:
        pipeline = config.pipeline(agg.pipeline)
        if pipeline is None:
            out.append(f"pipeline {agg.pipeline!r}")
        elif agg.hop not in pipeline.hop_names:
            out.append(f"hop {agg.pipeline}/{agg.hop}")
    for sample in batch.samples:
        pipeline = config.pipeline(sample.pipeline)
        if pipeline is None or sample.hop not in pipeline.hop_names:
            out.append(f"hop {sample.pipeline}/{sample.hop}")
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
        applied = self.runtime.engine.absorb(batch)
        outcome = "applied" if applied else "duplicate"
        return json_response({"outcome": outcome, "seq": batch.seq}, 200)


class AgentBatchCollector(Collector):
    """``hopwatch_agent_batches_total{agent, outcome}``: agents are a configured, bounded set."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[CounterMetricFamily]:
        outcomes = self.runtime.engine.applied.outcomes
        if not outcomes:
            return  # a server no agent talks to exposes nothing new (and its golden file holds)
        family = CounterMetricFamily(
            AGENT_BATCHES,
            "Aggregate batches from agents, by agent id and outcome (applied, duplicate: a "
            "resend of a batch already applied, ignored).",
            labels=["agent", "outcome"],
        )
        for (agent, outcome), n in sorted(outcomes.items()):
            family.add_metric([agent, outcome], n)
        yield family


def aggregate_route(runtime: Runtime, registry: CollectorRegistry) -> Route:
    """The route for ``create_app``, with its counters registered in the app's registry."""
    registry.register(AgentBatchCollector(runtime))
    return Route("/v1/aggregates", AggregateIngest(runtime).aggregates, methods=["POST"])
