"""``POST /v1/traces``: OTLP/HTTP trace exports into the engine.

Thin on purpose: the same transport checks as the push endpoints (``body.py``: bearer token,
size limit, gzip), then ``monitor.sources.otlp`` decodes and maps, and the answer follows
OTLP/HTTP rather than hopwatch's push API: 200 with an ``ExportTraceServiceResponse`` (its
``partial_success`` says how many spans were rejected and why), and a ``google.rpc.Status`` body
for every refusal, in the encoding the client sent (protobuf or JSON). A malformed body is a 400
that loses nothing but itself; exporters do not retry a 400, which is right for a body that will
never parse.
"""

from __future__ import annotations

import logging
from collections import Counter

from starlette.requests import Request
from starlette.responses import Response

from monitor import names
from monitor.config.model import Config
from monitor.server.body import check_encoding, decode_body, read_body
from monitor.server.offload import INLINE_BYTES, decode_gate
from monitor.server.problems import Problem
from monitor.server.runtime import Runtime
from monitor.sources import otlp_wire
from monitor.sources.otlp import OtlpDecoder, TraceBatch
from monitor.sources.rejection import BodyError

__all__ = ["OtlpIngest"]

log = logging.getLogger("hopwatch.server")


class OtlpIngest:
    """The OTLP/HTTP traces endpoint of one app.

    ``requests`` is the app's per-(kind, status code) answer counter (``Ingest.requests``), so
    ``hopwatch_ingest_requests_total{kind="traces"}`` sits beside the push endpoints' answers.
    """

    def __init__(self, runtime: Runtime, requests: Counter[tuple[str, str]]) -> None:
        self.runtime = runtime
        self.requests = requests
        self._decoder = OtlpDecoder(runtime.config)

    def _decoder_for(self, config: Config) -> OtlpDecoder:
        """Rebuilt when the runtime's config object is replaced (a reload)."""
        if self._decoder.config is not config:
            self._decoder = OtlpDecoder(config)
        return self._decoder

    async def traces(self, request: Request) -> Response:
        answer_as = _answer_type(request)
        try:
            response = await self._ingest(request)
        except Problem as refused:
            response = _refusal(refused, answer_as)
        except Exception:
            log.exception("OTLP export to /v1/traces failed", extra={"kind": names.KIND_TRACES})
            problem = Problem(
                500,
                "internal error in hopwatch while ingesting spans; the export may be partly "
                "processed",
                "this is a hopwatch bug, not a fault of the request: report it with the "
                "hopwatch.server log from this time",
            )
            response = _refusal(problem, answer_as)
        self.requests[(names.KIND_TRACES, str(response.status_code))] += 1
        return response

    async def _ingest(self, request: Request) -> Response:
        runtime = self.runtime
        config = runtime.config
        server = config.server
        content_type = _check_content_type(request)
        gzipped = check_encoding(request)
        gate = decode_gate()
        with gate.admit(names.KIND_TRACES):
            body = await read_body(request, server.max_body_bytes)
            while True:
                decoder = self._decoder_for(config)
                try:
                    body, batch = await gate.run(
                        not gzipped and len(body) <= INLINE_BYTES,
                        decode_body,
                        decoder.traces,
                        body,
                        gzipped=gzipped,
                        limit=server.max_body_bytes,
                        content_type=content_type,
                        now=runtime.clock.now(),
                    )
                except BodyError as exc:
                    raise Problem(400, exc.message, exc.hint) from None
                gzipped = False
                if runtime.config is config:
                    break
                config = runtime.config  # reloaded while decoding: judge by the new config
        self._feed(batch)
        payload = otlp_wire.encode_response(
            batch.rejected_total, batch.error_message(), content_type
        )
        return Response(payload, 200, media_type=content_type)

    def _feed(self, batch: TraceBatch) -> None:
        engine = self.runtime.engine
        engine.observe(batch.accepted)
        engine.record_ingest(
            names.KIND_TRACES,
            len(batch.accepted),
            batch.rejected,
            batch.dropped_attributes,
            skipped=batch.skipped,
        )


def _answer_type(request: Request) -> str:
    """The encoding to answer in: the request's when hopwatch speaks it, else JSON."""
    media = _media_type(request)
    return media if media in otlp_wire.SUPPORTED_TYPES else otlp_wire.JSON


def _media_type(request: Request) -> str | None:
    header = request.headers.get("content-type")
    return None if header is None else header.split(";", 1)[0].strip().lower()


def _check_content_type(request: Request) -> str:
    """415 unless the body is OTLP protobuf or OTLP JSON (OTLP/HTTP requires the header)."""
    media = _media_type(request)
    if media not in otlp_wire.SUPPORTED_TYPES:
        raise Problem(
            415,
            f"Content-Type {media!r} is not supported on /v1/traces",
            f"send OTLP/HTTP as {otlp_wire.PROTOBUF} or {otlp_wire.JSON}, optionally with "
            "Content-Encoding: gzip",
        )
    return media


def _refusal(problem: Problem, content_type: str) -> Response:
    """A ``google.rpc.Status`` answer, as OTLP/HTTP asks for every 4xx and 5xx."""
    payload = otlp_wire.encode_status(
        problem.status, f"{problem.error}; {problem.hint}", content_type
    )
    response = Response(payload, problem.status, media_type=content_type)
    response.headers.update(problem.headers)
    return response


def refusal_for(problem: Problem, request: Request) -> Response:
    """``problem`` as OTLP/HTTP answers it, for refusals made before the handler runs (auth)."""
    return _refusal(problem, _answer_type(request))
