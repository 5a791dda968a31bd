"""Syntax of the ``where`` language: tokenizer, recursive-descent parser and the AST they build.

Kept apart from evaluation (``where.py``) because the loader also parses filters to see which
fields they read, and because nothing here may ever execute anything: text becomes data only.

Grammar (loosest binding first)::

    expr       := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := "(" expr ")" | "true" | "false" | operand OP operand | operand ["not"] "in" list
    operand    := FIELD | STRING | NUMBER | "true" | "false" | "null" | list
    list       := "[" [literal ("," literal)* [","]] "]"
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

TOP_LEVEL_FIELDS = ("event_id", "event_type", "hop", "pipeline", "reason", "status")
ATTRIBUTE_PREFIX = "attributes."
KNOWN_FIELDS_TEXT = ", ".join((*TOP_LEVEL_FIELDS, "attributes.KEY"))


class WhereSyntaxError(ValueError):
    """A ``where`` expression that cannot be compiled. ``column`` is 1-based into the expression."""

    def __init__(self, message: str, column: int, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.hint = hint

    def __str__(self) -> str:
        hint = f" ({self.hint})" if self.hint else ""
        return f"column {self.column}: {self.message}{hint}"


# --- AST -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldRef:
    name: str
    column: int


@dataclass(frozen=True)
class Const:
    """A literal; lists are tuples so the tree stays hashable and immutable."""

    value: Any


@dataclass(frozen=True)
class Compare:
    op: str
    left: FieldRef | Const
    right: FieldRef | Const


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Compare | BoolOp | Not | Const

# --- tokenizer -------------------------------------------------------------------------------

_KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false", "null"})
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_\-]*)*")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")
_OPERATORS = ("==", "!=", "<=", ">=", "<", ">")
_PUNCT = {"(": "lparen", ")": "rparen", "[": "lbrack", "]": "rbrack", ",": "comma"}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t"}
_MISTAKES = {
    "=": "use '==' to compare",
    "&": "use 'and'",
    "|": "use 'or'",
    "!": "use 'not' or '!='",
}


@dataclass(frozen=True)
class _Token:
    kind: str  # ident, kw, str, num, op, lparen, rparen, lbrack, rbrack, comma, end
    value: Any
    column: int
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        col = i + 1
        if ch.isspace():
            i += 1
            continue
        if ch in ("'", '"'):
            i, value = _scan_string(text, i)
            tokens.append(_Token("str", value, col, text[col - 1 : i]))
            continue
        op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
        if op is not None:
            tokens.append(_Token("op", op, col, op))
            i += len(op)
            continue
        if ch in _PUNCT:
            tokens.append(_Token(_PUNCT[ch], ch, col, ch))
            i += 1
            continue
        if m := _NUMBER.match(text, i):
            literal = m.group()
            is_float = any(c in literal for c in ".eE")
            tokens.append(_Token("num", float(literal) if is_float else int(literal), col, literal))
            i = m.end()
            continue
        if m := _IDENT.match(text, i):
            word = m.group()
            kind = "kw" if word in _KEYWORDS else "ident"
            tokens.append(_Token(kind, word, col, word))
            i = m.end()
            continue
        raise WhereSyntaxError(f"unexpected character {ch!r}", col, _MISTAKES.get(ch))
    tokens.append(_Token("end", None, n + 1, "end of expression"))
    return tokens


def _scan_string(text: str, start: int) -> tuple[int, str]:
    quote = text[start]
    out: list[str] = []
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == quote:
            return i + 1, "".join(out)
        if ch == "\\":
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if nxt not in _ESCAPES:
                raise WhereSyntaxError(
                    f"unknown escape '\\{nxt}' in string",
                    i + 1,
                    "known escapes: \\\\ \\' \\\" \\n \\t",
                )
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise WhereSyntaxError("unterminated string", start + 1, f"close it with {quote}")


# --- parser ----------------------------------------------------------------------------------

_LITERAL_KEYWORDS: dict[str, Any] = {"true": True, "false": False, "null": None}

MAX_DEPTH = 50
"""Nested ``not``s and parentheses allowed in one expression; the parser (and the compiler after
it) recurse once per level, so without a cap a hostile filter would exhaust the stack."""


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.pos = 0
        self.depth = 0

    def peek(self, offset: int = 0) -> _Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def at_kw(self, word: str, offset: int = 0) -> bool:
        tok = self.peek(offset)
        return tok.kind == "kw" and tok.value == word

    def fail(self, tok: _Token, message: str, hint: str | None = None) -> WhereSyntaxError:
        return WhereSyntaxError(message, tok.column, hint)

    def descend(self, tok: _Token) -> None:
        """One level deeper (at a ``not`` or a ``(``); refuses to go past ``MAX_DEPTH``."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                tok,
                f"expression nests more than {MAX_DEPTH} levels deep",
                "remove redundant parentheses and double negations",
            )

    def parse(self) -> Node:
        node = self.parse_or()
        tok = self.peek()
        if tok.kind != "end":
            hint = "join conditions with 'and' or 'or'" if tok.kind != "rparen" else None
            raise self.fail(tok, f"unexpected {_describe(tok)}", hint)
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while self.at_kw("or"):
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_not()]
        while self.at_kw("and"):
            self.take()
            items.append(self.parse_not())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def parse_not(self) -> Node:
        if self.at_kw("not"):
            self.descend(self.take())
            node = Not(self.parse_not())
            self.depth -= 1
            return node
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        tok = self.peek()
        if tok.kind == "lparen":
            self.descend(self.take())
            inner = self.parse_or()
            close = self.peek()
            if close.kind != "rparen":
                raise self.fail(
                    close,
                    f"expected ')' but found {_describe(close)}",
                    f"to close the '(' at column {tok.column}",
                )
            self.take()
            self.depth -= 1
            return inner
        left = self.parse_operand()
        op = self._comparison_operator()
        if op is None:
            if isinstance(left, Const) and isinstance(left.value, bool):
                return left
            nxt = self.peek()
            raise self.fail(
                nxt,
                f"expected a comparison operator after {tok.text!r} but found {_describe(nxt)}",
                "use ==, !=, <, <=, >, >=, in or not in",
            )
        right_tok = self.peek()
        right = self.parse_operand()
        if op in ("in", "not in") and not (
            isinstance(right, Const) and isinstance(right.value, tuple)
        ):
            raise self.fail(right_tok, f"expected a list after '{op}'", 'write ["a", "b"]')
        nxt = self.peek()
        if nxt.kind == "op" or self.at_kw("in"):
            raise self.fail(nxt, "comparisons cannot be chained", "join them with 'and'")
        return Compare(op, left, right)

    def _comparison_operator(self) -> str | None:
        tok = self.peek()
        if tok.kind == "op":
            self.take()
            return str(tok.value)
        if self.at_kw("in"):
            self.take()
            return "in"
        if self.at_kw("not") and self.at_kw("in", 1):
            self.take()
            self.take()
            return "not in"
        return None

    def parse_operand(self) -> FieldRef | Const:
        tok = self.peek()
        if tok.kind == "ident":
            self.take()
            return FieldRef(_check_field(tok), tok.column)
        if tok.kind == "lbrack":
            return Const(self.parse_list())
        return Const(self.parse_literal())

    def parse_literal(self) -> Any:
        tok = self.peek()
        if tok.kind in ("str", "num"):
            self.take()
            return tok.value
        if tok.kind == "kw" and tok.value in _LITERAL_KEYWORDS:
            self.take()
            return _LITERAL_KEYWORDS[tok.value]
        raise self.fail(tok, f"expected a field or a value but found {_describe(tok)}")

    def parse_list(self) -> tuple[Any, ...]:
        self.take()  # "["
        items: list[Any] = []
        while self.peek().kind != "rbrack":
            if self.peek().kind == "ident":
                raise self.fail(self.peek(), "a list can hold only literal values", "quote strings")
            items.append(self.parse_literal())
            tok = self.peek()
            if tok.kind == "comma":
                self.take()
            elif tok.kind != "rbrack":
                raise self.fail(tok, f"expected ',' or ']' but found {_describe(tok)}")
        self.take()  # "]"
        return tuple(items)


def _describe(tok: _Token) -> str:
    return "end of expression" if tok.kind == "end" else repr(tok.text)


def _check_field(tok: _Token) -> str:
    name = str(tok.value)
    if name in TOP_LEVEL_FIELDS:
        return name
    if name.startswith(ATTRIBUTE_PREFIX) and len(name) > len(ATTRIBUTE_PREFIX):
        return name
    if name in ("True", "False", "None"):
        spelled = {"True": "true", "False": "false", "None": "null"}[name]
        raise WhereSyntaxError(f"unknown field {name!r}", tok.column, f"write {spelled}")
    if name == "attributes":
        raise WhereSyntaxError(
            "'attributes' needs a key", tok.column, "write attributes.KEY, e.g. attributes.region"
        )
    raise WhereSyntaxError(
        f"unknown field {name!r}", tok.column, f"known fields: {KNOWN_FIELDS_TEXT}"
    )


def parse_where(text: str) -> Node:
    """The AST of ``text``; the loader uses it to see which attributes a filter reads."""
    if not text.strip():
        raise WhereSyntaxError("empty expression", 1)
    return _Parser(text).parse()


def referenced_fields(node: Node) -> frozenset[str]:
    """Every field name ``node`` reads (``attributes.KEY`` included as written)."""
    if isinstance(node, Compare):
        return frozenset(
            side.name for side in (node.left, node.right) if isinstance(side, FieldRef)
        )
    if isinstance(node, BoolOp):
        return frozenset().union(*(referenced_fields(item) for item in node.items))
    if isinstance(node, Not):
        return referenced_fields(node.item)
    return frozenset()
