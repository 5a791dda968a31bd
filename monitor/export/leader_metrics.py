"""``hopwatch_leader`` and ``hopwatch_leader_term`` (``monitor.standby``): which server judges.

A collector of its own, registered by the daemon beside the main one (the app's golden
exposition is unchanged). A server alone always leads (1); with ``storage.postgres`` the one
holding the lock is 1 and every standby 0, so ``sum(hopwatch_leader)`` over the servers is 1
when all is well: alert when it is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from monitor import names
from monitor.export.family import new_family


class Leading(Protocol):
    """What the collector reads of a daemon (``monitor.daemon.Daemon``)."""

    leading: bool
    elector: Any


class LeaderCollector(Collector):
    def __init__(self, daemon: Leading) -> None:
        self.daemon = daemon

    def collect(self) -> Iterator[Metric]:
        leader = new_family(names.LEADER)
        leader.add_metric([], 1.0 if self.daemon.leading else 0.0)
        yield leader
        term = new_family(names.LEADER_TERM)
        elector = self.daemon.elector
        term.add_metric([], float(elector.term if elector is not None else 0))
        yield term

    def describe(self) -> Iterator[Metric]:
        for metric in names.LEADER_ALL:
            yield new_family(metric)


__all__ = ["LeaderCollector"]
