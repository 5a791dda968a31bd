"""Loading a config as ``hopwatch run`` does, and what a reload may and may not change.

A reload (SIGHUP or ``POST /-/reload``, ``Daemon.reload``) must refuse exactly what a start
refuses, or a config that reloads fine would fail at the next restart: so ``load_all`` is the one
loader both use (the main file, then SLOs, checks and routing, each with every error at once).

Some settings are bound when the process starts and cannot move under a running daemon: the
listen address (the socket is open) and ``storage`` (the data dir holds the open write-ahead log
and database). ``keep_running_settings`` keeps the running values of those and says which ones
the new file changed, so the operator knows a restart is needed for them, while everything else
(pipelines, SLOs, checks, routing, auth tokens, limits) takes effect at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.anomaly.load import load_checks
from monitor.anomaly.model import CheckDef
from monitor.config.model import Config
from monitor.routing.load import load_routing
from monitor.routing.model import RoutingConfig
from monitor.slo.load import load_slos
from monitor.slo.model import SLO
from monitor.validate import load_config

__all__ = ["Loaded", "ReloadOutcome", "keep_running_settings", "load_all"]


@dataclass(frozen=True)
class Loaded:
    """A config and everything its included files define, all validated."""

    config: Config
    slos: tuple[SLO, ...]
    checks: tuple[CheckDef, ...]
    routing: RoutingConfig


def load_all(path: Path | str, environ: Mapping[str, str] | None = None) -> Loaded:
    """The main config at ``path`` with its SLOs, checks and routing; raises ``ConfigError``
    (every issue of the first kind of file that has any) when something is wrong."""
    config = load_config(path, environ)
    groups = load_slos(config)
    checks = load_checks(config)
    routing = load_routing(config)
    slos = tuple(slo for group in groups for slo in group.slos)
    return Loaded(config, slos, tuple(checks), routing)


def keep_running_settings(
    running: Config, new: Config, previous: Config | None = None
) -> tuple[Config, tuple[str, ...]]:
    """``new`` with the settings bound at start (listen address, storage) taken from
    ``running``, and a note for each one the file changed since ``previous`` (the file as last
    loaded, default ``running``): it takes a restart.

    ``running`` holds any ``--listen`` / ``--data-dir`` override of the command line, so keeping
    its values keeps those overrides across reloads; comparing with ``previous`` rather than
    ``running`` keeps an override from being reported as a change at every reload."""
    before = running if previous is None else previous
    notes: list[str] = []
    if (new.server.host, new.server.port) != (before.server.host, before.server.port):
        notes.append(
            f"server.listen changed ({before.server.listen} -> {new.server.listen}); "
            "it takes effect at the next restart"
        )
    if new.storage != before.storage:
        notes.append("storage changed; it takes effect at the next restart")
    server = dataclasses.replace(new.server, host=running.server.host, port=running.server.port)
    return dataclasses.replace(new, server=server, storage=running.storage), tuple(notes)


@dataclass(frozen=True)
class ReloadOutcome:
    """What one reload did: ``ok`` with notes (settings that need a restart), or the errors
    that made it refuse the new config (the old one keeps running)."""

    ok: bool
    errors: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    at: float = 0.0

    def to_json(self) -> dict[str, object]:
        if self.ok:
            return {"status": "success", "notes": list(self.notes)}
        return {"status": "error", "errors": list(self.errors)}
