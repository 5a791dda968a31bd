"""Durations in Prometheus syntax and the ``Clock`` protocol that feeds ``now`` into the core.

Pure: the clocks that read the wall clock live in ``monitor.clock``, with the shell.
"""

from __future__ import annotations

import re
from typing import Protocol

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 604800.0,
    "y": 31536000.0,
}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d|w|y)")


def parse_duration(text: str) -> float:
    """Seconds in a Prometheus duration such as ``90s``, ``5m`` or ``1h30m``.

    Raises ValueError with the accepted syntax, so config errors can say how to fix it.
    """
    text = text.strip()
    pos, total = 0, 0.0
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            break
        total += int(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(
            f"{text!r} is not a duration; use a number and a unit (ms, s, m, h, d, w, y), e.g. 90s or 1h30m"
        )
    return total


def format_duration(seconds: float) -> str:
    """The shortest Prometheus duration for whole seconds (``300`` → ``5m``)."""
    s = int(seconds)
    if s == 0:
        return "0s"
    out = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if s >= size:
            out.append(f"{s // size}{unit}")
            s %= size
    return "".join(out)


class Clock(Protocol):
    """Where the daemon gets ``now``; the core never calls ``time.time`` itself."""

    def now(self) -> float: ...
