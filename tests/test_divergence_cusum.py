"""The sequential divergence check and the CUSUM delay floor: exact numbers on constructed series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.anomaly.divergence import shortfall_pvalue
from monitor.anomaly.divergence_cusum import (
    LOSS_GRID,
    DivergenceDetector,
    calibrate_threshold,
)
from monitor.anomaly.floor import (
    binomial_information,
    cumulative_floor,
    cusum_floor,
    diffusion_threshold,
    poisson_floor,
    poisson_information,
)
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Target

ARL0 = 30 * 24 * 60  # one false alarm per 30 days of minute buckets
WARMUP = 60  # buckets


def check(**kw) -> CheckDef:
    kw.setdefault("warmup", WARMUP * 60.0)
    return CheckDef(
        "edge-loss", CheckKind.DIVERGENCE, Target("signup", edge="identity->activation"), **kw
    )


def warmed(expected: int, arrived: int, ratio: float | None = None) -> DivergenceDetector:
    det = DivergenceDetector(check(), 60.0, expected_ratio=ratio)
    for i in range(WARMUP):
        assert det.update(i * 60.0, (expected, arrived)).state is CheckState.LEARNING
    return det


# -- the floor: the DETECTION-LIMITS table, recomputed by hand -----------------------------------

FLOOR_ROWS = [
    # mu0, d, first order ln(ARL0)/I, diffusion delay (both from the DETECTION-LIMITS table)
    (100, 0.1, 20.6, 17.4),
    (100, 0.2, 4.97, 4.86),
    (100, 0.5, 0.70, 0.81),
    (10, 0.1, 206, 130),
    (10, 0.2, 49.7, 37.9),
    (10, 0.5, 6.96, 6.58),
]


@pytest.mark.parametrize(
    ("mu0", "d", "first", "diffusion"),
    FLOOR_ROWS,
    ids=[f"mu0={r[0]} drop={r[1]:.0%} matches the table" for r in FLOOR_ROWS],
)
def test_floor_reproduces_the_detection_limits_table(mu0, d, first, diffusion):
    info = mu0 * ((1 - d) * math.log(1 - d) + d)  # KL(Pois(mu1) || Pois(mu0)) by hand
    assert poisson_information(mu0, d) == pytest.approx(info, rel=1e-12)
    fl = poisson_floor(mu0, d, ARL0)
    assert fl.first_order == pytest.approx(math.log(43_200) / info, rel=1e-12)
    assert fl.first_order == pytest.approx(first, rel=0.006, abs=0.005)
    assert fl.diffusion == pytest.approx(diffusion, rel=0.006, abs=0.005)
    # h solves the diffusion ARL0 equation exactly, and delay = (h + e^-h - 1)/I
    h = fl.diffusion_h
    assert (math.exp(h) - h - 1) / info == pytest.approx(ARL0, rel=1e-9)
    assert fl.diffusion == pytest.approx((h + math.exp(-h) - 1) / info, rel=1e-12)
    assert fl.floor == max(1.0, fl.diffusion)


def test_hand_computed_floor_for_ten_percent_at_100_per_minute():
    # I = 100·(0.9·ln 0.9 + 0.1) = 100·(−0.0948245 + 0.1) = 0.517554
    fl = poisson_floor(100, 0.1, ARL0)
    assert fl.information == pytest.approx(0.517554, abs=1e-6)
    # first order: ln 43200 / I = 10.673596 / 0.517554 = 20.6232
    assert fl.first_order == pytest.approx(20.6232, abs=1e-3)
    # diffusion: I·ARL0 = 22358.3; h = ln(22358.3 + h + 1) = 10.01552; (h − 1 + e^−h)/I = 17.4195
    assert fl.diffusion_h == pytest.approx(10.01552, abs=1e-4)
    assert fl.diffusion == pytest.approx(17.4195, abs=1e-3)


def test_a_delay_below_one_bucket_is_floored_at_one_bucket():
    assert poisson_floor(100, 0.5, ARL0).diffusion < 1
    assert poisson_floor(100, 0.5, ARL0).floor == 1.0


def test_binomial_information_is_n_times_the_bernoulli_kl_and_tends_to_poisson():
    # p0 = 0.8, d = 10%: p1 = 0.72; KL = 0.72·ln(0.9) + 0.28·ln(0.28/0.2)
    assert binomial_information(100, 0.8, 0.1) == pytest.approx(
        100 * (0.72 * math.log(0.9) + 0.28 * math.log(1.4)), rel=1e-12
    )
    assert binomial_information(1e6, 1e-4, 0.2) == pytest.approx(
        poisson_information(100, 0.2), rel=1e-3
    )


def test_cumulative_floor_counts_buckets_until_the_information_target():
    info = 0.5
    h = diffusion_threshold(info, ARL0)
    target = h + math.exp(-h) - 1  # nats of information needed
    constant = cumulative_floor([info] * 1000, info, ARL0)
    assert constant == pytest.approx(cusum_floor(info, ARL0).diffusion, rel=1e-12)
    # double the information after the change: half the buckets
    assert cumulative_floor([2 * info] * 1000, info, ARL0) == pytest.approx(target / (2 * info))
    assert cumulative_floor([info] * 3, info, ARL0) == math.inf


# -- calibration: simulated h against the exact Brook–Evans values of DETECTION-LIMITS -----------


@pytest.mark.parametrize(
    ("mu0", "d", "h_exact"),
    [(100, 0.1, 8.86), (100, 0.2, 9.13), (10, 0.1, 7.34), (10, 0.2, 8.44)],
    ids=lambda v: str(v),
)
def test_simulated_threshold_matches_the_exact_poisson_cusum_threshold(mu0, d, h_exact):
    # a rare delivery (p0 = 1%) of 100·mu0 expected events is a Poisson(mu0) count
    h = calibrate_threshold(100 * mu0, 0.01, ARL0, (d,))
    assert h == pytest.approx(h_exact, abs=0.15)


# -- the detector --------------------------------------------------------------------------------


def test_learning_during_warmup_then_ok():
    det = DivergenceDetector(check(), 60.0, expected_ratio=None)
    states = [det.update(i * 60.0, (100, 90)).state for i in range(WARMUP + 2)]
    assert states == [CheckState.LEARNING] * WARMUP + [CheckState.OK] * 2
    assert det.baseline is not None
    assert det.baseline.ratio == pytest.approx(0.9)
    assert det.baseline.start == 0.0
    assert det.baseline.end == WARMUP * 60.0


def test_a_twenty_percent_drop_on_an_all_edge_is_found_in_its_first_bucket():
    det = warmed(100, 100, ratio=1.0)
    k = WARMUP + 30
    scores = [det.update(i * 60.0, (100, 100)) for i in range(WARMUP, k)]
    assert not any(s.alert for s in scores)
    drop = det.update(k * 60.0, (100, 80))
    assert drop.alert and drop.state is CheckState.FIRING and drop.score == 1.0
    ev = drop.evidence
    assert ev["trigger"] == "one_bucket"
    assert ev["p_value"] == shortfall_pvalue(100, 80, 0.999)
    assert (ev["expected"], ev["arrived"], ev["expected_arrivals"]) == (100, 80, 100.0)
    assert ev["bucket_loss"] == pytest.approx(0.2)
    assert ev["baseline_ratio"] == 1.0 and ev["tested_delivery"] == 0.999
    assert ev["baseline_period"] == (0.0, WARMUP * 60.0)


def test_a_fifty_percent_loss_is_found_by_the_one_bucket_test_in_the_first_bucket():
    det = warmed(100, 90)
    first = det.update(WARMUP * 60.0, (100, 45))
    assert first.alert and first.evidence["trigger"] == "one_bucket"
    assert first.evidence["p_value"] < first.evidence["alpha"] == pytest.approx(0.1 / ARL0)


def test_a_three_percent_sustained_loss_is_found_by_the_cusum_at_the_computed_bucket():
    det = warmed(1000, 900)
    base = det.baseline
    # delivery tested: p̂ − 2·SE with SE = sqrt(0.9·0.1 / 60,000) (no over-dispersion: χ² = 0)
    delivery = 0.9 - 2 * math.sqrt(0.09 / (1000 * WARMUP))
    assert base.delivery == pytest.approx(delivery, rel=1e-12)
    h = det.threshold
    # each lossy bucket (873 of 1000 arrive) adds the same LLR to the CUSUM of loss size d
    llr = [
        873 * math.log(1 - d) + 127 * math.log((1 - delivery * (1 - d)) / (1 - delivery))
        for d in LOSS_GRID
    ]
    best = max(llr)
    assert best > 0 and shortfall_pvalue(1000, 873, delivery) > 0.1 / ARL0  # one bucket: quiet
    buckets = math.ceil(h / best)
    assert buckets > 1
    k = WARMUP + 10
    for i in range(WARMUP, k):
        assert not det.update(i * 60.0, (1000, 900)).alert
    alerts = [det.update((k + j) * 60.0, (1000, 873)) for j in range(buckets)]
    assert [s.alert for s in alerts] == [False] * (buckets - 1) + [True]
    fired = alerts[-1].evidence
    assert fired["trigger"] == "cusum"
    assert fired["loss_size"] == LOSS_GRID[llr.index(best)]
    assert fired["estimated_loss"] == pytest.approx(0.03, abs=1e-6)
    assert fired["run_expected"] == 1000 * buckets and fired["run_arrived"] == 873 * buckets
    # the score grows with the statistic up to the threshold
    scores = [s.score for s in alerts]
    assert scores == sorted(scores) and scores[-1] == 1.0
    assert scores[0] == pytest.approx(best / h, abs=1e-4)


def test_firing_resolves_when_the_statistic_drains_to_zero_and_restarts():
    det = warmed(1000, 900)
    at = WARMUP * 60.0
    s = det.update(at, (1000, 450))
    assert s.alert
    states = []
    for i in range(1, 400):
        s = det.update(at + i * 60.0, (1000, 900))
        states.append(s.state)
        if s.state is CheckState.OK:
            break
    assert states[-1] is CheckState.OK and s.evidence.get("resolved")
    assert all(st is CheckState.FIRING for st in states[:-1])
    assert det.update(at + 500 * 60.0, (1000, 900)).evidence["statistic"] == 0.0


def test_small_or_empty_buckets_are_kept_quiet_by_the_floors():
    det = warmed(100, 100, ratio=1.0)
    empty = det.update(WARMUP * 60.0, (0, 0))
    assert empty.state is CheckState.OK and not empty.alert
    # 3 missing of 3 expected: certain loss on an `all` edge, but below min_events and min_missing
    small = det.update((WARMUP + 1) * 60.0, (3, 0))
    assert not small.alert


def test_ninety_clean_days_stay_within_the_false_alarm_budget():
    rng = np.random.default_rng(20240531)
    days = 90
    buckets = WARMUP + days * 1440
    expected = rng.poisson(100, buckets)
    arrived = rng.binomial(expected, 0.9)
    det = DivergenceDetector(check(), 60.0)
    onsets = 0
    for i in range(buckets):
        s = det.update(i * 60.0, (int(expected[i]), int(arrived[i])))
        onsets += bool(s.evidence.get("onset"))
    budget = days / 30 * check().false_alarms_per_30d  # 3 expected false alarms
    assert onsets <= 3 * budget
