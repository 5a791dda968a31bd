"""NAB score of the ``volume`` detector on ``../shared/nab`` with one configuration for every file.

Runs ``monitor.replay.series.NAB_CHECK`` causally over each CSV, then prints, for the three NAB
profiles, the score at the oracle threshold (NAB's exact sweep with the labels) and at the detector's
own fixed alert threshold (``ALERT_SCORE``), plus per-file alert counts.

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

from monitor.anomaly.model import CheckDef
from monitor.anomaly.volume import ALERT_SCORE
from monitor.replay.nab import PROFILES, FileRows, corpus_score, corpus_score_at, window_rows
from monitor.replay.series import NAB_CHECK, nab_detector, read_series, replay_series

DEFAULT_NAB = Path(__file__).resolve().parents[2] / "shared" / "nab"


def run_file(path: Path, check: CheckDef = NAB_CHECK):
    rows = read_series(path)
    return rows, replay_series(rows, nab_detector(check))


def with_params(check: CheckDef, overrides: list[str]) -> CheckDef:
    """``KEY=VALUE`` overrides of the check's params (numbers parsed), for trying a configuration."""
    params = dict(check.params)
    for item in overrides:
        key, _, text = item.partition("=")
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
    for key, (rows, out) in zip(keys, outs, strict=True):
        ts = [r[0] for r in rows]
        f = FileRows(key, [r[2] for r in out], window_rows(ts, windows[key]))
        files.append(f)
        if args.per_file:
            alerts = sum(r[3] for r in out)
            print(f"{key:60s} rows {len(rows):5d} windows {len(f.windows)} alerts {alerts}")
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


if __name__ == "__main__":
    main()
