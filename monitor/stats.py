"""The evaluation loop's own counters, shared by the daemon that updates them and the exporters.

A plain dataclass with no imports from the rest of hopwatch, so ``monitor.server`` and
``monitor.export`` can read it without importing the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class DaemonStats:
    ticks: int = 0
    tick_errors: int = 0
    last_tick_seconds: float = 0.0
    checkpoints: int = 0
