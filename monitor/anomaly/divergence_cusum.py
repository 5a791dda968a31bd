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

__all__ = ["LOSS_GRID", "Baseline", "DivergenceDetector", "calibrate_threshold"]

LOSS_GRID: tuple[float, ...] = (0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)
"""Loss sizes with one CUSUM each; consecutive ratios ≤ 1.5."""

_MIN_TAIL_COUNT = 400


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

    def as_evidence(self) -> dict[str, Any]:
        return {
            "baseline_ratio": self.ratio,
            "baseline_learned": self.learned,
            "baseline_observed_ratio": round(self.observed_ratio, 6),
            "baseline_period": (self.start, self.end),
            "baseline_events": self.events,
            "tested_delivery": round(self.delivery, 6),
            "dispersion": round(self.dispersion, 4),
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

    def update(self, at: float, point: tuple[int, int]) -> Score:
        expected, arrived = int(point[0]), int(point[1])
        if expected < 0 or arrived < 0:
            raise ValueError(f"negative counts {point!r} at {at}")
        arrived = min(arrived, expected)  # duplicates and late arrivals are not deliveries
        if self.baseline is None:
            return self._learn(at, expected, arrived)
        return self._judge(at, expected, arrived)

    # -- warm-up --------------------------------------------------------------------------------

    def _learn(self, at: float, n: int, x: int) -> Score:
        if self._first_at is None:
            self._first_at = at
        self._learn_n.append(n)
        self._learn_x.append(x)
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
        if self.expected_ratio is not None:
            ratio = self.expected_ratio
            delivery = ratio * (1.0 - self.tolerance)
        else:
            ratio = observed
            used = n > 0
            if 0 < observed < 1 and used.sum() > 1:
                resid = (x[used] - n[used] * observed) ** 2 / (n[used] * observed * (1 - observed))
                dof = int(used.sum()) - 1
                phi = float(resid.sum()) / dof
                if phi > 1.0 + 3.0 * math.sqrt(2.0 / dof):  # clearly over-dispersed
                    dispersion = phi
            se = math.sqrt(dispersion * observed * (1.0 - observed) / total_n)
            delivery = min(observed - 2.0 * se, observed * (1.0 - self.tolerance))
        mean_expected = total_n / len(n)
        threshold = math.inf
        if delivery > 0:
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
        )
        self._learn_n, self._learn_x = [], []

    # -- monitoring -----------------------------------------------------------------------------

    def _judge(self, at: float, n: int, x: int) -> Score:
        base = self.baseline
        assert base is not None
        h = base.threshold
        evidence: dict[str, Any] = {"expected": n, "arrived": x, **base.as_evidence()}
        if not self._a or n == 0:  # nothing can be lost: inert edge or empty bucket
            return self._score(at, 0.0 if not self._a else max(self._w) / h, evidence)

        expected_arrivals = n * base.ratio
        shortfall = expected_arrivals - x
        bucket_loss = shortfall / expected_arrivals
        evidence["expected_arrivals"] = round(expected_arrivals, 3)
        evidence["bucket_loss"] = round(bucket_loss, 6)
        one_bucket = False
        if shortfall >= self.min_missing and bucket_loss >= self.min_loss:
            # The measured over-dispersion widens the one-bucket tail too (beta-binomial), not
            # only the CUSUMs: a mix that varies per bucket is not loss.
            pvalue = shortfall_pvalue(n, x, base.delivery, base.dispersion, base.mean_expected)
            evidence["p_value"] = pvalue
            evidence["alpha"] = self.alpha_one_bucket
            one_bucket = pvalue < self.alpha_one_bucket

        w, run_n, run_x = self._w, self._run_n, self._run_x
        for k in range(len(w)):
            v = w[k] + x * self._a[k] + (n - x) * self._b[k]
            if v <= 0.0:
                w[k], run_n[k], run_x[k] = 0.0, 0, 0
            else:
                w[k] = min(v, h) if self._alarmed else v
                run_n[k] += n
                run_x[k] += x
        best = max(range(len(w)), key=w.__getitem__)
        statistic = w[best]
        run_loss = 1.0 - run_x[best] / (run_n[best] * base.ratio) if run_n[best] else 0.0
        run_missing = run_n[best] * base.ratio - run_x[best]
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
                for k in range(len(w)):
                    w[k] = min(w[k], h)
        elif w[self._fired_by] == 0.0:  # resolved: restart every statistic from 0
            self._alarmed = False
            for k in range(len(w)):
                w[k], run_n[k], run_x[k] = 0.0, 0, 0
            evidence["resolved"] = True
        score = 1.0 if one_bucket else statistic / h
        return self._score(at, score, evidence)

    def _score(self, at: float, score: float, evidence: dict[str, Any]) -> Score:
        state = CheckState.FIRING if self._alarmed else CheckState.OK
        return Score(at, clamp01(score), state, self._alarmed, evidence)
