"""YAML loading that remembers where every key came from.

``yaml.safe_load`` throws away positions and silently keeps the last of two duplicate keys; both
make config errors hard to act on. Here the document is composed into PyYAML nodes (safe tags only)
and walked by hand, so each key path gets its line and column and duplicate keys become issues.
Mapping keys are kept as written (``on:`` stays ``"on"``, not YAML 1.1's ``True``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from monitor.config.errors import ConfigIssue, KeyPath, format_key_path

Position = tuple[int, int]
"""1-based (line, column)."""


@dataclass(frozen=True)
class ScalarPosition:
    """Where a scalar value starts, and its style (``'``, ``"``, ``|``, ``>`` or ``None`` for plain).

    Quoted scalars start one column before their text; the loader needs that to point into a
    ``where`` expression precisely.
    """

    line: int
    col: int
    style: str | None
    multiline: bool

    def column_of(self, offset: int) -> Position:
        """Position of character ``offset`` (0-based) of the scalar's text, when it can be known."""
        if self.style in ("|", ">") or self.multiline:
            return (self.line, self.col)
        lead = 1 if self.style in ("'", '"') else 0
        return (self.line, self.col + lead + offset)


@dataclass(frozen=True)
class Positions:
    """Key path → position. ``keys`` holds where a mapping key (or a sequence item) starts;
    ``values`` where a scalar value starts. ``()`` is the document itself."""

    keys: dict[KeyPath, Position] = field(default_factory=dict)
    values: dict[KeyPath, ScalarPosition] = field(default_factory=dict)

    def of(self, path: KeyPath) -> Position:
        """Position of ``path``, or of its nearest ancestor that exists in the document."""
        for end in range(len(path), -1, -1):
            pos = self.keys.get(path[:end])
            if pos is not None:
                return pos
        return (1, 1)

    def value_of(self, path: KeyPath) -> ScalarPosition | None:
        return self.values.get(path)


@dataclass(frozen=True)
class YamlDocument:
    """Plain data (dicts, lists, scalars), its positions, and problems found while reading it.

    ``readable`` is False when the file could not be read or parsed at all (``data`` is then
    meaningless); duplicate keys leave it True so later passes still report what they find."""

    data: Any
    positions: Positions
    issues: tuple[ConfigIssue, ...] = ()
    readable: bool = True


def _mark(node: yaml.Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


MAX_ALIASES = 100
"""Alias uses (``*name``) allowed in one file; a config needs a handful at most."""
MAX_ALIAS_VALUES = 10_000
"""Values the aliases of one file may stand for in total, nested aliases multiplied out."""
MAX_DEPTH = 100
"""Nesting of mappings and lists; deeper documents would exhaust the composer's recursion."""


class _Refused(yaml.YAMLError):
    """A document that is valid YAML but would take forever (or crash) to turn into data."""

    def __init__(self, mark: Any, message: str, hint: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message
        self.hint = hint

    def issue(self, file: str) -> ConfigIssue:
        return ConfigIssue(
            file, self.mark.line + 1, self.mark.column + 1, "", self.message, self.hint
        )


class _GuardedLoader(yaml.SafeLoader):
    """``SafeLoader`` whose composer refuses hostile documents before anything walks them.

    PyYAML composes an alias as a second reference to its anchor's node, so ``&x [*x]`` becomes a
    node that contains itself, and nine levels of ten aliases each (a "billion laughs" document)
    a tiny graph that stands for 10⁹ values. The walker turns that graph into plain data, so it
    must only ever see a finite tree of reasonable size: recursive aliases, more than
    ``MAX_ALIASES`` alias uses, aliases standing for more than ``MAX_ALIAS_VALUES`` values and
    nesting deeper than ``MAX_DEPTH`` are refused, at the alias or value that crosses the line.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._open: set[str] = set()  # anchors whose value is still being composed
        self._sizes: dict[int, int] = {}  # id(node) → values it stands for, aliases expanded
        self._aliases = 0
        self._alias_values = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event, parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                event.start_mark,
                f"values nest more than {MAX_DEPTH} levels deep",
                "a hopwatch file nests a few levels; check for runaway brackets",
            )
        anchor = event.anchor
        if anchor is not None:
            self._open.add(anchor)
        node = super().compose_node(parent, index)
        assert node is not None  # a peeked event always composes a node
        if anchor is not None:
            self._open.discard(anchor)
        self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(item)] for item in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node

    def _alias(self, event: yaml.AliasEvent, parent: yaml.Node | None, index: Any) -> yaml.Node:
        anchor = event.anchor
        if anchor in self._open:
            raise _Refused(
                event.start_mark,
                f"alias *{anchor} is inside the value of its own anchor &{anchor}, "
                "so it would repeat forever",
                "an alias can only repeat a value that ends before it",
            )
        node = super().compose_node(parent, index)  # an undefined alias is a syntax error there
        assert node is not None
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise _Refused(
                event.start_mark,
                f"more than {MAX_ALIASES} aliases in one file",
                "write the values out; hopwatch limits aliases to stay safe from alias bombs",
            )
        self._alias_values += self._sizes[id(node)]
        if self._alias_values > MAX_ALIAS_VALUES:
            raise _Refused(
                event.start_mark,
                f"with alias *{anchor}, the aliases of this file stand for "
                f"{self._alias_values} values, more than the {MAX_ALIAS_VALUES} allowed",
                "aliases of values that hold aliases multiply; write the values out",
            )
        return node


class _Walker:
    """Turns a node tree into plain data, recording positions and duplicate keys on the way."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions = Positions()
        self.issues: list[ConfigIssue] = []

    def walk(self, node: yaml.Node, path: KeyPath) -> Any:
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            out = []
            for i, item in enumerate(node.value):
                self.positions.keys[(*path, i)] = _mark(item)
                out.append(self.walk(item, (*path, i)))
            return out
        line, col = _mark(node)
        multiline = node.end_mark.line != node.start_mark.line
        style = getattr(
            node, "style", None
        )  # scalars have one; PyYAML's stubs put it on subclasses
        self.positions.values[path] = ScalarPosition(line, col, style, multiline)
        return self.loader.construct_object(node, deep=True)

    def _mapping(self, node: yaml.MappingNode, path: KeyPath) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, Position] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                line, col = _mark(key_node)
                self.issues.append(
                    ConfigIssue(
                        self.file,
                        line,
                        col,
                        format_key_path(path),
                        "a mapping key must be a plain string",
                    )
                )
                continue
            key = str(key_node.value)
            pos = _mark(key_node)
            if key in first_seen:
                self.issues.append(
                    ConfigIssue(
                        self.file,
                        pos[0],
                        pos[1],
                        format_key_path((*path, key)),
                        f"duplicate key {key!r}; first defined at line {first_seen[key][0]}",
                        "YAML keeps only the last value, so remove one of them",
                    )
                )
            else:
                first_seen[key] = pos
            self.positions.keys[(*path, key)] = pos
            out[key] = self.walk(value_node, (*path, key))
        return out


def _syntax_issue(file: str, exc: yaml.YAMLError) -> ConfigIssue:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    problem = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    message = (
        f"YAML syntax error: {context}, {problem}" if context else f"YAML syntax error: {problem}"
    )
    if "\\t" in problem or "\t" in problem:
        hint = "YAML does not allow tabs for indentation; use spaces"
    elif "expected a single document" in problem:
        hint = "a config file holds one document; remove the extra '---'"
    else:
        hint = "check the indentation, and quote values that contain ': ' or start with [ { * & ! | > % @"
    return ConfigIssue(file, line, col, "", message, hint)


def load_yaml_text(text: str, file: str) -> YamlDocument:
    """Parse ``text`` (named ``file`` in issues). Never raises for bad YAML; returns issues."""
    loader = _GuardedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(None, Positions({(): (1, 1)}))
        walker = _Walker(loader, file)
        walker.positions.keys[()] = _mark(node)
        data = walker.walk(node, ())
        return YamlDocument(data, walker.positions, tuple(walker.issues))
    except _Refused as exc:
        return YamlDocument(None, Positions({(): (1, 1)}), (exc.issue(file),), False)
    except yaml.YAMLError as exc:
        return YamlDocument(None, Positions({(): (1, 1)}), (_syntax_issue(file, exc),), False)
    finally:
        loader.dispose()


def load_yaml(path: Path) -> YamlDocument:
    """Read and parse a file; an unreadable file is an issue too, so callers handle one shape."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        issue = ConfigIssue(file, 1, 1, "", f"cannot read file: {reason}")
        return YamlDocument(None, Positions({(): (1, 1)}), (issue,), False)
    return load_yaml_text(text, file)
