"""Segmented count checks: silent segments count 0, small segments are judged together."""

from __future__ import annotations

from collections import Counter

from monitor.anomaly.segments import ROLLUP, Segments, unsegmented


def test_a_known_segment_that_sends_nothing_is_a_zero_not_a_gap():
    seg = Segments(rollup_below=5.0, span=59.0)  # alpha = 1/30
    assert seg.split({"eu": 100, "us": 200}) == [("eu", 100), ("us", 200)]
    assert seg.split({"us": 200}) == [("eu", 0), ("us", 200)]


def test_small_segments_are_summed_into_one_series():
    seg = Segments(rollup_below=5.0, span=59.0)
    assert seg.split({"eu": 100, "mt": 2, "lu": 1}) == [("eu", 100), (ROLLUP, 3)]
    assert seg.small == {"mt", "lu"}
    assert seg.split({"eu": 90, "lu": 4}) == [("eu", 90), (ROLLUP, 4)]


def test_membership_has_hysteresis():
    seg = Segments(rollup_below=5.0, span=1.0)  # alpha = 1: the mean is the last count
    seg.split({"x": 4})
    assert seg.small == {"x"}
    seg.split({"x": 8})  # above 5 but not above 10: stays rolled up
    assert seg.small == {"x"}
    assert seg.split({"x": 11}) == [("x", 11)]
    assert seg.small == frozenset()
    seg.split({"x": 6})  # between the two bounds: stays on its own
    assert seg.small == frozenset()
    assert seg.split({"x": 4}) == [(ROLLUP, 4)]


def test_a_silent_segment_decays_into_the_rollup():
    seg = Segments(rollup_below=5.0, span=59.0)
    seg.split({"eu": 100, "us": 100})
    # mean_k = 100 * (29/30)^k; below 5 once k > ln(20)/ln(30/29) = 88.4 buckets
    for _ in range(88):
        seg.split({"us": 100})
    assert "eu" not in seg.small
    seg.split({"us": 100})
    assert seg.small == {"eu"}


def test_an_unsegmented_check_has_one_series_even_when_nothing_came():
    assert unsegmented(Counter()) == [("", 0)]
    assert unsegmented(Counter({"a": 2, "b": 3})) == [("", 5)]
