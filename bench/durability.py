"""What durability costs: HTTP NDJSON throughput in ``wal`` vs ``checkpoint`` mode, and what a
checkpoint does to request latency, as ratios to references measured in the same run.

Prints:
- bare typed decode of the NDJSON bytes (the reference, as in ``bench/ingest.py``);
- HTTP NDJSON ingest (batches of 1,000, 2 client threads) against ``hopwatch run`` with
  ``storage.durability: wal`` and ``checkpoint``: observations/s and ratio to bare decode;
- request latency p50 / p99 of small pushes while a checkpoint child is running vs while none
  is (the daemon's checkpoint is a forked child: the bench watches ``/proc`` for it), as ratios.

Usage: .venv/bin/python bench/durability.py [--events N] [--seconds S]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import (
    PUSH_HEADERS,
    ROOT,
    bare_decode,
    batches,
    bench_env,
    best_of,
    config_text,
    free_port,
)

HEADERS = PUSH_HEADERS


def config_for(mode: str) -> Path:
    """The bundled config with ``storage.durability`` set and a push token, beside it."""
    path = ROOT / f".bench-durability-{mode}.yaml"
    path.write_text(config_text(durability=mode))
    return path


class Hopwatch:
    def __init__(self, mode: str, data: str) -> None:
        import subprocess

        self.config = config_for(mode)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(self.config),
             "--listen", f"127.0.0.1:{self.port}", "--data-dir", data, "--log-level", "warning"],
            cwd=ROOT, env=bench_env(),
        )  # fmt: skip
        for _ in range(400):
            try:
                if httpx.get(self.base + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hopwatch did not start")

    def checkpointing(self) -> bool:
        """A forked checkpoint child exists right now."""
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
        except OSError:
            return False
        return bool(children.split())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=60)
        self.config.unlink(missing_ok=True)


def throughput(mode: str, bodies: list[bytes], n: int, workers: int = 2) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        hw = Hopwatch(mode, tmp)
        try:
            with httpx.Client() as warm:
                warm.post(hw.base + "/v1/observations", content=bodies[0], headers=HEADERS)

            def post_all(mine: list[bytes]) -> None:
                with httpx.Client(timeout=60) as client:
                    for body in mine:
                        client.post(
                            hw.base + "/v1/observations", content=body, headers=HEADERS
                        ).raise_for_status()

            threads = [
                threading.Thread(target=post_all, args=(bodies[i::workers],))
                for i in range(workers)
            ]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            return n / (time.perf_counter() - t)
        finally:
            hw.stop()


def latency_during_checkpoints(
    bodies: list[bytes], seconds: float
) -> tuple[list[float], list[float]]:
    """Load the state (every body), then push small batches for ``seconds`` (covering
    checkpoints every 10 s), each tagged by whether a checkpoint child ran meanwhile."""
    during: list[float] = []
    idle: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        hw = Hopwatch("wal", tmp)
        try:
            with httpx.Client(timeout=60) as client:
                for body in bodies:
                    client.post(hw.base + "/v1/observations", content=body, headers=HEADERS)
                small = [b"\n".join(body.split(b"\n")[:50]) for body in bodies]
                end = time.monotonic() + seconds
                i = 0
                while time.monotonic() < end:
                    busy = hw.checkpointing()
                    t = time.perf_counter()
                    client.post(
                        hw.base + "/v1/observations", content=small[i % len(small)], headers=HEADERS
                    )
                    took = time.perf_counter() - t
                    (during if busy or hw.checkpointing() else idle).append(took)
                    i += 1
        finally:
            hw.stop()
    return during, idle


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]
        if q < 100
        else max(values)
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=25.0)
    args = parser.parse_args()
    bodies, n = batches(args.events)
    bare = n / best_of(lambda: bare_decode(bodies))
    print(f"{n} observations in {len(bodies)} NDJSON batches")
    print(f"bare typed decode          {bare:10,.0f} obs/s  1.00")
    results = {mode: throughput(mode, bodies, n) for mode in ("checkpoint", "wal")}
    for mode, rate in results.items():
        print(f"HTTP NDJSON, {mode:10s}    {rate:10,.0f} obs/s  {rate / bare:.2f} of bare decode")
    print(f"wal / checkpoint throughput              {results['wal'] / results['checkpoint']:.2f}")
    during, idle = latency_during_checkpoints(bodies, args.seconds)
    print(f"requests during a checkpoint: {len(during)}, without: {len(idle)}")
    for q in (50, 99):
        a, b = pct(during, q), pct(idle, q)
        print(
            f"p{q} latency  during {a * 1e3:7.2f} ms  without {b * 1e3:7.2f} ms  ratio {a / b:.2f}"
        )


if __name__ == "__main__":
    main()
