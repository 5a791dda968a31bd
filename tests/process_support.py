"""Real processes for end-to-end tests: ``hopwatch run`` and a shared Kafka mock cluster."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def start(
    config: Path, data: Path, port: int, *, stderr: object = subprocess.PIPE
) -> subprocess.Popen[str]:
    """``hopwatch run`` on 127.0.0.1:``port``, returned once ``/readyz`` answers 200."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config), "--data-dir", str(data),
         "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=stderr, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("hopwatch did not become ready")


@contextmanager
def mock_cluster(*topics: str) -> Iterator[str]:
    """librdkafka's mock cluster held by a process of its own, shared by every process of a
    test (it lives as long as the client that made it); yields its bootstrap servers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor.sources.kafka_mock", "--topics", ",".join(topics)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        bootstrap = proc.stdout.readline().strip()
        assert bootstrap, "the mock cluster did not start"
        yield bootstrap
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
