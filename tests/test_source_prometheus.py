"""The ``prometheus`` source against a real Prometheus scraping an exporter with known counters.

Prometheus (Debian's ``prometheus``) is started on 127.0.0.1 with a free port, a temporary
directory and a 1 s scrape interval; the exporter is prometheus_client's HTTP server in this
process. The counter is bumped early in each 4 s bucket, so the scrapes that reveal each bump fall
in the same bucket, and reset (a fresh counter: what a restarted process exports) in the middle.
"""

from __future__ import annotations

import asyncio
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter, start_http_server

from monitor.config import load_config
from monitor.engine import Engine
from monitor.sources.pull import SourceRunner
from monitor.testing import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package 'prometheus'"),
]

BUCKET = 4.0
CONFIG = """\
apiVersion: hopwatch/v1
pipelines:
  - name: signup
    bucket: 4s
    allowed_lateness: 1m
    attributes: [region]
    hops:
      - name: ingest
        sources:
          - kind: prometheus
            url: {url}
            query: signup_ingested_total
            step: 1s
            interval: 4s
            timeout: 3s
            labels: {{region: region}}
"""


class Exporter:
    """A counter ``signup_ingested_total{region}`` whose every value the test decides."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counter = self._fresh()
        self.port = free_port()
        self.server, self.thread = start_http_server(self.port, "127.0.0.1", self.registry)

    def _fresh(self) -> Counter:
        return Counter("signup_ingested", "Events ingested.", ["region"], registry=None)

    def restart_counter(self, first: int) -> None:
        """What a restarted process exports: the same series, counting again from zero."""
        fresh = self._fresh()
        fresh.labels(region="eu").inc(first)
        self.registry.unregister(self.counter)
        self.registry.register(fresh)
        self.counter = fresh

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def exporter() -> Iterator[Exporter]:
    exp = Exporter()
    exp.registry.register(exp.counter)
    yield exp
    exp.close()


@pytest.fixture
def prometheus(tmp_path: Path, exporter: Exporter) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: exporter\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{exporter.port}']}}]\n"
    )
    proc = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_scraped(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _wait_until_scraped(url: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            body = httpx.get(f"{url}/api/v1/query", params={"query": "up"}).json()
            if any(r["value"][1] == "1" for r in body["data"]["result"]):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError("Prometheus did not scrape the exporter within 15 s")


async def _sleep_until(t: float) -> None:
    await asyncio.sleep(max(0.0, t - time.time()))


async def _scenario(exporter: Exporter, runner: SourceRunner, engine: Engine) -> float:
    """Bumps of 7, reset + 3, and 4 in three consecutive buckets; returns the first's start."""
    source = runner.sources[0]
    eu = exporter.counter.labels(region="eu")
    eu.inc(100)  # a series born inside the window: it counted from zero
    b0 = math.ceil((time.time() + 1.5) / BUCKET) * BUCKET
    await _sleep_until(b0 + 0.3)
    eu.inc(7)
    await _sleep_until(b0 + BUCKET + 0.3)
    exporter.restart_counter(first=3)  # 107 -> 3: a reset, and 3 new events
    assert await runner.poll(source, engine, time.time())  # read again below: replaced, not added
    await _sleep_until(b0 + 2 * BUCKET + 0.3)
    exporter.counter.labels(region="eu").inc(4)
    await _sleep_until(b0 + 3 * BUCKET + 1.5)
    assert await runner.poll(source, engine, time.time())
    await source.aclose()
    return b0


def test_bucket_counts_are_exact_across_a_counter_reset(
    tmp_path: Path, exporter: Exporter, prometheus: str
) -> None:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(CONFIG.format(url=prometheus))
    config = load_config(path, {})
    engine = Engine(config)
    runner = SourceRunner.from_config(config)
    b0 = asyncio.run(_scenario(exporter, runner, engine))

    out = engine.tick(b0 + 3 * BUCKET + 60 + 1)
    got = {
        b.bucket_start - b0: dict((tuple(k.attributes), n) for k, n in b.counts)
        for b in out.closed["signup"].hop_buckets
        if b.hop == "ingest" and b.total
    }
    eu_only = (("region", "eu"),)
    before = [counts for start, counts in got.items() if start < 0]
    assert before == [{eu_only: 100}]
    assert {k: v for k, v in got.items() if k >= 0} == {
        0.0: {eu_only: 7},
        BUCKET: {eu_only: 3},
        2 * BUCKET: {eu_only: 4},
    }
    health = runner.health[runner.sources[0].key]
    assert (health.up, health.consecutive_failures) == (True, 0)
