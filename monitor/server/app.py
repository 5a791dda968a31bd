"""The HTTP app: one Starlette application per runtime, with its own metrics registry.

``create_app`` is the one place where routes are assembled (read it to see the whole surface).
Handlers live in ``ingest.py`` (push), ``otlp.py`` (OTLP traces) and ``api.py`` (reads); transport
checks in ``body.py``. Auth is one middleware in front of every route (``auth.py``: route + method
-> scope), so no handler checks tokens and no route can be added without a scope.
The app never owns a loop or a thread: the daemon runs it under uvicorn next to its ticker.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.routing import Route

from monitor.export.metrics import HopwatchCollector
from monitor.server.admin import reload_route
from monitor.server.aggregates import aggregate_route
from monitor.server.api import ReadApi
from monitor.server.auth import AuthCollector, protect
from monitor.server.ingest import Ingest
from monitor.server.openapi import openapi
from monitor.server.otlp import OtlpIngest
from monitor.server.problems import Problem, handle_problem
from monitor.server.runtime import Runtime
from monitor.server.silences import silence_routes
from monitor.server.standby import StandbyGuard, ready_route
from monitor.server.status_page import StatusPage

__all__ = ["Runtime", "create_app"]


def create_app(
    runtime: Runtime, registry: CollectorRegistry | None = None, *, version: str | None = None
) -> Starlette:
    """The HTTP surface of hopwatch for ``runtime``.

    ``registry`` defaults to a fresh one per app (never prometheus_client's global registry), so
    two apps in one process, or one per test, never share series. ``app.state.registry`` holds it.
    ``version`` is the ``hopwatch_build_info`` label (default: the installed version); golden
    tests pin it.
    """
    registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
    ingest = Ingest(runtime)
    api = ReadApi(runtime, registry)
    status = StatusPage(runtime)
    registry.register(HopwatchCollector(runtime, requests=ingest.requests, version=version))
    app = Starlette(
        routes=[
            Route("/v1/observations", ingest.observations, methods=["POST"]),
            Route("/v1/counts", ingest.counts, methods=["POST"]),
            aggregate_route(runtime, registry),
            Route("/v1/traces", OtlpIngest(runtime, ingest.requests).traces, methods=["POST"]),
            Route("/metrics", api.metrics, methods=["GET"]),
            Route("/healthz", api.healthz, methods=["GET"]),
            Route("/readyz", api.readyz, methods=["GET"]),
            Route("/api/v1/alerts", api.alerts, methods=["GET"]),
            Route("/api/v1/pipelines", api.pipelines, methods=["GET"]),
            Route("/api/v1/slos", api.slos, methods=["GET"]),
            Route("/api/v1/checks", api.checks, methods=["GET"]),
            *silence_routes(runtime),
            reload_route(runtime),
            ready_route(runtime),
            Route("/openapi.json", openapi, methods=["GET"]),
            Route("/", status.index, methods=["GET"]),
            Route("/edges/{pipeline}/{edge}", status.edge, methods=["GET"]),
            Route("/api/v1/edges/{pipeline}/{edge}", status.edge_buckets, methods=["GET"]),
            Route("/api/v1/status", status.status, methods=["GET"]),
        ],
        exception_handlers={Problem: handle_problem},
    )
    app.add_middleware(StandbyGuard, runtime=runtime)  # inside auth: a bad token is still a 401
    registry.register(AuthCollector(protect(app, lambda: runtime.config.server)))
    app.state.registry = registry
    app.state.runtime = runtime
    return app
