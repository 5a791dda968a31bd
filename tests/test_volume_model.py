"""The incremental pieces of the volume check, on values small enough to follow by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.anomaly.volume_model import (
    RobustLevel,
    RollingSum,
    SeasonalProfile,
    SerialCorrelation,
    SortedWindow,
    cusum_h,
)


def test_rolling_sum_keeps_the_last_n_pairs():
    s = RollingSum(3)
    for v in (1.0, 2.0, 3.0, 4.0):
        s.add(v, 2 * v)
    assert (s.a, s.b, len(s)) == (9.0, 18.0, 3)


def test_sorted_window_gives_exact_quantiles_of_the_last_n_values():
    w = SortedWindow(4)
    for v in (5.0, 1.0, 4.0, 2.0, 3.0):  # 5.0 leaves the window
        w.add(v)
    assert w.values == [1.0, 2.0, 3.0, 4.0]
    assert (w.quantile(0.0), w.quantile(0.5), w.quantile(0.99)) == (1.0, 3.0, 4.0)


def test_a_spike_moves_the_robust_level_by_a_clipped_step_and_a_shift_is_followed():
    lvl = RobustLevel(alpha=0.1, clip=2.5)
    for v in [10.0, 11.0] * 20:
        lvl.update(v)
    before = lvl.level
    assert before is not None
    lvl.update(1000.0)
    assert lvl.level is not None and lvl.level - before < 0.2  # 2.5 sd ≈ 1.25, times alpha
    for _ in range(100):
        lvl.update(50.0)
    assert abs(lvl.level - 50.0) < 0.5


def test_the_profile_reads_the_same_slot_of_past_days_and_smooths_within_the_day():
    p = SeasonalProfile(per_day=4, bucket_seconds=21600.0, min_days=2, min_weeks=3)
    monday = 4 * 86400.0  # 1970-01-05 was a Monday
    for day in range(3):
        for slot, v in enumerate((10.0, 20.0, 30.0, 40.0)):
            p.update(monday + day * 86400.0 + slot * 21600.0, v + day)
    at = monday + 3 * 86400.0 + 21600.0  # Thursday, slot 1
    assert p.expected(at, 0) == (21.0, "weekday profile", 3.0)
    assert p.expected(at, 1) == (21.0, "weekday profile", 3.0)  # mean of 11, 21, 31
    first = p.expected(monday + 3 * 86400.0, 1)  # slot 0: no smoothing across midnight
    assert first is not None and first[0] == 11.0
    assert p.expected(monday + 5 * 86400.0, 0) is None  # Saturday: no weekend days yet


def test_a_flagged_value_teaches_the_profile_only_a_clipped_step():
    p = SeasonalProfile(per_day=1, bucket_seconds=86400.0, memory_days=2, min_days=1)
    p.update(4 * 86400.0, 100.0)
    p.update(5 * 86400.0, 0.0, clip=10.0)
    assert p.expected(6 * 86400.0, 0) == (95.0, "weekday profile", 2.0)


def test_cusum_threshold_matches_siegmund_at_k_half():
    h = cusum_h(43_200, 0.5)
    b = h + 1.166
    assert math.isclose((math.exp(b) - b - 1) / 0.5, 43_200, rel_tol=1e-9)
    assert cusum_h(100) < cusum_h(10_000) < cusum_h(1_000_000)


def test_serial_correlation_widens_the_cusum_only_for_correlated_residuals():
    rng = np.random.default_rng(1)
    white = SerialCorrelation()
    for z in rng.standard_normal(5000):
        white.add(float(z))
    assert white.scale() == 1.0  # the estimate's own noise is shrunk away
    ar = SerialCorrelation()
    z = 0.0
    for e in rng.standard_normal(5000):
        z = 0.6 * z + math.sqrt(1 - 0.36) * float(e)
        ar.add(z)
    assert 0.5 < ar.rho() < 0.6  # 0.6 less the shrinkage 2/sqrt(2000)
    assert ar.scale() == pytest.approx(math.sqrt((1 + ar.rho()) / (1 - ar.rho())))
    ar.skip()
    assert ar._prev is None  # the next value pairs with nothing
