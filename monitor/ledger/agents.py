"""Which agents the server has heard from lately, and which hops go unseen while one is silent.

An agent that cannot reach the server keeps its data in its spool and delivers it later as late
amendments; nothing is lost. So a silent agent is, for the server, what a failing pull source is
(``monitor.sources.health``): its hops are unobserved from its last contact on, and the buckets
closed meanwhile must come out ``incomplete`` rather than as loss. Every agent sends a batch at
least once per ``agent.flush_interval`` (an empty one when idle: a heartbeat) that names the
(pipeline, hop) pairs it serves; the server records here who it heard from, when, and for which
hops. The engine asks ``silent`` on each tick to open or extend one ``Gap`` per outage, and
``heard`` ends it at the agent's return; ``down_verdict`` raises ``HopwatchAgentDown``.

Pure: every method takes ``now``. Saved in the engine checkpoint next to the applied-seq record,
so a restarted server still knows each agent's last contact and hops.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from monitor.labels import labels_of
from monitor.timeutil import format_duration
from monitor.verdict import Judgement, Verdict

__all__ = [
    "AGENT_DOWN_CHECK",
    "DOWN_ALERT_AFTER",
    "SILENT_AFTER_FLUSHES",
    "AgentContact",
    "AgentLiveness",
    "Outage",
]

AGENT_DOWN_CHECK = "agent_down"
"""The ``check`` of agent-down verdicts; the alert book names the alert ``HopwatchAgentDown``."""

SILENT_AFTER_FLUSHES = 3
"""An agent unheard for this many ``agent.flush_interval`` is taken as cut off: one missed
heartbeat is jitter, three are an outage (its hops get a gap from its last contact on)."""

DOWN_ALERT_AFTER = 120.0
"""Seconds of silence before ``HopwatchAgentDown`` fires (a ticket). Longer than the agent's
longest retry backoff (30 s), so a short network blip or a server restart opens a gap but never
a ticket."""

FORGET_AFTER = 7 * 86400.0
"""Seconds of silence after which an agent is taken as retired: its ticket resolves, its hops stop
being marked incomplete and the server forgets it (a decommissioned sidecar must not keep a hop
incomplete forever). An agent that comes back later is simply new again."""

HopKey = tuple[str, str]
"""(pipeline, hop)."""


@dataclass(frozen=True)
class AgentContact:
    """What the server knows of one agent."""

    agent: str
    last_contact: float
    """Server time of the last request from the agent (applied, duplicate or heartbeat)."""
    hops: frozenset[HopKey]
    """The (pipeline, hop) pairs the agent serves: declared by it, or seen in its batches."""
    down: bool = False
    """Whether an outage is open (``silent`` reported it): the next contact ends its gap."""


@dataclass(frozen=True)
class Outage:
    """An agent unheard since ``since``; its hops are unobserved from then on."""

    agent: str
    since: float
    hops: frozenset[HopKey]

    def by_pipeline(self) -> dict[str, frozenset[str]]:
        """The outage's hops per pipeline (a ledger's gap names hops of one pipeline)."""
        out: dict[str, set[str]] = {}
        for pipeline, hop in self.hops:
            out.setdefault(pipeline, set()).add(hop)
        return {p: frozenset(h) for p, h in sorted(out.items())}

    @property
    def reason(self) -> str:
        """The gap's reason; also how the engine finds this outage's gap again to extend it."""
        return f"agent {self.agent} unreachable"


class AgentLiveness:
    """Every agent's last contact and hops; the judge of which are cut off.

    ``silent_after``: seconds unheard before an agent's hops get a gap (``SILENT_AFTER_FLUSHES``
    flush intervals); ``alert_after``: seconds before ``HopwatchAgentDown`` fires.
    """

    def __init__(
        self,
        silent_after: float,
        alert_after: float = DOWN_ALERT_AFTER,
        forget_after: float = FORGET_AFTER,
    ) -> None:
        self.silent_after = silent_after
        self.alert_after = max(alert_after, silent_after)
        self.forget_after = max(forget_after, self.alert_after)
        self.contacts: dict[str, AgentContact] = {}
        self.resumed_at: float | None = None
        """When the server last resumed after not running: no agent could reach it before, so
        silence is counted from here too (a restart does not make every agent look down)."""

    def heard(self, agent: str, hops: Iterable[HopKey], now: float) -> Outage | None:
        """Record a request from ``agent`` serving ``hops``; returns the outage it ends, if any.

        Declared hops replace what was known (an agent declares every hop it serves), so an agent
        moved to other hops stops covering the old ones; a request declaring none keeps them.
        """
        old = self.contacts.get(agent)
        declared = frozenset(hops)
        if old is None:
            self.contacts[agent] = AgentContact(agent, now, declared)
            return None
        self.contacts[agent] = AgentContact(agent, max(now, old.last_contact), declared or old.hops)
        if not old.down:
            return None
        return Outage(agent, old.last_contact, old.hops)

    def resumed(self, at: float) -> None:
        """The server was not running until ``at`` (its own gap covers the time before)."""
        self.resumed_at = at if self.resumed_at is None else max(self.resumed_at, at)

    def silent_since(self, contact: AgentContact) -> float:
        """When the agent's silence counts from: its last contact, or the server's resumption
        if later (the time the server was not running is not the agent's fault)."""
        if self.resumed_at is None:
            return contact.last_contact
        return max(contact.last_contact, self.resumed_at)

    def silent_for(self, contact: AgentContact, now: float) -> float:
        """Seconds the agent has been unheard, not counting time the server was not running."""
        return now - self.silent_since(contact)

    def is_up(self, agent: str, now: float) -> bool:
        contact = self.contacts.get(agent)
        return contact is not None and self.silent_for(contact, now) <= self.silent_after

    def silent(self, now: float) -> list[Outage]:
        """Agents unheard for longer than ``silent_after``: one outage each, from last contact."""
        out = []
        for agent, contact in sorted(self.contacts.items()):
            if self.silent_for(contact, now) <= self.silent_after:
                continue
            if not contact.down:
                self.contacts[agent] = dataclasses.replace(contact, down=True)
            out.append(Outage(agent, contact.last_contact, contact.hops))
        return out

    def verdicts(self, now: float) -> list[Verdict]:
        """One verdict per known agent, for the engine's ``verdict_sources``. An agent silent
        for ``forget_after`` gets a last OK verdict (its ticket resolves) and is forgotten."""
        out = []
        for agent, contact in sorted(self.contacts.items()):
            if self.silent_for(contact, now) >= self.forget_after:
                labels = labels_of({"agent": agent, "severity": "ticket"})
                out.append(Verdict(AGENT_DOWN_CHECK, labels, Judgement.OK, now))
                del self.contacts[agent]
                continue
            out.append(self.down_verdict(contact, now))
        return out

    def down_verdict(self, contact: AgentContact, now: float) -> Verdict:
        """FIRING once the agent has been unheard for ``alert_after``; OK otherwise (resolves)."""
        labels = labels_of({"agent": contact.agent, "severity": "ticket"})
        silent_for = self.silent_for(contact, now)
        if silent_for < self.alert_after:
            return Verdict(AGENT_DOWN_CHECK, labels, Judgement.OK, now)
        hops = ", ".join(f"{p}/{h}" for p, h in sorted(contact.hops)) or "none declared yet"
        summary = (
            f"agent {contact.agent} has not reached the server for {format_duration(silent_for)}; "
            f"buckets of its hops ({hops}) are marked incomplete, not lost, and its spooled data "
            "amends them when it is back"
        )
        evidence = {
            "last_contact": contact.last_contact,
            "hops": [f"{p}/{h}" for p, h in sorted(contact.hops)],
        }
        return Verdict(
            AGENT_DOWN_CHECK,
            labels,
            Judgement.FIRING,
            now,
            score=silent_for,
            summary=summary,
            evidence=evidence,
        )

    def to_bytes(self) -> bytes:
        return msgspec.msgpack.encode(
            {
                "contacts": [
                    [c.agent, c.last_contact, sorted(map(list, c.hops)), c.down]
                    for _, c in sorted(self.contacts.items())
                ],
                "resumed_at": self.resumed_at,
            }
        )

    def restore(self, data: bytes) -> None:
        state = msgspec.msgpack.decode(data)
        self.contacts = {
            str(a): AgentContact(
                str(a), float(at), frozenset((str(p), str(h)) for p, h in hops), bool(down)
            )
            for a, at, hops, down in state["contacts"]
        }
        resumed = state.get("resumed_at")
        self.resumed_at = None if resumed is None else float(resumed)
