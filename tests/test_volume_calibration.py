"""Series-level calibration of the precedent test: the family's record rate and the excess tails."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.anomaly.volume_calibration import ExcessTail, RecordRate
from monitor.anomaly.volume_precedent import PrecedentTest


def test_without_data_the_rate_is_the_bonferroni_count_and_the_tail_exponential():
    assert RecordRate(tests=20).rate() == 20
    tail = ExcessTail()
    assert tail.scale() == 1.0
    assert tail.quantile(1e-3) == pytest.approx(-math.log(1e-3))
    assert tail.quantile(1.0) == 0.0


def test_the_rate_counts_runs_of_records_against_the_records_one_test_expects():
    rate = RecordRate(tests=20, memory=1e12, prior_weight=1.0)
    # 1,000 buckets judged against 99 past values: one test expects 10 records.
    for i in range(1000):
        rate.add(i % 50 in (0, 1), 100)  # 20 runs of two record buckets each
    assert rate.rate() == pytest.approx((20 + 20) / (1 + 10))


def test_a_censored_run_adds_its_capped_excess_but_no_observation():
    tail = ExcessTail(memory=1e12, prior_scale=1.0, prior_runs=2.0)
    for excess in (0.5, 0.0, 1.5, 0.0, 9.0, 0.0):
        tail.add(excess, 3.0)
    # Runs 0.5 and 1.5 seen, 9.0 alarmed and counts as 3.0, censored.
    assert tail.scale() == pytest.approx((2.0 + 0.5 + 1.5 + 3.0) / (2.0 + 2.0))


def test_a_duplicated_feature_is_not_counted_twice():
    """Correlated features are worth fewer independent tests: four copies of one feature give
    about the record rate of one, not of four."""
    rng = np.random.default_rng(3)

    def measured(copies: int) -> float:
        t = PrecedentTest(per_day=1, alpha=1e-4, scales=(1,) * copies, min_history=20, memory=500)
        for v in rng.standard_normal(6000):
            t.observe(float(v))
        return t.records.rate()

    one, four = measured(1), measured(4)
    assert 1.0 < one < 3.5  # two sides of one exchangeable test
    assert four < 1.5 * one  # not 4 × (the prior would say 8)


def test_a_heavy_tail_widens_the_margin():
    """The same budget needs a wider margin on a series whose records overshoot further."""

    def final_margin(values: np.ndarray) -> float:
        t = PrecedentTest(per_day=1, alpha=1e-4, scales=(1, 6), min_history=20, memory=1000)
        for v in values:
            t.observe(float(v))
        return t.margin(1000, 1, t.values[0].tail)

    rng = np.random.default_rng(4)
    assert final_margin(rng.standard_t(2, 8000)) > 1.5 * final_margin(rng.standard_normal(8000))
