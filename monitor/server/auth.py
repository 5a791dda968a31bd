"""Auth for every HTTP route, in one ASGI middleware: route + method -> scope -> token check.

Handlers do not check tokens themselves: ``AuthGuard`` sits in front of the whole app, resolves
the route a request matches, looks its scope up in ``ROUTE_SCOPES`` and answers 401/403 before
any handler runs. A route missing from the table still gets a scope (``scope_for``: GET/HEAD is
``read``, anything else ``admin``), so a new route cannot be left without auth by forgetting it,
and ``check_routes`` (called by ``create_app``) refuses to build an app with an unlisted route so
the author decides its scope on purpose.

What a token may do beyond its scope is checked where the request's body is known: an agent's
batch (``authorize_batch``) must carry the agent id the token belongs to and touch only the hops
the allow-list assigns it, so one heartbeat can never mark other hops incomplete, and the agents
the server tracks stay the allow-listed ones (plus at most ``MAX_UNLISTED_AGENTS`` ids spoken for
by an operator's agent-scoped token or by the open mode).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Final

from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from monitor.config.auth import AuthPolicy, Credential, Scope
from monitor.config.model import ServerConfig
from monitor.ledger.aggregate import AggregateBatch
from monitor.server.problems import Problem, problem_response

log = logging.getLogger("hopwatch.server.auth")

ROUTE_SCOPES: Final[dict[tuple[str, str], Scope]] = {
    ("/v1/observations", "POST"): Scope.PUSH,
    ("/v1/counts", "POST"): Scope.PUSH,
    ("/v1/traces", "POST"): Scope.PUSH,
    ("/v1/aggregates", "POST"): Scope.AGENT,
    ("/metrics", "GET"): Scope.READ,
    ("/healthz", "GET"): Scope.READ,
    ("/readyz", "GET"): Scope.READ,
    ("/-/ready", "GET"): Scope.READ,
    ("/", "GET"): Scope.READ,
    ("/edges/{pipeline}/{edge}", "GET"): Scope.READ,
    ("/api/v1/edges/{pipeline}/{edge}", "GET"): Scope.READ,
    ("/api/v1/status", "GET"): Scope.READ,
    ("/openapi.json", "GET"): Scope.READ,
    ("/api/v1/alerts", "GET"): Scope.READ,
    ("/api/v1/pipelines", "GET"): Scope.READ,
    ("/api/v1/slos", "GET"): Scope.READ,
    ("/api/v1/checks", "GET"): Scope.READ,
    ("/api/v1/silences", "GET"): Scope.READ,
    ("/api/v1/silences/{silence_id}", "GET"): Scope.READ,
    ("/api/v1/silences", "POST"): Scope.ADMIN,
    ("/api/v1/silences/{silence_id}", "DELETE"): Scope.ADMIN,
    ("/-/reload", "POST"): Scope.ADMIN,
}
"""Every route and method of the server and the agent, and the scope it needs."""

MAX_UNLISTED_AGENTS: Final = 32
"""Agent ids not in ``server.auth.agents`` that an operator token with the ``agent`` scope (or the
open mode) may speak for. Bounds the agents tracked, and so the ``agent`` label values, when
agents are not allow-listed one by one."""

GATEKEEPER: Final = "hopwatch.gatekeeper"
PRINCIPAL: Final = "hopwatch.principal"
"""Key in the ASGI scope's ``state`` of the ``Credential`` a request was admitted with (absent for
open reads; ``OPEN`` for open writes)."""

OPEN: Final = Credential("open mode", frozenset({Scope.PUSH, Scope.AGENT, Scope.ADMIN}), "")
"""Who an unauthenticated write is, when ``server.auth.open`` admits it."""

REASONS: Final = (
    "missing_token",
    "invalid_token",
    "wrong_scope",
    "agent_mismatch",
    "hop_not_assigned",
    "too_many_agents",
)

SETUP_HINT: Final = (
    "configure a token under server.auth, e.g. tokens: [{name: ops, scopes: [admin, push], "
    "token_env: HOPWATCH_TOKEN}] (agents under server.auth.agents), then send "
    "'Authorization: Bearer <token>'; for local use only, server.auth.open: true with a "
    "loopback listen turns the check off. See docs/config.md, server.auth"
)


def scope_for(path: str, method: str) -> Scope:
    """The scope a route template and method need: the table, else read for GET/HEAD and admin
    for anything else (fail closed: an unlisted write needs the strongest scope)."""
    method = "GET" if method == "HEAD" else method
    scope = ROUTE_SCOPES.get((path, method))
    if scope is not None:
        return scope
    return Scope.READ if method == "GET" else Scope.ADMIN


def route_methods(routes: Iterable[BaseRoute]) -> Iterator[tuple[str, str]]:
    """(path template, method) of every route (HEAD, which Starlette adds to GET, left out)."""
    for route in routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    yield route.path, method


def check_routes(routes: Iterable[BaseRoute]) -> None:
    """Refuse to build an app with a route whose scope nobody decided (see ``ROUTE_SCOPES``)."""
    unlisted = [f"{m} {p}" for p, m in route_methods(routes) if (p, m) not in ROUTE_SCOPES]
    if unlisted:
        raise RuntimeError(
            f"routes without a scope in monitor.server.auth.ROUTE_SCOPES: {', '.join(unlisted)}"
        )


class Gatekeeper:
    """The decisions and their tally, shared by the middleware and the aggregates handler.
    ``server`` returns the current ``ServerConfig`` on each request, so a config reload changes
    tokens without a new app. ``refused`` counts refusals by (scope, reason), exported as
    ``hopwatch_http_auth_refused_total``."""

    def __init__(self, server: Callable[[], ServerConfig]) -> None:
        self.server = server
        self.refused: Counter[tuple[str, str]] = Counter()
        self.unlisted_agents: set[str] = set()

    def admit(self, needed: Scope, given: str | None, policy: AuthPolicy) -> Credential | None:
        """The credential the request acts with, or the 401/403 to answer."""
        if given is None:
            if not policy.needs_token(needed):
                return OPEN if needed is not Scope.READ else None
            self.refused[(needed.value, "missing_token")] += 1
            if not policy.credentials:
                raise Problem(
                    401,
                    f"this endpoint needs a token with scope {needed.value!r}, and this "
                    "hopwatch has no token configured, so it refuses every "
                    + ("read" if needed is Scope.READ else "write"),
                    SETUP_HINT,
                    {"WWW-Authenticate": 'Bearer realm="hopwatch"'},
                )
            raise Problem(
                401,
                f"missing Authorization header: this endpoint needs a bearer token with scope "
                f"{needed.value!r}",
                "send 'Authorization: Bearer <token>' with a token from server.auth",
                {"WWW-Authenticate": 'Bearer realm="hopwatch"'},
            )
        credential = policy.authenticate(given)
        if credential is None:
            self.refused[(needed.value, "invalid_token")] += 1
            raise Problem(
                401,
                "Authorization header: the bearer token is not the one configured (nor any in server.auth)",
                "check the token the client sends against server.auth on the hopwatch side",
                {"WWW-Authenticate": 'Bearer realm="hopwatch", error="invalid_token"'},
            )
        if not credential.allows(needed):
            self.refused[(needed.value, "wrong_scope")] += 1
            raise Problem(
                403,
                f"token {credential.name!r} lacks scope {needed.value!r} "
                f"(it has: {', '.join(sorted(credential.scopes))})",
                f"use a token with scope {needed.value!r}, or add the scope to that token "
                "in server.auth",
                {
                    "WWW-Authenticate": f'Bearer realm="hopwatch", error="insufficient_scope", '
                    f'scope="{needed.value}"'
                },
            )
        return credential

    def authorize_batch(
        self, principal: Credential | None, batch: AggregateBatch, policy: AuthPolicy
    ) -> None:
        """403 unless ``principal`` may speak for the batch's agent and every hop it touches."""
        agent = batch.agent_id
        if principal is not None and principal.agent is not None:
            if agent != principal.agent:
                self._refuse_batch("agent_mismatch")
                raise Problem(
                    403,
                    f"the token of agent {principal.agent!r} sent a batch as agent {agent[:64]!r}",
                    "set agent.id to the id server.auth.agents gives this token",
                )
            entry: Credential | None = principal
        else:
            entry = policy.agents.get(agent)
        if entry is None:
            # An operator token or the open mode speaks for an agent not on the allow-list.
            if agent not in self.unlisted_agents:
                if len(self.unlisted_agents) >= MAX_UNLISTED_AGENTS:
                    self._refuse_batch("too_many_agents")
                    raise Problem(
                        403,
                        f"agent {agent[:64]!r} is not in server.auth.agents, and "
                        f"{MAX_UNLISTED_AGENTS} unlisted agents already report",
                        "list each agent under server.auth.agents with its token and hops",
                    )
                self.unlisted_agents.add(agent)
            return
        foreign = sorted(f"{p}/{h}" for p, h in batch.served_hops() if (p, h) not in entry.hops)
        if foreign:
            self._refuse_batch("hop_not_assigned")
            shown = ", ".join(foreign[:5]) + (
                f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
            )
            raise Problem(
                403,
                f"agent {entry.agent!r} is not assigned hop {shown}",
                "server.auth.agents lists the hops each agent may declare and ship; add the "
                "hop there, or send it from the agent that owns it",
            )

    def _refuse_batch(self, reason: str) -> None:
        self.refused[(Scope.AGENT.value, reason)] += 1


class AuthGuard:
    """The ASGI middleware: every request to a route is admitted by ``gatekeeper`` first."""

    def __init__(self, app: ASGIApp, routes: list[BaseRoute], gatekeeper: Gatekeeper) -> None:
        self.app = app
        self.routes = routes
        self.gatekeeper = gatekeeper

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route_of(scope)
        if route is not None:
            needed = scope_for(route.path, scope["method"])
            keeper = self.gatekeeper
            try:
                principal = keeper.admit(needed, _bearer(scope), keeper.server().auth)
            except Problem as problem:
                await _refusal(route.path, problem, scope)(scope, receive, send)
                return
            state = scope.setdefault("state", {})
            state[PRINCIPAL] = principal
            state[GATEKEEPER] = keeper
        await self.app(scope, receive, send)

    def _route_of(self, scope: AsgiScope) -> Route | None:
        """The route the request matches; None when none does (404/405 follow, no auth needed)."""
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL and isinstance(route, Route):
                return route
        return None


def _refusal(path: str, problem: Problem, scope: AsgiScope) -> Response:
    """The 401/403 in the shape the endpoint's clients read: OTLP exporters expect a
    ``google.rpc.Status``, everyone else hopwatch's ``{"error", "hint"}``."""
    if path == "/v1/traces":
        from monitor.server.otlp import refusal_for

        return refusal_for(problem, Request(scope))
    return problem_response(problem)


def protect(app: Starlette, server: Callable[[], ServerConfig]) -> Gatekeeper:
    """Put the guard in front of every route of ``app`` (each must be in ``ROUTE_SCOPES``);
    returns the gatekeeper whose tally ``AuthCollector`` exports. Call it once the routes are
    in place and before the app serves."""
    check_routes(app.routes)
    keeper = Gatekeeper(server)
    app.add_middleware(AuthGuard, routes=app.routes, gatekeeper=keeper)
    return keeper


def authorize_batch(request: Request, batch: AggregateBatch, policy: AuthPolicy) -> None:
    """Called by the aggregates handler once the batch is decoded; see ``AuthGuard``."""
    state = request.scope.get("state", {})
    guard = state.get(GATEKEEPER)
    if guard is None:  # an app built without the guard: nothing admitted this request
        raise Problem(403, "no auth guard in front of /v1/aggregates", "build apps with create_app")
    guard.authorize_batch(state.get(PRINCIPAL), batch, policy)


def _bearer(scope: AsgiScope) -> str | None:
    """The token of an ``Authorization: Bearer`` header; "" for another scheme, so it is refused
    as invalid rather than taken for a missing header."""
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" else ""
    return None


class AuthCollector(Collector):
    """``hopwatch_http_auth_refused_total{scope, reason}``: bounded labels (4 scopes x 6
    reasons), exported once something was refused so an untouched server's golden holds."""

    def __init__(self, guard: Gatekeeper) -> None:
        self.guard = guard

    def collect(self) -> Iterator[Metric]:
        if not self.guard.refused:
            return
        family = CounterMetricFamily(
            "hopwatch_http_auth_refused_total",
            "HTTP requests refused by auth (401/403), by the scope the endpoint needs and why: "
            + ", ".join(REASONS)
            + ".",
            labels=("scope", "reason"),
        )
        for (scope, reason), n in sorted(self.guard.refused.items()):
            family.add_metric([scope, reason], n)
        yield family
