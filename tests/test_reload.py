"""Reloading the config without a restart (``Daemon.reload``, SIGHUP, ``POST /-/reload``).

A reload that adds an edge keeps every other edge's state: its totals, its pending ids (an id seen
upstream before the reload and downstream after is joined, not missing) and the open alerts. A
broken config is refused with every error and the old one keeps running. Both through real HTTP
with an admin token (auth is on by default for writes) and through SIGHUP to ``hopwatch run``.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from monitor.alerting.alert import Alert, AlertState, labels_of
from monitor.daemon import Daemon
from monitor.records import Observation
from monitor.reload import load_all
from monitor.store import open_store
from monitor.testing import FakeClock, free_port

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "reload-test-secret"
AUTH = {"authorization": f"Bearer {TOKEN}"}
HEADER = """\
apiVersion: hopwatch/v1
server:
  auth:
    tokens:
      - {name: ops, scopes: [admin, push, read], token_env: HOPWATCH_RELOAD_TOKEN}
"""
BEFORE = (
    HEADER
    + """\
pipelines:
  - name: p
    bucket: 60s
    allowed_lateness: 60s
    hops: [{name: a}, {name: b}, {name: c}]
    edges: [{from: a, to: b}]
"""
)
AFTER = BEFORE.replace("edges: [{from: a, to: b}]", "edges: [{from: a, to: b}, {from: b, to: c}]")
BROKEN = BEFORE.replace("edges: [{from: a, to: b}]", "edges: [{from: a, to: nowhere}]")
T0 = 1_700_000_040.0  # a bucket boundary
OPEN_ALERT = Alert(
    labels_of({"alertname": "HopwatchEdgeLoss", "pipeline": "p", "edge": "a->b"}),
    state=AlertState.FIRING,
    starts_at=T0,
    updated_at=T0,
)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOPWATCH_RELOAD_TOKEN", TOKEN)


def daemon_on(tmp_path: Path, clock: FakeClock) -> tuple[Daemon, Path]:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(BEFORE)
    loaded = load_all(path)
    daemon = Daemon(
        loaded.config,
        clock,
        open_store(tmp_path / "data"),
        slos=loaded.slos,
        checks=loaded.checks,
        routing=loaded.routing,
    )
    daemon.start()
    return daemon, path


def seen(hop: str, event_id: str, at: float) -> Observation:
    return Observation("p", hop, "t", at, at, event_id=event_id)


def test_a_reload_that_adds_an_edge_keeps_every_other_edge_and_the_open_alerts(tmp_path: Path):
    clock = FakeClock(T0)
    daemon, path = daemon_on(tmp_path, clock)
    daemon.engine.load_alerts([OPEN_ALERT])
    # Bucket 1 closes before the reload with one event lost on a->b.
    daemon.engine.observe([seen("a", "lost", T0 + 1)])
    # Bucket 2 is open across the reload: "late" is seen at a before it and at b after it.
    daemon.engine.observe([seen("a", "joined", T0 + 61), seen("b", "joined", T0 + 61)])
    daemon.engine.observe([seen("a", "late", T0 + 62)])
    clock.set(T0 + 125)
    daemon.tick()
    before = daemon.engine.view()
    assert before.edge_totals[("p", "a->b")].missing == 1
    assert before.ledgers["p"].pending_ids >= 1
    old_engine = daemon.engine

    path.write_text(AFTER)
    outcome = daemon.reload_now()

    assert outcome.ok, outcome.errors
    assert daemon.engine is not old_engine
    assert [e.name for e in daemon.config.pipelines[0].edges] == ["a->b", "b->c"]
    after = daemon.engine.view()
    assert after.edge_totals[("p", "a->b")] == before.edge_totals[("p", "a->b")]
    assert after.ledgers["p"].pending_ids == before.ledgers["p"].pending_ids
    assert after.hop_totals == before.hop_totals
    assert after.last_edge == before.last_edge
    assert [a.fingerprint for a in after.alerts] == [OPEN_ALERT.fingerprint]
    assert daemon.stats.last_reload_successful
    assert daemon.stats.last_reload_success_at == T0 + 125

    daemon.engine.observe([seen("b", "late", T0 + 62)])
    clock.set(T0 + 185)
    daemon.tick()
    view = daemon.engine.view()
    second = view.last_edge[("p", "a->b")]
    assert second.bucket_start == T0 + 60
    assert (second.expected, second.arrived, second.missing) == (2, 2, 0)
    assert view.edge_totals[("p", "a->b")].missing == 1  # only the one lost before the reload
    # The new edge starts empty: it joins what its hops see from the reload on ("late" at b).
    assert view.edge_totals[("p", "b->c")].expected == 1
    assert OPEN_ALERT.fingerprint in {a.fingerprint for a in view.alerts}
    daemon.stop()


def test_a_broken_config_is_refused_and_the_old_one_keeps_running(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    clock = FakeClock(T0)
    daemon, path = daemon_on(tmp_path, clock)
    daemon.engine.observe([seen("a", "x", T0 + 1)])
    config, engine = daemon.config, daemon.engine

    path.write_text(BROKEN)
    with caplog.at_level("ERROR", logger="hopwatch.daemon"):
        outcome = daemon.reload_now()

    assert not outcome.ok
    assert any("nowhere" in e for e in outcome.errors)
    assert daemon.config is config and daemon.engine is engine
    assert not daemon.stats.last_reload_successful
    [line] = [r.getMessage() for r in caplog.records if "reload refused" in r.getMessage()]
    assert "nowhere" in line and "\n" not in line
    clock.set(T0 + 125)
    daemon.tick()
    assert daemon.engine.view().edge_totals[("p", "a->b")].expected == 1
    # A later good reload sets the gauge back.
    path.write_text(AFTER)
    assert daemon.reload_now().ok
    assert daemon.stats.last_reload_successful
    daemon.stop()


def test_the_listen_address_and_storage_wait_for_a_restart(tmp_path: Path):
    daemon, path = daemon_on(tmp_path, FakeClock(T0))
    path.write_text(AFTER.replace("server:\n", "server:\n  listen: 127.0.0.1:9999\n"))
    outcome = daemon.reload_now()
    assert outcome.ok
    assert any("server.listen" in note for note in outcome.notes)
    assert daemon.config.server.port == 9464
    assert len(daemon.config.pipelines[0].edges) == 2
    daemon.stop()


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def test_post_reload_through_real_http_needs_the_admin_token(tmp_path: Path):
    from monitor.clock import SystemClock

    path = tmp_path / "hopwatch.yaml"
    path.write_text(BEFORE)
    loaded = load_all(path)
    daemon = Daemon(loaded.config, SystemClock(), open_store(tmp_path / "data"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"

    async def scenario() -> None:
        serving = asyncio.create_task(daemon.serve("127.0.0.1", port))
        try:
            async with httpx.AsyncClient(base_url=base, timeout=10) as client:
                for _ in range(200):
                    try:
                        if (await client.get("/readyz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.05)
                assert (await client.post("/-/reload")).status_code == 401
                path.write_text(BROKEN)
                refused = await client.post("/-/reload", headers=AUTH)
                assert refused.status_code == 400
                body = refused.json()
                assert body["status"] == "error" and any("nowhere" in e for e in body["errors"])
                text = (await client.get("/metrics", headers=AUTH)).text
                assert metric(text, "hopwatch_config_last_reload_successful") == 0.0
                assert len(daemon.config.pipelines[0].edges) == 1

                path.write_text(AFTER)
                ok = await client.post("/-/reload", headers=AUTH)
                assert ok.status_code == 200, ok.text
                assert ok.json()["status"] == "success"
                text = (await client.get("/metrics", headers=AUTH)).text
                assert metric(text, "hopwatch_config_last_reload_successful") == 1.0
                stamp = metric(text, "hopwatch_config_last_reload_success_timestamp_seconds")
                assert abs(stamp - time.time()) < 60
                assert 'edge="b->c"' in text  # the new edge is exported at once
        finally:
            daemon.request_stop()
            await serving

    asyncio.run(scenario())


@pytest.mark.slow
def test_sighup_reloads_a_running_hopwatch(tmp_path: Path):
    path = tmp_path / "hopwatch.yaml"
    path.write_text(BEFORE)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(path), "--data-dir",
         str(tmp_path / "data"), "--listen", f"127.0.0.1:{port}", "--log-format", "text"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**__import__("os").environ, "HOPWATCH_RELOAD_TOKEN": TOKEN},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "hopwatch did not become ready"
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.05)

        def edges() -> set[str]:
            text = httpx.get(f"{base}/metrics", headers=AUTH).text
            return set(re.findall(r'hopwatch_edge_expected_events_total\{edge="([^"]+)"', text))

        def wait_for(predicate: object) -> None:
            until = time.monotonic() + 10
            while not predicate():  # type: ignore[operator]
                assert time.monotonic() < until
                time.sleep(0.05)

        assert edges() == {"a->b"}
        path.write_text(BROKEN)
        proc.send_signal(signal.SIGHUP)
        wait_for(
            lambda: (
                "hopwatch_config_last_reload_successful 0.0"
                in httpx.get(f"{base}/metrics", headers=AUTH).text
            )
        )
        assert edges() == {"a->b"}  # still running, on the old config
        path.write_text(AFTER)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: edges() == {"a->b", "b->c"})
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert proc.stderr is not None
        log = proc.stderr.read()
        assert "config reload refused" in log and "nowhere" in log
        assert "config reloaded" in log
    finally:
        if proc.poll() is None:
            proc.kill()
