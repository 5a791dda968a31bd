"""The ``where`` language: what matches, what does not parse, and where the error is."""

from __future__ import annotations

import pytest

from monitor.config.model import MATCH_ALL
from monitor.config.where import WhereSyntaxError, compile_where, parse_where, referenced_fields
from monitor.records import Observation, Status


def _obs(
    status: Status = Status.OK,
    event_type: str = "user_signed_up",
    reason: str | None = None,
    event_id: str | None = "e-1",
    **attributes: str,
) -> Observation:
    return Observation(
        pipeline="signup",
        hop="identity",
        event_type=event_type,
        event_time=1_700_000_000.0,
        observed_time=1_700_000_001.0,
        status=status,
        event_id=event_id,
        reason=reason,
        attributes=tuple(sorted(attributes.items())),
    )


GRANTED = _obs(consent="granted", region="eu")
DENIED = _obs(Status.REJECTED, reason="consent_denied", consent="denied", region="us")
BARE = _obs(event_type="plan_upgraded", event_id=None)

MATCHES = [
    ("a status compared with a string matches", 'status == "ok"', GRANTED, True),
    ("single quotes work like double quotes", "status == 'rejected'", DENIED, True),
    ("an attribute compares by key", 'attributes.consent == "granted"', GRANTED, True),
    ("a missing attribute is null", "attributes.segment == null", GRANTED, True),
    ("a missing attribute is unequal to any string", 'attributes.segment == "b2b"', GRANTED, False),
    ("a missing attribute differs from a string", 'attributes.segment != "b2b"', GRANTED, True),
    ("and needs both sides", 'status == "ok" and attributes.consent == "granted"', GRANTED, True),
    (
        "and fails when one side fails",
        'status == "ok" and attributes.consent == "granted"',
        DENIED,
        False,
    ),
    ("or needs either side", 'status == "ok" or reason == "consent_denied"', DENIED, True),
    ("not negates", 'not status == "ok"', DENIED, True),
    ("in tests membership", 'event_type in ["user_signed_up", "plan_upgraded"]', BARE, True),
    ("not in tests absence", 'attributes.region not in ["eu", "uk"]', DENIED, True),
    ("not in fails for a member", 'attributes.region not in ["eu", "uk"]', GRANTED, False),
    ("an empty list holds nothing", "status in []", GRANTED, False),
    ("a null reason equals null", "reason == null", GRANTED, True),
    ("a set reason is not null", "reason != null", DENIED, True),
    ("a null id equals null", "event_id == null", BARE, True),
    ("strings order lexicographically", 'attributes.region < "f"', GRANTED, True),
    ("a string is never less than a number", "attributes.region < 5", GRANTED, False),
    ("null is never ordered", 'reason >= "a"', GRANTED, False),
    ("a string never equals a number", "attributes.region == 5", GRANTED, False),
    ("a string differs from a number", "attributes.region != 5", GRANTED, True),
    ("a boolean never equals a number", "true == 1", GRANTED, False),
    ("numbers compare across int and float", "1 < 1.5", GRANTED, True),
    ("a literal on the left is mirrored", '"ok" == status', GRANTED, True),
    ("a mirrored ordering flips", '"f" > attributes.region', GRANTED, True),
    ("two fields can be compared", "hop == pipeline", GRANTED, False),
    ("the hop field reads the hop", 'hop == "identity"', GRANTED, True),
    ("true alone matches everything", "true", DENIED, True),
    ("false alone matches nothing", "false", GRANTED, False),
    (
        "and binds tighter than or",
        'status == "ok" or status == "rejected" and false',
        GRANTED,
        True,
    ),
    (
        "parentheses override precedence",
        '(status == "ok" or status == "rejected") and false',
        GRANTED,
        False,
    ),
    (
        "not binds tighter than and",
        'not status == "ok" and reason == "consent_denied"',
        DENIED,
        True,
    ),
    ("not not cancels", 'not not status == "ok"', GRANTED, True),
    (
        "three-way and checks every part",
        'status == "ok" and hop == "identity" and reason == null',
        GRANTED,
        True,
    ),
    (
        "three-way or checks every part",
        'status == "failed" or hop == "sdk" or reason == null',
        GRANTED,
        True,
    ),
    ("escapes inside strings are decoded", 'attributes.region != "e\\"u"', GRANTED, True),
    ("fifty nots are still allowed", "not " * 50 + 'status == "ok"', GRANTED, True),
    (
        "fifty nested parentheses are still allowed",
        "(" * 50 + 'status == "ok"' + ")" * 50,
        GRANTED,
        True,
    ),
]


@pytest.mark.parametrize(
    ("expression", "obs", "expected"),
    [case[1:] for case in MATCHES],
    ids=[case[0] for case in MATCHES],
)
def test_where_matches(expression: str, obs: Observation, expected: bool) -> None:
    result = compile_where(expression)(obs)
    assert result is expected


ERRORS = [
    (
        "python calls are not part of the language",
        '__import__("os")',
        1,
        "unknown field '__import__'",
    ),
    (
        "attribute access on python objects is not a field",
        "status.__class__ == 1",
        1,
        "unknown field 'status.__class__'",
    ),
    ("a single equals sign is rejected", 'status = "ok"', 8, "unexpected character '='"),
    ("an unknown field lists the known ones", 'region == "eu"', 1, "unknown field 'region'"),
    ("a bare attributes needs a key", 'attributes == "x"', 1, "'attributes' needs a key"),
    (
        "a missing right-hand side is reported at the end",
        "status == ",
        11,
        "expected a field or a value but found end of expression",
    ),
    (
        "a trailing and is reported at the end",
        'status == "ok" and',
        19,
        "expected a field or a value but found end of expression",
    ),
    (
        "an unclosed parenthesis is reported at the end",
        '(status == "ok"',
        16,
        "expected ')' but found end of expression",
    ),
    ("an unterminated string points at its quote", 'status == "ok', 11, "unterminated string"),
    (
        "a field without an operator is incomplete",
        "status",
        7,
        "expected a comparison operator after 'status' but found end of expression",
    ),
    ("in needs a list", 'status in "ok"', 11, "expected a list after 'in'"),
    ("comparisons do not chain", "1 < 2 < 3", 7, "comparisons cannot be chained"),
    ("lists hold only literals", "status in [hop]", 12, "a list can hold only literal values"),
    (
        "list items are separated by commas",
        'status in ["a" "b"]',
        16,
        "expected ',' or ']' but found '\"b\"'",
    ),
    ("python booleans are not literals", "True", 1, "unknown field 'True'"),
    ("c-style and is rejected", 'status == "ok" && true', 16, "unexpected character '&'"),
    (
        "leftovers after a complete expression are rejected",
        'status == "ok" reason == null',
        16,
        "unexpected 'reason'",
    ),
    ("an unknown escape is rejected", r'status == "o\k"', 13, "unknown escape '\\k' in string"),
    (
        "a blank expression inside parentheses is rejected",
        "()",
        2,
        "expected a field or a value but found ')'",
    ),
    (
        "3000 nots stop at the 51st",
        "not " * 3000 + 'status == "ok"',
        201,
        "expression nests more than 50 levels deep",
    ),
    (
        "3000 nested parentheses stop at the 51st",
        "(" * 3000 + 'status == "ok"' + ")" * 3000,
        51,
        "expression nests more than 50 levels deep",
    ),
    (
        "nots and parentheses count together",
        "(not " * 26 + 'status == "ok"' + ")" * 26,
        126,
        "expression nests more than 50 levels deep",
    ),
]


@pytest.mark.parametrize(
    ("expression", "column", "message"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_where_syntax_errors(expression: str, column: int, message: str) -> None:
    with pytest.raises(WhereSyntaxError) as info:
        compile_where(expression)
    assert (info.value.column, info.value.message) == (column, message)


@pytest.mark.parametrize("text", [None, "", "   "], ids=["none", "empty", "blank"])
def test_empty_filter_matches_everything(text: str | None) -> None:
    assert compile_where(text) is MATCH_ALL


def test_compiled_filter_keeps_its_source() -> None:
    where = compile_where('  status == "ok"  ')
    assert where.source == 'status == "ok"'
    assert not where.matches_all


def test_referenced_fields_lists_every_field_read() -> None:
    node = parse_where('status == "ok" and (attributes.consent == "granted" or hop == pipeline)')
    assert referenced_fields(node) == {"status", "attributes.consent", "hop", "pipeline"}


def test_syntax_error_text_names_the_column_and_fix() -> None:
    with pytest.raises(WhereSyntaxError) as info:
        compile_where('status = "ok"')
    assert str(info.value) == "column 8: unexpected character '=' (use '==' to compare)"


def test_a_plain_string_status_still_matches() -> None:
    # msgspec does not validate on construction, so a status may arrive as a plain str.
    obs = Observation("p", "h", "t", 0.0, 0.0, status="ok")  # type: ignore[arg-type]
    assert compile_where('status == "ok" and status in ["ok"]')(obs)
