"""False alarms per 30 days of the ``volume`` check's real-valued path on clean simulated series.

The check promises ``false_alarms_per_30d`` (1) alarms per 30 days per series on healthy data.
This replays ``monitor.replay.series.NAB_CHECK`` (the defaults) over clean 5-minute series of
five families and counts alerts (onsets: the detector raises one alert per incident):

* ``gauss``: i.i.d. Gaussian noise around a level;
* ``t3``: i.i.d. Student-t noise with 3 degrees of freedom (heavy tails);
* ``ar1``: an AR(1) process, φ = 0.8 (slow wandering);
* ``daily``: a daily sine with Gaussian noise;
* ``spiky``: a low level with sparse exponential spikes (1% of buckets).

Every value is fractional, so the real-valued (precedent) path judges them. Prints, per family,
alarms per 30 days over all seeds and days (warm-up included), and µs per ``update``.

Usage: .venv/bin/python bench/volume_budget.py [--days 90] [--seeds 6] [--param KEY=VALUE]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from nab import with_params  # bench/ is the script's directory, first on sys.path

from monitor.replay.series import NAB_CHECK, nab_detector

BUCKET = 300.0
PER_DAY = 288
START = 1_700_438_400.0  # a Monday, 00:00 UTC
FAMILIES = ("gauss", "t3", "ar1", "daily", "spiky")


def series(family: str, days: int, seed: int) -> np.ndarray:
    """A clean 5-minute series of ``days`` days."""
    n = days * PER_DAY
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n)
    if family == "gauss":
        return 50 + 5 * e
    if family == "t3":
        return 50 + 5 * rng.standard_t(3, n)
    if family == "ar1":
        x = np.empty(n)
        a = 0.0
        for i in range(n):
            a = 0.8 * a + e[i]
            x[i] = 50 + 3 * a
        return x
    if family == "daily":
        return 50 + 20 * np.sin(2 * np.pi * np.arange(n) / PER_DAY) + 3 * e
    if family == "spiky":
        return 5 + np.abs(e) + (rng.random(n) < 0.01) * rng.exponential(30, n)
    raise ValueError(f"unknown family {family!r}")


def alarms(job: tuple[str, int, int, list[str]]) -> tuple[str, int, float]:
    """(family, alerts, seconds spent in ``update``) for one simulated series."""
    family, days, seed, overrides = job
    det = nab_detector(with_params(NAB_CHECK, overrides))
    x = series(family, days, seed).tolist()
    count = 0
    start = time.perf_counter()
    for i, v in enumerate(x):
        count += det.update(START + BUCKET * i, v).alert
    return family, count, time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    jobs = [(f, args.days, s, args.param) for f in FAMILIES for s in range(args.seeds)]
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(alarms, jobs))
    updates = args.days * PER_DAY
    print(f"{args.seeds} seeds x {args.days} days of 5-minute buckets per family (budget 1)")
    for family in FAMILIES:
        counts = [c for f, c, _ in results if f == family]
        per_30d = sum(counts) * 30 / (args.days * len(counts))
        print(f"{family:6s} false alarms per 30 d: {per_30d:5.2f}   per series: {counts}")
    us = 1e6 * sum(t for *_, t in results) / (updates * len(results))
    print(f"{us:.0f} µs per update (mean over all series)")


if __name__ == "__main__":
    main()
