"""The agent's local bucketing, as a ratio to a bare typed decode of the same bytes in the same run.

The workload is ``bench/ingest.py``'s (the bundled signup pipeline, event times in the last few
minutes, NDJSON batches of 1,000). Prints, for the compiled bucketing loop
(``monitor/agent/_bucket.pyx``) and the Python one side by side, ``--runs`` runs (min / median /
max of each run's ratio to its own bare decode; CPU time of this process, best of three):

- bare decode: a typed msgspec decode of the NDJSON bytes (the reference, as in ``ingest.py``);
- bucketer: ``Bucketer.observe`` on the already decoded observations, then one ``take`` (what a
  flush freezes), i.e. the agent's per-observation work beyond the push decoder's;
- agent ingest: decode + validate (the push decoder the agent's HTTP handler runs) + bucketer.

Usage: .venv/bin/python bench/agent.py [--events N] [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator
from statistics import median

import ingest

from monitor.agent import bucketer as bucketer_module
from monitor.agent.bucketer import Bucketer
from monitor.config.model import Config
from monitor.ledger.sampling import id_hash_python
from monitor.reload import load_all
from monitor.sources.push import decode_observations


@contextlib.contextmanager
def python_loop() -> Iterator[None]:
    """The Python bucketing loop in this process, as ``HOPWATCH_PURE_PYTHON=1`` would run it
    (the push decoder's own compiled scan is switched by ``ingest.python_core``)."""
    saved = bucketer_module._compiled, bucketer_module.id_hash
    bucketer_module._compiled, bucketer_module.id_hash = None, id_hash_python
    try:
        with ingest.python_core():
            yield
    finally:
        bucketer_module._compiled, bucketer_module.id_hash = saved


def decoded(bodies: list[bytes], config: Config, now: float) -> list[list]:
    return [
        list(
            decode_observations(
                body, content_type="application/x-ndjson", config=config, now=now
            ).accepted
        )
        for body in bodies
    ]


def bucket(batches: list[list], config: Config, now: float) -> None:
    b = Bucketer(config)
    for batch in batches:
        b.observe(batch)
    b.take(now)


def agent_ingest(bodies: list[bytes], config: Config, now: float) -> None:
    b = Bucketer(config)
    for body in bodies:
        b.observe(
            decode_observations(
                body, content_type="application/x-ndjson", config=config, now=now
            ).accepted
        )
    b.take(now)


def one_run(workload: ingest.Workload, config: Config) -> dict[str, float]:
    """Observations per CPU second of each figure (best of three), both loops."""
    bodies, n = workload.bodies()
    now = time.time()
    out = {"bare": n / ingest.best_of(lambda: ingest.bare_decode(bodies), clock=ingest.CPU)}
    for compiled in (True, False):
        label = "compiled" if compiled else "python"
        with contextlib.nullcontext() if compiled else python_loop():
            batches = decoded(bodies, config, now)
            out[f"bucketer {label}"] = n / ingest.best_of(
                lambda b=batches: bucket(b, config, now), clock=ingest.CPU
            )
            out[f"agent ingest {label}"] = n / ingest.best_of(
                lambda: agent_ingest(bodies, config, now), clock=ingest.CPU
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="simulated events")
    parser.add_argument("--runs", type=int, default=3, help="runs for min / median / max")
    args = parser.parse_args()
    workload = ingest.Workload(args.events)
    config = load_all(ingest.ROOT / "hopwatch.yaml").config
    built = "built" if bucketer_module._compiled is not None else "NOT built"
    print(f"agent bucketing; compiled loop {built}; {args.runs} runs, CPU time, best of 3 each")
    rows: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for name, value in one_run(workload, config).items():
            rows.setdefault(name, []).append(value)
    bare = rows["bare"]
    print(f"bare typed decode       {min(bare):10,.0f}-{max(bare):,.0f} obs/s  1.00")
    for name, values in rows.items():
        if name == "bare":
            continue
        ratios = sorted(v / b for v, b in zip(values, bare, strict=True))
        us = sorted(1e6 / v for v in values)
        print(
            f"{name:<24}{min(values):10,.0f}-{max(values):,.0f} obs/s  "
            f"{ratios[0]:.2f} / {median(ratios):.2f} / {ratios[-1]:.2f} of bare decode "
            f"({us[0]:.2f}-{us[-1]:.2f} us/obs)"
        )


if __name__ == "__main__":
    main()
