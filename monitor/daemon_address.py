"""Where a running hopwatch answers and which token to send it, from the config it runs with.

``hopwatch silence`` and ``hopwatch slo status`` talk to a daemon; with ``--config`` they take its
address from ``server.listen`` and a token of the scope they need from ``server.auth`` (read from
the environment variable or file the config names, as the daemon reads it), so an operator who
can read the daemon's config needs neither ``--url`` nor a token on the command line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from monitor.config.auth import Scope
from monitor.config.loader import load_config

WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
"""A daemon listening on every address is reached on loopback from its own machine."""


@dataclass(frozen=True)
class DaemonAddress:
    url: str
    token: str | None

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}


def from_config(
    path: Path | str, scope: Scope, environ: Mapping[str, str] | None = None
) -> DaemonAddress:
    """The daemon's base URL and the first configured token that grants ``scope`` (None when
    the config holds none: open writes, or reads that need no token). ``ConfigError`` lists
    what is wrong with the file, as ``hopwatch validate`` would."""
    config = load_config(path, environ)
    server = config.server
    host = WILDCARDS.get(server.host, server.host)
    host = f"[{host}]" if ":" in host else host
    token = next((c.token for c in server.auth.credentials if c.allows(scope)), None)
    return DaemonAddress(f"http://{host}:{server.port}", token)
