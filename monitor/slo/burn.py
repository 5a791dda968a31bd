"""Error-budget and burn-rate arithmetic: pure functions, scalar and vectorised.

The evaluator (``evaluate.py``) calls the vectorised forms over one row per SLO; the scalar forms
state the semantics and are what the property tests pin down. Ratios are Σbad / Σtotal over a
window, never a mean of ratios, and 0/0 is "no data" (``None``, or ``False`` in a ``has_data``
mask), never NaN.

- error ratio ``bad / (good + bad)``;
- burn rate ``ratio / (1 − target)``: 1× spends exactly the budget over the SLO period;
- budget remaining ``1 − bad / ((good + bad) × (1 − target))``, so over the period
  ``burn = 1 − remaining``; it goes negative once the budget is overspent;
- time to exhaustion ``remaining × period / burn``.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray
from scipy import stats

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def error_ratio(good: int, bad: int) -> float | None:
    """The bad share of all decided events; ``None`` when there are none."""
    total = good + bad
    return None if total <= 0 else bad / total


def burn_rate(ratio: float | None, target: float) -> float | None:
    """How many times faster than sustainable the budget is spent at this error ratio."""
    return None if ratio is None else ratio / (1.0 - target)


def budget_remaining(good: int, bad: int, target: float) -> float | None:
    """The share of the period's error budget not yet spent; negative once overspent."""
    total = good + bad
    if total <= 0:
        return None
    return 1.0 - bad / (total * (1.0 - target))


def time_to_exhaustion(remaining: float | None, burn: float | None, period: float) -> float | None:
    """Seconds until the budget is gone at ``burn``; 0 when none is left, ``None`` when it is
    not being spent (or there is no data)."""
    if remaining is None or burn is None:
        return None
    if remaining <= 0.0:
        return 0.0
    if burn <= 0.0:
        return None
    return remaining * period / burn


@functools.lru_cache(maxsize=32)
def z_score(confidence: float) -> float:
    """The two-sided normal quantile for ``confidence`` (``norm.ppf`` once per level)."""
    return float(stats.norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def wilson_interval(bad: int, n: int, confidence: float) -> tuple[float, float] | None:
    """Wilson score interval of the bad ratio ``bad / n``; ``None`` when ``n`` is 0."""
    if n <= 0:
        return None
    z = z_score(confidence)
    p = bad / n
    z2n = z * z / n
    centre = p + z2n / 2.0
    spread = z * np.sqrt(p * (1.0 - p) / n + z2n / (4.0 * n))
    denominator = 1.0 + z2n
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


def binomial_shortfall_significant(bad: int, n: int, target: float, alpha: float) -> bool:
    """Whether ``bad`` failures in ``n`` are significantly more than the objective allows:
    ``P(X ≥ bad)`` under ``X ~ Binomial(n, 1 − target)`` is below ``alpha``."""
    if n <= 0 or bad <= 0:
        return False
    return bool(stats.binom.sf(bad - 1, n, 1.0 - target) < alpha)


# Vectorised forms, one element per SLO (or per SLO × tier).


def error_ratios(good: IntArray, bad: IntArray) -> tuple[FloatArray, BoolArray]:
    """Element-wise error ratios and the mask of elements with data (ratio 0.0 where none)."""
    total = good + bad
    has_data = total > 0
    ratio = np.divide(bad, total, out=np.zeros(total.shape), where=has_data)
    return ratio, has_data


def wilson_lower(bad: IntArray, n: IntArray, z: FloatArray | float) -> FloatArray:
    """Element-wise Wilson lower bound of ``bad / n`` (0.0 where ``n`` is 0)."""
    n_safe = np.maximum(n, 1).astype(np.float64)
    p = bad / n_safe
    z2n = np.square(z) / n_safe
    centre = p + z2n / 2.0
    spread = z * np.sqrt(p * (1.0 - p) / n_safe + z2n / (4.0 * n_safe))
    lower = np.maximum(0.0, (centre - spread) / (1.0 + z2n))
    return np.where(n > 0, lower, 0.0)


def binomial_significant(
    bad: IntArray, n: IntArray, target: FloatArray, alpha: FloatArray
) -> BoolArray:
    """Element-wise ``binomial_shortfall_significant``."""
    if bad.size == 0:
        return np.zeros(0, dtype=bool)
    p_value = stats.binom.sf(bad - 1, n, 1.0 - target)
    significant: np.ndarray = (n > 0) & (bad > 0) & (p_value < alpha)
    return significant
