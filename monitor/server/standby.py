"""Writes on a standby: refused with 503, ``Retry-After`` and the leader's URL; ``GET /-/ready``.

With ``storage.postgres`` only the leader judges, so only the leader takes pushes, agents'
batches and silence changes (``monitor.standby``). A standby does not forward them: forwarding
would make a 202 depend on two servers and hide a misrouted client. It answers 503 with
``Retry-After: 1`` and names the leader (``X-Hopwatch-Leader`` and the body's ``leader``), which
every hopwatch client and agent already treats as "keep the batch and retry"; a load balancer
that health-checks ``/-/ready`` (200 on the leader, 503 on a standby) sends writes to the
leader and moves them within a second of a takeover. Reads are served everywhere.
"""

from __future__ import annotations

from typing import Final

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from monitor.server.problems import json_response

WRITE_PATHS: Final = ("/v1/observations", "/v1/counts", "/v1/traces", "/v1/aggregates")
SILENCES: Final = "/api/v1/silences"
RETRY_AFTER_SECONDS: Final = 1


def _leader_of(runtime: object) -> str | None:
    """None when ``runtime`` takes writes; else the leader's URL ('' when not known yet)."""
    standby_of = getattr(runtime, "standby_of", None)
    result = standby_of() if callable(standby_of) else None
    return result if isinstance(result, str) else None


def _is_write(method: str, path: str) -> bool:
    if method == "POST" and path in WRITE_PATHS:
        return True
    return method in ("POST", "DELETE") and (path == SILENCES or path.startswith(SILENCES + "/"))


def refusal(leader: str) -> Response:
    where = f"the leader at {leader}" if leader else "the leader (not known yet: one is starting)"
    response = json_response(
        {
            "error": "this hopwatch is a standby; only the leader takes writes",
            "hint": f"send it to {where}; retry after {RETRY_AFTER_SECONDS} s",
            "leader": leader or None,
        },
        503,
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    if leader:
        response.headers["X-Hopwatch-Leader"] = leader
    return response


class StandbyGuard:
    """ASGI middleware, inside the auth guard: a standby refuses writes before any handler."""

    def __init__(self, app: ASGIApp, runtime: object) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _is_write(scope["method"], scope["path"]):
            leader = _leader_of(self.runtime)
            if leader is not None:
                await refusal(leader)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def ready_route(runtime: object) -> Route:
    """``GET /-/ready``: 200 ``leader`` where writes go, 503 ``standby`` elsewhere (and while
    state is being restored), for load balancers and the takeover bench."""

    async def ready(_request: Request) -> Response:
        ready_fn = getattr(runtime, "ready", None)
        if callable(ready_fn) and not ready_fn():
            return PlainTextResponse("not ready: restoring state", status_code=503)
        leader = _leader_of(runtime)
        if leader is None:
            return PlainTextResponse("leader")
        return PlainTextResponse(f"standby; the leader is {leader or 'not known yet'}", 503)

    return Route("/-/ready", ready, methods=["GET"])


__all__ = ["StandbyGuard", "ready_route", "refusal"]
