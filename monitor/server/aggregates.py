"""``POST /v1/aggregates``: agents' bucket aggregates into the engine, each batch at most once.

The body is one msgpack ``AggregateBatch``. The whole batch is checked against this server's
config before anything is applied (``monitor.sources.agent_batch``: known pipelines, hops and edges,
statuses, counts, times, sketches, the attribute allow-list), so a batch is either applied
entirely or refused with a 400 naming the batch, the field and the fix — never half-applied,
which exactly-once could not repair. A refused batch changes nothing but
``hopwatch_agent_batches_total{outcome="refused"}``: its agent is not heard from.
The answer to a batch applied now or before is 200 with ``outcome`` ``applied`` or
``duplicate``: both are acknowledgements, and the agent deletes the batch on either. Every
admitted request, a duplicate or an empty heartbeat included, is the agent's last contact
(``Engine.absorb``): the server's measure of which agents are cut off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor import names
from monitor.export.family import new_family
from monitor.ledger.aggregate import AggregateBatch
from monitor.server.auth import authorize_batch
from monitor.server.body import check_encoding, decode_body, read_body
from monitor.server.durable import make_durable
from monitor.server.offload import INLINE_BYTES, decode_gate
from monitor.server.problems import Problem, json_response, problem_response
from monitor.server.runtime import Runtime
from monitor.sources.agent_batch import Admitted, BatchGate

log = logging.getLogger("hopwatch.server")

MEDIA_TYPES = frozenset({"application/msgpack", "application/x-msgpack"})


class AggregateIngest:
    """The handler, bound to one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._gate = BatchGate(runtime.config)

    def _gate_for(self, runtime: Runtime) -> BatchGate:
        """Rebuilt when the runtime's config object is replaced (a reload)."""
        if self._gate.config is not runtime.config:
            self._gate = BatchGate(runtime.config)
        return self._gate

    async def aggregates(self, request: Request) -> Response:
        try:
            return await self._apply(request)
        except Problem as problem:
            return problem_response(problem)

    async def _apply(self, request: Request) -> Response:
        config = self.runtime.config
        media = (request.headers.get("content-type") or "").split(";", 1)[0].strip().lower()
        if media not in MEDIA_TYPES:
            raise Problem(
                415,
                f"Content-Type {media!r} is not supported on /v1/aggregates",
                "this endpoint takes hopwatch agents' batches: application/msgpack",
            )
        gzipped = check_encoding(request)
        decoding = decode_gate()
        with decoding.admit("aggregates"):
            body = await read_body(request, config.server.max_body_bytes)
            try:
                # un-gzipped and decoded off the loop when big, as push bodies are
                _, batch = await decoding.run(
                    not gzipped and len(body) <= INLINE_BYTES,
                    decode_body,
                    _decode_batch,
                    body,
                    gzipped=gzipped,
                    limit=config.server.max_body_bytes,
                    content_type=media,
                    now=0.0,
                )
            except msgspec.DecodeError as exc:
                self.runtime.engine.refuse(None)
                raise Problem(
                    400, f"not an aggregate batch: {exc}", "send what hopwatch agents send"
                ) from None
            return await self._admit(request, batch)

    async def _admit(self, request: Request, batch: AggregateBatch) -> Response:
        config = self.runtime.config
        authorize_batch(request, batch, config.server.auth)
        now = self.runtime.clock.now()
        verdict = self._gate_for(self.runtime).admit(batch, now)
        if not isinstance(verdict, Admitted):
            self.runtime.engine.refuse(batch.agent_id)
            log.warning(
                "refused an agent batch",
                extra={"agent": verdict.agent[:64], "seq": verdict.seq, "field": verdict.field},
            )
            raise Problem(400, verdict.error, verdict.hint)
        applied = self.runtime.engine.absorb(verdict.batch, now, verdict.dropped_attributes)
        await make_durable(
            self.runtime, "aggregates", (verdict.batch, dict(verdict.dropped_attributes)), now
        )
        outcome = "applied" if applied else "duplicate"
        through = self.runtime.engine.applied_through(batch.agent_id, batch.instance)
        return json_response(
            {"outcome": outcome, "seq": batch.seq, "applied_through": through}, 200
        )


def _decode_batch(body: bytes, *, content_type: str, now: float) -> AggregateBatch:
    """``decode_body``'s decoder for an agent's batch (msgpack; the type and time are not used)."""
    return msgspec.msgpack.decode(body, type=AggregateBatch)


class AgentCollector(Collector):
    """``hopwatch_agent_*`` on the server: batches by outcome, liveness and last contact per agent.

    Agents are a configured, bounded set of label values. Nothing is exported before an agent
    first talks to the server (a server no agent talks to exposes nothing new, and its golden
    file holds).
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        view = self.runtime.engine.view()
        outcomes, contacts = view.agent_batches, view.agents
        if outcomes:
            batches = new_family(names.AGENT_BATCHES)
            for (agent, outcome), n in sorted(outcomes.items()):
                batches.add_metric([agent, outcome], n)
            yield batches
        if contacts:
            now = self.runtime.clock.now()
            up, last = new_family(names.AGENT_UP), new_family(names.AGENT_LAST_CONTACT)
            for agent, contact in sorted(contacts.items()):
                up.add_metric([agent], 1.0 if contact.is_up(now) else 0.0)
                last.add_metric([agent], contact.last_contact)
            yield from (up, last)


def aggregate_route(runtime: Runtime, registry: CollectorRegistry) -> Route:
    """The route for ``create_app``, with its counters registered in the app's registry."""
    registry.register(AgentCollector(runtime))
    return Route("/v1/aggregates", AggregateIngest(runtime).aggregates, methods=["POST"])
