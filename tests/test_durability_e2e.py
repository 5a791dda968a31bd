"""``kill -9`` through real HTTP: every 202-acknowledged observation is counted after a restart
(``wal``); ``checkpoint`` mode loses at most what came after the last checkpoint, nothing on a
clean SIGTERM."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import httpx
import msgspec
import pytest
from process_support import start

from monitor.testing import free_port

NDJSON = {"content-type": "application/x-ndjson"}
TOTAL = re.compile(r'^hopwatch_hop_events_total\{hop="a",pipeline="p",status="ok"\} (\S+)$', re.M)


def counted(port: int) -> int:
    match = TOTAL.search(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    return int(float(match.group(1))) if match else 0


def push_batches(port: int, batches: int, size: int) -> int:
    acked = 0
    now = time.time()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for b in range(batches):
            rows = [
                {"pipeline": "p", "hop": "a", "event_id": f"e{b}-{i}", "event_type": "t",
                 "event_time": now - 2}
                for i in range(size)
            ]  # fmt: skip
            r = client.post(
                "/v1/observations",
                content=b"\n".join(msgspec.json.encode(x) for x in rows),
                headers=NDJSON,
            )
            if r.status_code == 202:
                acked += r.json()["accepted"]
    return acked


def config_file(tmp_path: Path, mode: str) -> Path:
    path = tmp_path / f"{mode}.yaml"
    path.write_text(
        "apiVersion: hopwatch/v1\n"
        # Open on loopback on purpose: this is a test of durability (auth: test_auth.py).
        "server:\n  auth: {open: true}\n"
        f"storage:\n  durability: {mode}\n"
        "pipelines:\n  - name: p\n    bucket: 60s\n    allowed_lateness: 5m\n"
        "    hops:\n      - name: a\n"
    )
    return path


@pytest.mark.slow
def test_kill_9_loses_no_acknowledged_observation_in_wal_mode(tmp_path: Path) -> None:
    config, data, port = config_file(tmp_path, "wal"), tmp_path / "data", free_port()
    proc = start(config, data, port)
    try:
        acked = push_batches(port, 60, 200)
        time.sleep(11)  # a background checkpoint happens in between
        acked += push_batches(port, 40, 200)
        assert counted(port) == acked
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = start(config, data, port)
    try:
        assert acked == 20_000
        assert counted(port) == acked
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


@pytest.mark.slow
def test_checkpoint_mode_loses_at_most_the_last_interval_and_nothing_on_sigterm(
    tmp_path: Path,
) -> None:
    config, data, port = config_file(tmp_path, "checkpoint"), tmp_path / "data", free_port()
    proc = start(config, data, port)
    try:
        acked = push_batches(port, 50, 200)
        assert acked == 10_000  # every batch was answered 202
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = start(config, data, port)
    try:
        after_crash = counted(port)
        assert after_crash <= acked
        pushed = push_batches(port, 20, 200)
        assert pushed == 4_000
        acked_now = after_crash + pushed
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    proc = start(config, data, port)
    try:
        assert counted(port) == acked_now
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
