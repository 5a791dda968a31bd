"""Two hopwatch servers on one real PostgreSQL: ``kill -9`` the leader while an alert fires.

The standby takes over (``monitor.standby``), the alert stays firing without a second page (the
notification log is shared in PostgreSQL), and when the fault ends exactly one resolve is sent.
Real processes, real PostgreSQL (``pg_support``), a local webhook receiver; wall-clock time with
2 s buckets and 1 s of allowed lateness, so the whole story takes about half a minute.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec
import pytest
from pg_support import pg_url

from monitor.testing import free_port
from monitor.testing_fakes import FakeWebhook

ROOT = Path(__file__).resolve().parent.parent
ALERT = "HopwatchEdgeDataLoss"

CONFIG = """\
apiVersion: hopwatch/v1
server:
  auth: {{open: true}}   # loopback only, on purpose: this is a test of failover
storage:
  postgres:
    url: {url}
    lease: 4s
include: [routing.yaml]
pipelines:
  - name: p
    bucket: 2s
    allowed_lateness: 1s
    hops:
      - name: a
      - name: b
    edges:
      - {{from: a, to: b}}
"""
ROUTING = """\
apiVersion: hopwatch/v1
kind: Routing
alertmanager:
  route:
    receiver: hook
    group_by: [alertname]
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: hook
      webhook_configs:
        - url: {hook}/hook
"""


def start(config: Path, data: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config), "--data-dir", str(data),
         "--listen", f"127.0.0.1:{port}", "--log-format", "text"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    wait_for(lambda: proc.poll() is not None or ready(port) is not None, 30, "a server to serve")
    assert proc.poll() is None, log.read_text()
    return proc


def ready(port: int) -> int | None:
    """``/-/ready``'s status: 200 on the leader, 503 on a standby; None when nothing answers."""
    try:
        return httpx.get(f"http://127.0.0.1:{port}/-/ready", timeout=1).status_code
    except httpx.TransportError:
        return None


def wait_for(condition: Callable[[], object], seconds: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


class Feeder:
    """Posts one batch every 0.2 s to whichever server answers 202: 20 events at hop ``a``, and
    at hop ``b`` all of them, or only half while ``lossy`` (the fault)."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.lossy = True
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._n = 0

    def _batch(self) -> bytes:
        now = time.time()
        rows = []
        for _ in range(20):
            self._n += 1
            rows.append({"pipeline": "p", "hop": "a", "event_id": f"e{self._n}", "event_type": "t",
                         "event_time": now})  # fmt: skip
            if not (self.lossy and self._n % 2):
                rows.append({"pipeline": "p", "hop": "b", "event_id": f"e{self._n}",
                             "event_type": "t", "event_time": now})  # fmt: skip
        return b"\n".join(msgspec.json.encode(r) for r in rows)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as client:
            while not self._stop.is_set():
                body = self._batch()
                for _attempt in range(20):  # a client that retries, as HopReporter does
                    if self._post(client, body):
                        break
                    self.refused += 1
                    time.sleep(0.1)
                self._stop.wait(0.2)

    def _post(self, client: httpx.Client, body: bytes) -> bool:
        for port in self.ports:
            try:
                r = client.post(
                    f"http://127.0.0.1:{port}/v1/observations",
                    content=body,
                    headers={"content-type": "application/x-ndjson"},
                )
            except httpx.TransportError:
                continue
            if r.status_code == 202:
                return True
        return False

    def __enter__(self) -> Feeder:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def sent(hook: FakeWebhook, status: str) -> list[dict]:
    """The webhook payloads for the loss alert with ``status`` (Alertmanager's format)."""
    return [
        p for p in hook.payloads
        if p.get("status") == status and p.get("commonLabels", {}).get("alertname") == ALERT
    ]  # fmt: skip


def firing_fingerprints(port: int) -> set[str]:
    alerts = httpx.get(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=2).json()
    return {a["fingerprint"] for a in alerts if a["name"] == ALERT and a["state"] == "firing"}


@contextmanager
def servers(tmp_path: Path, url: str, hook: str) -> Iterator[tuple[list[int], list]]:
    (tmp_path / "routing.yaml").write_text(ROUTING.format(hook=hook))
    config = tmp_path / "hopwatch.yaml"
    config.write_text(CONFIG.format(url=url))
    ports, procs = [free_port(), free_port()], []
    try:
        for i, port in enumerate(ports):
            procs.append(start(config, tmp_path / f"d{i}", port, tmp_path / f"server{i}.log"))
            if i == 0:
                wait_for(lambda: ready(ports[0]) == 200, 15, "the first server to lead")
        yield ports, procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.mark.slow
def test_a_standby_takes_over_a_firing_alert_without_a_second_page_and_resolves_it_once(
    tmp_path: Path, postgres: int, pg_database: str
) -> None:
    with (
        FakeWebhook() as hook,
        servers(tmp_path, pg_url(postgres, pg_database), hook.url) as (
            ports,
            procs,
        ),
    ):
        assert [ready(p) for p in ports] == [200, 503]
        with Feeder(ports) as feeder:
            wait_for(lambda: sent(hook, "firing"), 60, "the loss alert to page")
            fingerprints = firing_fingerprints(ports[0])
            time.sleep(2.0)  # the alert keeps firing on the leader for another bucket

            procs[0].send_signal(signal.SIGKILL)
            procs[0].wait(10)
            takeover = wait_for(lambda: ready(ports[1]) == 200, 15, "the standby to take over")
            time.sleep(6.0)  # three more lossy buckets judged by the new leader
            assert firing_fingerprints(ports[1]) == fingerprints
            assert len(sent(hook, "firing")) == 1, hook.payloads

            feeder.lossy = False
            wait_for(lambda: sent(hook, "resolved"), 60, "the resolve")
            time.sleep(3.0)  # a duplicate would come within a group interval or two
        logs = (tmp_path / "server1.log").read_text()
        assert "took over as leader" in logs
        assert len(sent(hook, "firing")) == 1, hook.payloads
        assert len(sent(hook, "resolved")) == 1, hook.payloads
        [resolved] = sent(hook, "resolved")
        assert {a["fingerprint"] for a in resolved["alerts"]} == fingerprints
        assert takeover < 5.0
        metrics = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics").text
        assert "hopwatch_leader 1.0" in metrics and "hopwatch_leader_term 2.0" in metrics


@pytest.mark.slow
def test_a_leader_whose_lock_session_is_ended_exits_with_status_3_and_the_standby_leads(
    tmp_path: Path, postgres: int, pg_database: str
) -> None:
    """The server side ends the leader's session (what ``idle_session_timeout`` does to a hung
    leader, or an operator with ``pg_terminate_backend``): the leader stops and exits 3 without
    writing, the standby leads in the next term."""
    from pg_support import pg_query

    with (
        FakeWebhook() as hook,
        servers(tmp_path, pg_url(postgres, pg_database), hook.url) as (
            ports,
            procs,
        ),
    ):
        pg_query(
            postgres,
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
            "AND application_name LIKE %s",
            [pg_database, f"hopwatch-leader-lock %:127.0.0.1:{ports[0]}"],
        )
        assert procs[0].wait(15) == 3
        wait_for(lambda: ready(ports[1]) == 200, 15, "the standby to take over")
        log = (tmp_path / "server0.log").read_text()
        assert "this server stops judging and exits" in log, log
        metrics = httpx.get(f"http://127.0.0.1:{ports[1]}/metrics").text
        assert "hopwatch_leader_term 2.0" in metrics
