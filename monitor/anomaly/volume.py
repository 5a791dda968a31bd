"""Volume check: is one bucket's count (or value) out of line with its seasonal baseline?

Use it for a hop's count per bucket (per segment), or for any real-valued metric (CPU %, bytes).
Two baselines are learned side by side, both incrementally (``volume_model``), from buckets that
were not flagged (past incidents do not teach the baseline):

* **seasonal**: exponentially weighted means per slot of the week once ``min_weeks`` weeks are
  there, else per slot of the day over days of the same kind (weekday or weekend), read as the mean of ``±smooth_seconds`` of neighbouring slots (a smooth profile is
  estimated from many more events than one slot holds: a 10% drop at 10 events/min is only 0.3σ
  of one bucket, so the baseline must be better than about 1%);
* **level**: a robust exponentially weighted level (clipped updates, memory ``level_buckets``)
  for series with no seasonal history yet or no seasonality at all.

The baseline with the smaller mean square one-step residual is used (the level only when clearly
better, ``level_preference``). Counts are judged against a negative binomial whose dispersion is
fitted from the residuals (``Var = μ + φμ²``, over-dispersion and baseline error estimated, not
assumed Poisson); real values are judged by the distribution-free precedent test of
``volume_precedent`` (is the mean of the last 5 min … 12 h, of the day-over-day change or of the
absolute step, ``volume_variability``, outside everything the series showed in 14 days, by a
margin set so that all features together spend the budget: ``volume_calibration``?),
or with ``real_test: model`` by a z-score with Student-t tails and the tests below. Two tests spend the false-alarm
budget (``check.false_alarms_per_30d``) half each: a one-bucket tail test and a bank of CUSUMs on
the standardised residual tuned to shifts of ``cusum_shifts`` standard deviations (a sustained
drop of unknown size is found close to the optimal delay of the CUSUM matched to it, at the cost
of ``ln(#CUSUMs)`` in the threshold). The CUSUMs run on the seasonal residuals only (the level
follows a shift, so its residuals are autocorrelated and a CUSUM on them would run away).

The CUSUM increments are divided by ``SerialCorrelation.scale()``: real residuals that stay on one
side of the baseline (lag-1 autocorrelation ρ > 0) make a running sum spread √((1+ρ)/(1−ρ))
times wider than the independent-increment calibration assumes (ρ is shrunk by its own noise,
so independent residuals are left as they are). ``auto`` takes a series for counts only while
its values are non-negative integers with greatest common divisor 1: values that all share a
factor g > 1 (0/20 spikes, a 20/80 square wave) are a coded quantity, not g events per step.

After an alert the CUSUMs restart and the score is damped for ``holdoff_seconds``; after that, a
new alert needs the run of flagged buckets that alerted to end first (one alert per incident:
NAB and on-call alike count each repeat as a false alarm), the CUSUMs capped at their thresholds
meanwhile; an incident longer than ``relearn_seconds`` is taken as the new normal.
``score`` = ``r / (1 + r)`` where ``r`` is the larger of the two statistics over its threshold, so
``alert`` is exactly ``score >= ALERT_SCORE`` outside a hold-off or an alerted run (inside them the
score is damped ×0.1).

Cost: O(``smooth`` slots) per update in plain Python, no per-bucket median or ``scipy.stats``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from scipy.special import betainc, pdtr, pdtrc, stdtr

from monitor.anomaly import tail_threshold
from monitor.anomaly.alarm_governor import AlarmGovernor
from monitor.anomaly.model import CheckDef, CheckState, Score, clamp01
from monitor.anomaly.volume_gain import SeasonalGain
from monitor.anomaly.volume_model import (
    RobustLevel,
    RollingSum,
    SeasonalProfile,
    SerialCorrelation,
    SortedWindow,
    cusum_h,
)
from monitor.anomaly.volume_precedent import PrecedentTest
from monitor.anomaly.volume_resolution import Resolution
from monitor.anomaly.volume_state import FitState, VolumeState
from monitor.anomaly.volume_variability import Variability

__all__ = ["ALERT_SCORE", "VolumeDetector", "cusum_h"]

ALERT_SCORE = 0.5
DIRECTIONS = ("both", "drop", "spike")
VALUE_TYPES = ("auto", "count", "real")
REAL_TESTS = ("precedent", "model")
CALIBRATE = ("model", "all", "off")
"""Which ratios the per-series tail calibrates: the parametric model's (default), every one, none."""
CHOICE_MEMORY = 288
Z_CLIP = 4.0
"""Standardised residuals enter the CUSUMs clipped: one wild bucket is the tail test's job."""


_SQRT2 = math.sqrt(2.0)


def _items(value: object) -> Sequence[Any]:
    """A parameter given as one value or as a list of them, as a sequence."""
    return value if isinstance(value, (list, tuple)) else [value]


def _normal_tails(z: float) -> tuple[float, float]:
    return 0.5 * math.erfc(-z / _SQRT2), 0.5 * math.erfc(z / _SQRT2)


def _count_tails(x: float, mu: float, phi: float) -> tuple[float, float]:
    """P(X ≤ x) and P(X ≥ x) under a negative binomial (Poisson when ``phi`` is 0) with mean
    ``mu``, from the regularised incomplete beta / gamma functions (scalar ufuncs, microseconds)."""
    mu = max(mu, 1e-9)
    if phi <= 1e-9:
        low = float(pdtr(x, mu))
        high = 1.0 if x <= 0 else float(pdtrc(x - 1, mu))
        return low, high
    n = 1.0 / phi
    p = n / (n + mu)
    low = float(betainc(n, x + 1.0, p))
    high = 1.0 if x <= 0 else 1.0 - float(betainc(n, x, p))
    return low, high


@dataclass
class _Fit:
    """One baseline's recent residuals: mean square (for choosing the baseline and for real values)
    and the dispersion moments ``Σ(r² − μ)``, ``Σμ²`` (for counts)."""

    n: int
    square: RollingSum = field(init=False)
    moments: RollingSum = field(init=False)
    error: float = 0.0
    """Mean absolute residual over about ``CHOICE_MEMORY`` buckets, flagged ones included: the
    baselines are compared on every bucket, or a level that alarms at each daily step would look
    better than the profile that predicts the step."""
    seen: int = 0

    def track(self, r: float) -> None:
        self.seen += 1
        self.error += (abs(r) - self.error) / min(self.seen, CHOICE_MEMORY)

    def __post_init__(self) -> None:
        self.square = RollingSum(self.n)
        self.moments = RollingSum(self.n)

    def add(self, r: float, mu: float) -> None:
        self.square.add(r * r, 1.0)
        m = max(mu, 0.0)
        self.moments.add(r * r - m, m * m)

    def mse(self) -> float:
        return self.square.a / max(self.square.b, 1.0)

    def phi(self) -> float:
        return max(0.0, self.moments.a / self.moments.b) if self.moments.b > 0 else 0.0

    def state(self) -> FitState:
        return FitState(self.square.state(), self.moments.state(), self.error, self.seen)

    def restore(self, state: FitState) -> None:
        self.square.restore(state.square)
        self.moments.restore(state.moments)
        self.error, self.seen = state.error, state.seen


@dataclass
class VolumeDetector:
    """One series of a ``volume`` check. ``update(at, count)`` per closed bucket, in time order.

    ``check.params`` (all optional): ``direction`` (both | drop | spike), ``value_type``
    (auto | count | real), ``weeks`` (memory of the day-of-week profile), ``min_weeks``, ``days``
    (memory of the daily profiles), ``smooth_seconds``, ``level_buckets``, ``holdoff_seconds``,
    ``relearn_seconds``, ``tail_df``, ``cusum_shifts``, ``min_history``, ``level_preference``,
    ``relative_floor``, ``residual_buckets``.
    """

    check: CheckDef
    bucket_seconds: float
    _first_at: float | None = None
    _holdoff_until: float = -math.inf
    _flag_run_start: float | None = None
    _is_count: bool = True
    _trained: int = 0
    _run_alerted: bool = False
    """The current run of flagged buckets has alerted: no second alert until it ends."""
    _fractional: bool = False
    _gain_in_use: float = 1.0
    """The seasonal gain applied to this bucket's expectation (``volume_gain``)."""
    _lattice: int = 0
    """Greatest common divisor of the integer values seen so far (0 before any non-zero one)."""

    def __post_init__(self) -> None:
        p = self.check.params
        self.direction = str(p.get("direction", "both"))
        if self.direction not in DIRECTIONS:
            raise ValueError(f"direction: {self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        self.value_type = str(p.get("value_type", "auto"))
        if self.value_type not in VALUE_TYPES:
            raise ValueError(
                f"value_type: {self.value_type!r} is not one of {', '.join(VALUE_TYPES)}"
            )
        self._is_count = self.value_type != "real"
        per_day = max(1, round(86400.0 / self.bucket_seconds))
        smooth = float(p.get("smooth_seconds", 1800.0))
        self.profile = SeasonalProfile(
            per_day=per_day,
            bucket_seconds=self.bucket_seconds,
            memory_weeks=int(p.get("weeks", 4)),
            memory_days=int(p.get("days", 14)),
            min_weeks=int(p.get("min_weeks", 2)),
            min_days=int(p.get("min_days", 2)),
        )
        self.smooth = max(1, round(smooth / self.bucket_seconds)) if per_day > 1 else 0
        self.level = RobustLevel(2.0 / (1.0 + float(p.get("level_buckets", 24))))
        self.holdoff = float(p.get("holdoff_seconds", 12 * 3600.0))
        self.relearn = float(p.get("relearn_seconds", 6 * 3600.0))
        self.tail_df = float(p.get("tail_df", 10.0))
        self.min_history = int(p.get("min_history", 24))
        self.level_preference = float(p.get("level_preference", 1.25))
        self.rel_floor = float(p.get("relative_floor", 0.02))
        self.flagged_clip = float(p.get("flagged_clip", 1.0))
        self.empirical_factor = float(p.get("empirical_factor", 1.5))
        self.empirical_q = float(p.get("empirical_quantile", 0.99))
        self._abs_z = SortedWindow(int(p.get("residual_buckets", 2000)))
        n_resid = int(p.get("residual_buckets", 2000))
        self._serial = SerialCorrelation(n_resid, min_n=self.min_history)
        self._smooth_fit = _Fit(n_resid)
        self._slot_fit = _Fit(n_resid)
        self._level_fit = _Fit(n_resid)
        self._history = SortedWindow(int(p.get("spread_buckets", 2000)))
        self.shifts = tuple(float(s) for s in _items(p.get("cusum_shifts", (0.5, 1.0, 2.0))))
        count_shifts = tuple(
            float(s) for s in _items(p.get("count_cusum_shifts", (0.35, 0.7, 1.4, 2.8)))
        )
        # Half the budget to each test; two-sided tests split their half again over the sides,
        # and the CUSUM bank over its members.
        sides = 2 if self.direction == "both" else 1
        budget = self.check.false_alarms_per_30d / 2 / sides
        self.tail_alpha = min(0.5, budget * self.bucket_seconds / (30 * 86400.0))
        # The baseline's own error persists from bucket to bucket (the same slots are read again),
        # which the CUSUMs' independent-increment calibration does not see: ``cusum_margin`` buys
        # it back for a delay of ln(margin)/I buckets.
        # On counts the negative-binomial fit already carries the baseline's error (measured on
        # 90 clean simulated days: each member's empirical threshold at its target run length is
        # at or below Siegmund's), so counts get no margin and a finer grid of shifts; the 20%
        # drop at 10 events/min (0.58 sd) then has a member close to it.
        margin = float(p.get("cusum_margin", 4.0))
        count_margin = float(p.get("count_cusum_margin", 1.0))
        self._banks = {
            False: self._bank(self.shifts, budget, margin),
            True: self._bank(count_shifts, budget, count_margin),
        }
        self._bank_is_count: bool | None = None
        self._use_bank(self._is_count)
        self._log_alpha = math.log(self.tail_alpha)
        self.real_test = str(p.get("real_test", "precedent"))
        if self.real_test not in REAL_TESTS:
            raise ValueError(f"real_test: {self.real_test!r} is not one of {', '.join(REAL_TESTS)}")
        # The whole budget per bucket: the precedent test replaces both model tests.
        memory = max(2, round(float(p.get("precedent_days", 14)) * 86400.0 / self.bucket_seconds))
        self.precedent = PrecedentTest(
            per_day=per_day,
            alpha=self.check.false_alarms_per_30d * self.bucket_seconds / (30 * 86400.0),
            scales=self._buckets(p.get("precedent_scales_seconds", (300, 1800, 10800, 43200))),
            day_scales=self._buckets(p.get("precedent_day_scales_seconds", (300, 1800, 10800))),
            memory=memory,
            min_history=2 * self.min_history,
            min_margin=float(p.get("precedent_min_margin", 0.05)),
            variability=Variability(
                scales=self._buckets(
                    p.get("precedent_variability_scales_seconds", (1800, 10800, 43200))
                ),
                memory=memory,
            ),
            day_refs=int(p.get("precedent_reference_days", 3)),
            quanta=float(p.get("precedent_resolution_quanta", 2.0)),
            resolution=Resolution(share=float(p.get("precedent_resolution_share", 0.05))),
            per_window=bool(p.get("precedent_resolution_per_window", 0)),
            min_levels=float(p.get("precedent_resolution_levels", 10)),
        )

        # Per-series threshold on the ratio, from the series' own recent ratios (tail_threshold).
        per_30d = 30 * 86400.0 / self.bucket_seconds
        self.calibration = tail_threshold.for_check(self.check, self.bucket_seconds)
        # Floor under the threshold from how often this series' own ratios run high
        # (alarm_governor): only ever raises it, on series the model does not fit.
        self.governor = AlarmGovernor(
            alpha=self.check.false_alarms_per_30d / per_30d,
            memory=float(p.get("governor_days", 30)) * per_day,
            prior=float(p.get("governor_prior_days", 15)) * per_day,
            limit=float(p.get("governor_limit", 10.0)),
            r0=float(p.get("governor_r0", 1.0)),
        )
        self.use_governor = bool(p.get("governor", False))
        self.count_fallback = bool(p.get("count_fallback", True))
        # The gain's memory is long against the time the slowest CUSUM member takes to find
        # its shift (about 150 buckets), so a drop being found is not absorbed meanwhile:
        # three days, and at least 1,000 buckets (volume_gain).
        self.gain = SeasonalGain(
            memory=max(
                float(p.get("gain_seconds", 3 * 86400)) / self.bucket_seconds,
                float(p.get("gain_min_buckets", 1000)),
            ),
            follow_memory=max(
                1.0, float(p.get("gain_follow_seconds", 3 * 3600)) / self.bucket_seconds
            ),
        )
        self.calibrate = str(p.get("calibrate", "model"))
        if self.calibrate not in CALIBRATE:
            raise ValueError(f"calibrate: {self.calibrate!r} is not one of {', '.join(CALIBRATE)}")

    def _buckets(self, seconds: object) -> tuple[int, ...]:
        return tuple(
            sorted({max(1, round(float(s) / self.bucket_seconds)) for s in _items(seconds)})
        )

    # -- the judgement --------------------------------------------------------------------

    def _sd(self, fit: _Fit, mean: float) -> float:
        """Standard deviation of the next bucket around ``mean`` under ``fit``."""
        if self._is_count:
            mu = max(mean, 0.0)
            return max(math.sqrt(mu + fit.phi() * mu * mu), 0.5)
        spread = 0.0
        if len(self._history) >= 20:
            spread = self._history.quantile(0.95) - self._history.quantile(0.05)
        return max(math.sqrt(fit.mse()), self.rel_floor * spread, 1e-9)

    def _count_mean(self, profile: tuple[float, str, float], slots: int) -> float:
        """A profile's mean, for counts at least half an event over the buckets it was learned
        from (``slots`` × its days; Jeffreys' prior): a slot where no event was ever seen has a
        small rate, not none, or its first event at night reads as impossible (p = 1e-9)."""
        mean, _, days = profile
        if not self._is_count:
            return mean
        return max(mean, 0.5 / (slots * max(days, 1.0)))

    def _tails(self, x: float, mu: float, sd: float, z: float, phi: float) -> tuple[float, float]:
        """One-bucket p-values (low side, high side); exact only where they can matter.

        Counts take the fitted dispersion ``phi``, not one read back from ``sd``: near a mean of
        zero ``sd`` is floored at 0.5, and a dispersion read back from it is huge, which puts
        nearly all the negative binomial's mass at 0 and made one event at night "impossible"
        (p = 1e-16, an alarm every few nights on quiet series)."""
        if abs(z) < 2.0:
            return _normal_tails(z)
        if self._is_count:
            return _count_tails(x, max(mu, 1e-9), phi)
        low = float(stdtr(self.tail_df, z))
        return low, 1.0 - low

    def update(self, at: float, count: float) -> Score:
        x = float(count)
        if self._first_at is None:
            self._first_at = at
        if self.value_type == "auto" and not self._fractional:
            # Counts move in steps of one event: a series whose values all share a factor g > 1
            # (0/20 spikes, a 20/80 square wave) is a coded or scaled quantity, which a negative
            # binomial would read as g events per step. It is judged as a real value until a
            # value breaks the lattice (then it is a count for good; the gcd never grows back).
            if x < 0 or x != math.floor(x):
                self._fractional = True
            else:
                self._lattice = math.gcd(self._lattice, int(x))
            self._is_count = not self._fractional and self._lattice <= 1
        self._use_bank(self._is_count)
        use_precedent = not self._is_count and self.real_test == "precedent"
        # Counts whose own alarm history says the negative binomial does not fit them (more
        # alarm runs than the budget allows, beyond chance) are judged by the distribution-free
        # precedent test instead, which is kept up to date for them all along.
        fallback = self._is_count and self.count_fallback
        switched = fallback and self.governor.over_budget()
        use_precedent = use_precedent or switched
        precedent = (
            self.precedent.observe(x, allowance=not self._is_count)
            if use_precedent or fallback
            else (0.0, "")
        )
        smooth = self.profile.expected(at, self.smooth)
        slot = self.profile.expected(at, 0) if self.smooth else None
        level_mu = self.level.level
        profile_mean = None if smooth is None else self._count_mean(smooth, 2 * self.smooth + 1)
        gain = self.gain.gain() if self._is_count else 1.0
        self._gain_in_use = gain
        means = (
            None if profile_mean is None else gain * profile_mean,
            None if slot is None else gain * self._count_mean(slot, 1),
            level_mu,
        )
        # (mean, sd, name, seasonal?, dispersion)
        chosen: tuple[float, float, str, bool, float] | None = None
        best = math.inf
        enough = self.min_history // 2
        for mu, fit, name, preference in (
            (means[0], self._smooth_fit, smooth and f"{smooth[1]} ±{self.smooth} slots", 1.0),
            (means[1], self._slot_fit, slot and f"{slot[1]} at this slot", 1.0),
            (level_mu, self._level_fit, "recent level", self.level_preference),
        ):
            if mu is None or len(fit.square) < enough:
                continue
            mse = fit.error * preference
            if mse < best:
                best = mse
                seasonal = fit is not self._level_fit
                chosen = (mu, self._sd(fit, mu), str(name), seasonal, fit.phi())
        learning = (
            chosen is None
            or at - self._first_at < self.check.warmup
            or self._trained < self.min_history
        )
        if learning or chosen is None:
            self._train(at, x, means, flagged=False, follow=False)
            if profile_mean is not None:
                self.gain.update(x, profile_mean, follow=False)
            state = CheckState.LEARNING
            return Score(at, 0.0, state, False, {"observed": x, "state": str(state)})
        mu, sd, period, is_seasonal, phi = chosen
        z = (x - mu) / sd
        cusum_lo = cusum_hi = 0.0
        if is_seasonal:
            zc = -Z_CLIP if z < -Z_CLIP else Z_CLIP if z > Z_CLIP else z
            zraw = zc
            zc = zc / self._serial.scale()  # autocorrelated residuals: see SerialCorrelation
            lo, hi = self._lo, self._hi
            for j, k in enumerate(self.ks):
                a = lo[j] - zc - k
                lo[j] = a if a > 0 else 0.0
                b = hi[j] + zc - k
                hi[j] = b if b > 0 else 0.0
                h = self.hs[j]
                if self._run_alerted:  # still anomalous, but no debt that outlasts the incident
                    lo[j], hi[j] = min(lo[j], h), min(hi[j], h)
                cusum_lo = max(cusum_lo, lo[j] / h)
                cusum_hi = max(cusum_hi, hi[j] / h)
        else:  # the level's residuals are autocorrelated: a CUSUM on them would run away
            self._reset_cusums()
        p_low, p_high = self._tails(x, mu, sd, z, phi)
        if self.direction == "drop":
            p, r_cusum = p_low, cusum_lo
        elif self.direction == "spike":
            p, r_cusum = p_high, cusum_hi
        else:
            p, r_cusum = min(p_low, p_high), max(cusum_lo, cusum_hi)
        r_tail = math.log(max(p, 1e-300)) / self._log_alpha
        if (
            not self._is_count
            and self.empirical_factor > 0
            and len(self._abs_z) >= self.min_history
        ):
            # Heavy tails the model does not know: the bucket must also stand out against the
            # residuals this series has actually shown.
            usual = self._abs_z.quantile(self.empirical_q) * self.empirical_factor
            r_tail = min(r_tail, abs(z) / max(usual, 1e-9))
        r = max(r_tail, r_cusum)
        model_r = r
        if use_precedent:
            r = precedent[0]
        raw_r = r
        if self.calibrate == "all" or (self.calibrate == "model" and not use_precedent):
            # The series' own tail may ask for more than the model's r = 1 (tail_threshold).
            r = r / self.calibration.threshold
            self.calibration.add(raw_r)
        if self.use_governor and not use_precedent:
            r = r / self.governor.floor()
        if self._is_count:
            self.governor.add(model_r)  # the model's own alarm history (``over_budget``)
        score = clamp01(r / (1.0 + r))
        flagged = score >= ALERT_SCORE
        # One alert per incident: after the hold-off, a run of flagged buckets that has already
        # alerted must end (a bucket below the threshold) before the next alert can start.
        in_holdoff = at < self._holdoff_until
        held = in_holdoff or self._run_alerted
        alert = flagged and not held
        if alert:
            self._holdoff_until = at + self.holdoff
        if flagged and (alert or in_holdoff):
            # A run that starts inside the hold-off belongs to the incident just alerted (its
            # decaying tail, the steps it left in a 12-hour window): it too must end before the
            # next alert, or the incident alarms again the moment the hold-off ends.
            self._run_alerted = True
        elif not flagged:
            self._run_alerted = False
        if alert or in_holdoff:  # the CUSUMs restart when the hold-off ends, not from the incident
            self._reset_cusums()
        if held:
            score *= 0.1  # one alert per incident; the state still says firing
        state = (
            CheckState.FIRING
            if alert or (held and flagged)
            else (CheckState.WARN if score >= ALERT_SCORE / 2 else CheckState.OK)
        )
        if flagged:
            self._flag_run_start = at if self._flag_run_start is None else self._flag_run_start
        else:
            self._flag_run_start = None
        relearning = self._flag_run_start is not None and at - self._flag_run_start >= self.relearn
        excluded = flagged and not relearning
        if excluded and (use_precedent or fallback):
            self.precedent.exclude_last()
        self._train(at, x, means, flagged=excluded, follow=held or relearning, sd=sd)
        # The gain learns the normal buckets slowly and an incident that goes on after its alert
        # fast (volume_gain); not the alerting bucket, nor a quiet hold-off quickly.
        if profile_mean is not None and (not flagged or held or relearning):
            self.gain.update(x, profile_mean, follow=flagged and (held or relearning))
        if not excluded:
            self._abs_z.add(abs(z))
        if is_seasonal and not excluded:
            self._serial.add(zraw)
        else:
            self._serial.skip()
        evidence = {
            "observed": x,
            "expected": mu,
            "sd": sd,
            "z": z,
            "p_value": p,
            "cusum": r_cusum * self.h,
            "cusum_ratio": r_cusum,
            "cusum_h": self.h,
            "tail_alpha": self.tail_alpha,
            "baseline": period,
            "model": "precedent"
            if use_precedent
            else ("negative_binomial" if self._is_count else "robust_z"),
            "excluded_from_training": excluded,
            "ratio": raw_r,
            **self.calibration.describe(),
            **self.governor.describe(),
        }
        if switched:  # what /api/v1/checks shows as the threshold in use and its origin
            evidence["threshold"] = 1.0
            evidence["calibration"] = "precedent test: the model's own alarms ran over budget"
        elif self.use_governor and not use_precedent:
            evidence["threshold"] = self.calibration.threshold * self.governor.floor()
        if use_precedent:
            evidence["precedent_ratio"] = precedent[0]
            evidence["precedent_feature"] = precedent[1]
        if self._is_count:
            evidence["dispersion"] = phi
        return Score(at, score, state, alert, evidence)

    def _bank(
        self, shifts: tuple[float, ...], budget: float, margin: float
    ) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(reference values k, thresholds h) of a CUSUM bank spending ``budget`` over its
        members with ``margin`` to spare."""
        arl0 = 30 * 86400.0 / self.bucket_seconds / budget * len(shifts) * margin
        ks = tuple(s / 2 for s in shifts)
        return ks, tuple(cusum_h(arl0, k) for k in ks)

    def _use_bank(self, is_count: bool) -> None:
        """Counts and real values have their own bank; a series that turns out to be the other
        kind starts the other bank from zero."""
        if self._bank_is_count is is_count:
            return
        self._bank_is_count = is_count
        self.ks, self.hs = self._banks[is_count]
        self.h = max(self.hs)
        self._lo = [0.0] * len(self.ks)
        self._hi = [0.0] * len(self.ks)

    def state(self) -> VolumeState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        assert self._bank_is_count is not None  # chosen by the constructor
        return VolumeState(
            first_at=self._first_at,
            holdoff_until=self._holdoff_until,
            flag_run_start=self._flag_run_start,
            is_count=self._is_count,
            trained=self._trained,
            run_alerted=self._run_alerted,
            fractional=self._fractional,
            lattice=self._lattice,
            profile=self.profile.state(),
            level=self.level.state(),
            abs_z=self._abs_z.state(),
            serial=self._serial.state(),
            smooth_fit=self._smooth_fit.state(),
            slot_fit=self._slot_fit.state(),
            level_fit=self._level_fit.state(),
            history=self._history.state(),
            bank_is_count=self._bank_is_count,
            lo=list(self._lo),
            hi=list(self._hi),
            precedent=self.precedent.state(),
            # A detector unpickled from a v0 checkpoint predates the calibration: none recorded.
            calibration=c.state() if (c := getattr(self, "calibration", None)) else None,
            governor=g.state() if (g := getattr(self, "governor", None)) else None,
            gain=k.state() if (k := getattr(self, "gain", None)) else None,
        )

    def restore(self, state: VolumeState) -> None:
        """Resume a detector built from the same check: parameters are the constructor's,
        everything learned is the record's."""
        if not isinstance(state, VolumeState):
            raise TypeError(f"not a volume detector's state: {type(state).__name__}")
        self._first_at, self._holdoff_until = state.first_at, state.holdoff_until
        self._flag_run_start, self._is_count = state.flag_run_start, state.is_count
        self._trained, self._run_alerted = state.trained, state.run_alerted
        self._fractional, self._lattice = state.fractional, state.lattice
        self.profile.restore(state.profile)
        self.level.restore(state.level)
        self._abs_z.restore(state.abs_z)
        self._serial.restore(state.serial)
        self._smooth_fit.restore(state.smooth_fit)
        self._slot_fit.restore(state.slot_fit)
        self._level_fit.restore(state.level_fit)
        self._history.restore(state.history)
        self._use_bank(state.bank_is_count)
        if len(state.lo) != len(self.ks) or len(state.hi) != len(self.ks):
            raise ValueError("CUSUM bank of another size")
        self._lo, self._hi = list(state.lo), list(state.hi)
        self.precedent.restore(state.precedent)
        if state.calibration is not None:
            self.calibration.restore(state.calibration)
        if state.governor is not None:
            self.governor.restore(state.governor)
        if state.gain is not None:
            self.gain.restore(state.gain)

    def _reset_cusums(self) -> None:
        for j in range(len(self.ks)):
            self._lo[j] = self._hi[j] = 0.0

    def _train(
        self,
        at: float,
        x: float,
        means: tuple[float | None, float | None, float | None],
        flagged: bool,
        follow: bool,
        sd: float = 0.0,
    ) -> None:
        """Learn from the bucket. A flagged one teaches neither the profile nor the residual fits;
        the level still moves by a clipped step (by a full one while ``follow``: after an alert,
        a lasting shift becomes the new level instead of alarming again and again)."""
        self.level.update(x, follow=follow)
        for mu, fit in zip(means, (self._smooth_fit, self._slot_fit, self._level_fit), strict=True):
            if mu is not None:
                fit.track(x - mu)
        # The profile learns the volume net of the gain (Holt-Winters' seasonal index learns
        # x / level): a step the gain has absorbed stays absorbed instead of being learned a
        # second time by the profile while the gain unlearns it (volume_gain).
        g = self._gain_in_use
        if flagged:
            self.profile.update(at, x / g, clip=self.flagged_clip * sd / g)
            return
        self.profile.update(at, x / g)
        for mu, fit in zip(means, (self._smooth_fit, self._slot_fit, self._level_fit), strict=True):
            if mu is not None:
                fit.add(x - mu, mu)
        self._history.add(x)
        self._trained += 1
