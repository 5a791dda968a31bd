"""False alarms per 30 days of the ``volume`` check on constructed held-out series.

The shapes (``monitor.replay.shapes``: Pareto-tailed counts, decaying news bursts, daily and weekly
cycles with a trend, a lasting level shift, quiet counts with hours of zeros, changing variance,
log-normal KPIs) were fixed before the detector was measured on them; they stand in for the real
series the maintainers judge on (Twitter mention volumes, nyc_taxi, ad-exchange KPIs). Each runs
``--days`` days for ``--seeds`` seeds through ``NAB_CHECK`` (the defaults, 5-minute buckets); every
alert is a false alarm except the first one within a day of the level shift (its detection).

Prints, per shape, false alarms per 30 days (all seeds) and per series, then the median and max
over all series (the goal: median <= 1, max <= 3), and whether the level shift was detected.

Usage: PYTHONPATH=. .venv/bin/python bench/heldout.py [--days 60] [--seeds 4] [--param KEY=VALUE]
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from statistics import median

from nab import with_params  # bench/ is the script's directory, first on sys.path

from monitor.replay.series import NAB_CHECK, nab_detector
from monitor.replay.shapes import BUCKET, SHAPES, START, shape


def run(job: tuple[str, int, int, list[str]]) -> tuple[str, int, int, bool]:
    """(shape, seed, false alarms, incident detected) for one series."""
    name, days, seed, overrides = job
    det = nab_detector(with_params(NAB_CHECK, overrides))
    values, incident = shape(name, days, seed)
    false, detected = 0, False
    for i, v in enumerate(values.tolist()):
        at = START + BUCKET * i
        if not det.update(at, v).alert:
            continue
        if incident is not None and not detected and incident[0] <= at <= incident[1]:
            detected = True
        else:
            false += 1
    return name, seed, false, detected


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    jobs = [(s, args.days, seed, args.param) for s in SHAPES for seed in range(args.seeds)]
    with ProcessPoolExecutor() as pool:
        results = list(pool.map(run, jobs))
    per_30d = 30.0 / args.days
    print(f"{args.seeds} seeds x {args.days} days of 5-minute buckets per shape (budget 1 / 30 d)")
    for name in SHAPES:
        rows = [r for r in results if r[0] == name]
        counts = [r[2] for r in rows]
        mean = sum(counts) * per_30d / len(counts)
        extra = ""
        if name == "level_shift":
            extra = f"  shift detected in {sum(r[3] for r in rows)}/{len(rows)}"
        print(f"{name:18s} false alarms / 30 d: {mean:5.2f}   per series: {counts}{extra}")
    values = [r[2] * per_30d for r in results]
    print(
        f"all {len(values)} series: median {median(values):.2f}, max {max(values):.2f} "
        "false alarms / 30 d"
    )


if __name__ == "__main__":
    main()
