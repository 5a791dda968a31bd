"""Alertmanager's regular expressions: Go RE2, anchored at both ends.

Python's ``re`` differs where real configurations go: ``(?i)`` in the middle of a pattern,
``\\pL``, ``[[:alpha:]]``, ``\\z``, and ``.`` matching a newline under ``DOTALL``. Routing and
silences must match exactly what ``amtool`` and Alertmanager match, so they compile with RE2.
"""

from __future__ import annotations

from typing import Any

import re2


def compile_anchored(value: str) -> Any:
    """``^(?:value)$`` compiled by RE2, the engine of Go's ``regexp`` that Alertmanager uses, so
    ``(?i)``, ``\\pL``, ``[[:alpha:]]`` and ``.`` (no newline) mean what they mean there.
    Raises ``re2.error``; RE2's own stderr logging is off (the caller reports the error)."""
    options = re2.Options()
    options.log_errors = False
    return re2.compile(f"^(?:{value})$", options=options)


__all__ = ["compile_anchored"]
