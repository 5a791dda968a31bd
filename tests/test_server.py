"""The HTTP app through real HTTP: uvicorn on a free local port, httpx as the client.

Every bad-input path answers its status with a JSON error naming the field; good items of a partly
bad batch reach the engine.
"""

from __future__ import annotations

import gzip
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
import uvicorn

from monitor.alerting.alert import Alert, labels_of
from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig
from monitor.server.app import create_app
from monitor.testing import FakeClock, StaticRuntime

T0 = 1_700_000_040.0  # a bucket boundary (60 s buckets)
TOKEN = "s3cret-token"
LIMIT = 4000
SHOP = Pipeline(
    name="shop",
    hops=(Hop("web", "storefront"), Hop("sink", "warehouse loader")),
    edges=(Edge("web", "sink"),),
    attributes=frozenset({"region"}),
    allowed_lateness=60.0,
)
CONFIG = Config(
    server=ServerConfig(auth=AuthPolicy.single_token(TOKEN), max_body_bytes=LIMIT),
    pipelines=(SHOP,),
)
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {**AUTH, "Content-Type": "application/json"}


def fake_runtime() -> StaticRuntime:
    return StaticRuntime(CONFIG, FakeClock(T0 + 30))


@dataclass
class Served:
    runtime: StaticRuntime
    client: httpx.Client


@pytest.fixture
def served() -> Iterator[Served]:
    runtime = fake_runtime()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            yield Served(runtime, client)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def obs(event_id: str, hop: str = "web", **extra: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pipeline": "shop",
        "hop": hop,
        "event_type": "order",
        "event_id": event_id,
        "event_time": T0 + 1,
    }
    item.update(extra)
    return item


def ndjson(items: list[dict[str, Any]]) -> bytes:
    return b"".join(msgspec.json.encode(i) + b"\n" for i in items)


def assert_problem(response: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "hint"}
    for word in words:
        assert word in body["error"], body
    return body


# --- accepted -----------------------------------------------------------------------------------


def test_a_partly_bad_batch_keeps_the_good_items(served: Served) -> None:
    items = [
        obs("e1", attributes={"region": "eu", "email": "x"}),
        obs("e2", hop="cache"),
        obs("e3"),
    ]
    response = served.client.post(
        "/v1/observations", content=msgspec.json.encode(items), headers=JSON
    )

    assert response.status_code == 202
    assert response.json() == {
        "accepted": 2,
        "rejected": 1,
        "errors": [
            {
                "index": 1,
                "field": "hop",
                "message": "unknown hop 'cache' in pipeline 'shop'; known hops: web, sink",
                "reason": "unknown_hop",
            }
        ],
    }
    assert served.runtime.engine.view().hop_totals == {("shop", "web", "ok"): 2}
    metrics = served.client.get("/metrics").text.splitlines()
    assert 'hopwatch_ingest_items_total{kind="observations",outcome="accepted"} 2.0' in metrics
    assert 'hopwatch_ingest_items_total{kind="observations",outcome="rejected"} 1.0' in metrics
    assert (
        'hopwatch_ingest_rejected_items_total{kind="observations",reason="unknown_hop"} 1.0'
        in metrics
    )
    assert 'hopwatch_ingest_dropped_attributes_total{pipeline="shop"} 1.0' in metrics
    assert 'hopwatch_ingest_requests_total{code="202",kind="observations"} 1.0' in metrics


def test_gzip_ndjson_is_accepted(served: Served) -> None:
    body = gzip.compress(ndjson([obs("e1"), obs("e1", hop="sink")]))
    response = served.client.post(
        "/v1/observations",
        content=body,
        headers={**AUTH, "Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
    )

    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2, "rejected": 0, "errors": []}


def test_counts_are_accepted(served: Served) -> None:
    sample = {"pipeline": "shop", "hop": "sink", "bucket_start": T0, "count": 7}
    response = served.client.post("/v1/counts", content=msgspec.json.encode([sample]), headers=JSON)

    assert response.status_code == 202, response.text
    assert served.runtime.engine.view().hop_totals == {("shop", "sink", "ok"): 7}


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (
            b"["
            + msgspec.json.encode(obs("e1"))
            + b',{"hop": "\xff"},'
            + msgspec.json.encode(obs("e3"))
            + b"]",
            "application/json",
        ),
        (ndjson([obs("e1")]) + b'{"hop": "\xff"}\n' + ndjson([obs("e3")]), "application/x-ndjson"),
    ],
    ids=["in a JSON array", "on an NDJSON line"],
)
def test_bytes_that_are_not_utf8_reject_only_their_item(
    served: Served, body: bytes, content_type: str
) -> None:
    response = served.client.post(
        "/v1/observations", content=body, headers={**AUTH, "Content-Type": content_type}
    )

    assert response.status_code == 202, response.text
    assert (response.json()["accepted"], response.json()["rejected"]) == (2, 1)
    assert response.json()["errors"][0]["reason"] == "malformed"
    assert served.runtime.engine.view().hop_totals == {("shop", "web", "ok"): 2}


def test_one_number_out_of_range_rejects_only_its_item(served: Served) -> None:
    bad = msgspec.json.encode(obs("e2")).replace(
        b'"event_time":%r' % (T0 + 1), b'"event_time":1e400'
    )
    body = b"[" + msgspec.json.encode(obs("e1")) + b"," + bad + b"]"
    response = served.client.post("/v1/observations", content=body, headers=JSON)

    assert response.status_code == 202, response.text
    assert response.json()["errors"] == [
        {
            "index": 1,
            "field": "event_time",
            "message": "event_time: Number out of range",
            "reason": "invalid_value",
        }
    ]


def test_an_unexpected_failure_is_a_counted_json_500_logged_without_the_body(
    served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(_items: object) -> None:
        raise RuntimeError("engine exploded")

    monkeypatch.setattr(served.runtime.engine, "observe", broken)
    body = msgspec.json.encode([obs("secret-event-id")])
    with caplog.at_level("ERROR", logger="hopwatch.server"):
        response = served.client.post("/v1/observations", content=body, headers=JSON)

    body_json = assert_problem(response, 500, "internal error", "observations")
    assert "hopwatch bug" in body_json["hint"]
    assert [r.name for r in caplog.records] == ["hopwatch.server"]
    assert "engine exploded" in caplog.text
    assert "secret-event-id" not in caplog.text
    metrics = served.client.get("/metrics").text.splitlines()
    assert 'hopwatch_ingest_requests_total{code="500",kind="observations"} 1.0' in metrics


# --- refused ------------------------------------------------------------------------------------


def test_an_unparseable_body_is_400(served: Served) -> None:
    response = served.client.post("/v1/observations", content=b'[{"pipeline": ', headers=JSON)
    assert_problem(response, 400, "body is not valid JSON", "truncated")


def test_a_body_that_is_not_gzip_is_400(served: Served) -> None:
    response = served.client.post(
        "/v1/observations",
        content=b"[]",
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert_problem(response, 400, "not valid gzip", "Content-Encoding")


def test_truncated_gzip_is_400(served: Served) -> None:
    body = gzip.compress(msgspec.json.encode([obs("e1")]))[:-8]
    response = served.client.post(
        "/v1/observations", content=body, headers={**JSON, "Content-Encoding": "gzip"}
    )
    assert_problem(response, 400, "truncated gzip")


def test_a_body_over_the_limit_by_content_length_is_413(served: Served) -> None:
    response = served.client.post("/v1/observations", content=b" " * (LIMIT + 1), headers=JSON)
    body = assert_problem(response, 413, f"Content-Length {LIMIT + 1}", "server.max_body_size")
    assert "split the batch" in body["hint"]


def test_a_chunked_body_over_the_limit_is_413(served: Served) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b" " * 1000

    response = served.client.post("/v1/observations", content=chunks(), headers=JSON)
    assert_problem(response, 413, "body is larger than server.max_body_size")


def test_a_gzip_body_over_the_limit_once_decompressed_is_413(served: Served) -> None:
    body = gzip.compress(b" " * (LIMIT * 10))
    assert len(body) < LIMIT
    response = served.client.post(
        "/v1/observations", content=body, headers={**JSON, "Content-Encoding": "gzip"}
    )
    assert_problem(response, 413, "decompressed body")


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Content-Type": "application/json"}, ("missing Authorization header",)),
        (
            {"Content-Type": "application/json", "Authorization": "Bearer wrong"},
            ("Authorization header", "not the one configured"),
        ),
        (
            {"Content-Type": "application/json", "Authorization": f"Basic {TOKEN}"},
            ("Authorization header",),
        ),
    ],
    ids=["no token", "a wrong token", "another scheme"],
)
def test_without_the_bearer_token_it_is_401(
    served: Served, headers: dict[str, str], words: tuple[str, ...]
) -> None:
    response = served.client.post("/v1/observations", content=b"[]", headers=headers)
    assert_problem(response, 401, *words)
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="hopwatch"')
    assert served.runtime.engine.view().ingest.accepted == {}


def test_with_the_bearer_token_it_is_202(served: Served) -> None:
    response = served.client.post("/v1/observations", content=b"[]", headers=JSON)
    assert response.status_code == 202


@pytest.mark.parametrize(
    ("headers", "words"),
    [
        ({"Content-Type": "text/plain"}, ("Content-Type 'text/plain'",)),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            ("Content-Type 'application/x-www-form-urlencoded'",),
        ),
        (
            {"Content-Type": "application/json", "Content-Encoding": "br"},
            ("Content-Encoding 'br'",),
        ),
    ],
    ids=["plain text", "a form (curl -d without -H)", "brotli"],
)
def test_other_content_types_are_415(
    served: Served, headers: dict[str, str], words: tuple[str, ...]
) -> None:
    response = served.client.post("/v1/observations", content=b"[]", headers={**AUTH, **headers})
    assert_problem(response, 415, *words)


# --- reads --------------------------------------------------------------------------------------


def test_healthz_is_ok(served: Served) -> None:
    response = served.client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_readyz_follows_the_runtime(served: Served) -> None:
    served.runtime.is_ready = False
    assert served.client.get("/readyz").status_code == 503
    served.runtime.is_ready = True
    assert served.client.get("/readyz").status_code == 200


def test_pipelines_show_hops_edges_and_the_last_closed_bucket(served: Served) -> None:
    items = [obs("e1"), obs("e2"), obs("e1", hop="sink", observed_time=T0 + 3)]
    served.client.post("/v1/observations", content=msgspec.json.encode(items), headers=JSON)
    served.runtime.clock.set(T0 + 121)
    served.runtime.engine.tick(served.runtime.clock.now())

    (shop,) = served.client.get("/api/v1/pipelines").json()

    assert [(h["name"], h["description"], h["totals"]) for h in shop["hops"]] == [
        ("web", "storefront", {"ok": 2}),
        ("sink", "warehouse loader", {"ok": 1}),
    ]
    (edge,) = shop["edges"]
    assert {k: edge[k] for k in ("name", "from", "to", "where", "expectation")} == {
        "name": "web->sink",
        "from": "web",
        "to": "sink",
        "where": "",
        "expectation": {"kind": "all", "ratio": 1.0, "tolerance": 0.001},
    }
    last = edge["last_bucket"]
    assert (last["bucket_start"], last["expected"], last["arrived"], last["missing"]) == (
        T0,
        2,
        1,
        1,
    )
    assert last["loss_ratio"] == 0.5
    assert last["missing_ids_sample"] == ["e2"]
    assert edge["totals"] == {"expected": 2, "arrived": 1, "missing": 1, "duplicates": 0, "late": 0}


def test_alerts_are_listed_as_json(served: Served) -> None:
    assert served.client.get("/api/v1/alerts").json() == []
    alert = Alert(labels=labels_of({"alertname": "EdgeLoss", "pipeline": "shop"}), starts_at=T0)
    served.runtime.engine.load_alerts([alert])

    (listed,) = served.client.get("/api/v1/alerts").json()

    assert listed == {**alert.to_json(), "silenced_by": []}


def test_checks_list_every_check_with_its_series_last_judgement(served: Served) -> None:
    """The built-in edge watch is a check like the configured ones; its evidence is plain JSON."""
    (check,) = served.client.get("/api/v1/checks").json()
    assert (check["name"], check["kind"], check["series"]) == (
        "divergence:web->sink",
        "divergence",
        [],
    )

    items = [obs(f"e{i}") for i in range(30)] + [
        obs(f"e{i}", hop="sink", observed_time=T0 + 3) for i in range(30)
    ]
    for start in range(0, len(items), 15):  # the test server's body limit is small
        body = msgspec.json.encode(items[start : start + 15])
        assert served.client.post("/v1/observations", content=body, headers=JSON).status_code == 202
    served.runtime.clock.set(T0 + 121)
    served.runtime.engine.tick(served.runtime.clock.now())

    (check,) = served.client.get("/api/v1/checks").json()
    assert check["target"] == {
        "pipeline": "shop",
        "hop": None,
        "edge": "web->sink",
        "segment_by": None,
    }
    assert (check["false_alarms_per_30d"], check["warmup_seconds"]) == (1.0, 0.0)
    (series,) = check["series"]
    assert (series["series"], series["bucket_start"], series["alert"]) == ("", T0, False)
    # warm-up 0 still takes one bucket to learn the volume: the first one says so
    assert series["state"] == "learning"
    assert series["evidence"] == {"buckets_seen": 1, "buckets_needed": 1}


def test_a_batch_sent_again_with_its_idempotency_key_is_answered_not_counted_again(
    served: Served,
) -> None:
    body = msgspec.json.encode([obs("e1"), obs("e2")])
    keyed = {**JSON, "Idempotency-Key": "reporter-7f3a-42"}
    first = served.client.post("/v1/observations", content=body, headers=keyed)
    again = served.client.post("/v1/observations", content=body, headers=keyed)
    other = served.client.post(
        "/v1/observations", content=body, headers={**JSON, "Idempotency-Key": "reporter-7f3a-43"}
    )
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json() == {"accepted": 2, "rejected": 0, "errors": []}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers and other.status_code == 202
    assert served.runtime.engine.view().hop_totals[("shop", "web", "ok")] == 4  # not 6
    too_long = served.client.post(
        "/v1/observations", content=body, headers={**JSON, "Idempotency-Key": "k" * 201}
    )
    assert_problem(too_long, 400, "Idempotency-Key")
