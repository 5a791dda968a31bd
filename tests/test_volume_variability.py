"""Variability features of the precedent test: a change of spread around an unchanged level, and
no echo of a flagged spike."""

from __future__ import annotations

import pytest

from monitor.anomaly.volume_precedent import PrecedentTest
from monitor.anomaly.volume_variability import Variability


def test_one_step_windows_are_left_to_the_value_features():
    v = Variability(scales=(1, 6, 36), memory=100)
    assert [f.w for f in v.features] == [6, 36]
    assert Variability(scales=(), memory=100).step(1.0) is None


def test_steps_are_absolute_differences_and_a_flagged_one_is_taken_back():
    v = Variability(scales=(2,), memory=100)
    assert v.step(5.0) is None
    assert v.step(6.0) == 1.0
    feat = v.features[0]
    feat.add(0, 1.0)
    assert v.step(50.0) == 44.0  # a spike
    feat.add(1, 44.0)
    v.exclude_last()  # flagged: its step becomes the last normal one (1.0) …
    assert feat._sum == pytest.approx(2.0)
    assert v.step(7.0) == 1.0  # … and the next step starts from the value before it (6.0)


def test_a_flat_metric_that_starts_to_oscillate_is_new():
    alpha = 300.0 / (30 * 86400.0)
    t = PrecedentTest(
        per_day=288, alpha=alpha, day_scales=(), variability=Variability((6, 36), 4032)
    )
    # Flat at 33.5 with a rare lone excursion to either side: every value and window mean of the
    # oscillation below has been seen already; only its steps are new.
    for i in range(2000):
        x = 33.65 if i % 100 == 0 else 33.35 if i % 100 == 50 else 33.5
        assert t.observe(x)[0] < 1e-6 or i < 100  # (rounding of the running sums)
    first = None
    for i in range(12):
        r, name = t.observe(33.65 if i % 2 else 33.35)
        if r >= 1.0:
            first = (i, name)
            break
    assert first is not None and first[1].startswith("variability") and first[0] < 6
