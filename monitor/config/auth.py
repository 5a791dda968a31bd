"""Who may do what over HTTP: scopes, named tokens, the agents' allow-list, the open mode.

The runtime side of ``server.auth`` (the YAML schema is ``spec.ServerAuthSpec``; the loader maps
one into an ``AuthPolicy`` here). Writes are closed by default: a server with no token configured
answers every write, mute or agent declaration with 401 (``monitor.server.auth``), because an
anonymous silence or a forged agent heartbeat silences real loss. Reads are open by default, as
Prometheus scrapes and health checks expect, unless ``read_requires_token`` is set. ``open``
lifts the write check for a loopback listener only, on purpose (a laptop, the demo).

Tokens never come from the YAML itself or a command line: ``token_env`` / ``token_file`` name
where they are, and ``repr`` leaves them out so they cannot reach a log line.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

__all__ = [
    "LEGACY_SCOPES",
    "AuthPolicy",
    "Credential",
    "Scope",
    "is_loopback",
]


class Scope(StrEnum):
    """What a token may do. ``admin`` implies ``read``; nothing else implies anything."""

    READ = "read"
    """GET /metrics, /healthz, /readyz, /api/v1/*, the status page."""
    PUSH = "push"
    """POST /v1/observations, /v1/counts, /v1/traces."""
    AGENT = "agent"
    """POST /v1/aggregates."""
    ADMIN = "admin"
    """POST/DELETE /api/v1/silences and any other action that mutes or changes state."""


WRITE_SCOPES: Final = frozenset({Scope.PUSH, Scope.AGENT, Scope.ADMIN})

LEGACY_SCOPES: Final = frozenset({Scope.PUSH, Scope.AGENT, Scope.ADMIN})
"""What the old single ``bearer_token_env`` / ``bearer_token_file`` grants: every write (it
guarded push only, but a deployment that set it meant "only holders of this token write")."""

LEGACY_NAME: Final = "bearer_token"
"""Credential name of the old single token (in 403 messages and logs)."""

HopKey = tuple[str, str]
"""(pipeline, hop)."""


@dataclass(frozen=True)
class Credential:
    """One token and what it grants. ``agent`` is set for an entry of ``server.auth.agents``:
    the token then speaks for that agent id only, and only for ``hops``."""

    name: str
    scopes: frozenset[Scope]
    token: str = field(repr=False)
    agent: str | None = None
    hops: frozenset[HopKey] = frozenset()

    def allows(self, scope: Scope) -> bool:
        return scope in self.scopes or (scope is Scope.READ and Scope.ADMIN in self.scopes)


@dataclass(frozen=True)
class AuthPolicy:
    """``server.auth`` as the server applies it. The default grants no write to anyone."""

    credentials: tuple[Credential, ...] = ()
    open: bool = False
    """Writes need no token (a token that is sent is still checked). Loopback listen only."""
    read_requires_token: bool = False

    @classmethod
    def single_token(cls, token: str) -> AuthPolicy:
        """The old form: one token for every write (what ``bearer_token_env`` means)."""
        return cls((Credential(LEGACY_NAME, LEGACY_SCOPES, token),))

    @classmethod
    def open_writes(cls) -> AuthPolicy:
        """Writes without a token; only valid with a loopback listen (the loader checks)."""
        return cls(open=True)

    @property
    def agents(self) -> dict[str, Credential]:
        """The allow-list: agent id -> its credential."""
        return {c.agent: c for c in self.credentials if c.agent is not None}

    def authenticate(self, given: str) -> Credential | None:
        """The credential whose token is ``given``, compared in constant time against every
        configured token (no early exit), so timing says neither the token nor which one."""
        found: Credential | None = None
        data = given.encode()
        for credential in self.credentials:
            if hmac.compare_digest(data, credential.token.encode()) and found is None:
                found = credential
        return found

    def needs_token(self, scope: Scope) -> bool:
        if scope is Scope.READ:
            return self.read_requires_token
        return not self.open


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (``localhost``, 127.0.0.0/8,
    ``::1``). ``0.0.0.0``, ``::`` and any name other than localhost are not."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_problem(host: str, policy: AuthPolicy) -> str | None:
    """Why serving ``policy`` on ``host`` is refused: open writes on a non-loopback address
    (e.g. ``--listen 0.0.0.0:9464`` over a config validated for 127.0.0.1). None when fine."""
    if policy.open and not is_loopback(host):
        return (
            f"refusing to listen on {host}: server.auth.open lets anyone write without a token, "
            "and that is allowed on a loopback address only; configure tokens under server.auth "
            "or listen on 127.0.0.1"
        )
    return None
