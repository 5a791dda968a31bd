"""Auth: every route has a scope, writes are closed by default, scopes are enforced, the open mode
works only on loopback, and agents speak only for themselves and their own hops.

The app is driven in-process (uvicorn in a thread) on a real engine and fake clock, with
configs loaded from YAML the way ``hopwatch run`` loads them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import redirect_stderr
from pathlib import Path

import httpx
import msgspec
import pytest
from prometheus_client import generate_latest

from monitor.agent.daemon import Agent
from monitor.cli import main
from monitor.config import load_config
from monitor.config.auth import AuthPolicy, Scope, exposure_problem, is_loopback
from monitor.config.errors import ConfigError
from monitor.config.model import Config
from monitor.ledger.aggregate import AggregateBatch, HopAggregate
from monitor.server.app import create_app
from monitor.server.auth import ROUTE_SCOPES, route_methods, scope_for
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

B0 = 1_700_000_040.0
TOKENS = {
    "PUSH_TOKEN": "push-secret",
    "ADMIN_TOKEN": "admin-secret",
    "READ_TOKEN": "read-secret",
    "EDGE1_TOKEN": "edge1-secret",
    "EDGE2_TOKEN": "edge2-secret",
    "LEGACY_TOKEN": "legacy-secret",
}
PIPELINES = """\
pipelines:
  - name: signup
    hops: [{name: sdk}, {name: ingest}, {name: crm}]
    edges: [{from: sdk, to: ingest}, {from: ingest, to: crm}]
"""
SCOPED = """\
apiVersion: hopwatch/v1
server:
  auth:
    tokens:
      - {name: pushers, scopes: [push], token_env: PUSH_TOKEN}
      - {name: ops, scopes: [admin], token_env: ADMIN_TOKEN}
      - {name: grafana, scopes: [read], token_env: READ_TOKEN}
    agents:
      - {id: edge-1, token_env: EDGE1_TOKEN, hops: {signup: [sdk, ingest]}}
      - {id: edge-2, token_env: EDGE2_TOKEN, hops: {signup: [crm]}}
"""
NDJSON = {"content-type": "application/x-ndjson"}
OBSERVATION = (
    b'{"pipeline": "signup", "hop": "sdk", "event_id": "e1", "event_time": 1700000050,'
    b' "observed_time": 1700000050}'
)
COUNT = b'[{"pipeline": "signup", "hop": "sdk", "bucket_start": 1700000040, "count": 3}]'
SILENCE = {
    "matchers": ['edge="sdk->ingest"'],
    "duration": "1h",
    "createdBy": "ana",
    "comment": "deploy",
}
OTLP = b'{"resourceSpans": []}'


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def load(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Config:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, environ=TOKENS if environ is None else environ)


def batch(agent: str, *hops: str, seq: int = 1) -> bytes:
    """An empty batch (a heartbeat) declaring ``hops`` of pipeline signup."""
    return msgspec.msgpack.encode(
        AggregateBatch(agent, "i1", seq, seq, hops=tuple(("signup", h) for h in hops))
    )


def post_batch(client: httpx.Client, body: bytes, token: str | None = None):
    headers = {"content-type": "application/msgpack", **(bearer(token) if token else {})}
    return client.post("/v1/aggregates", content=body, headers=headers)


@pytest.fixture
def scoped(tmp_path: Path) -> Iterator[tuple[httpx.Client, StaticRuntime]]:
    runtime = StaticRuntime(load(tmp_path, SCOPED + PIPELINES), clock=FakeClock(B0 + 10))
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        yield client, runtime


@pytest.fixture
def closed(tmp_path: Path) -> Iterator[tuple[httpx.Client, StaticRuntime]]:
    """The default: no server.auth at all."""
    runtime = StaticRuntime(
        load(tmp_path, "apiVersion: hopwatch/v1\n" + PIPELINES), clock=FakeClock(B0 + 10)
    )
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        yield client, runtime


WRITES = [
    ("POST", "/v1/observations", OBSERVATION, NDJSON),
    ("POST", "/v1/counts", COUNT, {"content-type": "application/json"}),
    ("POST", "/v1/traces", OTLP, {"content-type": "application/json"}),
    ("POST", "/v1/aggregates", batch("edge-1", "sdk"), {"content-type": "application/msgpack"}),
    (
        "POST",
        "/api/v1/silences",
        msgspec.json.encode(SILENCE),
        {"content-type": "application/json"},
    ),
    ("DELETE", "/api/v1/silences/0123456789abcdef", b"", {}),
]
WRITE_IDS = [f"{m} {p}" for m, p, _, _ in WRITES]


# --- every route has a scope ----------------------------------------------------------------------


def test_every_route_and_method_of_the_server_and_the_agent_has_a_scope(tmp_path: Path) -> None:
    config = load(tmp_path, SCOPED + PIPELINES)
    server = create_app(StaticRuntime(config, clock=FakeClock(B0)))
    agent = Agent(config, FakeClock(B0), tmp_path / "spool", server_url="http://x", agent_id="a")
    walked = [*route_methods(server.routes), *route_methods(agent.app().routes)]
    assert len(walked) >= 17
    assert [r for r in walked if r not in ROUTE_SCOPES] == []
    assert {scope_for(p, m) for p, m in walked if m != "GET"} <= {
        Scope.PUSH,
        Scope.AGENT,
        Scope.ADMIN,
    }


def test_a_route_nobody_gave_a_scope_fails_closed() -> None:
    assert scope_for("/api/v1/something-new", "POST") is Scope.ADMIN
    assert scope_for("/api/v1/something-new", "GET") is Scope.READ
    assert scope_for("/metrics", "HEAD") is Scope.READ


# --- the safe default -----------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "headers"), WRITES, ids=WRITE_IDS)
def test_without_auth_configured_every_write_is_401_and_says_how_to_configure_it(
    closed: tuple[httpx.Client, StaticRuntime], method: str, path: str, body: bytes, headers: dict
) -> None:
    client, runtime = closed
    answer = client.request(method, path, content=body, headers=headers)
    assert answer.status_code == 401
    text = answer.text
    assert "server.auth" in text and "token" in text
    assert answer.headers["www-authenticate"].startswith("Bearer")
    assert runtime.engine._agents.contacts == {}


def test_a_thousand_year_wildcard_silence_without_a_token_is_refused(
    closed: tuple[httpx.Client, StaticRuntime],
) -> None:
    client, _ = closed
    wildcard = {**SILENCE, "matchers": ['alertname=~".+"'], "duration": "1000y"}
    assert client.post("/api/v1/silences", json=wildcard).status_code == 401
    assert client.get("/api/v1/silences").json() == []


def test_reads_are_open_by_default(closed: tuple[httpx.Client, StaticRuntime]) -> None:
    client, _ = closed
    for path in ("/metrics", "/healthz", "/api/v1/pipelines", "/api/v1/silences"):
        assert client.get(path).status_code == 200, path


# --- scopes ---------------------------------------------------------------------------------------

WRONG = {
    "/v1/observations": "ADMIN_TOKEN",
    "/v1/counts": "EDGE1_TOKEN",
    "/v1/traces": "READ_TOKEN",
    "/v1/aggregates": "PUSH_TOKEN",
    "/api/v1/silences": "PUSH_TOKEN",
    "/api/v1/silences/0123456789abcdef": "READ_TOKEN",
}


@pytest.mark.parametrize(("method", "path", "body", "headers"), WRITES, ids=WRITE_IDS)
def test_a_token_of_the_wrong_scope_is_403_naming_the_scope(
    scoped: tuple[httpx.Client, StaticRuntime], method: str, path: str, body: bytes, headers: dict
) -> None:
    client, runtime = scoped
    token = TOKENS[WRONG[path]]
    answer = client.request(method, path, content=body, headers={**headers, **bearer(token)})
    assert answer.status_code == 403
    assert "lacks scope" in answer.text
    assert runtime.engine._agents.contacts == {}


@pytest.mark.parametrize(("method", "path", "body", "headers"), WRITES, ids=WRITE_IDS)
def test_an_unknown_token_is_401(
    scoped: tuple[httpx.Client, StaticRuntime], method: str, path: str, body: bytes, headers: dict
) -> None:
    client, _ = scoped
    answer = client.request(method, path, content=body, headers={**headers, **bearer("guess")})
    assert answer.status_code == 401
    assert "invalid_token" in answer.headers["www-authenticate"]


def test_the_right_scope_works(scoped: tuple[httpx.Client, StaticRuntime]) -> None:
    client, runtime = scoped
    push, admin = bearer(TOKENS["PUSH_TOKEN"]), bearer(TOKENS["ADMIN_TOKEN"])
    answer = client.post("/v1/observations", content=OBSERVATION, headers={**NDJSON, **push})
    assert answer.status_code == 202, answer.text
    answer = client.post("/v1/counts", content=COUNT, headers=push)
    assert answer.status_code == 202, answer.text
    answer = client.post(
        "/v1/traces", content=OTLP, headers={**push, "content-type": "application/json"}
    )
    assert answer.status_code == 200, answer.text
    created = client.post("/api/v1/silences", json=SILENCE, headers=admin)
    assert created.status_code == 201, created.text
    silence_id = created.json()["id"]
    assert client.delete(f"/api/v1/silences/{silence_id}", headers=admin).status_code == 204
    answer = post_batch(client, batch("edge-1", "sdk", "ingest"), TOKENS["EDGE1_TOKEN"])
    assert answer.status_code == 200, answer.text
    assert set(runtime.engine._agents.contacts) == {"edge-1"}


def test_read_can_be_required_and_admin_implies_it(tmp_path: Path) -> None:
    text = SCOPED.replace("  auth:\n", "  auth:\n    read_requires_token: true\n") + PIPELINES
    runtime = StaticRuntime(load(tmp_path, text), clock=FakeClock(B0))
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=bearer(TOKENS["READ_TOKEN"])).status_code == 200
        assert client.get("/metrics", headers=bearer(TOKENS["ADMIN_TOKEN"])).status_code == 200
        assert client.get("/metrics", headers=bearer(TOKENS["PUSH_TOKEN"])).status_code == 403


def test_the_old_single_token_form_still_works_for_every_write(tmp_path: Path) -> None:
    text = "apiVersion: hopwatch/v1\nserver:\n  auth:\n    bearer_token_env: LEGACY_TOKEN\n"
    config = load(tmp_path, text + PIPELINES)
    assert config.server.auth == AuthPolicy.single_token("legacy-secret")
    runtime = StaticRuntime(config, clock=FakeClock(B0 + 10))
    token = bearer(TOKENS["LEGACY_TOKEN"])
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        assert client.post("/v1/observations", content=OBSERVATION).status_code == 401
        answer = client.post("/v1/observations", content=OBSERVATION, headers={**NDJSON, **token})
        assert answer.status_code == 202
        assert client.post("/api/v1/silences", json=SILENCE, headers=token).status_code == 201
        answer = post_batch(client, batch("old-agent", "sdk"), TOKENS["LEGACY_TOKEN"])
        assert answer.status_code == 200, answer.text
        assert client.get("/metrics").status_code == 200


# --- the open mode --------------------------------------------------------------------------------

OPEN = "apiVersion: hopwatch/v1\nserver:\n  listen: '{listen}'\n  auth: {{open: true}}\n"


def test_open_mode_on_loopback_lets_writes_through_without_a_token(tmp_path: Path) -> None:
    config = load(tmp_path, OPEN.format(listen="127.0.0.1:9464") + PIPELINES)
    runtime = StaticRuntime(config, clock=FakeClock(B0 + 10))
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        answer = client.post("/v1/observations", content=OBSERVATION, headers=NDJSON)
        assert answer.status_code == 202
        assert client.post("/api/v1/silences", json=SILENCE).status_code == 201
        # A token that is sent is still checked: a misconfigured client hears about it.
        answer = client.post("/v1/observations", content=OBSERVATION, headers=bearer("x"))
        assert answer.status_code == 401


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", "[::]:9464", "10.1.2.3:9464", "example.org:80"])
def test_open_mode_is_refused_by_validation_off_loopback(tmp_path: Path, listen: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, OPEN.format(listen=listen) + PIPELINES)
    assert "server.auth.open: open: true lets anyone write" in str(err.value)


def test_hopwatch_run_refuses_to_bind_open_writes_to_a_public_address(tmp_path: Path) -> None:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(OPEN.format(listen="127.0.0.1:9464") + PIPELINES, encoding="utf-8")
    err = io.StringIO()
    with redirect_stderr(err):
        status = main(
            ["run", "--config", str(path), "--listen", "0.0.0.0:9464", "--data-dir", str(tmp_path)]
        )
    assert status == 2
    lines = err.getvalue().strip().splitlines()
    assert len(lines) == 1 and "refusing to listen on 0.0.0.0" in lines[0]


def test_loopback_addresses() -> None:
    assert all(map(is_loopback, ["127.0.0.1", "127.9.9.9", "::1", "[::1]", "localhost"]))
    assert not any(map(is_loopback, ["0.0.0.0", "::", "192.168.1.2", "example.org", ""]))
    assert exposure_problem("0.0.0.0", AuthPolicy.open_writes()) is not None
    assert exposure_problem("0.0.0.0", AuthPolicy.single_token("t")) is None


# --- agents ---------------------------------------------------------------------------------------


def test_a_forged_agent_cannot_mark_any_hop_incomplete(
    scoped: tuple[httpx.Client, StaticRuntime],
) -> None:
    client, runtime = scoped
    ghost = batch("ghost", "sdk", "ingest", "crm")
    assert post_batch(client, ghost).status_code == 401
    assert post_batch(client, ghost, "made-up").status_code == 401
    # An allow-listed agent's token cannot speak for another id.
    answer = post_batch(client, ghost, TOKENS["EDGE1_TOKEN"])
    assert answer.status_code == 403
    assert "edge-1" in answer.json()["error"] and "ghost" in answer.json()["error"]
    runtime.clock.set(B0 + 3600)
    runtime.engine.tick(B0 + 3600)
    assert runtime.engine._agents.contacts == {}
    assert not [g for g in runtime.engine._ledgers["signup"].gaps if "agent" in g.reason]


def test_a_known_agent_cannot_declare_a_hop_not_assigned_to_it(
    scoped: tuple[httpx.Client, StaticRuntime],
) -> None:
    client, runtime = scoped
    answer = post_batch(client, batch("edge-2", "crm", "sdk"), TOKENS["EDGE2_TOKEN"])
    assert answer.status_code == 403
    assert "signup/sdk" in answer.json()["error"]
    aggregate = AggregateBatch(
        "edge-2", "i1", 2, 2, aggregates=(HopAggregate("signup", "ingest", int(B0 // 60)),)
    )
    answer = post_batch(client, msgspec.msgpack.encode(aggregate), TOKENS["EDGE2_TOKEN"])
    assert answer.status_code == 403
    assert "signup/ingest" in answer.json()["error"]
    assert runtime.engine._agents.contacts == {}
    text = client.get("/metrics").text
    assert 'hopwatch_http_auth_refused_total{reason="hop_not_assigned",scope="agent"} 2.0' in text
    answer = post_batch(client, batch("edge-2", "crm", seq=3), TOKENS["EDGE2_TOKEN"])
    assert answer.status_code == 200
    assert runtime.engine._agents.contacts["edge-2"].hops == {("signup", "crm")}


def _series(runtime: StaticRuntime, app: object) -> set[str]:
    text = generate_latest(app.state.registry).decode()  # type: ignore[attr-defined]
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if not line.startswith("#")}


def test_a_hundred_heartbeats_from_unknown_agents_add_no_metric_series(tmp_path: Path) -> None:
    runtime = StaticRuntime(load(tmp_path, SCOPED + PIPELINES), clock=FakeClock(B0 + 10))
    app = create_app(runtime)
    with serve_in_thread(app) as url, httpx.Client(base_url=url) as client:
        post_batch(client, batch("ghost-0", "sdk"))  # the refusal counter's one series
        post_batch(client, batch("ghost-0", "sdk"), "forged")
        before = _series(runtime, app)
        for n in range(100):
            post_batch(client, batch(f"ghost-{n}", "sdk", "crm"))
            post_batch(client, batch(f"ghost-{n}", "sdk", "crm"), f"forged-{n}")
        assert _series(runtime, app) == before
        assert not [s for s in before if "ghost" in s]
        runtime.engine.tick(B0 + 7200)
        assert runtime.engine._agents.contacts == {}
        assert runtime.engine._agents.verdicts(B0 + 7200) == []


def test_agents_not_on_the_allow_list_are_bounded_in_open_mode(tmp_path: Path) -> None:
    config = load(tmp_path, OPEN.format(listen="127.0.0.1:9464") + PIPELINES)
    runtime = StaticRuntime(config, clock=FakeClock(B0 + 10))
    with serve_in_thread(create_app(runtime)) as url, httpx.Client(base_url=url) as client:
        codes = [post_batch(client, batch(f"a{n}", "sdk")).status_code for n in range(40)]
    assert codes == [200] * 32 + [403] * 8
    assert len(runtime.engine._agents.contacts) == 32
