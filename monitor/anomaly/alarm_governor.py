"""A floor under a check's alarm threshold, set by how often the series' own ratios run high.

Why: every test of the ``volume`` check turns a bucket into a ratio ``r`` (``r >= 1`` alarms). Its
model spends the false-alarm budget exactly when the model is right: then a run of buckets above
``r0`` starts with chance about ``α^r0`` per bucket (``α``, the alarms allowed per bucket) and its
peak exceeds ``r0`` by an exponential amount of mean ``1/ln(1/α)``, because ``r`` is a
log-probability in units of ``ln α`` (the precedent margins and CUSUM thresholds are built on the
same scale). A series the model does not fit (news bursts, Pareto tails) shows it in exactly these
two numbers: runs above ``r0`` come more often, and their peaks go further. Both are measured
here, per series, from its own ratios, and the threshold becomes the level its runs would exceed
``α`` times per bucket:

    t = r0 + β · ln(λ / α),   floor = max(1, t)

with ``λ`` the rate of runs above ``r0`` per bucket and ``β`` their mean excess. With ``r0 = 1``
(the check's default) ``λ`` is the series' own alarm rate before any floor: a series within its
budget keeps the model's threshold, one over it is raised by the spread its alarms showed. Both
estimates start from the model's values, worth ``prior`` buckets, and are forgotten over
``memory`` buckets. A run whose peak passes ``limit`` counts in ``λ`` but not in ``β``: a gross
incident is an incident, not a measure of how far ordinary runs reach (with it in ``β``, one early
outlier of a traffic series raised its floor to 1.9 and hid the labelled anomaly after it).

This is peaks-over-threshold (Siffer et al., KDD 2017) with the tail index fixed at 0 on the
log-probability scale and the model as the prior; the fitted generalised Pareto shape of
``tail_threshold`` needs more peaks than a month of one series has. Everything enters, flagged
buckets too: a burst that recurs must widen the spread it is judged against, and an incident is
one run. The floor only raises a threshold: it removes alarms on series that cry wolf, never adds
any. It is opt-in (``governor: true``): on ``../shared/nab`` it costs recall where the labelled
anomalies are smaller than unlabelled outliers (docs/checks.md has the figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy.special import pdtrc

from monitor.anomaly.volume_state import AlarmGovernorState

__all__ = ["AlarmGovernor"]


@dataclass
class AlarmGovernor:
    """Floor under the ratio threshold from the series' own runs above ``r0``.

    ``alpha``: alarms allowed per bucket; ``memory``: buckets over which runs are remembered;
    ``prior``: buckets of the model's own rates the estimates start from.
    """

    alpha: float
    memory: float
    prior: float
    r0: float = 0.5
    limit: float = 10.0
    _exposure: float = 0.0
    _runs: float = 0.0
    """Runs above ``r0`` (decayed)."""
    _excess: float = 0.0
    """Their peaks' excess over ``r0``, capped at ``limit``."""
    _uncensored: float = 0.0
    """Runs whose peak stayed below ``limit``."""
    _open: bool = False
    _top: float = 0.0

    def tail(self) -> tuple[float, float]:
        """(runs above ``r0`` per bucket, mean excess of their peaks), the model's as prior."""
        log_a = math.log(self.alpha)
        k = self.prior * self.alpha**self.r0  # the runs the prior's buckets would have held
        rate = (k + self._runs) / (self.prior + self._exposure)
        beta = (k / -log_a + self._excess) / (k + self._uncensored)
        return rate, beta

    def over_budget(self, level: float = 0.01) -> bool:
        """Do this series' runs above ``r0`` exceed what the model allows (``α^r0`` per bucket)
        beyond chance: is ``P(N >= runs)`` under a Poisson of the allowed mean below ``level``?"""
        allowed = self.alpha**self.r0 * self._exposure
        return self._runs >= 1.0 and float(pdtrc(self._runs - 1.0, allowed)) < level

    def floor(self) -> float:
        """The threshold on ``r`` in use (1 = the model's own)."""
        rate, beta = self.tail()
        t = self.r0 + beta * math.log(rate / self.alpha)
        return min(max(1.0, t), self.limit)

    def add(self, r: float) -> None:
        """Learn one bucket's ratio (before any floor is applied)."""
        keep = 1.0 - 1.0 / self.memory
        self._exposure = self._exposure * keep + 1.0
        self._runs *= keep
        self._excess *= keep
        self._uncensored *= keep
        if r > self.r0:
            self._top = max(self._top, r) if self._open else r
            self._open = True
            return
        if self._open:  # a run ended: one peak
            self._open = False
            self._runs += 1.0
            if self._top < self.limit:  # a gross incident is a run, not a measure of spread
                self._excess += self._top - self.r0
                self._uncensored += 1.0

    def describe(self) -> dict[str, float]:
        """What ``/api/v1/checks`` shows: the floor and the run statistics behind it."""
        rate, beta = self.tail()
        return {
            "governor_floor": self.floor(),
            "governor_run_rate": rate,
            "governor_mean_excess": beta,
        }

    def state(self) -> AlarmGovernorState:
        return AlarmGovernorState(
            self._exposure, self._runs, self._excess, self._uncensored, self._open, self._top
        )

    def restore(self, state: AlarmGovernorState) -> None:
        self._exposure, self._runs = state.exposure, state.runs
        self._excess, self._uncensored = state.excess, state.uncensored
        self._open, self._top = state.open, state.top
