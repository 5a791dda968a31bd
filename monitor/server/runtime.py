"""What the HTTP app needs from the process it serves: the ``Runtime`` protocol.

The daemon (``monitor.daemon.Daemon``) satisfies it; tests pass a small object with a ``FakeClock``.
Keeping it a protocol means the server never imports the daemon and can be exercised on its own.
"""

from __future__ import annotations

from typing import Protocol

from monitor.config.model import Config
from monitor.engine import Engine
from monitor.routing.silence import SilenceBook
from monitor.stats import DaemonStats
from monitor.store.base import Store
from monitor.timeutil import Clock


class Runtime(Protocol):
    """The engine to feed, the config it was built from, the clock that says ``now``, the store."""

    @property
    def config(self) -> Config: ...

    @property
    def engine(self) -> Engine: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def store(self) -> Store | None: ...

    @property
    def silences(self) -> SilenceBook:
        """The silences: ``/api/v1/silences`` edits them, alerts show the ones muting them."""
        ...

    @property
    def stats(self) -> DaemonStats:
        """The evaluation loop's counters (ticks, failures), exported on ``/metrics``."""
        ...

    def ready(self) -> bool:
        """True once state is restored and the engine may be fed (``/readyz``)."""
        ...
