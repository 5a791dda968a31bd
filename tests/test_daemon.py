"""The daemon's I/O shell: a failing store delays results but never loses them; restarts mark gaps."""

from __future__ import annotations

from pathlib import Path

from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.daemon import Daemon
from monitor.records import Observation
from monitor.store import SQLiteStore, open_store
from monitor.testing import FakeClock

CONFIG = Config(pipelines=(Pipeline(name="p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),)),))


class FlakyStore(SQLiteStore):
    """Fails the next ``failures`` saves of edge results, like a full disk would."""

    failures = 0

    def save_edge_results(self, results):  # type: ignore[no-untyped-def]
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        return super().save_edge_results(results)


def test_results_closed_while_the_store_fails_are_stored_once_it_recovers(tmp_path: Path):
    store = FlakyStore(tmp_path / "hopwatch.db")
    clock = FakeClock(0.0)
    daemon = Daemon(CONFIG, clock, store, checkpoint_interval=1.0)
    daemon.start()
    daemon.engine.observe([Observation("p", "a", "x", 10.0, 10.0, event_id="e1")])
    store.failures = 2
    clock.set(360.0)
    daemon.tick()
    clock.set(361.0)
    daemon.tick()
    assert store.edge_results("p") == []
    assert daemon.stats.tick_errors == 2
    assert store.load_checkpoint("engine") is None  # no checkpoint ahead of what is stored
    assert not (tmp_path / "checkpoint.bin").exists()  # where checkpoints are written now
    clock.set(362.0)
    daemon.tick()
    [result] = store.edge_results("p")
    assert (result.expected, result.missing) == (1, 1)
    daemon.stop()


def test_a_checkpoint_newer_than_the_clock_is_a_gap_not_a_crash(tmp_path: Path):
    clock = FakeClock(1000.0)
    first = Daemon(CONFIG, clock, open_store(tmp_path))
    first.start()
    first.stop()
    clock.set(400.0)  # the clock went back
    second = Daemon(CONFIG, clock, open_store(tmp_path))
    gap = second.start()
    assert gap is not None and (gap.start, gap.end) == (400.0, 1000.0)
    second.stop()


def test_stop_exits_cleanly_even_when_the_final_checkpoint_fails(tmp_path: Path):
    store = open_store(tmp_path)
    daemon = Daemon(CONFIG, FakeClock(0.0), store)
    daemon.start()
    store.close()  # every later store call fails
    daemon.stop()  # logs, does not raise
