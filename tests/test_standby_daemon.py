"""Leader and standby daemons in one process on a real PostgreSQL (``pg_support``), driven by
hand with a fake clock: a standby follows the leader's checkpoint, takes over with the log tail
replayed and the leaderless time as a gap, and the deposed leader can no longer write the log."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pg_support import pg_url

from monitor.config.model import Config, Edge, Hop, Pipeline, PostgresConfig, StorageConfig
from monitor.daemon import Daemon
from monitor.leadership import Outcome
from monitor.names import KIND_OBSERVATIONS
from monitor.records import Observation
from monitor.standby import follow
from monitor.store.base import Gap
from monitor.store.shared import open_shared
from monitor.store.wal import WalError
from monitor.testing import FakeClock

T0 = 1_700_000_000.0


def observation(n: int) -> Observation:
    return Observation("p", "a", "t", T0, T0, event_id=f"e{n}")


def seen_at_a(daemon: Daemon) -> int:
    return sum(n for (p, hop, status), n in daemon.engine.view().hop_totals.items() if hop == "a")


def test_a_standby_follows_then_takes_over_with_the_log_tail_and_a_gap(
    tmp_path: Path, postgres: int, pg_database: str
) -> None:
    url = pg_url(postgres, pg_database)
    config = Config(
        storage=StorageConfig(postgres=PostgresConfig(url)),
        pipelines=(Pipeline("p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),)),),
    )
    clock = FakeClock(T0)

    async def scenario() -> None:
        shared = [
            open_shared(PostgresConfig(url), f"127.0.0.1:{i}", holder=n)
            for i, n in ((1, "a"), (2, "b"))
        ]
        a, b = (
            Daemon(config, clock, s.store, shared=s, data_dir=tmp_path / s.lock.holder)
            for s in shared
        )
        assert (a.leading, b.leading, a.standby_of(), b.standby_of()) == (False, False, "", "")

        assert (await shared[0].lock.attempt(5)).outcome is Outcome.HELD
        a.take_over()
        assert (a.leading, a.standby_of()) == (True, None)
        for n, at in ((1, T0 + 1), (2, T0 + 2)):
            a.engine.observe([observation(n)])
            await a.durable(KIND_OBSERVATIONS, [observation(n)], at)
            if n == 1:
                a.checkpoint(T0 + 1)  # the second observation is only in the log

        assert follow(b) is True
        assert seen_at_a(b) == 1  # a standby reads the leader's last checkpoint
        assert follow(b) is False  # nothing newer

        await shared[0].lock.release()  # the leader dies: its session, and the lock, end
        clock.set(T0 + 10)
        attempt = await shared[1].lock.attempt(5)
        assert (attempt.outcome, attempt.term) == (Outcome.HELD, 2)
        b.take_over()
        assert seen_at_a(b) == 2  # checkpoint + the log after it
        assert shared[1].store.gaps() == [Gap(T0 + 2, T0 + 10, "hopwatch was not running")]

        a.engine.observe([observation(3)])  # the deposed leader, still running
        with pytest.raises(WalError, match=r"no longer the leader \(term 1, the database says 2\)"):
            await a.durable(KIND_OBSERVATIONS, [observation(3)], T0 + 11)
        b.stop()
        await shared[1].lock.release()
        for s in shared:
            s.close()

    asyncio.run(scenario())
