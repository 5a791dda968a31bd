"""Edge divergence, sequential version: are events being lost between two hops, by a little or a lot?

One ``DivergenceDetector`` watches one edge. Each closed bucket brings ``(expected, arrived)``;
given ``expected``, the arrivals are binomial with the edge's delivery probability, so upstream
seasonality and over-dispersion cancel out of the test. Two tests share the false-alarm budget
(``CheckDef.false_alarms_per_30d``):

* **one bucket** (large loss, alarm in the bucket it starts): the exact binomial tail of
  ``monitor.anomaly.divergence.shortfall_pvalue`` at ``one_bucket_share`` (default 10%) of the
  per-bucket significance level, with the old absolute and relative floors (``min_missing`` events,
  ``min_loss_ratio`` share);
* **max-of-CUSUMs** (small sustained loss of unknown size): one binomial log-likelihood-ratio CUSUM
  per loss size of a geometric grid 5%–50%, alarm when the largest reaches ``h`` — a discretised
  GLR CUSUM (Lorden 1971). The grid's ratio (≤ 1.5) keeps the loss of efficiency between grid
  points at a few percent; not knowing the loss size costs about ``ln(len(grid))`` nats.
  Absolute and relative floors on the run of the winning CUSUM (``min_events`` expected events or
  ``min_missing`` missing ones, and ``min_loss_ratio`` estimated loss) keep tiny or trivial
  shortfalls quiet.

**Calibration of h.** ``h`` is set so the CUSUM part's mean run length to a false alarm is
``ARL0 / (1 − one_bucket_share)`` buckets, by a short simulation under the learned null, cached per
(mean expected per bucket, tested delivery, ARL0, grid): ``calibrate_threshold``. The CUSUM renews
whenever all its statistics are 0, so ``ARL0(h) ≈ buckets simulated / excursions reaching h``;
because each increment is an exact log-likelihood ratio, the tail of the excursion maximum decays
as ``C·e^{−h}`` (Wald), so the count measured at a level reached by ≥ 400 excursions is
extrapolated to the target with slope −1, or with the measured local slope of the tail where that
is flatter (large loss sizes, whose one-bucket tail is log-concave) — a conservative choice. This is the "calibrate on the actual ARL0" of
``shared/DETECTION-LIMITS.md``: the Lorden bound ``h = ln(K·ARL0)`` would be 1.5–3.5 nats higher
(its true ARL0 is 4–30× the target) and every delay correspondingly longer. The simulation draws
``expected ~ Poisson(mean)``; seasonal variation of ``expected`` leaves the ``e^{−h}`` tail
unchanged (only the overshoot constant moves), which the bench checks on seasonal traffic.

**Baseline.** During the warm-up (``CheckDef.warmup``; state ``learning``) the detector learns the
mean volume and, when the edge promises no ratio (``expected_ratio=None``), the delivery ratio
``p̂ = Σarrived / Σexpected`` with its quasi-binomial dispersion ``φ``. The tested delivery is
``min(p̂ − 2·SE, p̂·(1 − tolerance))`` — a conservative lower bound, since an estimated baseline
adds variance — or ``ratio·(1 − tolerance)`` for a promised ratio (0.999 for ``all``), so clean
data never alarms. When ``φ`` is clearly above 1 the log-likelihood ratios are divided by it
(quasi-likelihood). The baseline is frozen after the warm-up, so a slow loss cannot be absorbed.

**A learned share that moves** (``seasonal``, ``relearn_after``; learned edges only). (1) A share
with a daily cycle (a consent rate by hour of day) would read as loss at every trough. When the
warm-up's 24 hour-of-day cells differ clearly (a chi-square of the cells against the pooled share,
scaled by the dispersion within them, above ``23 + 3·√46``) and every hour was seen, the share is
learned per quarter hour (96 cells) and the expected share of a bucket is the daily curve fitted
to the cells (``monitor.anomaly.share_profile``: a few harmonics chosen by Akaike's criterion, or
the cells, linear between their centres, where no few harmonics follow the shape), refitted once
an hour; the tested delivery is that less two standard errors of the fit, and the dispersion is
the residual one around it. After the warm-up a cell learns, decayed over about a week of its
days, only from buckets judged OK — never from a bucket of an alarm, so a loss is not learned. A constant share (the
chi-square test fails) keeps the frozen baseline above. (2) A share that steps down and stays
(0.70 → 0.62) would fire for good. While a learned edge's alarm holds, its buckets are summed per
sixth of ``relearn_after`` (6 h); at the start of each sixth, when the last six show one level
(a chi-square of the six against their pooled level within ``5 + 3·√10``, or all within
``min_loss_ratio`` of it) and the drop is at most ``relearn_max_drop`` (50%: an outage is never
re-learned), the alert — which already fired — resolves with "share changed from X to Y and stays;
re-learned" (``relearned`` in the evidence) and the detector re-baselines: a constant share to the
window's (two standard errors below it, then refined by pooling one more warm-up length of buckets
judged OK), a profile by scaling every cell to the new level with the cells' weight cut to the
window's events, so the next clean days re-learn it quickly. While such an alarm holds it follows
the loss size nearest the loss measured over that window (not the size that fired first), so an
11% step that first fired the 20% CUSUM does not resolve and fire again.

**Late is not lost.** Events that reach the to-hop after the allowed lateness amend a bucket that
was already judged; the engine hands those amendments to ``amend``. Two uses: (1) the edge's late
tail — the share of expected events that only arrive late, a decayed ratio over about a week — is
learned online, and a promised edge is tested at ``ratio·(1 − tolerance)·(1 − late)``, with
``late`` an upper bound (count + 3·√count over the exposure), so a steady 0.5% tail is not read as
0.5% loss; it is refreshed once per warm-up length of buckets while quiet (it can only grow from
events that did arrive, so a real loss is never learned as lateness); (2) late arrivals in a
bucket of the current CUSUM run are credited back to the run (each moves the LLR by ``a − b``), and
when that drains the CUSUM that fired, the alert resolves with ``late_not_lost`` in its evidence.

**State.** ``firing`` from the alarm until the CUSUM that fired drains back to 0 (each statistic is
capped at ``h`` while firing, so a long incident does not delay its resolution); then all
statistics restart from 0. The score is ``statistic / h`` clipped to [0, 1] (1 when either test fires).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from monitor.anomaly.detector_state import BaselineState, DivergenceState
from monitor.anomaly.divergence import shortfall_pvalue
from monitor.anomaly.model import CheckDef, CheckState, Score, clamp01
from monitor.anomaly.share_profile import ShareFit, fit_daily_share

__all__ = ["LOSS_GRID", "Baseline", "DivergenceDetector", "calibrate_threshold"]

LOSS_GRID: tuple[float, ...] = (0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)
"""Loss sizes with one CUSUM each; consecutive ratios ≤ 1.5."""

_MIN_TAIL_COUNT = 400
_HOURS = 24
_SLOTS = 96
"""A seasonal share is learned per quarter hour: a share that changes at a fixed time of day is
then off for at most a quarter hour, not for an hour either side of it."""
_PROFILE_SPAN_SECONDS = 7 * 86400.0
"""Each quarter-hour cell of a seasonal share is a decayed ratio over about a week of its days."""
_STEP_CHUNKS = 6
"""A lasting step is judged on the alarm's last ``relearn_after`` split into this many chunks."""
_LATE_SPAN_SECONDS = 7 * 86400.0
"""The late tail is a decayed ratio over about a week: long enough to be precise, short enough to
follow a tail that grows."""


def _llr_coefficients(p0: float, grid: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Per loss size d: LLR of a bucket = arrived·a + (expected − arrived)·b."""
    d = np.asarray(grid, dtype=float)
    a = np.log1p(-d)
    b = np.log((1.0 - p0 * (1.0 - d)) / (1.0 - p0))
    return a, b


@functools.lru_cache(maxsize=128)
def calibrate_threshold(
    mean_expected: float,
    delivery: float,
    arl0: float,
    grid: tuple[float, ...] = LOSS_GRID,
    chains: int = 2000,
    steps: int = 1000,
) -> float:
    """The ``h`` at which the max-of-CUSUMs on ``Binomial(Poisson(mean_expected), delivery)`` buckets
    has mean run length ``arl0`` to a false alarm (deterministic: the seed is derived from the key)."""
    if not 0 < delivery < 1 or mean_expected <= 0 or arl0 <= 1:
        raise ValueError("need 0 < delivery < 1, mean_expected > 0 and arl0 > 1")
    key = repr((mean_expected, delivery, arl0, grid, chains, steps)).encode()
    rng = np.random.default_rng(zlib.crc32(key))
    a, b = _llr_coefficients(delivery, grid)
    w = np.zeros((chains, len(grid)))
    excursion_max = np.zeros(chains)
    maxima: list[np.ndarray] = []
    for _ in range(steps):
        n = rng.poisson(mean_expected, chains)
        x = rng.binomial(n, delivery)
        w = np.maximum(0.0, w + x[:, None] * a + (n - x)[:, None] * b)
        s = w.max(axis=1)
        zero = s == 0.0
        ended = zero & (excursion_max > 0)
        if ended.any():
            maxima.append(excursion_max[ended])
        excursion_max = np.where(zero, 0.0, np.maximum(excursion_max, s))
    peaks = np.sort(np.concatenate([*maxima, excursion_max[excursion_max > 0]]))[::-1]
    total = chains * steps
    wanted = total / arl0  # excursions reaching h that give ARL0(h) = arl0
    if wanted >= _MIN_TAIL_COUNT:
        return float(peaks[math.ceil(wanted) - 1])
    if len(peaks) < _MIN_TAIL_COUNT:
        # Clean buckets almost never move the statistic off 0 (high volume, a near-perfect promise):
        # too few excursions to measure the tail, so fall back to Lorden's bound, which errs long.
        return math.log(len(grid) * arl0)
    level = float(peaks[_MIN_TAIL_COUNT - 1])
    reached = int(np.count_nonzero(peaks >= level))  # ties: lattice-valued statistics
    # The tail is C·e^{-h} only asymptotically; where one bucket carries a lot of information the
    # measured tail is still flatter (log-concave), so use the local slope if it is below 1: the
    # extrapolation then errs towards a longer run length, never a shorter one.
    lower = float(peaks[min(len(peaks), 10 * _MIN_TAIL_COUNT) - 1])
    slope = 1.0
    if lower < level:
        reached_lower = int(np.count_nonzero(peaks >= lower))
        slope = min(1.0, math.log(reached_lower / reached) / (level - lower))
    return level + math.log(reached / wanted) / slope


@dataclass(frozen=True)
class Baseline:
    """What the warm-up learned: the delivery ratio (``ratio``), the delivery probability the tests
    use (``delivery``), the volume, the over-dispersion and the CUSUM threshold."""

    ratio: float
    delivery: float
    learned: bool
    observed_ratio: float
    dispersion: float
    mean_expected: float
    events: int
    start: float
    end: float
    threshold: float
    late_discount: float = 0.0

    def as_evidence(self) -> dict[str, Any]:
        return {
            "baseline_ratio": self.ratio,
            "baseline_learned": self.learned,
            "baseline_observed_ratio": round(self.observed_ratio, 6),
            "baseline_period": (self.start, self.end),
            "baseline_events": self.events,
            "tested_delivery": round(self.delivery, 6),
            "dispersion": round(self.dispersion, 4),
            "late_discount": round(self.late_discount, 6),
            "calibration": "simulated ARL0 under the learned null (binomial CUSUM)",
        }


class DivergenceDetector:
    """One edge's divergence check (``kind: divergence``); ``update(at, (expected, arrived))`` per
    closed bucket. ``expected_ratio`` is the edge's promise (1.0 for ``all``), ``None`` to learn it.

    ``check.params`` may set ``tolerance`` (0.001; the edge's own), ``min_loss_ratio`` (0.02),
    ``min_missing`` (5), ``one_bucket_share`` (0.1) and ``loss_grid`` (``LOSS_GRID``)."""

    def __init__(
        self, check: CheckDef, bucket_seconds: float, expected_ratio: float | None = None
    ) -> None:
        params: Mapping[str, Any] = check.params
        self.check = check
        self.bucket_seconds = float(bucket_seconds)
        self.expected_ratio = expected_ratio
        self.tolerance = float(params.get("tolerance", 0.001))
        self.min_loss = float(params.get("min_loss_ratio", 0.02))
        self.min_missing = float(params.get("min_missing", 5))
        share = float(params.get("one_bucket_share", 0.1))
        if not 0 < share < 1:
            raise ValueError(f"check {check.name}: one_bucket_share must be in (0, 1), got {share}")
        self.grid = tuple(float(d) for d in params.get("loss_grid", LOSS_GRID))
        if not self.grid or not all(0 < d < 1 for d in self.grid):
            raise ValueError(f"check {check.name}: loss_grid sizes must be in (0, 1)")
        if expected_ratio is not None and not 0 < expected_ratio <= 1:
            raise ValueError(f"check {check.name}: expected_ratio must be in (0, 1]")
        self.alpha_one_bucket = check.alpha(bucket_seconds) * share
        self.arl0_cusum = check.arl0_buckets(bucket_seconds) / (1.0 - share)
        self.warmup_buckets = max(1, math.ceil(check.warmup / bucket_seconds - 1e-9))
        self.seasonal = bool(params.get("seasonal", True))
        self.relearn_after = float(params.get("relearn_after", 6 * 3600.0))
        self.relearn_max_drop = float(params.get("relearn_max_drop", 0.5))
        self._learn_h: list[int] = []
        self._prof_n: list[float] = []
        self._prof_x: list[float] = []
        self._fit: ShareFit | None = None
        self._fit_cells: list[float] = []
        self._step_origin: float | None = None
        self._step_chunks: list[list[float]] = []
        self._refine = [0.0, 0.0]
        self._refine_left = 0
        self.baseline: Baseline | None = None
        self._first_at: float | None = None
        self._learn_n: list[int] = []
        self._learn_x: list[int] = []
        k = len(self.grid)
        self._w = [0.0] * k
        self._run_n = [0] * k
        self._run_x = [0] * k
        self._a: list[float] = []
        self._b: list[float] = []
        self._alarmed = False
        self._fired_by = 0
        self._run_start = [0.0] * k
        self._late_events = 0.0
        self._late_exposure = 0.0
        self._late_decay = math.exp(-self.bucket_seconds / _LATE_SPAN_SECONDS)
        self._since_refresh = 0
        self._late_since_onset = 0
        self._alarm_missing = 0.0

    def __setstate__(self, state: dict[str, Any]) -> None:
        """A detector pickled before the late tail was learned (a v0 checkpoint) gets its
        defaults: no late tail yet, and no CUSUM run an amendment could reach."""
        self.__dict__.update(state)
        k = len(self.grid)
        self.__dict__.setdefault("_run_start", [math.inf] * k)
        self.__dict__.setdefault("_late_events", 0.0)
        self.__dict__.setdefault("_late_exposure", 0.0)
        self.__dict__.setdefault("_late_decay", math.exp(-self.bucket_seconds / _LATE_SPAN_SECONDS))
        self.__dict__.setdefault("_since_refresh", 0)
        self.__dict__.setdefault("_late_since_onset", 0)
        self.__dict__.setdefault("_alarm_missing", 0.0)
        self.__dict__.setdefault("seasonal", True)
        self.__dict__.setdefault("relearn_after", 6 * 3600.0)
        self.__dict__.setdefault("relearn_max_drop", 0.5)
        # A warm-up pickled without hours cannot learn a profile (lengths differ): constant share.
        self.__dict__.setdefault("_learn_h", [])
        self.__dict__.setdefault("_prof_n", [])
        self.__dict__.setdefault("_prof_x", [])
        self.__dict__.setdefault("_fit", None)
        self.__dict__.setdefault("_fit_cells", [])
        self.__dict__.setdefault("_step_origin", None)
        self.__dict__.setdefault("_step_chunks", [])
        self.__dict__.setdefault("_refine", [0.0, 0.0])
        self.__dict__.setdefault("_refine_left", 0)

    @property
    def threshold(self) -> float | None:
        return None if self.baseline is None else self.baseline.threshold

    def state(self) -> DivergenceState:
        """The learned state, for the checkpoint (``monitor.anomaly.state``)."""
        base = self.baseline
        return DivergenceState(
            baseline=None if base is None else BaselineState(**dataclasses.asdict(base)),
            first_at=self._first_at,
            learn_n=list(self._learn_n),
            learn_x=list(self._learn_x),
            w=list(self._w),
            run_n=list(self._run_n),
            run_x=list(self._run_x),
            a=list(self._a),
            b=list(self._b),
            alarmed=self._alarmed,
            fired_by=self._fired_by,
            late_events=self._late_events,
            late_exposure=self._late_exposure,
            run_start=list(self._run_start),
            since_refresh=self._since_refresh,
            late_since_onset=self._late_since_onset,
            learn_slot=list(self._learn_h),
            profile_n=list(self._prof_n),
            profile_x=list(self._prof_x),
            profile_fit=list(self._fit_cells),
            step_origin=self._step_origin,
            step_chunks=[list(c) for c in self._step_chunks],
            refine=list(self._refine),
            refine_left=self._refine_left,
            alarm_missing=self._alarm_missing,
        )

    def restore(self, state: DivergenceState) -> None:
        """Resume a detector built from the same check and edge (the CUSUMs' count is the
        check's loss grid: a record of another grid is refused)."""
        if not isinstance(state, DivergenceState):
            raise TypeError(f"not a divergence detector's state: {type(state).__name__}")
        if not len(state.w) == len(state.run_n) == len(state.run_x) == len(self.grid):
            raise ValueError("divergence state of another loss grid")
        base = state.baseline
        self.baseline = None if base is None else Baseline(**msgspec.structs.asdict(base))
        self._first_at = state.first_at
        self._learn_n, self._learn_x = list(state.learn_n), list(state.learn_x)
        self._w, self._run_n, self._run_x = list(state.w), list(state.run_n), list(state.run_x)
        self._a, self._b = list(state.a), list(state.b)
        self._alarmed, self._fired_by = state.alarmed, state.fired_by
        self._late_events, self._late_exposure = state.late_events, state.late_exposure
        k = len(self.grid)
        # An older checkpoint has no run starts: +inf means "no amendment reaches this run".
        self._run_start = list(state.run_start) if len(state.run_start) == k else [math.inf] * k
        self._since_refresh, self._late_since_onset = state.since_refresh, state.late_since_onset
        self._learn_h = list(state.learn_slot)
        if state.learn_h and not state.learn_slot:  # hours of an older warm-up: their middles
            self._learn_h = [h * (_SLOTS // _HOURS) + _SLOTS // _HOURS // 2 for h in state.learn_h]
        self._prof_n, self._prof_x = list(state.profile_n), list(state.profile_x)
        if len(self._prof_n) == _HOURS:  # an older profile by hour: each hour's quarters alike
            q = _SLOTS // _HOURS
            self._prof_n = [v / q for v in self._prof_n for _ in range(q)]
            self._prof_x = [v / q for v in self._prof_x for _ in range(q)]
        self._fit_cells, self._fit = list(state.profile_fit), None
        self._step_origin = state.step_origin
        self._step_chunks = [list(c) for c in state.step_chunks]
        self._refine = list(state.refine) if len(state.refine) == 2 else [0.0, 0.0]
        self._refine_left = state.refine_left
        self._alarm_missing = state.alarm_missing

    def update(self, at: float, point: tuple[int, int]) -> Score:
        expected, arrived = int(point[0]), int(point[1])
        if expected < 0 or arrived < 0:
            raise ValueError(f"negative counts {point!r} at {at}")
        arrived = min(arrived, expected)  # duplicates and late arrivals are not deliveries
        self._late_events *= self._late_decay
        self._late_exposure = self._late_exposure * self._late_decay + expected
        if self.baseline is None:
            return self._learn(at, expected, arrived)
        return self._judge(at, expected, arrived)

    # -- warm-up --------------------------------------------------------------------------------

    def _learn(self, at: float, n: int, x: int) -> Score:
        if self._first_at is None:
            self._first_at = at
        self._learn_n.append(n)
        self._learn_x.append(x)
        self._learn_h.append(_slot(at))
        seen = len(self._learn_n)
        if seen >= self.warmup_buckets and sum(self._learn_n) >= self.check.min_events:
            self._finish_learning(at)
        return Score(
            at,
            0.0,
            CheckState.LEARNING,
            evidence={"buckets_seen": seen, "buckets_needed": self.warmup_buckets},
        )

    def _finish_learning(self, at: float) -> None:
        n = np.asarray(self._learn_n, dtype=float)
        x = np.asarray(self._learn_x, dtype=float)
        total_n, total_x = int(n.sum()), int(x.sum())
        observed = total_x / total_n
        dispersion = 1.0
        late = 0.0
        if self.expected_ratio is not None:
            ratio = self.expected_ratio
            late = self._late_upper()
            delivery = ratio * (1.0 - self.tolerance) * (1.0 - late)
        else:
            ratio = observed
            fitted = np.full_like(n, observed)
            params = 1
            profile = self._seasonal_profile(n, x, observed)
            if profile is not None:
                # The spread is the residual one around the fitted daily share, not the total.
                fit = fit_daily_share(profile[0], profile[1], profile[2])
                slots = np.asarray(self._learn_h, dtype=int)
                centres = (np.arange(_SLOTS) + 0.5) * _HOURS / _SLOTS
                fitted = np.asarray([fit.at(float(c))[0] for c in centres])[slots]
                params = _SLOTS if fit.harmonics < 0 else 2 * fit.harmonics + 1
            used = (n > 0) & (fitted > 0) & (fitted < 1)
            if 0 < observed < 1 and used.sum() > params:
                f = fitted[used]
                resid = (x[used] - n[used] * f) ** 2 / (n[used] * f * (1 - f))
                dof = int(used.sum()) - params
                phi = float(resid.sum()) / dof
                if phi > 1.0 + 3.0 * math.sqrt(2.0 / dof):  # clearly over-dispersed
                    # An upper bound (two standard errors of a chi-square over its dof), as the
                    # tested share is a lower one: a day's estimate of φ is itself noisy, and an
                    # underestimate reads ordinary spread as loss.
                    dispersion = phi * (1.0 + 2.0 * math.sqrt(2.0 / dof))
            if profile is not None:
                self._prof_n = [float(v) for v in profile[0]]
                self._prof_x = [float(v) for v in profile[1]]
            se = math.sqrt(dispersion * observed * (1.0 - observed) / total_n)
            delivery = min(observed - 2.0 * se, observed * (1.0 - self.tolerance))
        mean_expected = total_n / len(n)
        delivery, threshold = self._calibrate(delivery, mean_expected, dispersion)
        self.baseline = Baseline(
            ratio=ratio,
            delivery=max(delivery, 0.0),
            learned=self.expected_ratio is None,
            observed_ratio=observed,
            dispersion=dispersion,
            mean_expected=mean_expected,
            events=total_n,
            start=float(self._first_at if self._first_at is not None else at),
            end=at + self.bucket_seconds,
            threshold=threshold,
            late_discount=late,
        )
        self._learn_n, self._learn_x, self._learn_h = [], [], []

    def _seasonal_profile(
        self, n: np.ndarray, x: np.ndarray, observed: float
    ) -> tuple[np.ndarray, np.ndarray, float] | None:
        """Expected and arrived events per quarter hour of the day, and the dispersion within the
        hours, when the share clearly varies by hour (a chi-square of the 24 hours against the
        pooled share, scaled by that dispersion); ``None`` for a constant share, every hour not
        yet seen, or a disabled profile."""
        if not self.seasonal or len(self._learn_h) != len(n) or not 0 < observed < 1:
            return None
        slots = np.asarray(self._learn_h, dtype=int)
        hours = slots * _HOURS // _SLOTS
        cn = np.bincount(hours, weights=n, minlength=_HOURS)
        cx = np.bincount(hours, weights=x, minlength=_HOURS)
        if (cn < max(1.0, self.min_missing)).any():
            return None
        rc = cx / cn
        if ((rc <= 0) | (rc >= 1)).any():
            return None
        used = n > 0
        if int(used.sum()) <= 2 * _HOURS:
            return None
        f = rc[hours[used]]
        within = float(((x[used] - n[used] * f) ** 2 / (n[used] * f * (1 - f))).sum())
        phi = max(1.0, within / (int(used.sum()) - _HOURS))
        between = float(((cx - cn * observed) ** 2 / (cn * observed * (1 - observed))).sum())
        dof = _HOURS - 1
        if between / phi <= dof + 3.0 * math.sqrt(2.0 * dof):
            return None
        sn = np.bincount(slots, weights=n, minlength=_SLOTS)
        sx = np.bincount(slots, weights=x, minlength=_SLOTS)
        return sn, sx, phi

    def _expect(self, at: float) -> tuple[float, float]:
        """The share expected in the bucket at ``at`` and the delivery tested there: the learned
        share, or a seasonal profile between its two nearest hours' cells, less two standard
        errors."""
        base = self.baseline
        assert base is not None
        if not self._prof_n:
            return base.ratio, base.delivery
        # At the bucket's middle: a share that moves through the hour would otherwise sit off by
        # up to half a bucket's change.
        r, var = self._share_fit(at).at((at + self.bucket_seconds / 2) % 86400.0 / 3600.0)
        se = math.sqrt(base.dispersion * var) if 0 < r < 1 and var > 0 else 0.0
        delivery = min(r - 2.0 * se, r * (1.0 - self.tolerance), 1.0 - self.tolerance)
        return r, max(delivery, 0.0)

    def _share_fit(self, at: float) -> ShareFit:
        """The daily share fitted to the cells as they were at the first bucket of this hour
        (refitted once an hour: the cells move by one bucket at a time). The cells of the fit are
        kept in the checkpoint, so a restored detector tests the same shares."""
        key = float(at // 3600.0)
        if self._fit_cells and self._fit_cells[0] == key:
            if self._fit is None:
                cells = self._fit_cells[1:]
                half = len(cells) // 2
                self._fit = self._fit_to(cells[:half], cells[half:])
            return self._fit
        self._fit_cells = [key, *self._prof_n, *self._prof_x]
        self._fit = self._fit_to(self._prof_n, self._prof_x)
        return self._fit

    def _fit_to(self, cn: list[float], cx: list[float]) -> ShareFit:
        disp = self.baseline.dispersion if self.baseline is not None else 1.0
        return fit_daily_share(np.asarray(cn), np.asarray(cx), disp)

    def _coefficients(self, delivery: float) -> list[float]:
        """The ``b`` coefficients at a bucket's own tested delivery (a seasonal profile)."""
        if not self._prof_n:
            return self._b
        disp = self.baseline.dispersion if self.baseline is not None else 1.0
        return [math.log((1.0 - delivery * (1.0 - d)) / (1.0 - delivery)) / disp for d in self.grid]

    def _weight(self, n: int) -> float:
        """``φ̄ / φ(n)``: how much more (or less) a bucket of ``n`` events weighs than the mean
        bucket whose dispersion ``φ̄`` the coefficients are divided by. A share drawn afresh per
        bucket (beta-binomial, intra-bucket correlation ``ρ = (φ̄ − 1)/(n̄ − 1)``) spreads a
        bucket of ``n`` by ``φ(n) = 1 + (n − 1)·ρ``: a constant ``φ̄`` overstates the evidence of a
        busy afternoon bucket and understates a quiet night's, and the busy ones cried wolf."""
        base = self.baseline
        if base is None or base.dispersion <= 1.0 or base.mean_expected <= 1.0 or n <= 1:
            return 1.0
        rho = (base.dispersion - 1.0) / (base.mean_expected - 1.0)
        return base.dispersion / (1.0 + (n - 1) * rho)

    def _learn_profile(self, at: float, n: int, x: int) -> None:
        """Fold a bucket judged OK into its quarter hour's cell (never a bucket of an alarm)."""
        if not self._prof_n or n == 0:
            return
        h = _slot(at)
        decay = math.exp(-_SLOTS * self.bucket_seconds / _PROFILE_SPAN_SECONDS)
        self._prof_n[h] = self._prof_n[h] * decay + n
        self._prof_x[h] = self._prof_x[h] * decay + x

    def _calibrate(
        self, delivery: float, mean_expected: float, dispersion: float
    ) -> tuple[float, float]:
        """Set the LLR coefficients for ``delivery``; return it (capped) and the CUSUM's ``h``."""
        if delivery <= 0:
            self._a, self._b = [], []
            return 0.0, math.inf
        delivery = min(delivery, 1.0 - self.tolerance)
        threshold = calibrate_threshold(
            float(f"{mean_expected:.2g}"),
            math.floor(delivery * 1e4) / 1e4,
            round(self.arl0_cusum),
            self.grid,
        )
        a, b = _llr_coefficients(delivery, self.grid)
        self._a = [float(v) / dispersion for v in a]
        self._b = [float(v) / dispersion for v in b]
        return delivery, threshold

    def _late_upper(self) -> float:
        """An upper bound on the late tail's share: (L + 3·√L) / exposure, at most 50%."""
        if self._late_exposure <= 0 or self._late_events <= 0:
            return 0.0
        ev = self._late_events
        return min(0.5, (ev + 3.0 * math.sqrt(ev)) / self._late_exposure)

    def _refresh_late(self) -> None:
        """Once per warm-up length while quiet, re-test a promised edge at its current late tail
        (only when it moved noticeably: each new delivery costs a threshold calibration)."""
        base = self.baseline
        if base is None or self.expected_ratio is None or self._alarmed or any(self._w):
            return
        self._since_refresh += 1
        if self._since_refresh < self.warmup_buckets:
            return
        self._since_refresh = 0
        late = self._late_upper()
        if abs(late - base.late_discount) <= max(1e-4, 0.1 * base.late_discount):
            return
        delivery = base.ratio * (1.0 - self.tolerance) * (1.0 - late)
        delivery, threshold = self._calibrate(delivery, base.mean_expected, base.dispersion)
        self.baseline = dataclasses.replace(
            base, delivery=delivery, threshold=threshold, late_discount=late
        )

    def amend(self, at: float, late: int) -> Score | None:
        """``late`` more events of the bucket at ``at`` arrived after it was judged (after the
        allowed lateness). They count towards the late tail, and are credited back to every CUSUM
        whose run includes that bucket: a shortfall that turns out late is not loss. Returns a
        score only when this resolves a firing alert ("late, not lost")."""
        if late <= 0:
            return None
        self._late_events += late
        if self.baseline is None or not self._a:
            return None
        w, run_n, run_x = self._w, self._run_n, self._run_x
        fired = self._fired_by
        if self._alarmed and run_n[fired] and at >= self._run_start[fired]:
            self._late_since_onset += late
        b = self._coefficients(self._expect(at)[1])
        for k in range(len(w)):
            if run_n[k] and at >= self._run_start[k]:
                w[k] = max(0.0, w[k] + late * (self._a[k] - b[k]))
                run_x[k] += late
                if w[k] == 0.0:
                    run_n[k], run_x[k] = 0, 0
        if not self._alarmed or w[self._fired_by] > 0.0:
            return None
        # The edge has a late tail it had not learned: re-test it at the tail at the next bucket
        # instead of a warm-up length later, or the same tail fires again at once.
        self._since_refresh = self.warmup_buckets
        evidence: dict[str, Any] = {
            "resolved": True,
            "late_not_lost": True,
            "late": late,
            "late_since_onset": self._late_since_onset,
            **self.baseline.as_evidence(),
        }
        self._resolve()
        return self._score(at, 0.0, evidence)

    def _resolve(self) -> None:
        """Restart every statistic from 0."""
        self._alarmed = False
        self._late_since_onset = 0
        self._alarm_missing = 0.0
        self._step_origin, self._step_chunks = None, []
        for k in range(len(self._w)):
            self._w[k], self._run_n[k], self._run_x[k] = 0.0, 0, 0

    # -- monitoring -----------------------------------------------------------------------------

    def _judge(self, at: float, n: int, x: int) -> Score:
        self._refresh_late()
        if self._alarmed and self.relearn_after > 0:
            relearned = self._relearn(at)
            if relearned is not None:
                return relearned
        base = self.baseline
        assert base is not None
        h = base.threshold
        evidence: dict[str, Any] = {"expected": n, "arrived": x, **base.as_evidence()}
        ratio, delivery = self._expect(at)
        if not self._a or n == 0 or delivery <= 0:  # nothing can be lost: inert edge, empty bucket
            return self._score(at, 0.0 if not self._a else max(self._w) / h, evidence)
        if self._prof_n:
            evidence["expected_ratio"] = round(ratio, 6)
            evidence["tested_delivery"] = round(delivery, 6)
        b = self._coefficients(delivery)

        expected_arrivals = n * ratio
        shortfall = expected_arrivals - x
        bucket_loss = shortfall / expected_arrivals
        evidence["expected_arrivals"] = round(expected_arrivals, 3)
        evidence["bucket_loss"] = round(bucket_loss, 6)
        one_bucket = False
        if shortfall >= self.min_missing and bucket_loss >= self.min_loss:
            # The measured over-dispersion widens the one-bucket tail too (beta-binomial), not
            # only the CUSUMs: a mix that varies per bucket is not loss.
            pvalue = shortfall_pvalue(n, x, delivery, base.dispersion, base.mean_expected)
            evidence["p_value"] = pvalue
            evidence["alpha"] = self.alpha_one_bucket
            one_bucket = pvalue < self.alpha_one_bucket

        w, run_n, run_x = self._w, self._run_n, self._run_x
        weight = self._weight(n)
        for k in range(len(w)):
            v = w[k] + weight * (x * self._a[k] + (n - x) * b[k])
            if v <= 0.0:
                w[k], run_n[k], run_x[k] = 0.0, 0, 0
            else:
                if run_n[k] == 0:
                    self._run_start[k] = at
                w[k] = min(v, h) if self._alarmed else v
                run_n[k] += n
                run_x[k] += x
        best = max(range(len(w)), key=w.__getitem__)
        statistic = w[best]
        run_loss = 1.0 - run_x[best] / (run_n[best] * ratio) if run_n[best] else 0.0
        run_missing = run_n[best] * ratio - run_x[best]
        # The absolute floor: enough events in the run, or enough of them missing. On a quiet
        # edge the second lets a large loss alarm before ``min_events`` have gone by.
        enough = run_n[best] >= self.check.min_events or run_missing >= self.min_missing
        cusum = statistic >= h and enough and run_loss >= self.min_loss
        evidence.update(
            statistic=round(statistic, 4),
            threshold=round(h, 4),
            loss_size=self.grid[best],
            estimated_loss=round(run_loss, 6),
            run_expected=run_n[best],
            run_arrived=run_x[best],
        )
        if not self._alarmed:
            if one_bucket or cusum:
                self._alarmed = True
                self._fired_by = best
                evidence["onset"] = True
                evidence["trigger"] = "one_bucket" if one_bucket else "cusum"
                self._alarm_missing = max(run_missing, shortfall)
                for k in range(len(w)):
                    w[k] = min(w[k], h)
                self._step_origin, self._step_chunks = at, []
        elif w[self._fired_by] == 0.0:  # resolved: restart every statistic from 0
            if self._late_since_onset:
                evidence["late_since_onset"] = self._late_since_onset
                if self._late_since_onset >= 0.5 * self._alarm_missing:
                    # Most of what the alarm found missing has arrived since, after the allowed
                    # lateness: the clean buckets drained it first, but it was late, not lost.
                    evidence["late_not_lost"] = True
                    evidence["late"] = self._late_since_onset
            self._resolve()
            evidence["resolved"] = True
        else:
            self._alarm_missing += shortfall
        if self._alarmed:
            self._track_step(at, n, x, expected_arrivals)
            self._follow_loss_size()
        else:
            self._learn_profile(at, n, x)
            self._refine_share(n, x)
        score = 1.0 if one_bucket else statistic / h
        return self._score(at, score, evidence)

    # -- a lasting step -------------------------------------------------------------------------

    def _chunk_index(self, at: float) -> int:
        if self._step_origin is None:
            self._step_origin = at  # an alarm restored from a checkpoint without its origin
        size = max(self.relearn_after / _STEP_CHUNKS, self.bucket_seconds)
        return int((at - self._step_origin) // size)

    def _track_step(self, at: float, n: int, x: int, expected_arrivals: float) -> None:
        """Sum an alarm's buckets per chunk of ``relearn_after / 6``: [index, arrived, expected
        arrivals, expected]."""
        if self.relearn_after <= 0 or self.expected_ratio is not None:
            return
        idx = self._chunk_index(at)
        chunks = self._step_chunks
        if chunks and chunks[-1][0] == idx:
            c = chunks[-1]
            c[1], c[2], c[3] = c[1] + x, c[2] + expected_arrivals, c[3] + n
        else:
            chunks.append([float(idx), float(x), float(expected_arrivals), float(n)])

    def _follow_loss_size(self) -> None:
        """A learned edge's alarm holds on the loss size nearest the loss measured over its last
        ``relearn_after`` (not on the size that fired first): a step of the share that the first
        buckets overstated (fired by 20% for an 11% step) would otherwise drain that CUSUM,
        resolve and fire again. A loss that stops still drains the size that matches it."""
        if not self._step_chunks:
            return
        expected = sum(c[2] for c in self._step_chunks)
        if expected <= 0:
            return
        loss = 1.0 - sum(c[1] for c in self._step_chunks) / expected
        if loss <= 0:
            return
        near = min(range(len(self.grid)), key=lambda k: abs(math.log(self.grid[k] / loss)))
        if self._w[near] > 0.0 and self._w[near] >= self._w[self._fired_by]:
            self._fired_by = near  # as strong as the one it replaces: both at the cap

    def _refine_share(self, n: int, x: int) -> None:
        """After a re-learn of a constant share, pool the buckets judged OK for one warm-up length
        with the window, then re-test at the pooled share (two standard errors below it)."""
        if self._refine_left <= 0 or n == 0:
            return
        self._refine[0] += n
        self._refine[1] += x
        self._refine_left -= 1
        base = self.baseline
        if self._refine_left or base is None:
            return
        events, arrived = self._refine
        ratio = arrived / events
        se = math.sqrt(base.dispersion * ratio * (1.0 - ratio) / events) if ratio < 1 else 0.0
        delivery = min(ratio - 2.0 * se, ratio * (1.0 - self.tolerance))
        delivery, threshold = self._calibrate(delivery, base.mean_expected, base.dispersion)
        self.baseline = dataclasses.replace(
            base,
            ratio=ratio,
            delivery=delivery,
            observed_ratio=ratio,
            events=int(events),
            threshold=threshold,
        )
        self._refine = [0.0, 0.0]

    def _relearn(self, at: float) -> Score | None:
        """At the start of each chunk of a learned edge's alarm: when the last ``relearn_after``
        (6 chunks) show a stable share, a drop of at most ``relearn_max_drop``, the share has
        changed and stays. The alert already fired; re-baseline to the new level (the expected
        share, or every hour's cell, times the observed level) and resolve with a summary."""
        if self.expected_ratio is not None or not self._step_chunks:
            return None
        idx = self._chunk_index(at)
        chunks = self._step_chunks
        if chunks[-1][0] == idx:
            return None  # not a new chunk
        if len(chunks) < _STEP_CHUNKS or chunks[-_STEP_CHUNKS][0] != idx - _STEP_CHUNKS:
            del chunks[: max(0, len(chunks) - _STEP_CHUNKS + 1)]
            return None
        window = chunks[-_STEP_CHUNKS:]
        arrived = sum(c[1] for c in window)
        expected = sum(c[2] for c in window)
        events = sum(c[3] for c in window)
        base = self.baseline
        if base is None or expected <= 0 or events <= 0:
            return None
        level = arrived / expected
        chi2, spread = 0.0, 0.0
        for _, xk, ek, nk in window:
            if ek <= 0:
                continue
            mean = level * ek
            var = base.dispersion * mean * max(1.0 - mean / nk, 1e-9)
            chi2 += (xk - mean) ** 2 / var
            spread = max(spread, abs(xk / mean - 1.0))
        dof = _STEP_CHUNKS - 1
        stable = chi2 <= dof + 3.0 * math.sqrt(2.0 * dof) or spread <= self.min_loss
        if not stable or not 1.0 - self.relearn_max_drop <= level < 1.0:
            del chunks[0]  # slide: the oldest chunk leaves the window
            return None
        before = base.ratio
        after = before * level
        if self._prof_n:
            # The shape by hour stays; the cells weigh no more than the window measured the new
            # level on, so the buckets judged OK from now on re-learn it quickly.
            weight = min(1.0, events / sum(self._prof_n))
            self._prof_n = [v * weight for v in self._prof_n]
            self._prof_x = [v * level * weight for v in self._prof_x]
            self._fit_cells, self._fit = [], None
        else:
            # A constant share: a second warm-up from the window on refines the level.
            self._refine, self._refine_left = [events, arrived], self.warmup_buckets
        se = math.sqrt(base.dispersion * after * (1.0 - after) / events) if after < 1 else 0.0
        delivery = min(after - 2.0 * se, after * (1.0 - self.tolerance))
        delivery, threshold = self._calibrate(delivery, base.mean_expected, base.dispersion)
        start = self._step_origin if self._step_origin is not None else at
        self.baseline = dataclasses.replace(
            base,
            ratio=after,
            delivery=delivery,
            observed_ratio=arrived / events,
            events=int(events),
            start=float(start),
            end=at,
            threshold=threshold,
        )
        evidence: dict[str, Any] = {
            "resolved": True,
            "relearned": True,
            "share_before": round(before, 6),
            "share_after": round(after, 6),
            "relearn_summary": (
                f"share changed from {before:.1%} to {after:.1%} and stays; re-learned"
            ),
            **self.baseline.as_evidence(),
        }
        self._resolve()
        return self._score(at, 0.0, evidence)

    def _score(self, at: float, score: float, evidence: dict[str, Any]) -> Score:
        state = CheckState.FIRING if self._alarmed else CheckState.OK
        return Score(at, clamp01(score), state, self._alarmed, evidence)


def _slot(at: float) -> int:
    """Quarter hour of the day (UTC, 0–95) of a bucket start."""
    return int(at % 86400.0 // (86400.0 / _SLOTS))
