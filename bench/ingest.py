"""Ingest throughput and pending-id memory, as ratios to references measured in the same run.

Prints:
- bare decode: observations/s of a typed msgspec decode of the NDJSON bytes (the reference);
- in-process ingest: decode + validate + ledger, observations/s and ratio to bare decode;
- HTTP ingest: NDJSON batches of 1,000 POSTed to a ``hopwatch run`` subprocess on 127.0.0.1,
  observations/s and ratio to bare decode (goal >= 0.5);
- bytes per pending id with 1,000,000 ids pending on one edge (goal <= 150).

Usage: .venv/bin/python bench/ingest.py [--events N]
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import httpx
import msgspec

from monitor.config import load_config
from monitor.config.model import Edge, Hop, Pipeline
from monitor.demo import ndjson
from monitor.engine import Engine
from monitor.ledger.ledger import PipelineLedger
from monitor.records import Observation, ObservationIn
from monitor.sim import Scenario, Simulator
from monitor.sources.push import decode_observations

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


def batches(n_events: int) -> tuple[list[bytes], int]:
    config = load_config(ROOT / "hopwatch.yaml")
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    start = time.time() - 6 * 3600  # all in the past, well within retention
    sim = Simulator(pipeline, Scenario(start=start, seed=7))
    observations = sim.first_events(n_events)
    bodies = [ndjson(observations[i : i + BATCH]) for i in range(0, len(observations), BATCH)]
    return bodies, len(observations)


def best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bare_decode(bodies: list[bytes]) -> None:
    decoder = msgspec.json.Decoder(list[ObservationIn])
    for body in bodies:
        decoder.decode(b"[" + body.replace(b"\n", b",") + b"]")


def in_process(bodies: list[bytes], config) -> None:
    engine = Engine(config)
    now = time.time()
    for body in bodies:
        batch = decode_observations(
            body, content_type="application/x-ndjson", config=config, now=now
        )
        engine.observe(batch.accepted)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(bodies: list[bytes], workers: int = 2) -> float:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "monitor",
                "run",
                "--config",
                str(ROOT / "hopwatch.yaml"),
                "--listen",
                f"127.0.0.1:{port}",
                "--data-dir",
                tmp,
                "--log-level",
                "warning",
            ],
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
            headers = {"content-type": "application/x-ndjson"}
            with httpx.Client() as warm:
                warm.post(base + "/v1/observations", content=bodies[0], headers=headers)
            chunks = [bodies[i::workers] for i in range(workers)]

            def post_all(mine: list[bytes]) -> None:
                with httpx.Client(timeout=60) as client:
                    for body in mine:
                        r = client.post(base + "/v1/observations", content=body, headers=headers)
                        r.raise_for_status()

            threads = [threading.Thread(target=post_all, args=(c,)) for c in chunks]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return time.perf_counter() - t
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def bytes_per_pending_id(n: int = 1_000_000) -> float:
    pipeline = Pipeline(
        name="p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),), max_pending_ids=2 * n
    )
    ledger = PipelineLedger(pipeline)
    base = time.time()
    gc.collect()
    tracemalloc.start()
    for k in range(0, n, 10_000):
        ledger.observe(
            [
                Observation(
                    "p",
                    "a",
                    "x",
                    base + (i % 600) * 0.1,
                    base + (i % 600) * 0.1 + 1,
                    event_id=f"evt-{i:012x}-{(i * 7919) & 0xFFFFFFFF:08x}",
                )
                for i in range(k, k + 10_000)
            ]
        )
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert ledger.pending_ids == n
    return current / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--events", type=int, default=40_000, help="simulated events (≈4.5 observations each)"
    )
    args = parser.parse_args()
    bodies, n = batches(args.events)
    print(
        f"{n} observations in {len(bodies)} NDJSON batches, {sum(map(len, bodies)) / n:.0f} bytes each"
    )
    bare = n / best_of(lambda: bare_decode(bodies))
    config = load_config(ROOT / "hopwatch.yaml")
    inproc = n / best_of(lambda: in_process(bodies, config))
    over_http = n / http(bodies)
    print(f"bare typed decode     {bare:10,.0f} obs/s  1.00")
    print(f"in-process ingest     {inproc:10,.0f} obs/s  {inproc / bare:.2f} of bare decode")
    print(
        f"HTTP NDJSON x{BATCH}    {over_http:10,.0f} obs/s  {over_http / bare:.2f} of bare decode (goal >= 0.50)"
    )
    print(
        f"pending id memory     {bytes_per_pending_id():10.1f} bytes/id at 1,000,000 (goal <= 150)"
    )


if __name__ == "__main__":
    main()
