"""Silences as Alertmanager defines them: what they mute, when, and which ones are refused."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest

from monitor.routing.model import Matcher, MatchOp
from monitor.routing.silence import (
    RETENTION,
    Silence,
    SilenceBook,
    SilenceError,
    SilenceState,
    UnknownSilence,
    matcher_from_parts,
    parse_silence_matcher,
)

T0 = 1_700_000_000.0
HOUR = 3600.0


def book(**kw) -> SilenceBook:
    counter = itertools.count(1)
    return SilenceBook(new_id=lambda: f"s{next(counter)}", **kw)


def m(text: str) -> Matcher:
    return parse_silence_matcher(text)


def add(b: SilenceBook, *matchers: str, now: float = T0, **kw) -> Silence:
    kw.setdefault("ends_at", now + HOUR)
    kw.setdefault("created_by", "ana")
    kw.setdefault("comment", "deploying the resolver")
    return b.add([m(x) for x in matchers], now=now, **kw)


# --- matcher syntax ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('edge="a->b"', Matcher("edge", MatchOp.EQ, "a->b")),
        ("edge=a->b", Matcher("edge", MatchOp.EQ, "a->b")),
        ('team!="growth"', Matcher("team", MatchOp.NE, "growth")),
        ('hop=~"id.*"', Matcher("hop", MatchOp.RE, "id.*")),
        ("hop!~id.*", Matcher("hop", MatchOp.NRE, "id.*")),
        (' severity = "page" ', Matcher("severity", MatchOp.EQ, "page")),
        ('msg="say \\"hi\\""', Matcher("msg", MatchOp.EQ, 'say "hi"')),
    ],
    ids=[
        "quoted equality",
        "unquoted equality",
        "negated equality",
        "regex",
        "negated regex unquoted",
        "spaces around the operator",
        "escaped quotes in the value",
    ],
)
def test_matcher_strings_parse_as_alertmanager_reads_them(text: str, expected: Matcher) -> None:
    assert parse_silence_matcher(text) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("edge", "bad matcher format"),
        ('hop=~"(unclosed"', "invalid regular expression"),
        ('hop=~"(?=look)"', "RE2"),
        ('a="1",b="2"', "2 matchers, not one"),
    ],
    ids=["no operator", "unbalanced regex", "lookahead is not RE2", "two matchers in one entry"],
)
def test_bad_matcher_strings_are_refused_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(SilenceError) as err:
        parse_silence_matcher(text, "matchers[3]")
    assert err.value.field == "matchers[3]"
    assert words in str(err.value)


def test_api_v2_matcher_objects_map_to_operators() -> None:
    assert [
        matcher_from_parts("a", "x", is_regex=r, is_equal=e)
        for r, e in [(False, True), (False, False), (True, True), (True, False)]
    ] == [
        Matcher("a", MatchOp.EQ, "x"),
        Matcher("a", MatchOp.NE, "x"),
        Matcher("a", MatchOp.RE, "x"),
        Matcher("a", MatchOp.NRE, "x"),
    ]
    with pytest.raises(SilenceError) as err:
        matcher_from_parts("1bad", "x", is_regex=False, is_equal=True, field="matchers[0]")
    assert err.value.field == "matchers[0].name"


# --- state ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "state"),
    [
        (T0 - 1, SilenceState.PENDING),
        (T0, SilenceState.ACTIVE),
        (T0 + HOUR - 0.001, SilenceState.ACTIVE),
        (T0 + HOUR, SilenceState.EXPIRED),
        (T0 + 2 * HOUR, SilenceState.EXPIRED),
    ],
    ids=[
        "before the start it is pending",
        "at the start it is active",
        "just before the end it is active",
        "at the end it is expired",
        "after the end it is expired",
    ],
)
def test_state_follows_the_clock(now: float, state: SilenceState) -> None:
    silence = Silence("s", (m("a=b"),), T0, T0 + HOUR, "ana", "c", T0)
    assert silence.state(now) is state


def test_a_start_in_the_past_becomes_now() -> None:
    s = add(book(), "a=b", starts_at=T0 - HOUR, now=T0)
    assert (s.starts_at, s.ends_at, s.updated_at) == (T0, T0 + HOUR, T0)


def test_a_future_start_is_pending_until_then() -> None:
    b = book()
    s = add(b, "a=b", starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)
    assert s.state(T0) is SilenceState.PENDING
    assert b.muting({"a": "b"}, T0) == ()
    assert b.muting({"a": "b"}, T0 + HOUR) == ("s1",)
    assert b.muting({"a": "b"}, T0 + 2 * HOUR) == ()


def test_expiring_an_active_silence_ends_it_now() -> None:
    b = book()
    add(b, "a=b")
    expired = b.expire("s1", T0 + 60)
    assert (expired.starts_at, expired.ends_at, expired.updated_at) == (T0, T0 + 60, T0 + 60)
    assert expired.state(T0 + 60) is SilenceState.EXPIRED
    assert b.get("s1") == expired
    assert b.muting({"a": "b"}, T0 + 60) == ()


def test_expiring_a_pending_silence_ends_it_before_it_began() -> None:
    b = book()
    add(b, "a=b", starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)
    expired = b.expire("s1", T0)
    assert (expired.starts_at, expired.ends_at) == (T0, T0)
    assert b.muting({"a": "b"}, T0 + HOUR) == ()


def test_expiring_an_expired_silence_changes_nothing() -> None:
    b = book()
    add(b, "a=b")
    first = b.expire("s1", T0 + 60)
    assert b.expire("s1", T0 + 120) == first


def test_expiring_an_unknown_silence_raises() -> None:
    with pytest.raises(UnknownSilence):
        book().expire("nope", T0)


def test_expired_silences_are_kept_five_days_then_collected() -> None:
    b = book()
    add(b, "a=b")
    add(b, "a=c", ends_at=T0 + 2 * HOUR)
    b.expire("s1", T0 + 60)
    assert b.gc(T0 + 60 + RETENTION - 1) == ()
    assert b.gc(T0 + 60 + RETENTION) == ("s1",)
    assert [s.id for s in b.list(T0 + 60 + RETENTION)] == ["s2"]
    with pytest.raises(UnknownSilence):
        b.get("s1")


def test_list_orders_active_then_pending_then_expired_and_filters_by_state() -> None:
    b = book()
    add(b, "a=1", ends_at=T0 + 3 * HOUR)  # s1 active
    add(b, "a=2", starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)  # s2 pending
    add(b, "a=3", ends_at=T0 + 2 * HOUR)  # s3 active, ends earlier than s1
    add(b, "a=4")
    b.expire("s4", T0)  # s4 expired
    assert [s.id for s in b.list(T0)] == ["s3", "s1", "s2", "s4"]
    assert [s.id for s in b.list(T0, [SilenceState.ACTIVE])] == ["s3", "s1"]
    assert [s.id for s in b.list(T0, [SilenceState.EXPIRED, SilenceState.PENDING])] == [
        "s2",
        "s4",
    ]


# --- what a silence mutes ---------------------------------------------------------------------

ALERT = {"alertname": "EdgeLoss", "edge": "identity->activation", "severity": "page"}


@pytest.mark.parametrize(
    ("matchers", "labels", "muted"),
    [
        (['edge="identity->activation"'], ALERT, True),
        (['edge="identity"'], ALERT, False),
        (['edge=~"identity"'], ALERT, False),
        (['edge=~"identity.*"'], ALERT, True),
        (['edge=~".*activation"'], ALERT, True),
        (['edge=~"dentity->activatio"'], ALERT, False),
        (['edge=~"a|identity->activation"'], ALERT, True),
        (['alertname="EdgeLoss"', 'severity!="page"'], ALERT, False),
        (['alertname="EdgeLoss"', 'severity!="ticket"'], ALERT, True),
        (['alertname="EdgeLoss"', 'severity!~"pa.*"'], ALERT, False),
        (['alertname="EdgeLoss"', 'team="growth"'], ALERT, False),
        (['alertname="EdgeLoss"', 'team!="growth"'], ALERT, True),
        (['alertname="EdgeLoss"', 'team=""'], ALERT, True),
        (['alertname="EdgeLoss"', 'team=~"growth|"'], ALERT, True),
        (['alertname="EdgeLoss"', 'edge="identity->activation"'], ALERT, True),
        (['alertname="EdgeLoss"', 'edge="sdk->edge"'], ALERT, False),
    ],
    ids=[
        "equal value mutes",
        "a prefix is not equal",
        "a regex is anchored at the start and end",
        "a regex matching the whole value mutes",
        "a regex may match from the start",
        "a regex matching inside the value does not mute",
        "alternation is inside the anchors",
        "not-equal to the value does not mute",
        "not-equal to another value mutes",
        "negated regex matching the value does not mute",
        "a missing label is not equal to a value",
        "a missing label is not equal to a value, so != mutes",
        "a missing label equals the empty string",
        "a missing label matches a regex that accepts empty",
        "every matcher matching mutes",
        "one matcher failing does not mute",
    ],
)
def test_a_silence_mutes_exactly_the_alerts_all_its_matchers_match(
    matchers: list[str], labels: dict[str, str], muted: bool
) -> None:
    b = book()
    add(b, *matchers)
    assert b.muting(labels, T0 + 1) == (("s1",) if muted else ())


def test_muting_lists_every_active_matching_silence_sorted() -> None:
    b = book()
    add(b, "severity=page")  # s1
    add(b, "alertname=EdgeLoss")  # s2
    add(b, "alertname=Other")  # s3
    add(b, "severity=page", starts_at=T0 + HOUR, ends_at=T0 + 2 * HOUR)  # s4, pending
    add(b, "edge=~identity.*")  # s5
    b.expire("s5", T0)
    assert b.muting(ALERT, T0) == ("s1", "s2")


# --- refused silences -------------------------------------------------------------------------


def refused(b: SilenceBook, matchers: Iterable[str] = ("a=b",), **kw) -> SilenceError:
    with pytest.raises(SilenceError) as err:
        add(b, *matchers, **kw)
    assert len(b) == 0
    return err.value


@pytest.mark.parametrize(
    ("kw", "field", "words"),
    [
        ({"matchers": ()}, "matchers", "at least one matcher is required"),
        ({"matchers": ['x=~".*"']}, "matchers", "would mute every alert"),
        ({"matchers": ['x!="v"', 'y=""']}, "matchers", "must not match the empty string"),
        ({"matchers": [f"a{i}=v" for i in range(33)]}, "matchers", "at most 32"),
        ({"matchers": ["a=" + "v" * 1025]}, "matchers[0]", "longer than 1024"),
        ({"ends_at": T0 - 1}, "endsAt", "ends before it starts"),
        ({"ends_at": T0}, "endsAt", "ends before it starts"),
        ({"starts_at": T0 + 2 * HOUR}, "endsAt", "ends before it starts"),
        ({"created_by": "  "}, "createdBy", "createdBy is required"),
        ({"comment": ""}, "comment", "comment is required"),
        ({"comment": "x" * 2049}, "comment", "longer than 2048"),
    ],
    ids=[
        "no matchers",
        "a regex matching anything would mute every alert",
        "matchers that all accept a missing label mute every alert",
        "too many matchers",
        "a value too long",
        "an end before the start",
        "an end equal to the start",
        "a start after the end",
        "a blank author",
        "no comment",
        "a comment too long",
    ],
)
def test_invalid_silences_are_refused_naming_the_field(kw: dict, field: str, words: str) -> None:
    matchers = kw.pop("matchers", ("a=b",))
    err = refused(book(), matchers, **kw)
    assert err.field == field
    assert words in str(err)


def test_author_and_comment_are_stripped() -> None:
    s = add(book(), "a=b", created_by=" ana ", comment=" why \n")
    assert (s.created_by, s.comment) == ("ana", "why")


# --- journal ----------------------------------------------------------------------------------


class Journal:
    def __init__(self, fail: bool = False) -> None:
        self.saved: list[Silence] = []
        self.deleted: list[str] = []
        self.fail = fail

    def save(self, silence: Silence) -> None:
        if self.fail:
            raise OSError("disk full")
        self.saved.append(silence)

    def delete(self, ids: Iterable[str]) -> None:
        self.deleted.extend(ids)


def test_every_change_is_written_to_the_journal() -> None:
    journal = Journal()
    b = book(journal=journal)
    created = add(b, "a=b")
    expired = b.expire("s1", T0 + 1)
    b.gc(T0 + 1 + RETENTION)
    assert journal.saved == [created, expired]
    assert journal.deleted == ["s1"]


def test_a_failing_journal_leaves_the_book_unchanged() -> None:
    b = book(journal=Journal(fail=True))
    with pytest.raises(OSError):
        add(b, "a=b")
    assert len(b) == 0


def test_json_round_trip_keeps_every_field() -> None:
    s = add(book(), 'edge=~"a->.*"', 'msg!="say \\"hi\\""', "team!~x|y")
    assert Silence.from_json(s.to_json()) == s
