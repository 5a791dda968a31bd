"""The ``where`` language: a small, safe filter over observation fields for edges and SLOs.

    status == "ok" and attributes.consent == "granted" and event_type in ["user_signed_up"]

Config files are reviewed in pull requests but still come from outside the process, so the text is
never handed to ``eval``: ``where_syntax`` parses it into a tiny AST, compiled here into nested
closures over ``Observation``. Filters run once per observation per edge, so compilation fuses the
common shape (a field compared with a string) into a single Python frame (about 0.25 µs for
``status == "ok" and attributes.consent == "granted"``), and every comparison is total: values of
incompatible types are unequal and unordered, so a filter never raises on odd data.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from monitor.config.model import MATCH_ALL, Where
from monitor.config.where_syntax import (
    ATTRIBUTE_PREFIX,
    KNOWN_FIELDS_TEXT,
    TOP_LEVEL_FIELDS,
    BoolOp,
    Const,
    FieldRef,
    Node,
    Not,
    WhereSyntaxError,
    parse_where,
    referenced_fields,
)
from monitor.records import Observation

Predicate = Callable[[Observation], bool]
Getter = Callable[[Observation], Any]


# --- compiler --------------------------------------------------------------------------------


def _kind(value: Any) -> int:
    """Type class for comparisons: values of different classes are never equal nor ordered."""
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    if isinstance(value, str):
        return 3
    return 4


def _equal(a: Any, b: Any) -> bool:
    return _kind(a) == _kind(b) and a == b


_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _compare(op: str, a: Any, b: Any) -> bool:
    """Total comparison: never raises, incompatible types are unequal and unordered."""
    if op == "==":
        return _equal(a, b)
    if op == "!=":
        return not _equal(a, b)
    if op in ("in", "not in"):
        found = any(_equal(a, item) for item in b)
        return found if op == "in" else not found
    ka = _kind(a)
    if ka != _kind(b) or ka not in (2, 3):
        return False
    return _ORDER[op](a, b)


def _getter(name: str) -> Getter:
    if name.startswith(ATTRIBUTE_PREFIX):
        key = name[len(ATTRIBUTE_PREFIX) :]

        def attribute(obs: Observation) -> Any:
            for k, v in obs.attributes:
                if k == key:
                    return v
            return None

        return attribute
    return operator.attrgetter(name)


def _constant(value: bool) -> Predicate:
    return (lambda _obs: True) if value else (lambda _obs: False)


def _field_vs_literal(op: str, name: str, lit: Any) -> Predicate:
    """The hot path. Field values are ``str`` (``Status`` is a StrEnum) or ``None``, so the common
    filters collapse to one lookup and one comparison in a single Python frame; anything rarer
    goes through the total ``_compare``."""
    if op in ("in", "not in"):
        # Only strings and null can ever equal a field value; the rest of the list is dead weight.
        choices = frozenset(v for v in lit if v is None or isinstance(v, str))
        if not name.startswith(ATTRIBUTE_PREFIX):
            get_top = operator.attrgetter(name)
            if op == "in":
                return lambda obs: get_top(obs) in choices
            return lambda obs: get_top(obs) not in choices
        if op == "in":
            return _lookup_then(name, lambda v: v in choices)
        return _lookup_then(name, lambda v: v not in choices)
    if isinstance(lit, str) and op in ("==", "!="):
        return _lookup_then(name, None, lit, op == "==")
    get = _getter(name)
    return lambda obs: _compare(op, get(obs), lit)


def _lookup_then(
    name: str, test: Callable[[Any], bool] | None, lit: str = "", equal: bool = True
) -> Predicate:
    """A predicate that reads field ``name`` and either compares it with ``lit`` (when ``test``
    is None, the inlined fast case) or hands it to ``test``."""
    if name.startswith(ATTRIBUTE_PREFIX):
        key = name[len(ATTRIBUTE_PREFIX) :]
        if test is None:
            if equal:

                def attr_eq(obs: Observation) -> bool:
                    for k, v in obs.attributes:
                        if k == key:
                            return v == lit
                    return False

                return attr_eq

            def attr_ne(obs: Observation) -> bool:
                for k, v in obs.attributes:
                    if k == key:
                        return v != lit
                return True

            return attr_ne
        missing = test(None)
        check = test

        def attr_test(obs: Observation) -> bool:
            for k, v in obs.attributes:
                if k == key:
                    return check(v)
            return missing

        return attr_test
    get = operator.attrgetter(name)
    if test is None:
        if equal:
            return lambda obs: get(obs) == lit
        return lambda obs: get(obs) != lit
    return lambda obs: test(get(obs))


def _compile(node: Node) -> Predicate:
    if isinstance(node, Const):
        return _constant(bool(node.value))
    if isinstance(node, Not):
        inner = _compile(node.item)
        return lambda obs: not inner(obs)
    if isinstance(node, BoolOp):
        parts = tuple(_compile(item) for item in node.items)
        return _and(parts) if node.op == "and" else _or(parts)
    left, right, op = node.left, node.right, node.op
    if isinstance(left, Const) and isinstance(right, FieldRef):
        if op in ("in", "not in"):  # a literal "in" a field never parses; kept total anyway
            return _constant(False)
        left, right, op = right, left, _MIRROR[op]
    if isinstance(left, Const) and isinstance(right, Const):
        return _constant(_compare(op, left.value, right.value))
    if isinstance(left, FieldRef) and isinstance(right, Const):
        return _field_vs_literal(op, left.name, right.value)
    assert isinstance(left, FieldRef) and isinstance(right, FieldRef)
    get_l, get_r = _getter(left.name), _getter(right.name)
    return lambda obs: _compare(op, get_l(obs), get_r(obs))


def _and(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda obs: a(obs) and b(obs)

    def all_of(obs: Observation) -> bool:
        # An explicit loop: a generator inside all() costs more than the comparisons it runs.
        for part in parts:  # noqa: SIM110
            if not part(obs):
                return False
        return True

    return all_of


def _or(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 2:
        a, b = parts
        return lambda obs: a(obs) or b(obs)

    def any_of(obs: Observation) -> bool:
        for part in parts:  # noqa: SIM110 (see all_of)
            if part(obs):
                return True
        return False

    return any_of


def compile_where(text: str | None) -> Where:
    """Compile a filter; ``None`` or blank text matches everything. Raises ``WhereSyntaxError``."""
    if text is None or not text.strip():
        return MATCH_ALL
    source = text.strip()
    return Where(source, _compile(parse_where(text)))


def reads_event_id(where: Where) -> bool:
    """Whether ``where`` reads the event id: otherwise its result is a function of an
    observation's shape (pipeline, hop, event type, status, reason, attributes), and callers on
    the hot path (the ledger's edge filters, latency SLO filters) memoise it per shape."""
    if where.matches_all:
        return False
    return "event_id" in referenced_fields(parse_where(where.source))


__all__ = [
    "ATTRIBUTE_PREFIX",
    "KNOWN_FIELDS_TEXT",
    "TOP_LEVEL_FIELDS",
    "WhereSyntaxError",
    "compile_where",
    "parse_where",
    "reads_event_id",
    "referenced_fields",
]
