"""The precedent test of the volume check on values small enough to follow by hand."""

from __future__ import annotations

import math

import pytest

from monitor.anomaly.volume_precedent import PrecedentFeature, PrecedentTest, SlidingExtremes


def test_sliding_extremes_keep_the_last_memory_values():
    ext = SlidingExtremes(3)
    for i, v in enumerate([5.0, 1.0, 3.0]):
        ext.push(i, v)
    assert (ext.low, ext.high, ext.count) == (1.0, 5.0, 3)
    ext.push(3, 2.0)  # 5.0 leaves
    assert (ext.low, ext.high) == (1.0, 3.0)
    ext.push(4, 2.5)  # 1.0 leaves
    ext.push(5, 2.5)  # 3.0 leaves
    assert (ext.low, ext.high, ext.count) == (2.0, 2.5, 3)


def test_a_feature_is_judged_only_against_windows_that_do_not_overlap_it():
    feat = PrecedentFeature("mean of 2", 2, memory=100)
    outs = [feat.add(i, v) for i, v in enumerate([1.0, 3.0, 5.0, 7.0])]
    assert outs == [None, 2.0, 4.0, 6.0]
    # At bucket 3 the window is (5, 7); only the mean at bucket 1, (1, 3), shares no value.
    assert (feat.extremes.low, feat.extremes.high, feat.extremes.count) == (2.0, 2.0, 1)


def test_before_any_record_the_margin_spends_the_budget_on_every_one_sided_test():
    alpha = 300.0 / (30 * 86400.0)  # one alarm per 30 days at 5-minute buckets
    t = PrecedentTest(per_day=288, alpha=alpha)
    tests = 2 * (4 + 3)  # four means and three day-over-day changes, two sides each
    assert t.records.rate() == tests  # the prior: no correlation assumed
    expected = math.log(tests / (alpha * 301)) / (2 * math.log(301))  # exponential tail, β = 1
    assert t.margin(300) == pytest.approx(expected)
    assert t.margin(300) > t.margin(1000) > t.margin(4000) > t.min_margin


def test_a_mean_over_w_buckets_gets_the_margin_of_n_over_w_independent_values():
    alpha = 300.0 / (30 * 86400.0)
    t = PrecedentTest(per_day=288, alpha=alpha)
    expected = math.log(14 / (alpha * (4032 + 144))) / (2 * math.log(4032 / 144 + 1))
    assert t.margin(4032, 144) == pytest.approx(expected)
    assert t.margin(4032, 144) > t.margin(4032, 6) > t.margin(4032, 1)


def test_a_new_value_beyond_the_range_by_the_margin_is_an_excess_of_one():
    t = PrecedentTest(per_day=1, alpha=1e-3, scales=(1,), min_history=4, min_margin=0.0)
    for v in [0.0, 10.0] * 50:
        assert t.observe(v)[0] == 0.0  # nothing is new after the first two
    feat = t.values[0]
    n = 100
    m = t.margin(n, 1, feat.tail)
    r, name = t.observe(10.0 + m * 10.0)
    assert r == pytest.approx(1.0) and name == "mean of 1"
    # The new value is history now: the range is 10·(1 + m) over n + 1 values.
    m2 = t.margin(n + 1, 1, feat.tail)
    r = t.observe(-2 * m * 10.0)[0]
    assert r == pytest.approx(2 * m * 10.0 / (m2 * 10.0 * (1 + m)))


def test_a_constant_series_that_moves_at_all_is_new():
    t = PrecedentTest(per_day=1, alpha=1e-3, scales=(1,), min_history=4)
    for _ in range(50):
        assert t.observe(7.0)[0] == 0.0
    assert t.observe(7.5)[0] > 1e6


def test_the_daily_reference_is_the_median_of_the_last_three_days():
    t = PrecedentTest(per_day=4, alpha=1e-3, scales=(1,), day_scales=(1,), min_history=1000)
    day = [10.0, 20.0, 30.0, 40.0]
    for d in range(3):
        for v in day:
            t.observe(v + 100.0 if d == 1 else v)  # day 1 is odd (and was not flagged)
    # With yesterday alone the reference would be day 2; with day 1 it would be 100 off. The
    # median of days 0, 1, 2 is the normal day.
    assert t._reference(t._day_ago) == 10.0
    t.observe(10.0)
    assert t._ref == 10.0


def test_before_three_days_the_reference_is_what_there_is():
    t = PrecedentTest(per_day=2, alpha=1e-3, scales=(1,), day_scales=(1,), min_history=1000)
    for v in (1.0, 2.0, 3.0, 4.0):
        t.observe(v)
    assert t._reference(t._day_ago) == pytest.approx((1.0 + 3.0) / 2)  # two days: their mean
    t = PrecedentTest(
        per_day=2, alpha=1e-3, scales=(1,), day_scales=(1,), min_history=1000, day_refs=1
    )
    for v in (1.0, 2.0, 3.0, 4.0):
        t.observe(v)
    assert t._reference(t._day_ago) == 3.0  # yesterday only
