"""Per-series alarm threshold from the series' own recent scores: peaks over threshold (SPOT).

Why: every statistical check here turns a bucket into a *ratio* ``r`` (``r >= 1`` is an alarm
under the check's own model: a negative binomial, a precedent margin, a CUSUM threshold). The model
spends the false-alarm budget exactly only when it is right about the series; a series whose shape
nobody chose (news bursts, heavy tails, a variance that changes) exceeds ``r = 1`` far more often
than the budget allows. The remedy of Siffer et al. (KDD 2017, "Anomaly detection in streams with
extreme value theory") is to read the threshold off the series' *own* score distribution: above
a high quantile ``u`` of the recent ratios the excesses follow a generalized Pareto distribution
(Pickands-Balkema-de Haan), fitted by ``scipy.stats.genpareto.fit``; the threshold is the GPD
quantile at which the chance per bucket matches the budget.

Choices, and why:

* **Declustered peaks.** Ratios are autocorrelated (CUSUMs, multi-bucket windows) and the check
  alarms once per run of flagged buckets, so the budget is in *runs*, not buckets. Each run above
  ``u`` contributes its maximum only; the run rate ``n_runs / n`` replaces the tail fraction.
* **Only ever raises the model's threshold** (``max(1, z)``). Where the model is right the
  empirical tail is lighter and the model's threshold (already at the budget) stays; where the
  series shows heavier tails than the model knows, its own tail takes over. This keeps the fast
  delays of the well-specified cases (``bench/detection.py``) untouched.
* **Everything enters the window**, flagged buckets too: a burst that recurs must widen the
  spread it is judged against (one run = one peak, so a single incident barely moves the fit).
* **Capped** at ``max_threshold``: a fit on a few dozen peaks can have a shape ξ near 1 and an
  absurd quantile; the cap keeps a gross anomaly visible.
* **Refitted every ``refit_every`` buckets**, not every bucket: an MLE costs milliseconds.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import genpareto

from monitor.anomaly.model import THIRTY_DAYS, CheckDef
from monitor.anomaly.volume_state import TailThresholdState

__all__ = ["TailThreshold", "for_check", "gpd_quantile", "p_value_ratio"]


def gpd_quantile(u: float, sigma: float, xi: float, tail_rate: float, alpha: float) -> float:
    """The level exceeded with chance ``alpha`` per bucket, when runs exceed ``u`` with chance
    ``tail_rate`` and their excess is GPD(ξ, σ): ``u + σ/ξ·((α/rate)^(−ξ) − 1)``."""
    ratio = alpha / max(tail_rate, 1e-300)
    if ratio >= 1.0:
        return u
    if abs(xi) < 1e-6:
        return u - sigma * math.log(ratio)
    return u + sigma / xi * (math.pow(ratio, -xi) - 1.0)


def p_value_ratio(p_value: float, alpha: float) -> float:
    """A one-bucket p-value as a ratio of the check's budget: ``log p / log alpha`` (1 at
    ``p = alpha``, 2 at ``alpha²``), the scale ``TailThreshold`` calibrates."""
    if p_value >= 1.0 or alpha >= 1.0:
        return 0.0
    if p_value <= 0.0:
        return math.inf
    return math.log(p_value) / math.log(alpha)


@dataclass
class TailThreshold:
    """Alarm threshold (in units of the check's ratio) calibrated on the last ``memory`` ratios.

    ``alpha``: alarm runs allowed per bucket (``false_alarms_per_30d`` over the buckets in 30 days).
    """

    alpha: float
    memory: int
    refit_every: int = 72
    level: float = 0.98
    min_peaks: int = 10
    max_threshold: float = 5.0
    window: deque[float] = field(default_factory=deque)
    since_fit: int = 0
    threshold: float = 1.0
    u: float = 0.0
    sigma: float = 0.0
    xi: float = 0.0
    peaks: int = 0
    method: str = "model"
    """How the threshold in use was set: ``model`` (too few runs to fit; the model's own 1.0) or
    ``gpd`` (fitted tail)."""

    def add(self, r: float) -> None:
        self.window.append(r if math.isfinite(r) else self.max_threshold * 10)
        if len(self.window) > self.memory:
            self.window.popleft()
        self.since_fit += 1
        if self.since_fit >= self.refit_every:
            self.refit()

    def refit(self) -> None:
        """Fit the tail of the window (declustered), and set ``threshold``."""
        self.since_fit = 0
        n = len(self.window)
        if n < 10 * self.min_peaks:
            self._model()
            return
        x = np.fromiter(self.window, dtype=float, count=n)
        u = float(np.quantile(x, self.level))
        above = x > u
        if not above.any():
            self._model()
            return
        # Run maxima of consecutive exceedances: one peak per run.
        starts = np.flatnonzero(above & ~np.concatenate(([False], above[:-1])))
        ends = np.flatnonzero(above & ~np.concatenate((above[1:], [False])))
        peaks = np.array([x[a : b + 1].max() for a, b in zip(starts, ends, strict=True)]) - u
        if len(peaks) < self.min_peaks or float(peaks.max()) <= 0.0:
            self._model()
            return
        xi, _, sigma = genpareto.fit(peaks, floc=0.0)
        xi = min(max(float(xi), -0.5), 1.0)
        sigma = max(float(sigma), 1e-9)
        z = gpd_quantile(u, sigma, xi, len(peaks) / n, self.alpha)
        self.u, self.sigma, self.xi, self.peaks = u, sigma, xi, len(peaks)
        self.threshold = min(max(1.0, z), self.max_threshold)
        self.method = "gpd"

    def _model(self) -> None:
        self.threshold, self.method, self.peaks = 1.0, "model", 0

    def describe(self) -> dict[str, float | str | int]:
        """What ``/api/v1/checks`` shows: the threshold in use and how it was set."""
        return {
            "threshold": self.threshold,
            "calibration": self.method,
            "tail_u": self.u,
            "tail_sigma": self.sigma,
            "tail_xi": self.xi,
            "tail_peaks": self.peaks,
            "calibration_window": len(self.window),
        }

    def state(self) -> TailThresholdState:
        return TailThresholdState(
            list(self.window),
            self.since_fit,
            self.threshold,
            self.u,
            self.sigma,
            self.xi,
            self.peaks,
            self.method,
        )

    def restore(self, state: TailThresholdState) -> None:
        self.window = deque(state.window[-self.memory :])
        self.since_fit, self.threshold = state.since_fit, state.threshold
        self.u, self.sigma, self.xi = state.u, state.sigma, state.xi
        self.peaks, self.method = state.peaks, state.method


def for_check(check: CheckDef, bucket_seconds: float) -> TailThreshold:
    """The calibration of one series of ``check``: its budget per bucket, 14 days of ratios
    (``calibration_days``), refitted every 6 hours (``calibration_refit_seconds``); the same
    parameters for every kind that uses it."""
    p = check.params
    per_day = max(1, round(86400.0 / bucket_seconds))
    return TailThreshold(
        alpha=check.false_alarms_per_30d * bucket_seconds / THIRTY_DAYS,
        memory=max(100, round(float(p.get("calibration_days", 14)) * per_day)),
        refit_every=max(
            1, round(float(p.get("calibration_refit_seconds", 21600)) / bucket_seconds)
        ),
        level=float(p.get("calibration_quantile", 0.98)),
        max_threshold=float(p.get("calibration_max", 5.0)),
        min_peaks=int(p.get("calibration_min_peaks", 10)),
    )
