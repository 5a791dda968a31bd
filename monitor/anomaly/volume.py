"""Volume check: is one bucket's count (or value) out of line with its seasonal baseline?

Use it for a hop's count per bucket (per segment), or for any real-valued metric (CPU %, bytes).
Two baselines are learned side by side from buckets that were not flagged (past incidents do not
teach the baseline):

* **seasonal**: the median of the same slot and its two neighbours (a smoothed profile) per day of
  week once ``min_weeks`` are there, else per minute of day over the past ``days`` days of the same
  kind (weekday or weekend), else over any past days;
* **level**: the median of the last ``level_buckets`` values.

The baseline with the smaller robust residual scale (MAD of past one-step residuals) is used, the
level only when it is clearly better (``level_preference``), and the CUSUM runs on seasonal
residuals only (the level's residuals are autocorrelated). Counts
are judged against a negative binomial whose dispersion is fitted from the residuals (over-dispersion
estimated, not assumed Poisson); real values get a robust z-score with Student-t tails. Two tests
spend the false-alarm budget (``check.false_alarms_per_30d``) half each: a one-bucket tail test at
``alpha/2`` and a two-sided CUSUM on standardised residuals with ``h`` set from the budget's ARL0
(sustained drops). After an alert the CUSUM restarts and the score is damped for ``holdoff_seconds``
(one alert per incident); an incident longer than ``relearn_seconds`` is taken as the new normal,
and a bucket flagged again at the same minute of day is a recurring pattern, not an incident. The
predictive scale includes the baseline's own error (a median of ``n`` values: ``σ·√(1 + π/2n)``).

``score`` = ``r / (1 + r)`` where ``r`` is the larger of the two statistics over its threshold, so
``alert`` is exactly ``score >= ALERT_SCORE`` outside a hold-off (inside it the score is damped ×0.1).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import nbinom, poisson
from scipy.stats import t as student_t

from monitor.anomaly.model import CheckDef, CheckState, Score, clamp01

__all__ = ["ALERT_SCORE", "VolumeDetector", "cusum_h"]

ALERT_SCORE = 0.5
DIRECTIONS = ("both", "drop", "spike")
VALUE_TYPES = ("auto", "count", "real")


def cusum_h(arl0: float, k: float = 0.5) -> float:
    """The one-sided CUSUM threshold whose in-control run length is ``arl0`` (Siegmund)."""

    def arl(h: float) -> float:
        b = h + 1.166
        return (math.exp(2 * k * b) - 2 * k * b - 1) / (2 * k * k)

    lo, hi = 0.0, 50.0
    for _ in range(80):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if arl(mid) < arl0 else (lo, mid)
    return hi


def _median(values) -> float:
    return float(np.median(np.fromiter(values, float)))


def _baseline_median(entries) -> tuple[float, int]:
    """Median of the unflagged values, unless flagged ones are the majority: an isolated incident is
    left out, a pattern that keeps coming back (or a lasting shift) becomes the new normal."""
    clean = [v for v, flagged in entries if not flagged]
    used = clean if 2 * len(clean) >= len(entries) else [v for v, _ in entries]
    return _median(used), len(used)


def _mad_scale(residuals: deque[float]) -> float:
    r = np.fromiter(residuals, float)
    return float(1.4826 * np.median(np.abs(r - np.median(r))))


def _inflation(n: int) -> float:
    """Predictive sd over the noise sd when the baseline is the median of ``n`` past values
    (the median's variance is about π/2 · σ²/n)."""
    return math.sqrt(1.0 + math.pi / 2 / max(n, 1))


@dataclass
class _Baseline:
    """Residuals of one baseline, for its scale and (for counts) the fitted dispersion."""

    residuals: deque[float]
    means: deque[float]

    @classmethod
    def new(cls, n: int) -> _Baseline:
        return cls(deque(maxlen=n), deque(maxlen=n))


@dataclass
class VolumeDetector:
    """One series of a ``volume`` check. ``update(at, count)`` per closed bucket, in time order.

    ``check.params`` (all optional): ``direction`` (both | drop | spike), ``value_type``
    (auto | count | real), ``weeks``, ``min_weeks``, ``days``, ``level_buckets``,
    ``holdoff_seconds``, ``relearn_seconds``, ``tail_df``, ``cusum_k``, ``min_history``.
    """

    check: CheckDef
    bucket_seconds: float
    _first_at: float | None = None
    _weekly: dict[tuple[int, int], deque[tuple[float, bool]]] = field(default_factory=dict)
    _daily: dict[int, deque[tuple[float, bool, bool]]] = field(default_factory=dict)
    _recent: deque[tuple[float, bool]] = field(default_factory=deque)
    _cusum_hi: float = 0.0
    _cusum_lo: float = 0.0
    _holdoff_until: float = -math.inf
    _flag_run_start: float | None = None
    _is_count: bool = True
    _trained: int = 0
    _spread: float = 0.0

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
        self.weeks = int(p.get("weeks", 4))
        self.min_weeks = int(p.get("min_weeks", 3))
        self.days = int(p.get("days", 14))
        self.level_buckets = int(p.get("level_buckets", 12))
        self.holdoff = float(p.get("holdoff_seconds", 12 * 3600.0))
        self.relearn = float(p.get("relearn_seconds", 6 * 3600.0))
        self.tail_df = float(p.get("tail_df", 5.0))
        self.k = float(p.get("cusum_k", 0.5))
        self.min_history = int(p.get("min_history", 24))
        self.level_preference = float(p.get("level_preference", 1.25))
        self.rel_floor = float(p.get("relative_floor", 0.02))
        self._history: deque[float] = deque(maxlen=int(p.get("spread_buckets", 2000)))
        n_resid = int(p.get("residual_buckets", 2000))
        self._recent = deque(maxlen=self.level_buckets)
        self._seasonal_fit = _Baseline.new(n_resid)
        self._level_fit = _Baseline.new(n_resid)
        # Half the budget to each test; two-sided tests split their half again over the sides.
        sides = 2 if self.direction == "both" else 1
        budget = self.check.false_alarms_per_30d / 2 / sides
        self.tail_alpha = min(0.5, budget * self.bucket_seconds / (30 * 86400.0))
        self.h = cusum_h(30 * 86400.0 / self.bucket_seconds / budget, self.k)

    # -- baselines ------------------------------------------------------------------------

    def _slots(self, at: float) -> tuple[int, int]:
        per_day = max(1, round(86400.0 / self.bucket_seconds))
        tod = int((at % 86400.0) // self.bucket_seconds) % per_day
        dow = int((at // 86400.0 + 3) % 7)  # 1970-01-01 was a Thursday; Monday = 0
        return dow, tod

    def _seasonal(self, at: float) -> tuple[float, int, str] | None:
        """Median of the same slot and its two neighbours (a smoothed profile): per day of week
        once ``min_weeks`` are there, else per minute of day over days of the same kind (weekday
        or weekend), else over any past days."""
        dow, tod = self._slots(at)
        per_day = max(1, round(86400.0 / self.bucket_seconds))
        slots = [(tod + d) % per_day for d in (-1, 0, 1)]
        weeks = len(self._weekly.get((dow, tod), ()))
        if weeks >= self.min_weeks:
            near = [e for t in slots for e in self._weekly.get((dow, t), ())]
            return *_baseline_median(near), f"median of {weeks} past weeks at this slot ±1"
        daily = [e for t in slots for e in self._daily.get(t, ())]
        weekend = dow >= 5
        same = [(v, f) for v, f, we in daily if we == weekend]
        if len(same) >= 9:
            kind = "weekend" if weekend else "weekday"
            return *_baseline_median(same), f"median of past {kind}s at this minute of day ±1"
        if len(daily) >= 6:
            anyday = [(v, f) for v, f, _ in daily]
            return *_baseline_median(anyday), "median of past days at this minute of day ±1"
        return None

    def _level(self) -> tuple[float, int, str] | None:
        if len(self._recent) < min(3, self.level_buckets):
            return None
        return *_baseline_median(self._recent), f"median of last {len(self._recent)} buckets"

    def _scale(self, fit: _Baseline, mean: float) -> tuple[float, float]:
        """Standard deviation of the next bucket and the fitted NB dispersion (0 for real values)."""
        if len(fit.residuals) < 3:
            return math.inf, 0.0
        if not self._is_count:
            s = _mad_scale(fit.residuals)
            return max(s, self.rel_floor * self._spread, 1e-9), 0.0
        r = np.fromiter(fit.residuals, float)
        m = np.maximum(np.fromiter(fit.means, float), 1e-9)
        # Moment estimate of φ in Var = μ + φμ²; flagged buckets never reach these residuals.
        phi = max(0.0, float(np.mean((r * r - m) / (m * m))))
        mu = max(mean, 0.0)
        return max(math.sqrt(mu + phi * mu * mu), 0.5), phi

    # -- the judgement --------------------------------------------------------------------

    def _tail(self, x: float, mu: float, sd: float, phi: float) -> tuple[float, float]:
        """One-bucket p-values (low side, high side)."""
        if self._is_count:
            mu = max(mu, 1e-9)
            phi = max(0.0, (sd * sd - mu) / (mu * mu))  # noise and baseline error together
            if phi <= 1e-9:
                return float(poisson.cdf(x, mu)), float(poisson.sf(x - 1, mu))
            n = 1.0 / phi
            p = n / (n + mu)
            return float(nbinom.cdf(x, n, p)), float(nbinom.sf(x - 1, n, p))
        z = (x - mu) / sd
        return float(student_t.cdf(z, self.tail_df)), float(student_t.sf(z, self.tail_df))

    def update(self, at: float, count: float) -> Score:
        x = float(count)
        if self._first_at is None:
            self._first_at = at
        if self._is_count and self.value_type == "auto" and (x < 0 or x != math.floor(x)):
            self._is_count = False
        seasonal, level = self._seasonal(at), self._level()
        chosen = None
        for base, fit, preference in (
            (seasonal, self._seasonal_fit, 1.0),
            (level, self._level_fit, self.level_preference),
        ):
            if base is None:
                continue
            sd, phi = self._scale(fit, base[0])  # the noise, compared without baseline error
            if chosen is None or sd * preference < chosen[2]:
                chosen = (base, fit, sd, phi)
        fits = [
            (fit, base[0], _inflation(base[1]))
            for base, fit in ((seasonal, self._seasonal_fit), (level, self._level_fit))
            if base is not None
        ]
        learning = (
            chosen is None
            or at - self._first_at < self.check.warmup
            or self._trained < self.min_history
            or not math.isfinite(chosen[2])
        )
        if learning:
            self._train(at, x, fits, False)
            state = CheckState.LEARNING
            return Score(at, 0.0, state, False, {"observed": x, "state": str(state)})
        assert chosen is not None
        (mu, n_base, period), _, sd, phi = chosen
        sd *= _inflation(n_base)
        z = (x - mu) / sd
        if chosen[1] is self._seasonal_fit:
            zc = max(-4.0, min(4.0, z))
            self._cusum_hi = max(0.0, self._cusum_hi + zc - self.k)
            self._cusum_lo = max(0.0, self._cusum_lo - zc - self.k)
        else:  # the level's residuals are autocorrelated: a CUSUM on them would run away
            self._cusum_hi = self._cusum_lo = 0.0
        p_low, p_high = self._tail(x, mu, sd, phi)
        if self.direction == "drop":
            p, cusum = p_low, self._cusum_lo
        elif self.direction == "spike":
            p, cusum = p_high, self._cusum_hi
        else:
            p, cusum = min(p_low, p_high), max(self._cusum_lo, self._cusum_hi)
        r_tail = math.log(max(p, 1e-300)) / math.log(self.tail_alpha)
        r = max(r_tail, cusum / self.h)
        score = clamp01(r / (1.0 + r))
        flagged = score >= ALERT_SCORE
        held = at < self._holdoff_until
        alert = flagged and not held
        if alert:
            self._holdoff_until = at + self.holdoff
        if alert or held:  # the CUSUM restarts when the hold-off ends, not from the incident
            self._cusum_hi = self._cusum_lo = 0.0
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
        self._train(at, x, fits, flagged and not relearning)
        evidence = {
            "observed": x,
            "expected": mu,
            "sd": sd,
            "dispersion": phi,
            "z": z,
            "p_value": p,
            "cusum": cusum,
            "cusum_h": self.h,
            "tail_alpha": self.tail_alpha,
            "baseline": period,
            "model": "negative_binomial" if self._is_count else "robust_z",
            "excluded_from_training": flagged and not relearning,
        }
        return Score(at, score, state, alert, evidence)

    def _train(
        self, at: float, x: float, fits: list[tuple[_Baseline, float, float]], flagged: bool
    ) -> None:
        """Remember the bucket; a flagged one is kept apart (see ``_baseline_median``) and does
        not enter the residual scale or the dispersion fit."""
        dow, tod = self._slots(at)
        daily = self._daily.setdefault(tod, deque(maxlen=self.days))
        if flagged and any(f for _, f, _ in daily):
            # Flagged again at the same minute of day: a recurring pattern, not an incident.
            for j, (v, _, we) in enumerate(daily):
                daily[j] = (v, False, we)
            flagged = False
        self._weekly.setdefault((dow, tod), deque(maxlen=self.weeks)).append((x, flagged))
        daily.append((x, flagged, dow >= 5))
        self._recent.append((x, flagged))
        if flagged:
            return
        for fit, mean, inflation in fits:
            fit.residuals.append((x - mean) / inflation)
            fit.means.append(mean)
        self._history.append(x)
        self._trained += 1
        if self._trained % 50 == 1:  # the series' own spread floors the residual scale
            h = np.fromiter(self._history, float)
            q5, q95 = np.percentile(h, [5, 95])
            self._spread = float(q95 - q5)
