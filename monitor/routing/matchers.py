"""Alertmanager's matcher strings, parsed exactly as Alertmanager 0.25 parses them.

A routing file must mean in hopwatch what it means in Alertmanager, so this is a line-by-line
reading of ``pkg/labels/parse.go``: ``ParseMatchers`` splits a list entry such as
``{severity="page", team=~"growth|data"}`` at commas outside quotes, and ``ParseMatcher`` reads
one ``name op value`` with an optional double-quoted value (``\\"``, ``\\\\`` and ``\\n`` are
escapes, any other backslash is literal). Regular expressions are Go RE2 anchored at both ends,
so constructs Python has and RE2 lacks (lookaround, backreferences) are refused: Alertmanager
would refuse the file.

The parsers raise ``MatcherError`` with a message fit for a config error (``message; fix``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import re2

from monitor.routing.model import Matcher, MatchOp
from monitor.routing.regex import compile_anchored

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""Prometheus label names (``model.LabelNameRE``): legacy ``match`` keys, ``group_by``, ``equal``."""

_MATCHER = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*(.*?)\s*$", re.DOTALL)
"""Alertmanager's matcher regexp; ``=~`` comes before ``=`` so the ``~`` is not read as value."""

_NOT_RE2 = re.compile(r"\(\?<?[=!]|\(\?>|\(\?P=|\\[1-9]|(?<!\\)[*+?}]\+")
"""Python regex features RE2 (Go's regexp) does not have: lookaround, atomic groups, backrefs,
possessive quantifiers."""

_OP_ORDER = {MatchOp.EQ: 0, MatchOp.NE: 1, MatchOp.RE: 2, MatchOp.NRE: 3}


class MatcherError(ValueError):
    """A matcher string Alertmanager would refuse; ``str()`` is ``message; how to fix``."""


def split_matchers(text: str) -> list[str]:
    """The single matchers of one list entry: braces dropped, split at commas outside quotes."""
    text = text.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    quoted = escaped = False
    for char in text:
        if char == "," and not quoted:
            tokens.append("".join(token))
            token = []
            continue
        if char == '"':
            if escaped:
                escaped = False
            else:
                quoted = not quoted
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(char)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return tokens


def _unescape(raw: str, shown: str) -> str:
    """The value of a matcher: outer double quotes removed, escapes resolved as Alertmanager does."""
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    out: list[str] = []
    escaped = False
    for i, char in enumerate(raw):
        if escaped:
            escaped = False
            out.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\":
            if i < len(raw) - 1:
                escaped = True
            else:
                out.append("\\")
        elif char == '"':
            if not quoted or i < len(raw) - 1:
                raise MatcherError(
                    f"matcher value contains unescaped double quote: {shown}; "
                    'write \\" for a quote inside the value'
                )
            quoted = False
        else:
            out.append(char)
    if quoted:
        raise MatcherError(
            f"matcher value contains unescaped double quote: {shown}; close the quoted value"
        )
    return "".join(out)


def check_regex(value: str) -> None:
    """Raise ``MatcherError`` unless ``value`` compiles as an anchored RE2 expression."""
    if _NOT_RE2.search(value):
        raise MatcherError(
            f"invalid regular expression {value!r}: lookaround, atomic groups, "
            "backreferences and possessive quantifiers are not RE2; Alertmanager's regular expressions are Go RE2"
        )
    try:
        compile_anchored(value)
    except re2.error as err:
        raw = err.args[0] if err.args else b""
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
        reason = text.split(": ", 1)[0]  # RE2 appends the anchored pattern: noise here
        raise MatcherError(
            f"invalid regular expression {value!r}: {reason} (Alertmanager's regular expressions "
            "are Go RE2)"
        ) from None


def parse_matcher(text: str) -> Matcher:
    """One ``name op value``, as Alertmanager's ``ParseMatcher`` (and ``amtool``'s labels) read it."""
    found = _MATCHER.match(text)
    if found is None:
        raise MatcherError(
            f"bad matcher format: {text}; write name=value, name!=value, name=~regex or "
            'name!~regex, e.g. severity="page"'
        )
    name, op, raw = found.groups()
    value = _unescape(raw, raw)
    matcher = Matcher(name, MatchOp(op), value)
    if matcher.op in (MatchOp.RE, MatchOp.NRE):
        check_regex(value)
    return matcher


def parse_matchers(text: str) -> list[Matcher]:
    """Every matcher of one ``matchers:`` list entry (``ParseMatchers``)."""
    return [parse_matcher(token) for token in split_matchers(text)]


def legacy_matchers(equal: Mapping[str, str], regex: Mapping[str, str]) -> list[Matcher]:
    """``match`` / ``match_re`` maps as matchers. Alertmanager keeps a ``match_re`` value in its
    anchored form (``^(?:v)$``), which shows in ``amtool config routes`` and in route keys."""
    out = [Matcher(name, MatchOp.EQ, value) for name, value in equal.items()]
    out.extend(Matcher(name, MatchOp.RE, f"^(?:{value})$") for name, value in regex.items())
    return out


def sort_matchers(matchers: Iterable[Matcher]) -> tuple[Matcher, ...]:
    """Alertmanager's order (``Matchers.Less``): by name, then value, then operator. Route keys
    and ``amtool config routes`` output depend on it."""
    return tuple(sorted(matchers, key=lambda m: (m.name, m.value, _OP_ORDER[m.op])))


def format_matchers(matchers: Iterable[Matcher]) -> str:
    """``{a="1",b=~"x"}``, Alertmanager's ``Matchers.String()``."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


__all__ = [
    "LABEL_NAME",
    "MatcherError",
    "check_regex",
    "format_matchers",
    "legacy_matchers",
    "parse_matcher",
    "parse_matchers",
    "sort_matchers",
    "split_matchers",
]
