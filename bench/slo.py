"""CPU time of one SLO evaluation tick, as a ratio to a reference measured in the same run.

Builds 1,000 SLOs with the workbook tiers over a rolling 28-day period, fills 28 days of history
(one decision batch per SLO per minute), then prints:
- reference: CPU time of a bare vectorised numpy sum over the ledger's minute and hour arrays;
- tick: CPU time of one ``SLOEvaluator.evaluate(now)`` (best of the repeats), its ratio to the
  reference, and its share of a 10 s tick interval (goal < 10%);
- verdicts: CPU time of ``verdicts(statuses, now)`` on top, for context.

Usage: .venv/bin/python bench/slo.py [--slos N] [--repeat R]
"""

from __future__ import annotations

import argparse
import gc
import time

import numpy as np

from monitor.slo.evaluate import SLOEvaluator
from monitor.slo.model import SLO, RatioIndicator, workbook_tiers

TICK_INTERVAL = 10.0
T0 = 1_699_999_200.0


def cpu_best(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def build(n: int) -> tuple[SLOEvaluator, float]:
    slos = [
        SLO(f"slo-{i:04d}", f"svc-{i % 20}", 0.99, RatioIndicator("p", "h"), tiers=workbook_tiers())
        for i in range(n)
    ]
    ev = SLOEvaluator(slos)
    rng = np.random.default_rng(7)
    rows = np.arange(n)
    minutes = 28 * 1440
    for m in range(minutes):
        total = rng.integers(50, 150, size=n)
        bad = rng.binomial(total, 0.004)
        ev.ledger.record_many(rows, T0 + m * 60.0 + 1.0, total - bad, bad)
    return ev, T0 + minutes * 60.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slos", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()

    start = time.process_time()
    ev, now = build(args.slos)
    print(f"history: {args.slos} SLOs x 28 days filled in {time.process_time() - start:.1f} s CPU")

    # Private on purpose: the reference reads exactly the arrays a tick reads.
    minute_counts = ev.ledger._minutes.counts
    hour_counts = ev.ledger._hours.counts

    def reference() -> None:
        minute_counts.sum(axis=2)
        hour_counts.sum(axis=2)

    ticks = iter(now + TICK_INTERVAL * k for k in range(10 * args.repeat))
    reference_s = cpu_best(reference, args.repeat)
    tick_s = cpu_best(lambda: ev.evaluate(next(ticks)), args.repeat)
    statuses = ev.evaluate(now)
    verdicts_s = cpu_best(lambda: ev.verdicts(statuses, now), args.repeat)

    print(f"reference (numpy sum over {minute_counts.shape} + {hour_counts.shape} int64): "
          f"{reference_s * 1e3:.1f} ms")  # fmt: skip
    print(f"evaluate(now) tick: {tick_s * 1e3:.1f} ms CPU = {tick_s / reference_s:.2f}x reference")
    print(
        f"share of a {TICK_INTERVAL:g} s tick interval: {tick_s / TICK_INTERVAL:.2%} (goal < 10%)"
    )
    print(f"verdicts ({len(ev.verdicts(statuses, now))}): {verdicts_s * 1e3:.1f} ms CPU")


if __name__ == "__main__":
    main()
