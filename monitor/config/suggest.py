"""Suggestions for a mistyped name: the "did you mean" hints of every kind of config file.

Use ``known_hint`` where a loader checks a name against the names a file or the main config
defines (receivers, pipelines, hops), and ``choice`` as the ``BeforeValidator`` of a spec field that
takes one of a few fixed strings. Unknown keys get their hint in ``document.py`` instead, from the
spec model's own fields.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from typing import Any

from monitor.config.document import type_name
from monitor.config.spec import invalid


def known_hint(value: str, known: Iterable[str], what: str) -> str:
    """``did you mean 'b'? known receivers: a, b`` (or only the list when nothing is close)."""
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    listed = f"known {what}: {', '.join(known) or 'none'}"
    return f"did you mean {close[0]!r}? {listed}" if close else listed


def choice(options: tuple[str, ...], not_one: str, otherwise: str) -> Callable[[Any], str]:
    """A validator taking one of ``options``; anything else is ``<value> is not <not_one>``, with
    the closest option as the hint, or ``otherwise`` when none is close."""

    def check(value: Any) -> str:
        if isinstance(value, str) and value in options:
            return value
        close = difflib.get_close_matches(str(value), options, n=1)
        hint = f"did you mean {close[0]!r}?" if close else otherwise
        shown = repr(value) if isinstance(value, str) else type_name(value)
        raise invalid(f"{shown} is not {not_one}", hint)

    return check


def named_choice(what: str, *options: str) -> Callable[[Any], str]:
    """``choice`` for a kind of value with a name: ``'x' is not a <what>`` (use one of …)."""
    return choice(options, f"a {what}", f"use one of {', '.join(options)}")


__all__ = ["choice", "known_hint", "named_choice"]
