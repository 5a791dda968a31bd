"""Who judges: one leader among the servers sharing a PostgreSQL store, as a pure state machine.

The lock itself is a PostgreSQL advisory lock held by a dedicated session
(``monitor.store.leader_pg``); this module only decides, from what that session last reported and
the time passed in as ``now``, whether this process may judge and notify. Why an advisory lock and
not a lease row: the lock dies with its session, so a leader killed with ``kill -9`` (its socket
closed by the kernel) frees it at once and a standby takes over at its next attempt, one
``interval`` later; a lease row would have to run out first. A leader that hangs or is cut off
keeps its session open, so the session is created with ``idle_session_timeout = lease``: the
server ends it after ``lease`` without a word from the leader. The leader, for its part, stops
trusting its hold ``lease / 2`` after the last confirmation it *sent*, so it steps down before the
server could hand the lock to anyone else (the margin absorbs clock-rate differences).

Use: ``step(state, outcome, now, rules)`` after every attempt; ``may_lead(state, now, rules)``
before a tick judges or the notifier sends.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Role(StrEnum):
    STANDBY = "standby"
    LEADER = "leader"


class Outcome(StrEnum):
    """What one attempt on the lock session said."""

    HELD = "held"
    """This session holds the lock (just acquired, or confirmed still held)."""
    TAKEN = "taken"
    """Another session holds it."""
    LOST = "lost"
    """The session broke (connection error): the server may already have freed the lock."""
    SILENT = "silent"
    """No answer in time: the session may still hold the lock, or may not for long."""


@dataclass(frozen=True)
class Rules:
    lease: float = 10.0
    """How long the server keeps a silent leader's session (``idle_session_timeout``)."""

    @property
    def trust(self) -> float:
        """How long a leader trusts a hold it could not confirm: half the lease."""
        return self.lease / 2


@dataclass(frozen=True)
class Leadership:
    """This process's standing. ``term`` counts the times it became leader."""

    role: Role = Role.STANDBY
    since: float | None = None
    """When the current role began (None: never attempted)."""
    confirmed_at: float | None = None
    """When the last attempt that came back HELD was sent."""
    term: int = 0


def step(
    state: Leadership, outcome: Outcome, sent_at: float, now: float, rules: Rules
) -> Leadership:
    """The standing after an attempt sent at ``sent_at`` came back ``outcome`` at ``now``.

    A standby becomes leader only on HELD; a leader stays one on HELD, and on SILENT while its
    last confirmation is younger than ``rules.trust``; TAKEN or LOST demote it at once.
    """
    if outcome is Outcome.HELD:
        if state.role is Role.LEADER:
            return replace(state, confirmed_at=sent_at)
        return Leadership(Role.LEADER, since=now, confirmed_at=sent_at, term=state.term + 1)
    if state.role is Role.LEADER and (outcome is Outcome.SILENT and may_lead(state, now, rules)):
        return state
    if state.role is Role.LEADER or state.since is None:
        return Leadership(Role.STANDBY, since=now, confirmed_at=None, term=state.term)
    return state


def may_lead(state: Leadership, now: float, rules: Rules) -> bool:
    """True while this process may judge and notify: it leads and its hold is fresh enough."""
    return (
        state.role is Role.LEADER
        and state.confirmed_at is not None
        and now - state.confirmed_at < rules.trust
    )


__all__ = ["Leadership", "Outcome", "Role", "Rules", "may_lead", "step"]
