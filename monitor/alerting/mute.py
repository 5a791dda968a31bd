"""Muting by silences and by time: the two mute stages besides inhibition.

Alertmanager's ``SilenceStage`` and ``TimeMuteStage`` / ``TimeActiveStage``. Silences mute single
alerts by their labels; time intervals mute a whole route (every group of it) while one of its
``mute_time_intervals`` holds, or while none of its ``active_time_intervals`` does. A muted alert
stays in its group and in the API (``MuteStatus`` says why); it is only left out of notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from monitor.routing.model import RouteOpts
from monitor.time_intervals import TimeInterval, is_quiet


class Silences(Protocol):
    """Anything that knows the active silences (``monitor.routing.silence.SilenceBook``)."""

    def muting(self, labels: Mapping[str, str], now: float) -> tuple[str, ...]:
        """Ids of the silences active at ``now`` that match ``labels``."""
        ...


@dataclass(frozen=True)
class MuteStatus:
    """Why an alert is left out of notifications; all empty when it is not."""

    silenced_by: tuple[str, ...] = ()
    """Silence ids."""
    inhibited_by: tuple[str, ...] = ()
    """Fingerprints of the firing alerts that inhibit it (inhibit rules or topology)."""
    time_muted_by: tuple[str, ...] = ()
    """Names of the time intervals that mute its route: a ``mute_time_intervals`` entry that
    holds, or the ``active_time_intervals`` entries of which none holds."""

    @property
    def muted(self) -> bool:
        return bool(self.silenced_by or self.inhibited_by or self.time_muted_by)

    def reasons(self) -> tuple[str, ...]:
        return (*self.silenced_by, *self.inhibited_by, *self.time_muted_by)


NOT_MUTED = MuteStatus()


class TimeMuter:
    """Decides whether a route is muted at a moment, from the config's named ``time_intervals``.

    A name the config does not define never holds (the loader refuses such configs anyway)."""

    def __init__(self, intervals: Mapping[str, tuple[TimeInterval, ...]]) -> None:
        self.intervals = intervals

    def _holds(self, name: str, now: float) -> bool:
        return is_quiet(self.intervals.get(name, ()), now)

    def mutes(self, opts: RouteOpts, now: float) -> tuple[str, ...]:
        """The interval names that mute ``opts``'s groups at ``now``; empty if none does."""
        muted = tuple(n for n in opts.mute_time_intervals if self._holds(n, now))
        if opts.active_time_intervals and not any(
            self._holds(n, now) for n in opts.active_time_intervals
        ):
            muted += tuple(n for n in opts.active_time_intervals if n not in muted)
        return muted


__all__ = ["NOT_MUTED", "MuteStatus", "Silences", "TimeMuter"]
