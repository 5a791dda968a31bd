"""What the HTTP app needs from the process it serves: the ``Runtime`` protocol.

The daemon (``monitor.daemon.Daemon``) satisfies it; tests pass a small object with a ``FakeClock``.
Keeping it a protocol means the server never imports the daemon and can be exercised on its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from monitor.config.model import Config
from monitor.engine_view import EngineView
from monitor.ledger.aggregate import AggregateBatch
from monitor.records import CountSample, Observation
from monitor.routing.silence import SilenceBook
from monitor.stats import DaemonStats
from monitor.store.base import Store
from monitor.timeutil import Clock


class EngineFeed(Protocol):
    """What the HTTP app does with the engine: feed it what was pushed, read its view.

    ``monitor.engine.Engine`` satisfies it; the server never sees the engine's state, so a
    handler cannot mutate it except through these methods (see ``Engine`` for each).
    """

    def observe(self, observations: Iterable[Observation]) -> int | None:
        """How many were too late for edge reconciliation; None when this feed cannot know (an
        agent: the server joins its aggregates later)."""
        ...

    def observe_counts(self, samples: Iterable[CountSample]) -> None: ...

    def applied_through(self, agent_id: str, instance: str) -> int: ...

    def absorb(
        self,
        batch: AggregateBatch,
        now: float,
        dropped_attributes: Mapping[str, int] | None = None,
    ) -> bool: ...

    def refuse(self, agent: str | None) -> None: ...

    def record_ingest(
        self,
        kind: str,
        accepted: int,
        rejected: Mapping[str, int],
        dropped_attributes: Mapping[str, int],
        skipped: int = 0,
    ) -> None: ...

    def view(self) -> EngineView: ...


class Runtime(Protocol):
    """The engine to feed, the config it was built from, the clock that says ``now``, the store."""

    @property
    def config(self) -> Config: ...

    @property
    def engine(self) -> EngineFeed: ...

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
