"""The seasonal baseline's gain: how far the recent volume runs above or below its profile.

Why: the ``volume`` check's profiles are exponentially weighted means per slot over weeks (per
day of the week) or days (per kind of day), so they lag behind anything that moves the whole
series: a growth trend (taxi demand up 15% over two months read 5% under the profile, half a
standard deviation, and the small-shift CUSUM alarmed at about one bucket in 300: 23 false
alarms per 30 days on a clean series), or a lasting step after a product change that the check has
already reported (it kept alarming for weeks while the day-of-week profile forgot the old level).
Holt-Winters' multiplicative level is the usual remedy: the expectation is ``gain × profile``,
with ``gain`` the ratio of the recent observed volume to the recent profile, over ``memory``
buckets (three days: a 10% drop absorbs about 2% of itself in the hour a CUSUM needs to find it,
while a trend is followed within a few days). After an alert, while the incident is held or
re-learned, it follows over ``follow_memory`` buckets (hours): a lasting step, once reported,
becomes the new normal instead of the next alarm. Counts only (a ratio of volumes needs values
that are not negative).
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.anomaly.volume_state import SeasonalGainState

__all__ = ["SeasonalGain"]


@dataclass
class SeasonalGain:
    """``gain()``: recent observed over recent expected volume (1 until ``min_weight`` buckets)."""

    memory: float
    follow_memory: float
    min_weight: float = 12.0
    _observed: float = 0.0
    _expected: float = 0.0
    _weight: float = 0.0

    def gain(self) -> float:
        if self._weight < self.min_weight or self._expected <= 0.0 or self._observed <= 0.0:
            return 1.0
        return self._observed / self._expected

    def update(self, x: float, profile_mean: float, follow: bool) -> None:
        """Learn one bucket: ``x`` observed where the (ungained) profile expected
        ``profile_mean``."""
        keep = 1.0 - 1.0 / (self.follow_memory if follow else self.memory)
        self._observed = self._observed * keep + max(x, 0.0)
        self._expected = self._expected * keep + max(profile_mean, 0.0)
        self._weight = self._weight * (1.0 - 1.0 / self.memory) + 1.0  # buckets seen

    def state(self) -> SeasonalGainState:
        return SeasonalGainState(self._observed, self._expected, self._weight)

    def restore(self, state: SeasonalGainState) -> None:
        self._observed, self._expected, self._weight = state.observed, state.expected, state.weight
