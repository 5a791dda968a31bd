"""Scale-out through Kafka: observations/s through 1, 2 and 4 workers, and the judge's cost per
aggregate batch, against librdkafka's mock cluster (real Kafka protocol on 127.0.0.1).

What it measures: N observations (the simulator's signup traffic) are produced to a 4-partition
topic keyed by event id; 1, 2 or 4 ``Worker`` processes in one consumer group consume them and
ship aggregates to a judge (``create_app`` in this process, open auth on loopback). Records are
produced once the group has settled (every partition owned), and the clock runs from the judge's
first absorbed record to its last, so consumer-group joins are excluded; producing overlaps it.
The machine this was written on has 2 cores shared with the judge and the brokers, so the
figure that transfers is the ratio per worker to 1 worker, not the absolute rate.

Usage: PYTHONPATH=. .venv/bin/python bench/scale.py [--events N] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from monitor.agent.bucketer import Bucketer
from monitor.config import load_config
from monitor.config.model import Config
from monitor.demo import to_wire
from monitor.engine import Engine
from monitor.ledger.aggregate import AggregateBatch
from monitor.records import Observation
from monitor.sim import Scenario, Simulator

START = 1_700_000_040.0
CONFIG = """\
apiVersion: hopwatch/v1
server:
  auth: {open: true}
storage: {data_dir: DATA}
pipelines:
  - name: signup
    attributes: [region]
    hops: [{name: sdk}, {name: ingest}, {name: crm}]
    edges:
      - {from: sdk, to: ingest, where: 'status == "ok"'}
      - {from: ingest, to: crm}
"""


def _config(tmp: Path) -> tuple[Path, Config]:
    path = tmp / "hopwatch.yaml"
    path.write_text(CONFIG.replace("DATA", str(tmp / "judge")))
    return path, load_config(path)


def _traffic(config: Config, events: int) -> list[Observation]:
    sim = Simulator(config.pipelines[0], Scenario(start=START, seed=1))
    out: list[Observation] = []
    minute = 0
    while len(out) < events:
        out += [
            o
            for o in sim.observations(START + minute * 60, START + (minute + 1) * 60)
            if o.hop in ("sdk", "ingest", "crm")
        ]
        minute += 1
    return out[:events]


def _worker(
    config_path: str, bootstrap: str, topic: str, url: str, name: str, stop: Any, owned: Any, i: int
) -> None:
    from monitor.agent.worker import Worker

    config = load_config(Path(config_path))
    worker = Worker(
        config,
        bootstrap_servers=bootstrap,
        topic=topic,
        group_id=f"bench-{topic}",
        server_url=url,
        agent_id="bench",
        name=name,
        now=lambda: START + 3600,
    )

    def should_stop() -> bool:
        owned[i] = len(worker.partitions)  # the parent starts producing once the group settled
        return bool(stop.is_set())

    worker.run(0.5, should_stop)


def through_workers(n: int, events: list[dict[str, Any]], tmp: Path) -> float:
    """Observations/s from the judge's first absorbed record to its last, with ``n`` workers."""
    from monitor.daemon import Daemon
    from monitor.server.app import create_app
    from monitor.sources.kafka_mock import MOCK_PARTITIONS, MockCluster
    from monitor.store import open_store
    from monitor.testing import FakeClock, serve_in_thread

    run_dir = tmp / f"w{n}"
    run_dir.mkdir()
    config_path, config = _config(run_dir)
    cluster = MockCluster()
    topic = f"obs-{n}"
    cluster.create_topic(topic)
    daemon = Daemon(config, FakeClock(START + 3600), open_store(run_dir / "judge"))
    daemon.start()
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    owned = ctx.Array("i", n)
    with serve_in_thread(create_app(daemon)) as url:
        procs = [
            ctx.Process(
                target=_worker,
                args=(
                    str(config_path),
                    cluster.bootstrap_servers,
                    topic,
                    url,
                    f"w{i}",
                    stop,
                    owned,
                    i,
                ),
            )
            for i in range(n)
        ]
        for p in procs:
            p.start()
        settled = 0
        while settled < 20:  # every partition owned, and no idle worker, for 2 s
            ok = sum(owned) == MOCK_PARTITIONS and (n > MOCK_PARTITIONS or min(owned) > 0)
            settled = settled + 1 if ok else 0
            time.sleep(0.1)
        cluster.produce(
            topic,
            (
                (e["event_id"].encode() if "event_id" in e else None, json.dumps(e).encode())
                for e in events
            ),
        )
        first = last = None
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            total = sum(daemon.engine.view().hop_totals.values())
            if total and first is None:
                first = time.monotonic()
            if total >= len(events):
                last = time.monotonic()
                break
            time.sleep(0.02)
        stop.set()
        for p in procs:
            p.join(30)
    daemon.stop()
    cluster.close()
    if first is None or last is None:
        raise RuntimeError(f"{n} workers did not deliver every observation")
    return len(events) / max(last - first, 1e-6)


def judge_cost(
    config: Config, observations: list[Observation], per_batch: int
) -> tuple[float, int]:
    """Seconds per ``Engine.absorb`` of a batch built from ``per_batch`` observations."""
    batches = []
    for i in range(0, len(observations), per_batch):
        b = Bucketer(config)
        b.observe(observations[i : i + per_batch])
        aggregates, _ = b.take(START + 3600)
        batches.append(AggregateBatch("bench", "i", len(batches) + 1, 0, tuple(aggregates)))
    engine = Engine(config)
    t = time.perf_counter()
    for batch in batches:
        engine.absorb(batch, START + 3600)
    return (time.perf_counter() - t) / len(batches), len(batches)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()} (judge, mock brokers and workers share them)")
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        _, config = _config(tmp)
        observations = _traffic(config, args.events)
        events = [to_wire(o) for o in observations]
        rates: dict[int, float] = {}
        for n in (int(x) for x in args.workers.split(",")):
            rates[n] = through_workers(n, events, tmp)
            print(
                f"{n} worker(s): {rates[n]:,.0f} observations/s; "
                f"per worker / 1 worker: {rates[n] / n / rates[min(rates)]:.2f}; "
                f"total / 1 worker: {rates[n] / rates[min(rates)]:.2f}"
            )
        for per_batch in (1_000, 10_000):
            cost, k = judge_cost(config, observations, per_batch)
            print(
                f"judge: {cost * 1000:.2f} ms per aggregate batch of {per_batch:,} observations "
                f"({k} batches; {per_batch / cost:,.0f} observations/s absorbed)"
            )


if __name__ == "__main__":
    main()
