"""Test helpers that ship with hopwatch, so users' own tests can drive it without sleeping."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from monitor.config.model import Config
from monitor.engine import Engine
from monitor.routing.silence import SilenceBook
from monitor.stats import DaemonStats
from monitor.store.base import Store


class FakeClock:
    """A clock that moves only when told; pass it wherever a ``Clock`` is taken."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        self._now += seconds
        return self._now

    def set(self, at: float) -> None:
        self._now = float(at)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for servers started by tests)."""
    import socket

    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve_in_thread(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port in a thread; yields its base URL.

    Real HTTP for tests, without a subprocess: the app and its engine stay inspectable.
    """
    import threading
    import time

    import uvicorn

    port = free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class StaticRuntime:
    """A ``Runtime`` for the HTTP app without the daemon: a real engine, a fake clock, no ticker.

    Tests feed the app through HTTP and call ``engine.tick(clock.now())`` themselves.
    """

    config: Config
    clock: FakeClock = field(default_factory=FakeClock)
    store: Store | None = None
    is_ready: bool = True
    stats: DaemonStats = field(default_factory=DaemonStats)
    silences: SilenceBook = field(default_factory=SilenceBook)
    engine: Engine = field(init=False)

    def __post_init__(self) -> None:
        self.engine = Engine(self.config)

    def ready(self) -> bool:
        return self.is_ready
