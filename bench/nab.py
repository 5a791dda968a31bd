"""NAB score of the ``volume`` detector on ``../shared/nab`` with one configuration for every file.

Runs ``monitor.replay.series.NAB_CHECK`` causally over each CSV, then prints, for the three NAB
profiles, the score at the oracle threshold (NAB's exact sweep with the labels) and at the detector's
own fixed alert threshold (``ALERT_SCORE``), plus per-file alert counts.

Because a score on the corpus the detector was tuned on flatters it, it also prints:

* **leave-one-category-out**: for each of the four categories, the one global constant (the score
  threshold θ) is chosen by NAB's sweep on the other three and the held-out category is scored at
  it (standard profile). A category without windows (``artificialNoAnomaly``) has no NAB
  normalisation (null = perfect = 0); it is scored as if it held one window that was found, i.e.
  ``100 + 100·raw/(A_TP + A_FN)``: 100 with no false detection, each one costing its share.
* **false alarms per 30 days** outside labelled windows for each real file (alerts, i.e. one per
  incident, as on-call counts them), median and max.

Usage: .venv/bin/python bench/nab.py [--nab DIR] [--per-file]
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from statistics import median

from monitor.anomaly.model import CheckDef
from monitor.anomaly.volume import ALERT_SCORE
from monitor.replay.nab import PROFILES, FileRows, corpus_score, corpus_score_at, window_rows
from monitor.replay.series import (
    NAB_CHECK,
    nab_detector,
    read_series,
    replay_series,
    window_metrics,
)

DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "nab"


def run_file(path: Path, check: CheckDef = NAB_CHECK):
    rows = read_series(path)
    return rows, replay_series(rows, nab_detector(check))


def with_params(check: CheckDef, overrides: list[str]) -> CheckDef:
    """``KEY=VALUE`` overrides of the check's params (numbers parsed), for trying a configuration;
    ``warmup`` and ``false_alarms_per_30d`` set the check's own fields."""
    params = dict(check.params)
    for item in overrides:
        key, _, text = item.partition("=")
        if key in ("warmup", "false_alarms_per_30d"):
            check = replace(check, **{key: float(text)})
            continue
        try:
            params[key] = float(text)
        except ValueError:
            params[key] = text
    return replace(check, params=params)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nab", type=Path, default=DEFAULT_NAB)
    ap.add_argument("--per-file", action="store_true")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = ap.parse_args()
    check = with_params(NAB_CHECK, args.param)
    windows = json.loads((args.nab / "labels" / "combined_windows.json").read_text())
    start = time.perf_counter()
    files: list[FileRows] = []
    keys = sorted(windows)
    with ProcessPoolExecutor() as pool:
        outs = list(pool.map(partial(run_file, check=check), [args.nab / "data" / k for k in keys]))
    fa30: dict[str, float] = {}
    for key, (rows, out) in zip(keys, outs, strict=True):
        ts = [r[0] for r in rows]
        f = FileRows(key, [r[2] for r in out], window_rows(ts, windows[key]))
        files.append(f)
        m = window_metrics(out, windows[key])
        if key.startswith("real"):
            fa30[key] = m.false_alarms_per_30d
        if args.per_file:
            print(
                f"{key:60s} rows {len(rows):5d} windows {len(f.windows)} alerts {m.alerts:3d} "
                f"false {m.false_alarms:3d} = {m.false_alarms_per_30d:5.2f}/30d"
            )
    elapsed = time.perf_counter() - start
    print(f"{len(files)} files, {sum(len(f.windows) for f in files)} windows, {elapsed:.1f} s wall")
    print(f"{'profile':22s} {'oracle θ*':>10s} {'NAB (oracle)':>13s} {'NAB (θ=0.5)':>12s}")
    for profile in PROFILES:
        best = corpus_score(files, profile)
        fixed = corpus_score_at(files, ALERT_SCORE, profile)
        print(
            f"{profile.name:22s} {best.threshold:10.4f} {best.normalised:13.1f} "
            f"{fixed.normalised:12.1f}"
        )
    print_loo(files)
    values = sorted(fa30.values())
    print(
        f"false alarms / 30 d outside windows, {len(values)} real files: median "
        f"{median(values):.2f}, max {max(values):.2f} "
        f"({max(fa30, key=lambda k: fa30[k]).split('/')[-1]})"
    )


def held_out_score(files: list[FileRows], threshold: float) -> float:
    """Standard-profile score of one category at a threshold chosen elsewhere (see module doc)."""
    profile = PROFILES[0]
    res = corpus_score_at(files, threshold, profile)
    if res.perfect == res.null:  # no windows: scored as one window found, minus false detections
        return 100.0 + 100.0 * res.raw / (profile.a_tp + profile.a_fn)
    return res.normalised


def print_loo(files: list[FileRows]) -> None:
    """Leave-one-category-out: θ from NAB's sweep on three categories, the fourth scored at it."""
    categories = sorted({f.name.split("/")[0] for f in files})
    scores = []
    for cat in categories:
        train = [f for f in files if not f.name.startswith(cat + "/")]
        test = [f for f in files if f.name.startswith(cat + "/")]
        theta = corpus_score(train, PROFILES[0]).threshold
        s = held_out_score(test, theta)
        scores.append(s)
        fixed = held_out_score(test, ALERT_SCORE)
        print(f"  leave out {cat:24s} θ* {theta:7.4f}  held-out {s:6.1f}  (at θ=0.5: {fixed:6.1f})")
    print(f"leave-one-category-out mean (standard): {sum(scores) / len(scores):.1f}")


if __name__ == "__main__":
    main()
