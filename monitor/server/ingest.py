"""``POST /v1/observations`` and ``POST /v1/counts``: push bodies into the engine.

Handlers run on the event loop thread that also runs the ticker, so they call the engine directly
with no lock. A request either fails as a whole on transport grounds (401/413/415/400, see
``body.py``) or is answered 202 with how many items were accepted and why the others were not;
good items of a partly bad batch are always kept. Anything unexpected is a JSON 500, logged
(without the body, which may hold user data) and counted like any other answer.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from monitor import names
from monitor.config.model import Config
from monitor.server import idempotency
from monitor.server.body import check_content_type, check_encoding, decode_body, read_body
from monitor.server.durable import make_durable
from monitor.server.idempotency import RecentAnswers
from monitor.server.offload import INLINE_BYTES, DecodeGate, decode_gate
from monitor.server.problems import Problem, json_response, problem_response
from monitor.server.runtime import Runtime
from monitor.sources.push import BodyError, PushBatch, PushDecoder

log = logging.getLogger("hopwatch.server")


class Ingest:
    """The two push endpoints of one app, with the decoder for the runtime's current config.

    ``requests`` counts answers by (kind, status code) for ``hopwatch_ingest_requests_total``.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.requests: Counter[tuple[str, str]] = Counter()
        self.recent = RecentAnswers()
        self._decoder = PushDecoder(runtime.config)

    def _decoder_for(self, config: Config) -> PushDecoder:
        """Rebuilt when the runtime's config object is replaced (a reload)."""
        if self._decoder.config is not config:
            self._decoder = PushDecoder(config)
        return self._decoder

    async def observations(self, request: Request) -> Response:
        return await self._handle(request, names.KIND_OBSERVATIONS)

    async def counts(self, request: Request) -> Response:
        return await self._handle(request, names.KIND_COUNTS)

    async def _handle(self, request: Request, kind: str) -> Response:
        try:
            response = await self._ingest(request, kind)
        except Problem as problem:
            response = problem_response(problem)
        except Exception:
            log.exception("push to /v1/%s failed", kind, extra={"kind": kind})
            response = problem_response(
                Problem(
                    500,
                    f"internal error in hopwatch while ingesting {kind}; the batch may be "
                    "partly processed",
                    "this is a hopwatch bug, not a fault of the request: report it with the "
                    "hopwatch.server log from this time",
                )
            )
        self.requests[(kind, str(response.status_code))] += 1
        return response

    async def _ingest(self, request: Request, kind: str) -> Response:
        runtime = self.runtime
        config = runtime.config
        server = config.server
        key = request.headers.get(idempotency.HEADER)
        if key is not None:
            if not 0 < len(key) <= idempotency.MAX_KEY_LENGTH:
                raise Problem(
                    400,
                    f"Idempotency-Key must be 1 to {idempotency.MAX_KEY_LENGTH} characters",
                    "send one key per batch, e.g. the reporter's id and the batch's number",
                )
            seen = self.recent.get(kind, key, runtime.clock.now())
            if seen is not None:
                return Response(
                    seen.body,
                    seen.status,
                    media_type="application/json",
                    headers={idempotency.REPLAYED: "true"},
                )
        content_type = check_content_type(request)
        gzipped = check_encoding(request)
        gate = decode_gate()
        with gate.admit(kind):
            body = await read_body(request, server.max_body_bytes)
            return await self._accept(body, gzipped, content_type, kind, key, gate)

    async def _accept(
        self,
        body: bytes,
        gzipped: bool,
        content_type: str | None,
        kind: str,
        key: str | None,
        gate: DecodeGate,
    ) -> Response:
        runtime = self.runtime
        config = runtime.config
        batch: PushBatch
        while True:
            decoder = self._decoder_for(config)
            now = runtime.clock.now()
            decode: Callable[..., PushBatch[Any]] = (
                decoder.observations if kind == names.KIND_OBSERVATIONS else decoder.counts
            )
            inline = not gzipped and len(body) <= INLINE_BYTES
            try:
                body, batch = await gate.run(
                    inline,
                    decode_body,
                    decode,
                    body,
                    gzipped=gzipped,
                    limit=config.server.max_body_bytes,
                    content_type=content_type,
                    now=now,
                )
            except BodyError as exc:
                raise Problem(400, exc.message, exc.hint) from None
            gzipped = False  # ``body`` is the plain one now
            if runtime.config is config:
                break
            # Reloaded while decoding: the batch is judged by the config now running, and fed
            # to the engine now running (the one taken before the await may be gone).
            config = runtime.config
        engine = runtime.engine
        too_late: int | None = None
        if kind == names.KIND_OBSERVATIONS:
            too_late = engine.observe(batch.accepted)
        else:
            engine.observe_counts(batch.accepted)
        if batch.accepted:
            await make_durable(runtime, kind, batch.accepted, now)
        engine.record_ingest(kind, len(batch.accepted), batch.rejected, batch.dropped_attributes)
        answer: dict[str, object] = {
            "accepted": len(batch.accepted),
            "rejected": batch.rejected_total,
            "errors": batch.errors,
        }
        if too_late is not None:
            # Accepted (hop totals count them) but their bucket had closed: no edge join. Said
            # here so a backfill does not look complete; see docs/observations.md, Backfill.
            answer["too_late_for_edges"] = too_late
        response = json_response(answer, 202)
        if key is not None:
            self.recent.put(kind, key, response.status_code, bytes(response.body), now)
        return response
