"""Matcher strings read exactly as Alertmanager 0.25 reads them (``pkg/labels/parse.go``)."""

from __future__ import annotations

import pytest

from monitor.routing.matchers import (
    MatcherError,
    format_matchers,
    legacy_matchers,
    parse_matcher,
    parse_matchers,
    sort_matchers,
)
from monitor.routing.model import Matcher, MatchOp

EQ, NE, RE, NRE = MatchOp.EQ, MatchOp.NE, MatchOp.RE, MatchOp.NRE


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('severity="page"', [Matcher("severity", EQ, "page")]),
        ("severity=page", [Matcher("severity", EQ, "page")]),
        ("  team !~ growth|data  ", [Matcher("team", NRE, "growth|data")]),
        ('{a="1", b!="2"}', [Matcher("a", EQ, "1"), Matcher("b", NE, "2")]),
        ('a=~"x,y",b=2', [Matcher("a", RE, "x,y"), Matcher("b", EQ, "2")]),
        ('a="say \\"hi\\""', [Matcher("a", EQ, 'say "hi"')]),
        ('a="line\\nnext"', [Matcher("a", EQ, "line\nnext")]),
        ('a="C:\\temp"', [Matcher("a", EQ, "C:\\temp")]),
        ("a=ends\\", [Matcher("a", EQ, "ends\\")]),
        ("a=", [Matcher("a", EQ, "")]),
        ("colon:name=x", [Matcher("colon:name", EQ, "x")]),
        ("{}", []),
    ],
    ids=[
        "quoted value",
        "unquoted value",
        "spaces around a negative regex",
        "braces and a comma",
        "a comma inside quotes is part of the value",
        "escaped quotes",
        "an escaped newline",
        "a spurious escape stays a backslash",
        "a trailing backslash is literal",
        "an empty value",
        "colons are allowed in names",
        "empty braces are no matchers",
    ],
)
def test_matcher_strings_parse_as_in_alertmanager(text: str, expected: list[Matcher]) -> None:
    assert parse_matchers(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("severity: page", "bad matcher format: severity: page"),
        ("1abc=x", "bad matcher format: 1abc=x"),
        ('a="open', 'matcher value contains unescaped double quote: "open'),
        ('a=mid"quote', 'matcher value contains unescaped double quote: mid"quote'),
        ('a=~"(x"', "invalid regular expression '(x'"),
        ('a=~"(?=x)"', "invalid regular expression '(?=x)': lookaround"),
        ('a!~"(x)\\\\1"', "invalid regular expression '(x)\\\\1': lookaround"),
    ],
    ids=[
        "no operator",
        "a name starting with a digit",
        "an open quote",
        "a quote inside an unquoted value",
        "an unbalanced regex",
        "lookahead is not RE2",
        "backreferences are not RE2",
    ],
)
def test_what_alertmanager_refuses_is_refused(text: str, message: str) -> None:
    with pytest.raises(MatcherError) as err:
        parse_matcher(text)
    assert str(err.value).startswith(message)


def test_legacy_regexes_keep_alertmanagers_anchored_form() -> None:
    (m,) = legacy_matchers({}, {"hop": "ware.*"})
    assert m == Matcher("hop", RE, "^(?:ware.*)$")
    assert m.matches({"hop": "warehouse"}) and not m.matches({"hop": "xwarehouse"})


def test_matchers_sort_by_name_value_then_operator() -> None:
    ms = [
        Matcher("b", EQ, "1"),
        Matcher("a", NE, "x"),
        Matcher("a", EQ, "x"),
        Matcher("a", EQ, "w"),
    ]
    assert format_matchers(sort_matchers(ms)) == '{a="w",a="x",a!="x",b="1"}'
