"""Config problems as data: where (file, line, column, key path), what, and how to fix it.

Every stage of loading (YAML parsing, schema validation, semantic checks, included files) reports
``ConfigIssue`` values instead of raising on the first problem, so ``hopwatch validate`` can show a
user everything wrong with a file in one run. ``ConfigError`` is only the envelope ``load_config``
raises once all issues are known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

KeyPath = tuple[str | int, ...]
"""A location inside a YAML document: mapping keys and sequence indexes, outermost first."""

Severity = Literal["error", "warning"]


def format_key_path(path: KeyPath) -> str:
    """``("pipelines", 0, "edges", 2, "to")`` → ``pipelines[0].edges[2].to``, as users write it."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


_PATH_PART = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


def parse_key_path(text: str) -> KeyPath:
    """``pipelines[0].edges[2].to`` → ``("pipelines", 0, "edges", 2, "to")``: the inverse of
    ``format_key_path``, for reading the path of an issue back."""
    return tuple(int(i) if i else name for i, name in _PATH_PART.findall(text))


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in one file. ``line`` and ``col`` are 1-based; ``line`` 0 means the
    path as a whole (a directory with nothing to check), shown without a position.

    Warnings never stop hopwatch from starting; they flag config that is valid but almost certainly
    not what the author meant (a filter on an attribute the pipeline drops).
    """

    file: str
    line: int
    col: int
    path: str
    message: str
    hint: str | None = None
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[str, int, int]:
        return (self.file, self.line, self.col)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: " if self.line else f"{self.file}: "
        # A problem with the file as a whole (a YAML syntax error) has no key path to show.
        if self.path:
            where += f"{self.path}: "
        if self.severity == "warning":
            where += "warning: "
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class ConfigError(Exception):
    """Raised by ``load_config`` when a config has at least one error; carries every issue found."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: tuple[ConfigIssue, ...] = tuple(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


class IssueCollector:
    """Collects the issues of one file, placing each at its key's YAML position (or ``at``).

    The semantic checks of every kind of file (SLO groups, checks, the main config) report
    through one of these, so every error has the same ``file:line:col: key.path`` shape.
    """

    def __init__(self, file: str, positions: Any) -> None:
        self.file = file
        self.pos = positions
        self.items: list[ConfigIssue] = []

    def add(
        self,
        path: KeyPath,
        message: str,
        hint: str | None = None,
        *,
        at: tuple[int, int] | None = None,
        severity: Severity = "error",
    ) -> None:
        line, col = at or self.pos.of(path)
        self.items.append(
            ConfigIssue(self.file, line, col, format_key_path(path), message, hint, severity)
        )
