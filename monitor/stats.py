"""The evaluation loop's own counters, shared by the daemon that updates them and the exporters.

A plain dataclass with no imports from the rest of hopwatch, so ``monitor.server`` and
``monitor.export`` can read it without importing the daemon.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DaemonStats:
    ticks: int = 0
    tick_errors: int = 0
    last_tick_seconds: float = 0.0
    checkpoints: int = 0
    notifications: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Deliveries by (receiver, integration kind, outcome: sent / retry / failed)."""
    notification_failures: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    """Deliveries that did not go out, by (receiver, integration kind, reason)."""
    notify_errors: int = 0
    """Notification rounds or log writes that failed (each logged)."""
    last_reload_successful: bool = True
    """False while the last config reload was refused (the previous config still runs)."""
    last_reload_success_at: float = 0.0
    """When the running config was loaded: the start, then each successful reload."""
