"""Inhibition: a firing alert mutes others it explains.

Two sources of inhibition, both answered by ``Inhibitor.mutes``:

**Inhibit rules** (Alertmanager's ``inhibit/inhibit.go``): an alert matching a rule's ``target``
matchers is muted while an alert matching its ``source`` matchers fires with equal values of the
rule's ``equal`` labels (a missing label equals a missing label). An alert that matches both sides
is not muted by alerts that also match both sides, so it never inhibits itself.

**Topology** (hopwatch's extension, ``Extensions.topology_inhibition``): alerts carry their place in
the pipeline — ``pipeline`` and either an edge (``from_hop`` / ``to_hop``, or ``edge: a->b``) or a
``hop``. Given the configured pipelines:

- an alert's *own hops* are ``{hop}`` for a hop alert and ``{from_hop, to_hop}`` for an edge alert;
  its *frontier* is ``hop``, respectively ``to_hop``, and its *entry* is ``hop``, resp. ``from_hop``;
- ``reach(h)`` is the set of hops reachable from ``h`` along one or more edges;
- target T is **downstream** of source S when both are in the same pipeline, they share no own hop,
  T's entry is in ``reach(S.frontier)``, and S's entry is not in ``reach(T.frontier)`` (in a cycle
  neither is downstream of the other).

A firing S then mutes T if S's severity is at least T's (a ticket never mutes a page). So loss on
``sdk->ingest`` mutes volume drops at ``broker``, ``identity`` and ``activation`` and loss on
``broker->identity`` and further, but not alerts on ``ingest`` or on ``ingest->broker``, which
share a hop with it; a stall at hop ``ingest`` mutes every hop after it and every edge leaving one
of them. Alerts without a place (an SLO over the whole pipeline) neither mute nor are muted here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.alerting.alert import Alert, AlertState
from monitor.routing.model import InhibitRule, matches_all

SEVERITY_RANK = {
    "critical": 4,
    "page": 4,
    "error": 3,
    "ticket": 2,
    "warning": 2,
    "info": 1,
}
"""Higher is more urgent; a severity not listed (or none) ranks 0."""


def severity_rank(labels: Mapping[str, str]) -> int:
    return SEVERITY_RANK.get(labels.get("severity", "").lower(), 0)


class _EdgeLike(Protocol):
    @property
    def from_hop(self) -> str: ...
    @property
    def to_hop(self) -> str: ...


class PipelineLike(Protocol):
    """What topology needs of ``monitor.config.model.Pipeline``."""

    @property
    def name(self) -> str: ...
    @property
    def edges(self) -> tuple[_EdgeLike, ...]: ...


@dataclass(frozen=True)
class Place:
    """Where an alert sits in its pipeline (see the module docstring)."""

    pipeline: str
    hops: frozenset[str]
    entry: str
    frontier: str

    @classmethod
    def of(cls, labels: Mapping[str, str]) -> Place | None:
        pipeline = labels.get("pipeline", "")
        if not pipeline:
            return None
        src, dst = labels.get("from_hop", ""), labels.get("to_hop", "")
        if not (src and dst) and "->" in labels.get("edge", ""):
            src, _, dst = labels["edge"].partition("->")
        if src and dst:
            return cls(pipeline, frozenset((src, dst)), src, dst)
        hop = labels.get("hop", "")
        return cls(pipeline, frozenset((hop,)), hop, hop) if hop else None


class Topology:
    """The pipelines' edges, with every hop's reach computed once."""

    def __init__(self, pipelines: Iterable[PipelineLike]) -> None:
        self._reach: dict[str, dict[str, frozenset[str]]] = {}
        for pipeline in pipelines:
            succ: dict[str, set[str]] = {}
            for edge in pipeline.edges:
                succ.setdefault(edge.from_hop, set()).add(edge.to_hop)
            self._reach[pipeline.name] = {hop: _reach(hop, succ) for hop in succ}

    def reach(self, pipeline: str, hop: str) -> frozenset[str]:
        """Hops reachable from ``hop`` along one or more edges."""
        return self._reach.get(pipeline, {}).get(hop, frozenset())

    def downstream(self, source: Place, target: Place) -> bool:
        """Whether ``target`` lies downstream of ``source`` (module docstring)."""
        if source.pipeline != target.pipeline or source.hops & target.hops:
            return False
        if target.entry not in self.reach(source.pipeline, source.frontier):
            return False
        return source.entry not in self.reach(target.pipeline, target.frontier)


def _reach(start: str, succ: Mapping[str, set[str]]) -> frozenset[str]:
    seen: set[str] = set()
    todo = list(succ.get(start, ()))
    while todo:
        hop = todo.pop()
        if hop not in seen:
            seen.add(hop)
            todo.extend(succ.get(hop, ()))
    return frozenset(seen)


class Inhibitor:
    """Answers which firing alerts mute an alert; ``index`` the current alerts first.

    Like Alertmanager's, inhibition does not chain through muting: a silenced or inhibited alert
    that fires still inhibits others."""

    def __init__(self, rules: Iterable[InhibitRule] = (), topology: Topology | None = None) -> None:
        self.rules = tuple(rules)
        self.topology = topology
        self._sources: list[list[tuple[str, dict[str, str]]]] = [[] for _ in self.rules]
        self._placed: list[tuple[str, Place, int]] = []

    def index(self, alerts: Iterable[Alert]) -> None:
        """Take the firing alerts among ``alerts`` as the possible sources."""
        self._sources = [[] for _ in self.rules]
        self._placed = []
        for alert in alerts:
            if alert.state is not AlertState.FIRING:
                continue
            labels = dict(alert.labels)
            fp = alert.fingerprint
            for i, rule in enumerate(self.rules):
                if matches_all(rule.source, labels):
                    self._sources[i].append((fp, labels))
            if self.topology is not None:
                place = Place.of(labels)
                if place is not None:
                    self._placed.append((fp, place, severity_rank(labels)))

    def mutes(self, alert: Alert) -> tuple[str, ...]:
        """Fingerprints of the indexed firing alerts that inhibit ``alert`` (sorted)."""
        labels = dict(alert.labels)
        fp = alert.fingerprint
        found: set[str] = set()
        for rule, sources in zip(self.rules, self._sources, strict=True):
            if not matches_all(rule.target, labels):
                continue
            two_sided = matches_all(rule.source, labels)
            for source_fp, source in sources:
                if source_fp == fp or (two_sided and matches_all(rule.target, source)):
                    continue
                if all(source.get(n, "") == labels.get(n, "") for n in rule.equal):
                    found.add(source_fp)
        if self.topology is not None and self._placed:
            place = Place.of(labels)
            if place is not None:
                rank = severity_rank(labels)
                for source_fp, source_place, source_rank in self._placed:
                    if (
                        source_fp != fp
                        and source_rank >= rank
                        and self.topology.downstream(source_place, place)
                    ):
                        found.add(source_fp)
        return tuple(sorted(found))


__all__ = ["SEVERITY_RANK", "Inhibitor", "Place", "Topology", "severity_rank"]
