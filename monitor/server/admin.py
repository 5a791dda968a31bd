"""``POST /-/reload``: reload the config without a restart, as Prometheus and Alertmanager do.

The admin scope guards it (``auth.ROUTE_SCOPES``), like silences: a reload changes what is
judged and who is paged. The runtime does the work (``monitor.daemon.Daemon.reload``); a runtime
that cannot reload (a test's static one) answers 403, as Prometheus does with its lifecycle API
off, rather than pretending. A refused config
answers 400 with every error, and the previous config keeps running.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from monitor.server.problems import json_response
from monitor.server.runtime import Runtime

__all__ = ["Reloadable", "reload_route"]


class ReloadAnswer(Protocol):
    """What a reload says (``monitor.reload.ReloadOutcome``; named by shape, as the server sits
    below the wiring that loads configs)."""

    @property
    def ok(self) -> bool: ...

    def to_json(self) -> dict[str, object]: ...


@runtime_checkable
class Reloadable(Protocol):
    """A runtime that can reload its config (the daemon)."""

    async def reload(self) -> ReloadAnswer: ...


def reload_route(runtime: Runtime) -> Route:
    """The route for ``create_app``."""

    async def reload(_request: Request) -> Response:
        if not isinstance(runtime, Reloadable):
            return json_response(
                {
                    "error": "this hopwatch cannot reload its config",
                    "hint": "reload a daemon started with hopwatch run",
                },
                403,
            )
        outcome = await runtime.reload()
        if outcome.ok:
            return json_response(outcome.to_json(), 200)
        return json_response(
            {
                "error": "the new config is invalid; the previous one keeps running",
                "hint": "fix the errors listed (hopwatch validate shows them too), then reload",
                **outcome.to_json(),
            },
            400,
        )

    return Route("/-/reload", reload, methods=["POST"])
