"""The ``hopwatch`` command as a user runs it: real processes, real signals, real HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from monitor.store import open_store
from monitor.store.snapshot import FILENAME as SNAPSHOT_FILE
from monitor.store.snapshot import read_snapshot
from monitor.testing import free_port

ROOT = Path(__file__).resolve().parents[1]


def hopwatch(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def wait_ready(url: str, proc: subprocess.Popen, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("hopwatch did not become ready")


def test_validate_exits_zero_with_a_summary_for_the_example():
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "validate", "hopwatch.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert (
        out.stdout
        == "hopwatch.yaml: ok — 2 pipelines, 11 hops, 10 edges, 5 included files, 8 SLOs, 7 checks, 5 routes, 3 receivers\n"
    )


@pytest.mark.slow
def test_run_serves_and_sigterm_flushes_state_and_exits_zero(tmp_path: Path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The example config as shipped, plus a push token (as a deployment would add one).
    data = yaml.safe_load((ROOT / "hopwatch.yaml").read_text(encoding="utf-8"))
    data["include"] = [str(ROOT / entry) for entry in data["include"]]
    data["server"]["auth"] = {
        "tokens": [{"name": "svc", "scopes": ["push"], "token_env": "HOPWATCH_TEST_PUSH"}]
    }
    config = tmp_path / "hopwatch.yaml"
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {**os.environ, "HOPWATCH_TEST_PUSH": "push-secret"}
    proc = hopwatch(
        "run",
        "--config",
        str(config),
        "--listen",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(tmp_path),
        env=env,
    )
    try:
        wait_ready(url, proc)
        now = time.time()
        body = {
            "pipeline": "signup",
            "hop": "sdk",
            "event_id": "evt-1",
            "event_type": "user_signed_up",
            "event_time": now - 1,
        }
        assert httpx.post(url + "/v1/observations", json=[body]).status_code == 401
        auth = {"authorization": "Bearer push-secret"}
        r = httpx.post(url + "/v1/observations", json=[body], headers=auth)
        assert r.status_code == 202 and r.json()["accepted"] == 1
        assert "hopwatch_hop_events_total" in httpx.get(url + "/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert any(entry["msg"] == "stopped" for entry in logs)
    # The engine's checkpoint is a file beside hopwatch.db now (monitor.store.snapshot).
    saved = read_snapshot(tmp_path / SNAPSHOT_FILE)
    assert saved is not None and saved.at >= now
    with open_store(tmp_path) as store:
        assert store.last_beat() is not None


@pytest.mark.slow
def test_demo_runs_and_stops_by_itself(tmp_path: Path):
    port = free_port()
    proc = hopwatch(
        "demo",
        "--listen",
        f"127.0.0.1:{port}",
        "--data-dir",
        str(tmp_path),
        "--duration",
        "8",
        "--speed",
        "120",
    )
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.splitlines()[0] == f"hopwatch demo: status page at http://127.0.0.1:{port}/"
    assert "hopwatch demo: pipeline 'signup'" in out
    assert "edge identity->activation" in out
    assert out.rstrip().endswith("hopwatch demo: stopped")


@pytest.mark.slow
def test_demo_stops_cleanly_on_ctrl_c(tmp_path: Path):
    port = free_port()
    proc = hopwatch("demo", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path))
    try:
        wait_ready(f"http://127.0.0.1:{port}", proc)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert out.rstrip().endswith("hopwatch demo: stopped")


def test_the_packaged_demo_config_has_the_same_pipeline_as_the_example():
    from monitor.config import load_config
    from monitor.demo import PACKAGED_CONFIG

    # The demo simulates the signup pipeline; the example's privacy pipeline (hour buckets, days
    # of lateness) would sit idle in a minutes-long demo, so the packaged config leaves it out.
    demo = load_config(PACKAGED_CONFIG)
    assert demo.pipelines == (load_config(ROOT / "hopwatch.yaml").pipeline("signup"),)
