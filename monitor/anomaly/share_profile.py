"""The expected share of a learned edge over the day, fitted to its 96 quarter-hour cells.

Why: the divergence check tests each bucket at the expected share less two standard errors of
that expectation. Read from one hour's cell, that margin is wide on a quiet edge (10 events a
minute give a cell about 4,000 events a week: two standard errors are 1.4 points of share), and a
10% loss took 1.8 times the CUSUM floor to find. A daily shape is smooth more often than not, so
the cells are pooled by a weighted least-squares fit of a few harmonics of the day (Fourier terms);
how many is chosen from the cells themselves by Akaike's criterion (which errs towards more
terms: a term too many costs a little variance, a term too few a bias that reads as loss), with
the cells themselves (linear between their centres) as one more candidate. A smooth shape of any
kind gets the few terms it needs and a standard error a third of a cell's or less; a shape no
few harmonics follow (a share that jumps at a fixed time) keeps the cells where they are precise
enough, and the choice is made again each hour as the cells fill, so a misfit the first day could
not see is seen later. The cells are quarter hours, not hours: a jump at 09:20 left the hour
cells' interpolation 5–7 points off for half an hour each day (8.1 false alarms per 30 days).

Pure: a function of the cells, no state. The regressors of a cell are the basis functions'
means over its quarter hour (``sinc`` factors), so a fitted curve evaluated at a moment is
unbiased for a shape that is exactly a sum of the chosen harmonics.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MAX_HARMONICS", "ShareFit", "fit_daily_share"]

HOURS = 24
MAX_HARMONICS = 12
"""Up to 25 parameters (a quarter of 96 cells at most: a model needs spare cells to be judged
against); the 12th harmonic has a two-hour period."""
_OMEGA = 2.0 * math.pi / HOURS


@dataclass(frozen=True)
class ShareFit:
    """A fitted daily share: ``harmonics`` Fourier terms (``beta``, with ``cov`` = (XᵀWX)⁻¹ before
    the dispersion), or ``harmonics = -1`` for the cells themselves (``beta`` the cells' shares,
    ``cov`` their binomial variances on the diagonal; the cells split the day evenly)."""

    harmonics: int
    beta: np.ndarray
    cov: np.ndarray

    def at(self, hour: float) -> tuple[float, float]:
        """The expected share at ``hour`` of day (float, 0–24) and its variance (binomial, to be
        multiplied by the dispersion)."""
        if self.harmonics < 0:
            # Linear between the cells' centres, around the clock.
            cells = len(self.beta)
            mid = hour * cells / HOURS - 0.5
            lo = math.floor(mid)
            frac = mid - lo
            r, var = 0.0, 0.0
            for h, weight in ((lo % cells, 1.0 - frac), ((lo + 1) % cells, frac)):
                r += weight * float(self.beta[h])
                var += weight * weight * float(self.cov[h, h])
            return r, var
        # Once per judged bucket: one vectorised row, not the general basis (a fifth of the time).
        angles = np.arange(1, self.harmonics + 1) * (_OMEGA * hour)
        row = np.empty(2 * self.harmonics + 1)
        row[0], row[1::2], row[2::2] = 1.0, np.cos(angles), np.sin(angles)
        return float(row @ self.beta), float(row @ self.cov @ row)


def _basis(hours: np.ndarray, harmonics: int, *, width: float) -> np.ndarray:
    """``[1, cos ωt, sin ωt, …, cos Kωt, sin Kωt]``: the means over the ``width`` hours that start
    at each of ``hours`` (at the moments themselves when ``width`` is 0)."""
    cols = [np.ones_like(hours, dtype=float)]
    centre = hours + width / 2.0
    for k in range(1, harmonics + 1):
        half = k * _OMEGA * width / 2.0
        shrink = math.sin(half) / half if half else 1.0
        cols += [shrink * np.cos(k * _OMEGA * centre), shrink * np.sin(k * _OMEGA * centre)]
    return np.stack(cols, axis=1)


@functools.lru_cache(maxsize=8)
def _cell_basis(cells: int, harmonics: int) -> np.ndarray:
    """The basis' means over each of ``cells`` equal slices of the day (read only)."""
    width = HOURS / cells
    basis = _basis(np.arange(cells, dtype=float) * width, harmonics, width=width)
    basis.setflags(write=False)
    return basis


def fit_daily_share(cn: np.ndarray, cx: np.ndarray, dispersion: float = 1.0) -> ShareFit:
    """The daily share that best predicts the cells (expected ``cn`` and arrived ``cx`` events
    per equal slice of the day, 24 or more, from midnight UTC): the number of harmonics, 0 to
    ``MAX_HARMONICS`` (at most a quarter of the cells), or the cells themselves when none is
    empty, with the least Akaike criterion ``chi² / dispersion + 2·parameters``."""
    cn = np.asarray(cn, dtype=float)
    cx = np.asarray(cx, dtype=float)
    cells = len(cn)
    if cells < HOURS or cx.shape != cn.shape or (cn < 0).any() or not (cn > 0).any():
        raise ValueError("need 24 or more cells of the day, not all of them empty")
    seen = cn > 0
    y = np.where(seen, cx / np.where(seen, cn, 1.0), 0.0)
    if ((y < 0) | (y > 1)).any():
        raise ValueError("a cell cannot pass more events than it expected, nor fewer than none")
    # Each cell's binomial variance; a cell at 0 or 1 (all or none passed) is not certain; an
    # empty cell weighs nothing.
    var = np.maximum(y * (1.0 - y), 1.0 / (cn + 1.0)) / np.where(seen, cn, 1.0)
    w = np.where(seen, 1.0 / var, 0.0)
    best: ShareFit | None = None
    best_aic = math.inf
    if seen.all():
        best, best_aic = ShareFit(-1, y, np.diag(var)), 2.0 * cells
    top = min(MAX_HARMONICS, cells // 8)
    full = _cell_basis(cells, top)
    # The models are nested (the first 2K + 1 columns): one Gram matrix serves them all.
    xtw = full.T * w
    gram, moment = xtw @ full, xtw @ y
    for k in range(top + 1):
        m = 2 * k + 1
        if int(seen.sum()) <= m:
            break
        cov = np.linalg.inv(gram[:m, :m])
        beta = cov @ moment[:m]
        chi2 = float((w * (y - full[:, :m] @ beta) ** 2).sum()) / dispersion
        aic = chi2 + 2.0 * m
        if aic < best_aic:
            best, best_aic = ShareFit(k, beta, cov), aic
    if best is None:
        raise ValueError("too few cells with events to fit a daily share")
    return best
