"""What a 202 promises across a crash, checkpoints off the loop, and refusing damaged state.

A "crash" here is a daemon dropped without ``stop()``: no final checkpoint, nothing flushed but
what the write-ahead log already fsync'ed (the kill -9 test through a real process is in
``test_durability_e2e.py``).
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import msgspec
import pytest

from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig, StorageConfig
from monitor.daemon import Daemon
from monitor.durability import MODE_CHECKPOINT
from monitor.server.app import create_app
from monitor.store import DB_FILENAME, StoreError, open_store
from monitor.store.snapshot import FILENAME, BackgroundCheckpoint, read_snapshot
from monitor.testing import FakeClock

ROOT = Path(__file__).resolve().parent.parent
T0 = 1_700_000_000.0
# Open on loopback: these are tests of durability, not of auth (test_auth.py).
CONFIG = Config(
    server=ServerConfig(auth=AuthPolicy(open=True)),
    pipelines=(Pipeline(name="p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),)),),
)
NDJSON = {"content-type": "application/x-ndjson"}


def batch(start: int, n: int, now: float) -> bytes:
    rows = [
        {"pipeline": "p", "hop": "a", "event_id": f"e{i}", "event_type": "t", "event_time": now - 5}
        for i in range(start, start + n)
    ]
    return b"\n".join(msgspec.json.encode(r) for r in rows)


def daemon(data: Path, clock: FakeClock, mode: str | None = None) -> Daemon:
    return Daemon(CONFIG, clock, open_store(data), durability=mode)


async def push(d: Daemon, bodies: list[bytes]) -> int:
    transport = httpx.ASGITransport(app=create_app(d))
    async with httpx.AsyncClient(transport=transport, base_url="http://hopwatch") as client:
        answers = await asyncio.gather(
            *(client.post("/v1/observations", content=b, headers=NDJSON) for b in bodies)
        )
    assert all(r.status_code == 202 for r in answers), [r.text for r in answers]
    return sum(r.json()["accepted"] for r in answers)


def crash(d: Daemon) -> None:
    """Drop the daemon like kill -9 would: no checkpoint, no flush (the fds are just closed)."""
    d.store.close()
    wal = d.durability.wal
    for fd in [*wal._retired, *([] if wal._fd is None else [wal._fd])]:
        os.close(fd)
    wal._retired.clear()
    wal._fd = None


def events_at_a(d: Daemon) -> int:
    return sum(n for (p, hop, _), n in d.engine.view().hop_totals.items() if hop == "a")


def test_every_acknowledged_observation_survives_a_crash_in_wal_mode(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    first = daemon(tmp_path, clock)
    first.start()
    acked = asyncio.run(push(first, [batch(i * 100, 100, T0) for i in range(5)]))
    first.checkpoint()  # some before the checkpoint ...
    acked += asyncio.run(
        push(first, [batch(1000 + i * 50, 50, T0) for i in range(4)])
    )  # ... some after
    assert first.durability.wal.stats.fsyncs < 9  # concurrent requests shared fsyncs
    crash(first)
    clock.advance(30)
    second = daemon(tmp_path, clock)
    gap = second.start()
    assert events_at_a(second) == acked == 700
    assert second.durability.wal.stats.records_replayed == 4
    # The time not observed starts at the last logged batch, not at the checkpoint.
    assert gap is not None and (gap.start, gap.end) == (T0, T0 + 30)
    second.stop()


def test_checkpoint_mode_loses_what_came_after_the_checkpoint_and_says_so(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    first = daemon(tmp_path, clock, MODE_CHECKPOINT)
    first.start()
    asyncio.run(push(first, [batch(0, 100, T0)]))
    first.checkpoint()
    asyncio.run(push(first, [batch(100, 100, T0)]))
    assert not first.durability.wal.segments() or first.durability.wal.end_lsn == 0
    crash(first)
    second = daemon(tmp_path, clock, MODE_CHECKPOINT)
    second.start()
    assert events_at_a(second) == 100
    second.stop()


def test_a_clean_stop_keeps_everything_in_either_mode(tmp_path: Path) -> None:
    for mode in ("wal", MODE_CHECKPOINT):
        data = tmp_path / mode
        first = daemon(data, FakeClock(T0), mode)
        first.start()
        acked = asyncio.run(push(first, [batch(0, 300, T0)]))
        first.stop()
        second = daemon(data, FakeClock(T0 + 5), mode)
        second.start()
        assert events_at_a(second) == acked
        second.stop()


def test_segments_covered_by_a_checkpoint_are_deleted(tmp_path: Path) -> None:
    clock = FakeClock(T0)
    d = Daemon(CONFIG, clock, open_store(tmp_path))
    d.durability.wal.segment_bytes = 1024
    d.start()
    asyncio.run(push(d, [batch(i * 20, 20, T0) for i in range(10)]))
    assert len(d.durability.wal.segments()) > 2
    d.checkpoint()
    assert len(d.durability.wal.segments()) == 1
    assert read_snapshot(tmp_path / FILENAME).wal_lsn == d.durability.wal.end_lsn  # type: ignore[union-attr]
    d.stop()


def test_a_checkpoint_in_progress_does_not_hold_requests(tmp_path: Path) -> None:
    """The checkpoint's encoder runs in a forked child that waits until the test lets it go,
    which the test does only after a request was answered: were the encoding on the loop, the
    request could never be answered and the test would hang instead of passing."""
    read_end, write_end = os.pipe()
    clock = FakeClock(T0)
    d = daemon(tmp_path, clock)
    encode = d.engine.checkpoint

    def slow_encode() -> bytes:
        os.read(read_end, 1)  # in the child: blocks until the parent writes
        return encode()

    d.durability.background = BackgroundCheckpoint(tmp_path / FILENAME, slow_encode)
    d.start()
    asyncio.run(push(d, [batch(0, 10, T0)]))
    d.checkpoint_in_background(T0)
    assert d.durability.background.running
    assert asyncio.run(push(d, [batch(10, 10, T0)])) == 10  # answered while the child waits
    assert d.durability.poll() is None
    os.write(write_end, b"go")
    done = d.durability.background.wait()
    assert done is not None and done.ok
    saved = read_snapshot(tmp_path / FILENAME)
    assert saved is not None and saved.at == T0
    os.close(read_end)
    os.close(write_end)
    d.stop()


def test_a_damaged_checkpoint_file_is_a_store_error_naming_it(tmp_path: Path) -> None:
    d = daemon(tmp_path, FakeClock(T0))
    d.start()
    d.stop()
    path = tmp_path / FILENAME
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match=r"checkpoint\.bin: checkpoint checksum mismatch.*move"):
        daemon(tmp_path, FakeClock(T0)).start()


def test_an_undecodable_checkpoint_row_is_a_store_error(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.save_checkpoint("engine", T0, b"\xc1 not msgpack")
    with pytest.raises(StoreError, match=r"hopwatch\.db: the checkpoint does not decode"):
        daemon(tmp_path, FakeClock(T0)).start()


def test_an_emptied_database_in_a_used_data_dir_is_refused(tmp_path: Path) -> None:
    d = daemon(tmp_path, FakeClock(T0))
    d.start()
    d.stop()
    (tmp_path / DB_FILENAME).write_bytes(b"")
    with pytest.raises(StoreError, match=r"empty \(0 bytes\) but this data dir was used before"):
        open_store(tmp_path)


def test_a_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    conn = sqlite3.connect(tmp_path / DB_FILENAME)
    conn.execute("CREATE TABLE invoices (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"not hopwatch's \(tables: invoices\)"):
        open_store(tmp_path)


def run_once(data: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "hopwatch.yaml"
    config.write_text(
        "apiVersion: hopwatch/v1\npipelines:\n  - name: p\n    hops:\n      - name: a\n"
    )
    return subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--config", str(config), "--data-dir", str(data)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("damage", ["empty database", "damaged checkpoint"])
def test_hopwatch_run_exits_1_with_one_line_and_no_traceback(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    d = Daemon(Config(storage=StorageConfig(data_dir=data)), FakeClock(T0), open_store(data))
    d.start()
    d.stop()
    if damage == "empty database":
        (data / DB_FILENAME).write_bytes(b"")
    else:
        (data / FILENAME).write_bytes(b"HWCKPT01" + b"\0" * 10)
    done = run_once(data, tmp_path)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    [line] = [x for x in done.stderr.splitlines() if x.startswith("hopwatch: ")]
    assert str(data) in line


def test_durability_metrics_are_exported_and_pass_promtool(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest
    from sources_support import promtool_errors

    from monitor import names
    from monitor.export.durability_metrics import DurabilityCollector

    d = daemon(tmp_path, FakeClock(T0))
    d.start()
    asyncio.run(push(d, [batch(0, 10, T0)]))
    d.checkpoint()
    registry = CollectorRegistry(auto_describe=True)
    registry.register(DurabilityCollector(d.durability))
    text = generate_latest(registry).decode()
    for metric in names.DURABILITY_ALL:
        assert f"# TYPE {metric.name} {metric.kind}" in text
    assert 'hopwatch_checkpoints_total{outcome="ok"} 1.0' in text
    assert "hopwatch_wal_fsyncs_total 1.0" in text
    assert promtool_errors(text) in ("", None)
    d.stop()
