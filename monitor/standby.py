"""A leader and its standbys on one PostgreSQL: the election loop and what each role does.

With ``storage.postgres`` every ``hopwatch run`` starts as a standby: it serves reads from the
last engine checkpoint in PostgreSQL (``follow``: restored again whenever the leader writes a
newer one, every ``checkpoint_interval``), answers writes with 503 naming the leader, and tries
the leader's lock every second (``Elector``). The one that holds the lock takes over
(``Daemon.take_over``): it restores the checkpoint and replays the shared write-ahead log after
it, records the time nobody led as a gap (those buckets come out ``incomplete``, never as loss),
loads the shared notification log (so nothing already sent is sent again) and silences, and
starts judging and notifying. A leader that loses the lock, or cannot confirm it for half the
lease, or cannot write the shared log, stops judging and notifying at once and exits (status 3),
writing nothing more: its supervisor restarts it as a standby. This is what Kubernetes
controllers do on a lost lease, and it leaves no half-demoted state to reason about.

Timing comes from ``time.monotonic`` here, never from the daemon's clock (which a demo
accelerates): a lease is real seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, Final, Protocol

from monitor.durability import Durability
from monitor.engine import Engine
from monitor.leadership import Leadership, Outcome, Role, Rules, may_lead, step
from monitor.routing.silence import SilenceBook
from monitor.stats import DaemonStats
from monitor.store.shared import SharedState
from monitor.store.wal_pg import ENGINE_CHECKPOINT

log = logging.getLogger("hopwatch.standby")

ATTEMPT_INTERVAL: Final = 1.0
"""Seconds between lock attempts: a standby takes over at most this long after the lock is free."""
EXIT_DEMOTED: Final = 3
"""``hopwatch run``'s exit status after losing leadership (restart it: it rejoins as a standby)."""


class Daemon(Protocol):
    """What the election and the follower use of ``monitor.daemon.Daemon``."""

    shared: SharedState | None
    leading: bool
    durability: Durability
    stats: DaemonStats
    silences: SilenceBook
    followed_at: float | None

    def take_over(self) -> None: ...

    def step_down(self, why: str) -> None: ...

    def fresh_engine(self) -> Engine: ...

    def use_view(self, engine: Engine, alerts: Iterable[dict[str, Any]]) -> None: ...


class Elector:
    """The election loop of one daemon: attempt, step the state machine, act on a change."""

    def __init__(self, daemon: Daemon, lease: float, interval: float = ATTEMPT_INTERVAL) -> None:
        self.daemon = daemon
        self.rules = Rules(lease=lease)
        self.interval = interval
        self.state = Leadership()
        self.leader_url: str | None = None
        """The leader's advertised URL as the database last said (None: unknown)."""
        self.term = 0
        """The term (from the database) this process last took over in."""
        self.became_leader_at: float | None = None
        """Monotonic time this process last took over (the takeover bench reads it)."""

    async def run(self) -> None:
        shared = self.daemon.shared
        assert shared is not None
        while True:
            attempt = await shared.lock.attempt(timeout=self.interval)
            now = time.monotonic()
            before = self.state
            self.state = step(before, attempt.outcome, attempt.sent_at, now, self.rules)
            if attempt.outcome is Outcome.TAKEN:
                self.leader_url = attempt.leader_url
            if before.role is Role.STANDBY and self.state.role is Role.LEADER:
                self.leader_url = attempt.leader_url
                self.became_leader_at = now
                self.term = attempt.term
                log.warning("took over as leader", extra={"term": attempt.term})
                self.daemon.take_over()
            elif before.role is Role.LEADER and not self.leading(now):
                self.daemon.step_down(f"the leader lock was {attempt.outcome} ")
                return
            elif self.daemon.leading and self.daemon.durability.commit.failed is not None:
                self.daemon.step_down("the shared write-ahead log cannot be written")
                return
            await asyncio.sleep(self.interval)

    def leading(self, now: float) -> bool:
        return may_lead(self.state, now, self.rules)


def follow(daemon: Daemon) -> bool:
    """A standby's tick: restore the leader's newest checkpoint (and the alerts and silences it
    saved) when there is a newer one; True when the view changed. Never raises."""
    shared = daemon.shared
    assert shared is not None
    try:
        at = shared.store.checkpoint_time(ENGINE_CHECKPOINT)
        daemon.silences = shared.silences.book()
        if at is None or at == daemon.followed_at:
            return False
        snapshot = shared.snapshots.read()
        engine = daemon.fresh_engine()
        if snapshot is not None:
            engine.restore(snapshot.blob)
        daemon.use_view(engine, shared.store.load_alerts())
        daemon.followed_at = at
        return True
    except Exception:
        daemon.stats.tick_errors += 1
        if daemon.stats.tick_errors % 60 == 1:  # not a traceback every second
            log.exception("following the leader's checkpoint failed; retrying at the next tick")
        return False


__all__ = ["ATTEMPT_INTERVAL", "EXIT_DEMOTED", "Elector", "follow"]
