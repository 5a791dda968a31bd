"""Whole-file checks of ``server.auth``: readable tokens, open only on loopback, agents' hops.

Kept apart from ``semantics`` so the rules of who may write sit in one place. Like the other
semantic checks they read the raw YAML defensively: a value of the wrong shape was reported by
the schema pass and is skipped here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from monitor.config.auth import is_loopback
from monitor.config.errors import KeyPath
from monitor.config.spec import split_listen

DEFAULT_LISTEN = "127.0.0.1:9464"


class _Checker(Protocol):
    def add(self, path: KeyPath, message: str, hint: str | None = None) -> None: ...

    def check_secret(
        self, at: KeyPath, holder: dict[str, Any], key: str, what: str, environ: Mapping[str, str]
    ) -> None: ...


def check_server_auth(
    checker: _Checker, server: dict[str, Any], data: dict[str, Any], environ: Mapping[str, str]
) -> None:
    """Every problem of ``server.auth`` that needs more than its own mapping to see."""
    auth = server.get("auth")
    if not isinstance(auth, dict):
        return
    at: KeyPath = ("server", "auth")
    listen = server.get("listen", DEFAULT_LISTEN)
    if auth.get("open") is True and isinstance(listen, str):
        try:
            host, _ = split_listen(listen)
        except ValueError:
            host = None  # the schema pass reported it
        if host is not None and not is_loopback(host):
            checker.add(
                (*at, "open"),
                f"open: true lets anyone write without a token, and server.listen {listen!r} "
                "is not a loopback address",
                "listen on 127.0.0.1 (or ::1) for open mode, or configure tokens instead",
            )
    names: dict[str, int] = {}
    for i, token in enumerate(_list(auth.get("tokens"))):
        if not isinstance(token, dict):
            continue
        checker.check_secret((*at, "tokens", i), token, "token", "token", environ)
        name = token.get("name")
        if isinstance(name, str):
            if name in names:
                checker.add(
                    (*at, "tokens", i, "name"),
                    f"duplicate token name {name!r}; first used by tokens[{names[name]}]",
                    "token names appear in logs and 403 answers: keep them unique",
                )
            names.setdefault(name, i)
    hops = _pipeline_hops(data)
    ids: dict[str, int] = {}
    for i, agent in enumerate(_list(auth.get("agents"))):
        if not isinstance(agent, dict):
            continue
        here: KeyPath = (*at, "agents", i)
        checker.check_secret(here, agent, "token", "token", environ)
        agent_id = agent.get("id")
        if isinstance(agent_id, str):
            if agent_id in ids:
                checker.add(
                    (*here, "id"),
                    f"duplicate agent id {agent_id!r}; first used by agents[{ids[agent_id]}]",
                    "one entry per agent, listing all its hops",
                )
            ids.setdefault(agent_id, i)
        assigned = agent.get("hops")
        if not isinstance(assigned, dict):
            continue
        for pipeline, names_ in assigned.items():
            if not isinstance(pipeline, str):
                continue
            known = hops.get(pipeline)
            if known is None:
                checker.add(
                    (*here, "hops", pipeline),
                    f"pipeline {pipeline!r} is not configured",
                    f"pipelines: {', '.join(sorted(hops)) or 'none'}",
                )
                continue
            for j, hop in enumerate(_list(names_)):
                if isinstance(hop, str) and hop not in known:
                    checker.add(
                        (*here, "hops", pipeline, j),
                        f"hop {hop!r} is not in pipeline {pipeline!r}",
                        f"its hops: {', '.join(known)}",
                    )


def _pipeline_hops(data: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for pipeline in _list(data.get("pipelines")):
        if not isinstance(pipeline, dict) or not isinstance(pipeline.get("name"), str):
            continue
        out[pipeline["name"]] = [
            h["name"]
            for h in _list(pipeline.get("hops"))
            if isinstance(h, dict) and isinstance(h.get("name"), str)
        ]
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
