"""The kafka offsets restored are always those of the engine checkpoint restored."""

from __future__ import annotations

import pytest

from monitor.sources.kafka_journal import MAX_ENTRIES, OffsetJournal


def test_a_checkpoint_still_being_written_leaves_the_previous_offsets_restorable() -> None:
    journal = OffsetJournal()
    journal.begin(10.0, b"a")
    assert journal.settled(10.0) == b"a"
    journal.begin(20.0, b"b")  # the child writing checkpoint 20 is killed with the daemon
    restored = OffsetJournal.decode(journal.encode())
    assert restored.for_checkpoint(10.0) == (b"a", True)
    assert restored.for_checkpoint(20.0) == (b"b", True)  # had its file been renamed in time


def test_a_settled_checkpoint_drops_older_entries_and_returns_its_own_offsets() -> None:
    journal = OffsetJournal()
    for at, blob in ((10.0, b"a"), (20.0, b"b"), (30.0, b"c")):
        journal.begin(at, blob)
    assert journal.settled(20.0) == b"b"
    assert journal.entries == [(20.0, b"b"), (30.0, b"c")]
    assert journal.for_checkpoint(10.0) == (None, False)


def test_a_failed_checkpoint_never_settles_so_the_last_good_one_stays() -> None:
    journal = OffsetJournal()
    journal.begin(10.0, b"a")
    journal.settled(10.0)
    journal.begin(20.0, b"b")  # failed: no settle
    journal.begin(30.0, b"c")
    assert journal.for_checkpoint(10.0) == (b"a", True)
    assert journal.settled(40.0) is None  # not begun here (a synchronous one of another run)
    assert journal.entries == []


def test_without_the_exact_entry_the_newest_older_one_is_the_safe_side() -> None:
    journal = OffsetJournal([(10.0, b"a"), (20.0, b"b")])
    assert journal.for_checkpoint(25.0) == (b"b", False)
    assert journal.for_checkpoint(5.0) == (None, False)


def test_a_begin_at_an_earlier_time_replaces_what_came_after_it() -> None:
    journal = OffsetJournal([(10.0, b"a"), (20.0, b"b")])
    journal.begin(15.0, b"x")  # the clock moved back
    assert journal.entries == [(10.0, b"a"), (15.0, b"x")]


def test_the_journal_is_bounded() -> None:
    journal = OffsetJournal()
    for i in range(MAX_ENTRIES + 5):
        journal.begin(float(i), b"%d" % i)
    assert len(journal.entries) == MAX_ENTRIES
    assert journal.entries[0] == (5.0, b"5")


@pytest.mark.parametrize(
    "data",
    [b"\x93\x01\x02\x03", b"not msgpack", b"\x92\x02\x90"],
    ids=["wrong shape", "not msgpack", "a future version"],
)
def test_anything_else_is_a_value_error(data: bytes) -> None:
    with pytest.raises(ValueError, match="kafka offset journal"):
        OffsetJournal.decode(data)
