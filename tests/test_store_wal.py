"""The write-ahead log alone: round trip, a torn tail, a damaged record, pruning, group commit."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

import pytest

from monitor.store import wal as wal_module
from monitor.store.wal import HEADER, GroupCommit, WalError, WriteAheadLog, segment_name


def opened(directory: Path, from_lsn: int = 0, **kw) -> tuple[WriteAheadLog, list[bytes]]:
    wal = WriteAheadLog(directory, **kw)
    seen: list[bytes] = []
    wal.open(from_lsn, seen.append)
    return wal, seen


def test_records_come_back_in_order_after_reopening(tmp_path: Path) -> None:
    wal, seen = opened(tmp_path)
    assert seen == []
    ends = [wal.append(f"record {i}".encode()) for i in range(5)]
    wal.close()
    again, seen = opened(tmp_path)
    assert seen == [f"record {i}".encode() for i in range(5)]
    assert again.end_lsn == ends[-1]
    assert again.stats.records_replayed == 5
    again.close()


def test_replay_starts_at_the_checkpoint_position(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path)
    wal.append(b"a")
    covered = wal.append(b"b")
    wal.append(b"c")
    wal.close()
    _, seen = opened(tmp_path, covered)
    assert seen == [b"c"]


def test_a_torn_last_record_is_truncated_and_appends_continue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wal, _ = opened(tmp_path)
    wal.append(b"kept")
    good_end = wal.end_lsn
    wal.append(b"cut short by a crash")
    wal.close()
    segment = tmp_path / segment_name(0)
    segment.write_bytes(segment.read_bytes()[:-5])
    again, seen = opened(tmp_path)
    assert seen == [b"kept"]
    assert segment.stat().st_size == good_end
    assert again.stats.torn_tails == 1 and again.stats.corrupt_records == 0
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    again.append(b"after")
    again.close()
    assert opened(tmp_path)[1] == [b"kept", b"after"]


def test_a_checksum_mismatch_stops_replay_there_without_raising(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wal, _ = opened(tmp_path)
    wal.append(b"first")
    damaged_at = wal.end_lsn
    wal.append(b"second")
    wal.append(b"third")
    wal.close()
    segment = tmp_path / segment_name(0)
    data = bytearray(segment.read_bytes())
    data[damaged_at + HEADER.size] ^= 0xFF  # one flipped bit in the second record's payload
    segment.write_bytes(bytes(data))
    again, seen = opened(tmp_path)
    assert seen == [b"first"]
    assert again.stats.corrupt_records == 1
    assert any("damaged" in r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert (tmp_path / (segment_name(0) + ".corrupt")).exists()
    # New records go after the last good one and are replayed next time.
    again.append(b"new")
    again.close()
    assert opened(tmp_path)[1] == [b"first", b"new"]


def test_segments_rotate_and_covered_ones_are_deleted(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path, segment_bytes=48)
    ends = [wal.append(bytes(40)) for _ in range(6)]
    wal.sync()
    assert len(wal.segments()) == 6
    assert wal.delete_covered(ends[2]) == 3
    assert len(wal.segments()) == 3
    wal.delete_covered(wal.end_lsn)  # the segment being written is never deleted
    assert wal.segments() == [ends[4]]
    wal.close()
    again, seen = opened(tmp_path, ends[4], segment_bytes=48)
    assert seen == [bytes(40)]
    again.close()


def test_a_checkpoint_ahead_of_the_log_starts_a_segment_where_it_ends(tmp_path: Path) -> None:
    wal, _ = opened(tmp_path)
    wal.append(b"x")
    wal.close()
    again, seen = opened(tmp_path, 1000)
    assert seen == [] and again.end_lsn == 1000
    again.append(b"y")
    again.close()
    assert opened(tmp_path, 1000)[1] == [b"y"]


def test_concurrent_commits_share_one_fsync(tmp_path: Path) -> None:
    calls: list[int] = []

    def fsync(fd: int) -> None:
        calls.append(fd)
        os.fsync(fd)

    wal, _ = opened(tmp_path, fsync=fsync)
    commit = GroupCommit(wal)

    async def main() -> None:
        await commit.append(b"warm-up")  # the first round also syncs the new segment's dir
        calls.clear()
        await asyncio.gather(*(commit.append(f"r{i}".encode()) for i in range(20)))

    asyncio.run(main())
    assert len(calls) == 1
    assert wal.synced_lsn == wal.end_lsn
    wal.close()


def test_a_failed_fsync_refuses_every_later_commit(tmp_path: Path) -> None:
    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    wal, _ = opened(tmp_path, fsync=broken)
    commit = GroupCommit(wal)

    async def main() -> None:
        with pytest.raises(WalError, match="fsync failed"):
            await commit.append(b"a")
        with pytest.raises(WalError, match="unusable"):
            await commit.append(b"b")

    asyncio.run(main())


def test_a_commit_is_acknowledged_only_after_its_round_wrote_and_synced(tmp_path: Path) -> None:
    """A slow disk: the record is written, its fsync hangs, and the append does not return."""
    in_fsync, release = threading.Event(), threading.Event()

    def slow(fd: int) -> None:
        in_fsync.set()
        assert release.wait(30), "the test never released the fsync"
        os.fsync(fd)

    wal, _ = opened(tmp_path, fsync=slow)
    commit = GroupCommit(wal)

    async def main() -> None:
        task = asyncio.create_task(commit.append(b"must be durable"))
        assert await asyncio.to_thread(in_fsync.wait, 10)
        await asyncio.sleep(0.05)
        assert not task.done()
        assert wal.synced_lsn == 0 < wal.end_lsn
        assert (tmp_path / segment_name(0)).read_bytes()[HEADER.size :] == b"must be durable"
        release.set()
        await task
        assert wal.synced_lsn == wal.end_lsn == HEADER.size + len(b"must be durable")

    asyncio.run(main())
    wal.close()


def test_a_failed_write_acknowledges_nothing_and_refuses_later_commits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(fd: int, payloads: tuple[bytes, ...]) -> None:
        raise OSError(28, "No space left on device")

    wal, _ = opened(tmp_path)
    commit = GroupCommit(wal)
    monkeypatch.setattr(wal_module, "_write_records", full)

    async def main() -> None:
        results = await asyncio.gather(
            *(commit.append(f"r{i}".encode()) for i in range(3)), return_exceptions=True
        )
        assert [type(r) for r in results] == [WalError] * 3
        assert all("No space left" in str(r) for r in results)
        with pytest.raises(WalError, match="unusable"):
            await commit.append(b"later")

    asyncio.run(main())
    assert wal.synced_lsn == 0 and wal.stats.fsyncs == 0


def test_concurrent_commits_share_one_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rounds: list[tuple[bytes, ...]] = []
    write = wal_module._write_records

    def counted(fd: int, payloads: tuple[bytes, ...]) -> None:
        rounds.append(payloads)
        write(fd, payloads)

    monkeypatch.setattr(wal_module, "_write_records", counted)
    wal, _ = opened(tmp_path)
    commit = GroupCommit(wal)

    async def main() -> None:
        await commit.append(b"warm-up")
        rounds.clear()
        await asyncio.gather(*(commit.append(f"r{i}".encode()) for i in range(20)))

    asyncio.run(main())
    assert rounds == [tuple(f"r{i}".encode() for i in range(20))]
    wal.close()
    assert opened(tmp_path)[1] == [b"warm-up", *(f"r{i}".encode() for i in range(20))]


def test_a_blocking_sync_writes_after_the_round_planned_before_it(tmp_path: Path) -> None:
    """Shutdown's ``sync`` while a group-commit round is planned but not yet written: the log
    keeps the order the records were appended in."""
    wal, _ = opened(tmp_path)
    wal.append(b"first")
    earlier = wal.plan_sync()  # a round in flight, not yet written
    wal.append(b"second")
    closing = threading.Thread(target=wal.sync)
    closing.start()
    closing.join(0.2)
    assert closing.is_alive()  # waiting for its turn
    wal.finish_sync(earlier, wal.run_sync(earlier))
    closing.join(10)
    assert not closing.is_alive()
    wal.close()
    assert opened(tmp_path)[1] == [b"first", b"second"]
