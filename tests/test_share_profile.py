"""The daily share fitted to a learned edge's cells: as few harmonics as the cells need, the
cells themselves when no few harmonics follow the shape, and a standard error well below a cell's.
Exact numbers on constructed cells (expected counts, no noise unless seeded)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.anomaly.share_profile import ShareFit, fit_daily_share

SLOTS = 96
CENTRES = (np.arange(SLOTS) + 0.5) / 4  # hours


def _cells(share: np.ndarray, events: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    n = np.full(SLOTS, events)
    return n, np.random.default_rng(seed).binomial(n.astype(int), share).astype(float)


def test_a_sinusoid_gets_one_harmonic_and_a_third_of_a_cells_error_or_less() -> None:
    share = 0.70 + 0.08 * np.cos(2 * math.pi * (CENTRES - 6) / 24)
    fit = fit_daily_share(*_cells(share, 1000.0, 1))
    assert fit.harmonics == 1
    r, var = fit.at(6.0)
    assert round(r, 4) == 0.7785  # 0.78 true
    cell_var = 0.78 * 0.22 / 1000
    assert math.sqrt(var) < math.sqrt(cell_var) / 3


def test_two_peaks_get_two_harmonics() -> None:
    share = 0.70 + 0.05 * np.cos(2 * math.pi * (CENTRES - 9) / 12)
    assert fit_daily_share(*_cells(share, 1000.0, 2)).harmonics == 2


def test_a_share_that_jumps_at_a_fixed_hour_keeps_the_cells_where_they_are_precise() -> None:
    hour = CENTRES
    share = np.where((hour >= 9 + 1 / 3) & (hour < 17 + 2 / 3), 0.62, 0.70)
    fit = fit_daily_share(*_cells(share, 10_000.0, 3))
    assert fit.harmonics == -1  # no 12 harmonics follow a jump: the 96 cells
    assert round(fit.at(12.0)[0], 3) == 0.625  # 0.62 true, one cell's noise
    # On few events the harmonics win: the cells' noise costs more than the misfit.
    assert fit_daily_share(*_cells(share, 100.0, 3)).harmonics == 2


def test_a_flat_share_is_one_parameter() -> None:
    n = np.full(SLOTS, 1000.0)
    fit = fit_daily_share(n, 0.7 * n)
    assert fit.harmonics == 0 and isinstance(fit, ShareFit)
    assert fit.at(3.0)[0] == pytest.approx(0.7)


def test_bad_cells_are_refused() -> None:
    with pytest.raises(ValueError, match="24 or more"):
        fit_daily_share(np.ones(12), np.ones(12))
    with pytest.raises(ValueError, match="more events than it expected"):
        fit_daily_share(np.ones(24), np.full(24, 2.0))
