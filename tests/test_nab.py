"""The NAB scoring rule on a file small enough to score by hand.

File A: N = 20 rows, so P = min(floor(0.15 * 20), 750) = 3 (rows 0-2 ignored).
One window, rows [10, 13], width w = 4. Detector scores (all other rows 0):

    row  1: 1.00  probation: counts for nothing
    row  5: 0.60  before any window: -A_FP
    row 11: 0.90  in window, y = -(13 - 11 + 1) / 4 = -0.75
                  value = σ(-0.75) / σ(-1) = tanh(1.875) / tanh(2.5) = 0.954873 / 0.986614 = 0.966989
    row 12: 0.95  in window, y = -(13 - 12 + 1) / 4 = -0.5
                  value = tanh(1.25) / tanh(2.5) = 0.848284 / 0.986614 = 0.859793
    row 15: 0.70  after the window, y = (15 - 13) / (4 - 1) = 2/3
                  value = A_FP · σ(2/3) = 0.11 · -tanh(1.6667) = 0.11 · -0.931109 = -0.102422

Standard profile, sweep (one file, K = 1, S_null = -1, S_perfect = 1):
    θ > 1      : no detection            -> -1
    θ = 0.95   : row 12                  ->  0.859793
    θ = 0.90   : + row 11 (earlier, best) ->  0.966989   <- θ*
    θ = 0.70   : + row 15                ->  0.966989 - 0.102422 = 0.864567
    θ = 0.60   : + row 5                 ->  0.864567 - 0.11     = 0.754567
NAB = 100 · (0.966989 + 1) / 2 = 98.3495.
reward_low_FN_rate: S_null = -2, NAB = 100 · (0.966989 + 2) / 3 = 98.8996.
reward_low_FP_rate at θ = 0.6: 0.966989 - 0.22 · 0.931109 - 0.22 = 0.966989 - 0.204844 - 0.22.
File B (no windows, 20 rows, one detection at row 8 with score 0.8) adds -A_FP at θ ≤ 0.8.
"""

from __future__ import annotations

import math

import pytest

from monitor.replay.nab import (
    PROFILES,
    FileRows,
    corpus_score,
    corpus_score_at,
    file_score,
    probation,
    row_values,
    sigma,
    window_rows,
)

STANDARD, LOW_FP, LOW_FN = PROFILES


def scores(n: int, hits: dict[int, float]) -> list[float]:
    return [hits.get(i, 0.0) for i in range(n)]


FILE_A = FileRows("a", scores(20, {1: 1.0, 5: 0.6, 11: 0.9, 12: 0.95, 15: 0.7}), [(10, 13)])
FILE_B = FileRows("b", scores(20, {8: 0.8}), [])


@pytest.mark.parametrize(
    ("y", "expected"),
    [(-1, 0.98661), (-0.5, 0.84828), (0, 0.0), (1, -0.98661), (3.0001, -1.0)],
    ids=["first row of a window", "halfway", "zero", "one width after", "beyond three widths"],
)
def test_sigma_matches_the_readme_values(y, expected):
    assert sigma(y) == pytest.approx(expected, abs=1e-5)


def test_probation_is_15_percent_capped_at_750():
    assert [probation(n) for n in (20, 1127, 4032, 6000)] == [3, 169, 604, 750]


def test_row_values_by_hand():
    v = row_values(20, [(10, 13)], STANDARD)
    assert v[:3] == [0.0, 0.0, 0.0]
    assert v[5] == pytest.approx(-0.11)
    assert v[10] == pytest.approx(1.0)
    assert v[11] == pytest.approx(0.966989, abs=1e-6)
    assert v[12] == pytest.approx(0.859793, abs=1e-6)
    assert v[15] == pytest.approx(-0.102422, abs=1e-6)
    assert v[14] == pytest.approx(-0.11 * math.tanh(2.5 / 3), abs=1e-9)  # y = 1/3


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [(1.01, -1.0), (0.95, 0.859793), (0.9, 0.966989), (0.7, 0.864567), (0.6, 0.754567)],
    ids=["no detection", "late detection", "earliest detection", "plus a FP after", "plus a FP"],
)
def test_file_score_by_hand(threshold, expected):
    assert file_score(FILE_A, threshold, STANDARD) == pytest.approx(expected, abs=1e-6)


def test_sweep_finds_the_hand_computed_optimum():
    r = corpus_score([FILE_A, FILE_B], STANDARD)
    assert r.threshold == 0.9
    assert r.raw == pytest.approx(0.966989, abs=1e-6)
    assert r.normalised == pytest.approx(98.3495, abs=1e-4)
    assert corpus_score([FILE_A, FILE_B], LOW_FN).normalised == pytest.approx(98.8996, abs=1e-4)


def test_fixed_threshold_counts_every_false_detection():
    r = corpus_score_at([FILE_A, FILE_B], 0.6, LOW_FP)
    assert r.raw == pytest.approx(0.966989 - 0.22 * 0.931109 - 0.22 - 0.22, abs=1e-6)


def test_null_and_perfect_detectors_score_0_and_100():
    perfect = FileRows("p", scores(20, {10: 1.0}), [(10, 13)])
    null = FileRows("n", scores(20, {}), [(10, 13)])
    assert corpus_score([perfect], STANDARD).normalised == pytest.approx(100.0)
    # A constant score is itself a candidate threshold, so the null detector is "θ above 1".
    assert corpus_score_at([null], 1.01, STANDARD).normalised == pytest.approx(0.0)


def test_window_rows_take_repeated_timestamps_whole():
    ts = [
        "2014-01-01 00:00:00",
        "2014-01-01 00:05:00",
        "2014-01-01 00:05:00",
        "2014-01-01 00:10:00",
    ]
    w = [["2014-01-01 00:05:00.000000", "2014-01-01 00:05:00.000000"]]
    assert window_rows(ts, w) == [(1, 2)]
