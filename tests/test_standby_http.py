"""A standby's HTTP surface (``monitor.server.standby``): writes refused with 503, the leader
named, reads served, ``/-/ready`` and ``/readyz`` saying which role. No PostgreSQL needed: the
runtime says whether it is a standby (``standby_of``), as ``Daemon`` does."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Hop, Pipeline, ServerConfig
from monitor.server.app import create_app
from monitor.testing import StaticRuntime

LEADER = "http://hopwatch-a.internal:9464"
OPEN = Config(
    server=ServerConfig(auth=AuthPolicy(open=True)),
    pipelines=(Pipeline("p", hops=(Hop("a"),)),),
)


@dataclass
class Runtime(StaticRuntime):
    leader: str | None = LEADER
    """None: this runtime takes writes; else the leader's URL ('' while unknown)."""

    def standby_of(self) -> str | None:
        return self.leader


def client(leader: str | None = LEADER, config: Config = OPEN) -> TestClient:
    return TestClient(create_app(Runtime(config, leader=leader)))


WRITES = [
    ("POST", "/v1/observations"),
    ("POST", "/v1/counts"),
    ("POST", "/v1/traces"),
    ("POST", "/v1/aggregates"),
    ("POST", "/api/v1/silences"),
    ("DELETE", "/api/v1/silences/0f1e"),
]


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m} {p}" for m, p in WRITES])
def test_a_standby_refuses_every_write_with_503_naming_the_leader(method: str, path: str) -> None:
    r = client().request(method, path, content=b"[]", headers={"content-type": "application/json"})
    assert r.status_code == 503
    assert (r.headers["retry-after"], r.headers["x-hopwatch-leader"]) == ("1", LEADER)
    assert r.json() == {
        "error": "this hopwatch is a standby; only the leader takes writes",
        "hint": f"send it to the leader at {LEADER}; retry after 1 s",
        "leader": LEADER,
    }


def test_a_standby_that_does_not_know_the_leader_yet_still_says_retry() -> None:
    r = client(leader="").post("/v1/observations", content=b"[]")
    assert r.status_code == 503 and "x-hopwatch-leader" not in r.headers
    assert r.json()["hint"] == (
        "send it to the leader (not known yet: one is starting); retry after 1 s"
    )


def test_the_leader_takes_writes_and_reads_are_served_on_both() -> None:
    leader, standby = client(leader=None), client()
    r = leader.post("/v1/observations", content=b"[]", headers={"content-type": "application/json"})
    assert r.status_code == 202
    for c in (leader, standby):
        assert c.get("/api/v1/alerts").status_code == 200
        assert c.get("/metrics").status_code == 200


def test_ready_endpoints_say_which_role() -> None:
    leader, standby = client(leader=None), client()
    assert (leader.get("/-/ready").status_code, leader.get("/-/ready").text) == (200, "leader")
    assert (standby.get("/-/ready").status_code, standby.get("/-/ready").text) == (
        503,
        f"standby; the leader is {LEADER}",
    )
    assert standby.get("/readyz").text == f"ready: standby, the leader is {LEADER}"
    assert leader.get("/readyz").text == "ready"


def test_auth_comes_first_a_write_without_a_token_is_401_even_on_a_standby() -> None:
    closed = Config(pipelines=OPEN.pipelines)
    assert client(config=closed).post("/v1/observations", content=b"[]").status_code == 401
