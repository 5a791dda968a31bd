"""Constructed series with the shapes of real event volumes nobody tuned the checks on.

Why: ``../shared/nab`` is the corpus the ``volume`` check was developed on, so its false-alarm
figures flatter it. The series it must keep its budget on in the field look different: Twitter
mention counts with news bursts that decay over hours, taxi demand with daily and weekly cycles
and a trend, ad-exchange KPIs with heavy tails, lasting level shifts after a product change,
quiet integer counts with hours of zeros, and noise whose variance changes with the regime.
``shape(name, days, seed)`` builds one of those, seeded, as 5-minute buckets from a Monday
00:00 UTC, with the time range of its one labelled incident (the level shift; ``None``
elsewhere). Every shape was fixed before the detector was measured on it (``bench/heldout.py``)
and none is a copy of a benchmark file: they are a held-out check, not a training set.
"""

from __future__ import annotations

import numpy as np

__all__ = ["BUCKET", "PER_DAY", "SHAPES", "START", "Shape", "shape"]

BUCKET = 300.0
PER_DAY = 288
START = 1_700_438_400.0  # a Monday, 00:00 UTC
SHAPES = (
    "pareto_counts",
    "news_bursts",
    "taxi_cycles",
    "level_shift",
    "quiet_counts",
    "changing_variance",
    "heavy_real",
)
SHIFT_DAY = 20
"""The day the ``level_shift`` series steps down (by 40%) and stays."""

Shape = tuple[np.ndarray, tuple[float, float] | None]


def _daily(n: int, low: float, high: float) -> np.ndarray:
    """A smooth daily curve from ``low`` (04:00) to ``high`` (16:00)."""
    t = np.arange(n) % PER_DAY / PER_DAY
    return low + (high - low) * 0.5 * (1 - np.cos(2 * np.pi * (t - 1 / 6)))


def _weekend(n: int, factor: float) -> np.ndarray:
    """``factor`` on Saturdays and Sundays, 1 on weekdays (the series starts on a Monday)."""
    day = np.arange(n) // PER_DAY % 7
    return np.where(day >= 5, factor, 1.0)


def _gamma_poisson(rng: np.random.Generator, mean: np.ndarray, shape: float) -> np.ndarray:
    """Counts with mean ``mean`` and over-dispersion 1/``shape`` (negative binomial)."""
    return rng.poisson(mean * rng.gamma(shape, 1.0 / shape, len(mean))).astype(float)


def _bursts(rng: np.random.Generator, n: int, base: np.ndarray, per_day: float) -> np.ndarray:
    """News bursts: onsets at ``per_day`` a day, a Pareto height (tail index 1.5) times the base,
    decaying exponentially with a time constant of 1 to 4 hours."""
    out = np.zeros(n)
    onsets = np.flatnonzero(rng.random(n) < per_day / PER_DAY)
    for i in onsets:
        height = 2.0 * (1.0 + rng.pareto(1.5)) * base[i]
        tau = rng.uniform(12, 48)  # buckets
        k = np.arange(n - i)
        out[i:] += height * np.exp(-k / tau)
    return out


def shape(name: str, days: int, seed: int) -> Shape:
    """The ``name`` series over ``days`` days and its labelled incident (start, end) if any."""
    n = days * PER_DAY
    rng = np.random.default_rng(seed)
    if name == "pareto_counts":  # counts whose per-bucket rate has a Pareto tail
        mean = _daily(n, 20, 60) * (0.9 + 0.1 * (1.0 + rng.pareto(2.5, n)))
        return rng.poisson(mean).astype(float), None
    if name == "news_bursts":  # mention counts: over-dispersed base plus decaying news bursts
        base = _daily(n, 10, 40)
        return _gamma_poisson(rng, base + _bursts(rng, n, base, 0.5), 20.0), None
    if name == "taxi_cycles":  # demand with a daily and weekly cycle and a 15% trend
        trend = 1.0 + 0.15 * np.arange(n) / n
        mean = _daily(n, 200, 2500) * _weekend(n, 0.7) * trend
        return _gamma_poisson(rng, mean, 150.0), None
    if name == "level_shift":  # a product change: the volume steps down by 40% and stays
        step = np.where(np.arange(n) >= SHIFT_DAY * PER_DAY, 0.6, 1.0)
        at = START + SHIFT_DAY * 86400.0
        return _gamma_poisson(rng, _daily(n, 30, 90) * step, 50.0), (at, at + 86400.0)
    if name == "quiet_counts":  # a handful of events by day, hours of zeros at night
        mean = np.maximum(_daily(n, -2.0, 4.0), 0.02)
        return _gamma_poisson(rng, mean, 5.0), None
    if name == "changing_variance":  # a real-valued metric whose noise changes with the regime
        sd = np.repeat(rng.choice([1.0, 2.5, 5.0], days), PER_DAY)
        return 50.0 + _daily(n, -5, 5) + sd * rng.standard_normal(n), None
    if name == "heavy_real":  # a KPI (cost per click) with log-normal noise around a daily cycle
        return _daily(n, 0.5, 1.5) * np.exp(0.4 * rng.standard_normal(n)), None
    raise ValueError(f"shape: {name!r} is not one of {', '.join(SHAPES)}")
