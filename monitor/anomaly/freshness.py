"""No events at a hop for longer than its current rate makes plausible: the ``freshness`` check.

Use it on hops that should never go silent (a sink, a connector). Per closed bucket it gets the
bucket's event count. It learns the rate per hour of the day (UTC; traffic at 03:00 is not traffic
at 15:00) from buckets outside quiet schedules, and adds up the events it expected over the empty
buckets since the last one with events. Under a Poisson rate the chance of that silence is
``exp(-expected)``; below the check's per-bucket level it is a stall. Time inside a quiet schedule
(``quiet.py``, Alertmanager ``time_intervals``) neither counts toward the silence nor teaches the
rate, so a nightly batch gap is not a stall while the same gap at noon is.

Because a stall is only seen at bucket resolution, at most one alarm can start per bucket, and
under the Poisson rate it starts with probability at most ``alpha``: the budget holds.
"""

from __future__ import annotations

import math

from monitor.anomaly.detector_state import FreshnessState
from monitor.anomaly.model import CheckDef, CheckState, Score
from monitor.anomaly.proportion import BASELINE_HALF_LIFE, state_for, surprise
from monitor.time_intervals import TimeInterval, is_quiet

HOURS = 24
MIN_HOUR_EXPOSURE = 1800.0
"""Seconds of exposure an hour of the day needs before its own rate is trusted over the overall."""


class FreshnessDetector:
    """One series of a ``freshness`` check; ``update`` takes a bucket's event count."""

    def __init__(self, check: CheckDef, bucket_seconds: float) -> None:
        self.check = check
        self.bucket_seconds = bucket_seconds
        self.alpha = check.alpha(bucket_seconds)
        self.quiet: tuple[TimeInterval, ...] = tuple(check.params.get("quiet", ()))
        self._decay = 0.5 ** (bucket_seconds / BASELINE_HALF_LIFE)
        self._events = [0.0] * HOURS
        self._exposure = [0.0] * HOURS
        self._seen = 0
        self._since: float | None = None
        self._last_event_end: float | None = None
        self._expected_in_gap = 0.0
        self._silent_seconds = 0.0

    def state(self) -> FreshnessState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        return FreshnessState(
            events=list(self._events),
            exposure=list(self._exposure),
            seen=self._seen,
            since=self._since,
            last_event_end=self._last_event_end,
            expected_in_gap=self._expected_in_gap,
            silent_seconds=self._silent_seconds,
        )

    def restore(self, state: FreshnessState) -> None:
        if not isinstance(state, FreshnessState):
            raise TypeError(f"not a freshness detector's state: {type(state).__name__}")
        if len(state.events) != HOURS or len(state.exposure) != HOURS:
            raise ValueError("freshness state without one rate per hour of the day")
        self._events, self._exposure = list(state.events), list(state.exposure)
        self._seen, self._since = state.seen, state.since
        self._last_event_end = state.last_event_end
        self._expected_in_gap, self._silent_seconds = state.expected_in_gap, state.silent_seconds

    def rate(self, at: float) -> float:
        """Expected events per second at ``at``: its hour of the day's rate once that hour has
        been seen long enough, else the overall rate."""
        hour = int(at // 3600) % HOURS
        if self._exposure[hour] >= MIN_HOUR_EXPOSURE:
            return self._events[hour] / self._exposure[hour]
        exposure = sum(self._exposure)
        return sum(self._events) / exposure if exposure else 0.0

    def _learn(self, at: float, count: int) -> None:
        hour = int(at // 3600) % HOURS
        # Decay per hour slot, once per bucket of that slot: a 7-day half-life in that hour's time.
        decay = self._decay**HOURS
        self._events[hour] = self._events[hour] * decay + count
        self._exposure[hour] = self._exposure[hour] * decay + self.bucket_seconds

    def update(self, at: float, point: int) -> Score:
        count = int(point)
        if self._since is None:
            self._since = at
        quiet = is_quiet(self.quiet, at)
        if count > 0:
            self._last_event_end = at + self.bucket_seconds
            self._expected_in_gap = 0.0
            self._silent_seconds = 0.0
            self._seen += count
        elif not quiet:
            self._expected_in_gap += self.rate(at) * self.bucket_seconds
            self._silent_seconds += self.bucket_seconds
        p = math.exp(-self._expected_in_gap)
        evidence: dict[str, object] = {
            "count": count,
            "quiet": quiet,
            "last_event_before": self._last_event_end,
            "silent_seconds": self._silent_seconds,
            "expected_events": self._expected_in_gap,
            "rate_per_second": self.rate(at),
            "p_value": p,
            "alpha": self.alpha,
            "baseline_since": self._since,
        }
        warming = at < self._since + self.check.warmup or self._seen < self.check.min_events
        if quiet:
            state = CheckState.LEARNING if warming else CheckState.OK
            return Score(at, 0.0, state, evidence=evidence)
        if warming:
            self._learn(at, count)
            return Score(at, 0.0, CheckState.LEARNING, evidence=evidence)
        state = state_for(p, self.alpha)
        alert = state is CheckState.FIRING
        if not alert:
            self._learn(at, count)
        return Score(at, surprise(p, self.alpha), state, alert, evidence)


__all__ = ["FreshnessDetector"]
