"""Series-level calibration of the precedent test: one false-alarm budget for all its features.

The precedent test (``volume_precedent``) asks of about ten features (means over several windows,
day-over-day changes, spreads; each on both sides) whether the current value is outside the range
the feature showed, by a margin. A margin derived from the budget ``α`` for each feature alone
spends ``α`` once per feature: on clean simulated 5-minute series the check raised 5 to 7 false
alarms per 30 days instead of 1. Splitting ``α`` over the features (Bonferroni) ignores that some
are correlated, and the old margin also assumed one tail shape for every feature.

Instead the series says, from its own past only, what its records look like: peaks over a
threshold (Pickands–Balkema–de Haan), with the feature's range as the threshold.

* **How many chances (``RecordRate``).** A bucket is a *record* when any feature is outside its
  range at all. One exchangeable feature has a record with chance ``1/(n+1)`` per side with ``n``
  past values; the family has ``c/(n+1)``, ``c`` being the number of independent one-sided tests
  the features are worth. ``c = Σ record runs / Σ 1/(n_s+1)``: the family's record runs (a run
  of consecutive record buckets counts once, as an incident's alert does) over those expected of
  one test, with the Bonferroni count as a prior worth one expected record.
* **How far beyond (``ExcessTail``).** A record run's largest excess, in tail scales of its
  feature (``2·ln(n/w + 1)·excess/range``), is taken as exponential with its own mean ``β`` per
  feature (a 12-hour mean and a single bucket of a spiky series have very different tails). A
  generalised Pareto shape pooled over the family was tried: it kept heavy-tailed series closer
  to the budget (2.0 instead of 2.8 false alarms per 30 days) but cost six NAB points, since a
  shape estimated from a few dozen runs mostly widens every margin. A run that alarmed is
  censored at the threshold, so an incident neither hides nor inflates the tail.
* **Threshold.** Each feature may exceed its range with chance ``α/c`` per bucket: its excess
  threshold is the exponential quantile at ``α·(n + w)/c`` (``(n + w)`` the record odds of a mean
  over ``w`` buckets), and the budget of the family is ``c·(α/c) = α``.

Nothing is fitted to a benchmark: ``c`` and ``β`` are each series' own, measured online and
forgotten over ``memory`` buckets (8 weeks of 5-minute buckets), so a series whose character
changes is recalibrated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from monitor.anomaly.volume_state import ExcessTailState, RecordRateState, RunsState

__all__ = ["ExcessTail", "RecordRate"]


@dataclass
class _Runs:
    """Runs of consecutive record buckets; each run's largest excess, capped at the threshold."""

    open: bool = False
    top: float = 0.0
    censored: bool = False

    def step(self, excess: float, limit: float) -> tuple[float, bool] | None:
        """Feed one bucket; (capped maximum, censored?) of a run that has just ended."""
        if excess > 0.0:
            capped, over = min(excess, limit), excess >= limit
            if self.open:
                self.top, self.censored = max(self.top, capped), self.censored or over
            else:
                self.open, self.top, self.censored = True, capped, over
            return None
        if self.open:
            self.open = False
            return self.top, self.censored
        return None


@dataclass
class RecordRate:
    """``c``: the independent one-sided record tests the family is worth."""

    tests: int
    """One-sided tests of the family: the prior of ``c`` (no correlation assumed)."""
    memory: float = 16128.0
    prior_weight: float = 1.0
    """Weight of the prior of ``c``, in records expected of one test."""
    _exposure: float = 0.0
    _runs: float = 0.0
    _open: bool = False
    """A run of record buckets is under way (it counts once, when it ends)."""

    def rate(self) -> float:
        w = self.prior_weight
        return (self.tests * w + self._runs) / (w + self._exposure)

    def add(self, record: bool, count: int) -> None:
        """One judged bucket: did any feature break its range; ``1/count`` one test's odds."""
        keep = 1.0 - 1.0 / self.memory
        self._exposure = self._exposure * keep + 1.0 / count
        self._runs *= keep
        if not record and self._open:
            self._runs += 1.0
        self._open = record

    def state(self) -> RecordRateState:
        return RecordRateState(self._exposure, self._runs, self._open)

    def restore(self, state: RecordRateState) -> None:
        self._exposure, self._runs, self._open = state.exposure, state.runs, state.open


@dataclass
class ExcessTail:
    """``β``: mean excess of one feature's record runs beyond its range, in tail scales (right-
    censored at the alarm threshold; prior ``prior_scale``, the exponential tail of the range
    model, worth ``prior_runs`` runs)."""

    memory: float = 16128.0
    prior_scale: float = 1.0
    prior_runs: float = 2.0
    _sum: float = 0.0
    _uncensored: float = 0.0
    _state: _Runs = field(default_factory=_Runs)

    def scale(self) -> float:
        """Maximum-likelihood mean of a right-censored exponential (with the prior runs)."""
        k = self.prior_runs
        return (self.prior_scale * k + self._sum) / (k + self._uncensored)

    def quantile(self, tail: float) -> float:
        """The excess a new run exceeds with chance ``tail``: an exponential of mean ``β``."""
        if tail >= 1.0:
            return 0.0
        return -self.scale() * math.log(tail)

    def add(self, excess: float, limit: float) -> None:
        """Feed one bucket's excess (0 inside the range) and its threshold."""
        keep = 1.0 - 1.0 / self.memory
        self._sum *= keep
        self._uncensored *= keep
        ended = self._state.step(excess, limit)
        if ended is None:
            return
        self._sum += ended[0]
        self._uncensored += 0.0 if ended[1] else 1.0

    def state(self) -> ExcessTailState:
        runs = RunsState(self._state.open, self._state.top, self._state.censored)
        return ExcessTailState(self._sum, self._uncensored, runs)

    def restore(self, state: ExcessTailState) -> None:
        self._sum, self._uncensored = state.sum, state.uncensored
        self._state = _Runs(state.runs.open, state.runs.top, state.runs.censored)
