"""Workers on the observation bus: simulated observations produced to a topic keyed by event id,
workers in one consumer group, aggregates to a real judge over HTTP. The truth is one engine fed
the same observations. A second worker joining (a rebalance) and a worker killed mid-stream
(no hand-over: its unacknowledged reads are re-read by the survivor) give the same results.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("confluent_kafka")

from kafka_support import HOPS, START, config_text, item

from monitor.agent.worker import Worker
from monitor.client.kafka import KafkaTransport
from monitor.config import load_config
from monitor.daemon import Daemon
from monitor.engine import Engine
from monitor.server.app import create_app
from monitor.sim import Scenario, Simulator
from monitor.sources.kafka_mock import MockCluster
from monitor.store import open_store
from monitor.testing import FakeClock, serve_in_thread

TOPIC = "observations"
FAST_GROUP = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 500}


class Running:
    """A worker polling in a thread until stopped; ``crash`` stops it without a hand-over."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.stop = False
        self.crashed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while not self.stop:
            self.worker.poll(2000, 0.1)
            if time.monotonic() - last > 0.5:
                self.worker.flush()
                last = time.monotonic()
        if self.crashed:
            self.worker.partitions.clear()  # what it read and did not ship dies with it
            self.worker.consumer.close()
        else:
            self.worker.flush()
            self.worker.close()


@pytest.mark.slow  # consumer-group joins and rebalances against the mock brokers take ~a minute
def test_workers_rebalance_and_a_crash_give_the_results_of_one_engine(tmp_path: Path) -> None:
    cluster = MockCluster()
    cluster.create_topic(TOPIC)
    path = tmp_path / "hopwatch.yaml"
    path.write_text(config_text(None, extra=f"storage: {{data_dir: {tmp_path / 'judge'}}}\n"))
    config = load_config(path)
    pipeline = config.pipelines[0]
    observations = [
        o
        for o in Simulator(pipeline, Scenario(start=START, seed=5)).observations(
            START, START + 6 * 60
        )
        if o.hop in HOPS
    ]
    clock = FakeClock(START + 6 * 60)
    truth = Engine(config)
    truth.observe(observations)

    transport = KafkaTransport(cluster.bootstrap_servers, TOPIC)
    third = len(observations) // 3
    transport.send(item(o) for o in observations[:third])
    transport.flush()

    daemon = Daemon(config, clock, open_store(tmp_path / "judge"))
    daemon.start()

    def worker(name: str) -> Worker:
        return Worker(
            config,
            bootstrap_servers=cluster.bootstrap_servers,
            topic=TOPIC,
            group_id="hopwatch-workers",
            server_url=url,
            agent_id="workers",
            name=name,
            now=clock.now,
            consumer_config=FAST_GROUP,
        )

    with serve_in_thread(create_app(daemon)) as url:
        w1 = Running(worker("w1"))
        time.sleep(3)
        w2 = Running(worker("w2"))  # joins: a rebalance mid-stream
        transport.send(item(o) for o in observations[third : 2 * third])
        transport.flush()
        time.sleep(6)
        w1.crashed = w1.stop = True  # killed: no hand-over
        w1.thread.join(30)
        transport.send(item(o) for o in observations[2 * third :])
        transport.flush()
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            total = sum(daemon.engine.view().hop_totals.values())
            if total >= len(observations):
                break
            time.sleep(0.5)
        time.sleep(2)  # anything more would be a double count
        w2.stop = True
        w2.thread.join(30)
        assert daemon.engine.view().hop_totals == truth.view().hop_totals
        close_at = START + 7 * 60 + 300 + 1
        clock.set(close_at)
        judged = daemon.engine.tick(close_at)
        wanted = truth.tick(close_at)
        for name in wanted.closed:
            got_edges = {
                e.key: (e.expected, e.arrived, e.missing, e.duplicates)
                for e in judged.closed[name].edge_results
            }
            want_edges = {
                e.key: (e.expected, e.arrived, e.missing, e.duplicates)
                for e in wanted.closed[name].edge_results
            }
            assert got_edges == want_edges
            assert want_edges
    daemon.stop()
    cluster.close()
