"""The bundled pipeline's hop checks (volume by region, consent mix, latency, identity merges) over
a long simulated run, cheaply: record the hop buckets they see once, then replay only the checks.

A 30-day end-to-end run (``monitor.replay.longrun``) costs ~920 s of CPU at 100 events/min, almost
all of it the ledger; the hop checks only ever see the closed ``sdk`` and ``identity`` hop buckets.
``record`` runs the simulator and the engine for ``--days`` (only those two hops' observations, the
checks of ``checks/signup.yaml`` on them, no SLOs) and writes every closed bucket the checks were
handed, reduced to the attributes they read (region, consent, identity_action) with its latency
sketch, plus the alert onsets the engine raised, to a pickle under /tmp. ``replay`` feeds those
buckets to a fresh ``CheckRunner`` and ``AlertBook`` with today's detectors and prints alert onsets
per check and series, so a detector change is judged in seconds to minutes, on the same inputs.

Usage: python bench/bundled_checks.py record --rate 100 --days 30 --seed 7 --out /tmp/x.pkl
       python bench/bundled_checks.py replay /tmp/x.pkl [/tmp/y.pkl ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import time
from collections import Counter
from pathlib import Path
from typing import Any

from monitor.alerting.alert import AlertState
from monitor.alerting.book import AlertBook, AlertPolicy
from monitor.anomaly.kinds import BUILTIN_KINDS
from monitor.anomaly.load import load_checks
from monitor.anomaly.model import CheckDef
from monitor.anomaly.runner import CheckRunner
from monitor.config.loader import load_config
from monitor.ledger.records import HopBucket, SeriesKey
from monitor.ledger.sketch import LatencySketch
from monitor.replay.longrun import CONFIG, MINUTE, PIPELINE

HOPS = ("sdk", "identity")
KEEP = ("region", "consent", "identity_action")


def hop_checks() -> tuple[Any, list[CheckDef]]:
    config = load_config(CONFIG)
    checks = [
        c
        for c in load_checks(config)
        if c.target.pipeline == PIPELINE and c.target.edge is None and c.target.hop in HOPS
    ]
    return config, checks


def _reduce(b: HopBucket) -> tuple[Any, ...]:
    counts: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for key, n in b.counts:
        attrs = tuple((k, v) for k, v in key.attributes if k in KEEP)
        counts[(str(key.status), attrs)] += n
    return (
        b.hop,
        b.bucket_start,
        b.bucket_seconds,
        tuple(counts.items()),
        b.late,
        b.latency.to_bytes(),
        str(b.completeness),
    )


def _restore(r: tuple[Any, ...]) -> HopBucket:
    from monitor.ledger.records import Completeness
    from monitor.records import Status

    hop, start, seconds, counts, late, sketch, completeness = r
    return HopBucket(
        PIPELINE,
        hop,
        start,
        seconds,
        tuple((SeriesKey(Status(s), attrs), n) for (s, attrs), n in counts),
        late,
        LatencySketch.from_bytes(sketch),
        Completeness(completeness),
    )


def record(rate: float, days: float, seed: int, out: Path, full: bool = False) -> None:
    from monitor.engine import Engine
    from monitor.sim import Scenario, Simulator, TrafficModel

    config, checks = hop_checks()
    pipeline = config.pipeline(PIPELINE)
    ticks: list[tuple[float, list[tuple[Any, ...]]]] = []
    original = CheckRunner.feed

    def feed(self: CheckRunner, hop_buckets: Any, edge_results: Any, now: float) -> Any:
        hop_buckets = list(hop_buckets)
        kept = [_reduce(b) for b in hop_buckets if b.pipeline == PIPELINE and b.hop in HOPS]
        if kept:
            ticks.append((now, kept))
        return original(self, hop_buckets, edge_results, now)

    CheckRunner.feed = feed  # type: ignore[method-assign]
    sim = Simulator(pipeline, Scenario(seed=seed, traffic=TrafficModel(rate_per_minute=rate)))
    # Only the two hops' observations, and no edges to join: the hop buckets are the same
    # (``--full`` keeps every hop and edge, to show it).
    if not full:
        lean = dataclasses.replace(pipeline, edges=())
        config = dataclasses.replace(
            config, pipelines=tuple(lean if p.name == PIPELINE else p for p in config.pipelines)
        )
    engine = Engine(config, checks=checks)
    onsets: Counter[tuple[str, str]] = Counter()
    start_cpu = time.process_time()
    t = sim.start
    end = sim.start + days * 86400.0
    while t < end:
        engine.observe(o for o in sim.observations(t, t + MINUTE) if full or o.hop in HOPS)
        t += MINUTE
        for alert in engine.tick(t).alerts_changed:
            if alert.state is AlertState.FIRING and alert.starts_at == t:
                labels = dict(alert.labels)
                onsets[(labels.get("check_name", alert.name), labels.get("segment", ""))] += 1
    cpu = time.process_time() - start_cpu
    with out.open("wb") as f:
        pickle.dump(
            {"rate": rate, "days": days, "seed": seed, "ticks": ticks, "onsets": dict(onsets)}, f
        )
    print(f"recorded {len(ticks)} ticks in {cpu:.0f} s CPU to {out}; engine onsets:")
    for (check, series), n in sorted(onsets.items()):
        print(f"  {check} {series or '-'}: {n}")


def replay(path: Path, verbose: bool = False) -> Counter[tuple[str, str]]:
    """Alert onsets per (check, series) of today's detectors over a recording."""
    with path.open("rb") as f:
        data = pickle.load(f)
    config, checks = hop_checks()
    runner = CheckRunner(checks, config, BUILTIN_KINDS.detector_for)
    book = AlertBook(
        policies={
            c.name: AlertPolicy(for_=c.for_, keep_firing_for=c.keep_firing_for)
            for c in checks
            if c.for_ or c.keep_firing_for
        }
    )
    onsets: Counter[tuple[str, str]] = Counter()
    start = data["ticks"][0][0] if data["ticks"] else 0.0
    for now, buckets in data["ticks"]:
        verdicts = runner.feed([_restore(b) for b in buckets], [], now)
        opened = set()
        for alert in book.apply(verdicts, now):
            # Two buckets of a series can close in one tick: an alert that opens and is
            # refreshed in the same tick is one onset.
            if alert.state is AlertState.FIRING and alert.starts_at == now:
                if alert.fingerprint in opened:
                    continue
                opened.add(alert.fingerprint)
                labels = dict(alert.labels)
                onsets[(labels.get("check_name", alert.name), labels.get("segment", ""))] += 1
                if verbose:
                    summary = dict(alert.annotations).get("summary", "")
                    print(f"    {(now - start) / 3600:7.2f} h  {summary}")
    return onsets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    rec = sub.add_parser("record")
    rec.add_argument("--rate", type=float, default=100.0)
    rec.add_argument("--days", type=float, default=30.0)
    rec.add_argument("--seed", type=int, default=7)
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--full", action="store_true")
    rep = sub.add_parser("replay")
    rep.add_argument("paths", type=Path, nargs="+")
    rep.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    if args.cmd == "record":
        record(args.rate, args.days, args.seed, args.out, args.full)
        return
    for path in args.paths:
        start = time.process_time()
        onsets = replay(path, args.verbose)
        cpu = time.process_time() - start
        with path.open("rb") as f:
            meta = pickle.load(f)
        print(
            f"{path.name}: {meta['rate']:.0f}/min, {meta['days']:.0f} days, seed {meta['seed']}: "
            f"{sum(onsets.values())} onsets ({cpu:.0f} s CPU); recorded engine: "
            f"{sum(meta['onsets'].values())}"
        )
        names = sorted({c for c, _ in onsets} | {c for c, _ in meta["onsets"]})
        for check in names:
            mine = {s: n for (c, s), n in onsets.items() if c == check}
            theirs = {s: n for (c, s), n in meta["onsets"].items() if c == check}
            print(f"  {check}: {sum(mine.values())} (engine {sum(theirs.values())})  {mine}")


if __name__ == "__main__":
    main()
