"""Input bounds (DESIGN.md §8): items, nesting, string lengths, echoed values, the idempotency
cache, silences, and the event loop staying free while a body decodes."""

from __future__ import annotations

import gzip
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span
from starlette.routing import Route
from starlette.testclient import TestClient

from monitor.cli import main
from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig
from monitor.routing.silence import Silence
from monitor.server import offload
from monitor.server.app import create_app
from monitor.server.body import decode_body, gunzip
from monitor.server.idempotency import RecentAnswers
from monitor.server.offload import INLINE_BYTES, DecodeGate
from monitor.server.openapi import document
from monitor.server.problems import Problem
from monitor.sources import limits
from monitor.sources.limits import nesting_error
from monitor.sources.otlp import decode_traces
from monitor.sources.push import decode_observations
from monitor.store import DB_FILENAME
from monitor.store.silence_sqlite import SQLiteSilences
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

NOW = 1_700_000_000.0
SHOP = Pipeline(
    name="shop",
    hops=(Hop("web"), Hop("sink")),
    edges=(Edge("web", "sink"),),
    attributes=frozenset({"region"}),
)
# Open on loopback: these are tests of input bounds, not of auth (test_auth.py).
CONFIG = Config(server=ServerConfig(auth=AuthPolicy(open=True)), pipelines=(SHOP,))
JSON = {"Content-Type": "application/json"}


def good(event_id: str = "e1", /, **extra: Any) -> dict[str, Any]:
    return {
        "pipeline": "shop",
        "hop": "web",
        "event_type": "order",
        "event_id": event_id,
        "event_time": NOW - 10,
        **extra,
    }


def client() -> TestClient:
    return TestClient(create_app(StaticRuntime(CONFIG, FakeClock(NOW))))


# --- push items -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("event_id", limits.MAX_EVENT_ID),
        ("event_type", limits.MAX_EVENT_TYPE),
        ("reason", limits.MAX_REASON),
        ("pipeline", limits.MAX_NAME),
        ("hop", limits.MAX_NAME),
    ],
)
def test_a_too_long_string_rejects_its_item_naming_the_field_and_keeps_the_rest(
    field: str, limit: int
) -> None:
    body = msgspec.json.encode([good("a"), good("b", **{field: "x" * (limit + 1)}), good("c")])
    batch = decode_observations(body, content_type=None, config=CONFIG, now=NOW)
    assert [o.event_id for o in batch.accepted] == ["a", "c"]
    (error,) = batch.errors
    assert (error.index, error.field) == (1, field)
    assert len(error.message) < 200


def test_exactly_the_limit_is_accepted() -> None:
    body = msgspec.json.encode([good("x" * limits.MAX_EVENT_ID)])
    batch = decode_observations(body, content_type=None, config=CONFIG, now=NOW)
    assert len(batch.accepted) == 1


def test_a_too_long_allow_listed_attribute_value_is_rejected_by_name() -> None:
    body = msgspec.json.encode(
        [good("a", attributes={"region": "x" * (limits.MAX_ATTRIBUTE_VALUE + 1)}), good("b")]
    )
    batch = decode_observations(body, content_type=None, config=CONFIG, now=NOW)
    assert [o.event_id for o in batch.accepted] == ["b"]
    assert batch.errors[0].field == "attributes.region"


def test_an_echoed_value_is_clipped() -> None:
    body = msgspec.json.encode([good("a", status="s" * 10_000)])
    batch = decode_observations(body, content_type=None, config=CONFIG, now=NOW)
    (error,) = batch.errors
    assert error.field == "status"
    assert "…" in error.message and len(error.message) < 200


@pytest.mark.parametrize("path", ["/v1/observations", "/v1/counts", "/v1/traces"])
def test_deep_nesting_is_a_400_naming_the_place_never_a_500(path: str) -> None:
    response = client().post(path, content=b"[" * 1000 + b"]" * 1000, headers=JSON)
    assert response.status_code == 400
    assert "deeper than" in response.text and "at byte" in response.text


def test_deep_nesting_in_one_ndjson_line_names_the_line() -> None:
    body = msgspec.json.encode(good("a")) + b"\n" + b"[" * 40 + b"]" * 40 + b"\n"
    response = client().post(
        "/v1/observations", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 400
    assert "(line 2)" in response.json()["error"]


def test_nesting_error_ignores_brackets_inside_strings() -> None:
    assert nesting_error(b'["' + b"[" * 100 + b'\\"' + b"{" * 100 + b'"]') is None
    assert nesting_error(b"[" * 33 + b"]" * 33) is not None
    assert nesting_error(b"[" * 32 + b"]" * 32) is None


def test_too_many_items_is_a_400_before_any_per_item_work() -> None:
    body = b"x\n" * (limits.MAX_ITEMS + 1)
    response = client().post(
        "/v1/observations", content=body, headers={"Content-Type": "application/x-ndjson"}
    )
    assert response.status_code == 400
    assert f"at most {limits.MAX_ITEMS}" in response.json()["error"]
    body = b"[" + b",".join([b"{}"] * (limits.MAX_ITEMS + 1)) + b"]"
    response = client().post("/v1/counts", content=body, headers=JSON)
    assert response.status_code == 400


def test_unknown_pipeline_names_are_not_echoed_whole() -> None:
    items = [good(str(i), pipeline="p" * 45_000) for i in range(30)]
    response = client().post("/v1/observations", content=msgspec.json.encode(items), headers=JSON)
    assert response.status_code == 202
    assert len(response.content) < 30 * 300


# --- OTLP ---------------------------------------------------------------------------------------


def _nested(depth: int) -> AnyValue:
    value = AnyValue(string_value="x")
    for _ in range(depth):
        outer = AnyValue()
        outer.array_value.values.append(value)
        value = outer
    return value


def _span(extra: list[KeyValue]) -> Span:
    text = [("hopwatch.pipeline", "shop"), ("hopwatch.hop", "web"), ("hopwatch.event_type", "o")]
    attrs = [KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in text]
    return Span(
        trace_id=b"\x01" * 16,
        span_id=b"\x02" * 8,
        name="hop",
        start_time_unix_nano=int((NOW - 10) * 1e9),
        end_time_unix_nano=int((NOW - 9) * 1e9),
        attributes=attrs + extra,
    )


def test_a_deep_otlp_any_value_rejects_its_span_naming_the_attribute() -> None:
    deep = KeyValue(key="hopwatch.attribute.region", value=_nested(limits.MAX_ANY_VALUE_DEPTH + 1))
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[_span([deep]), _span([])])])]
    )
    batch = decode_traces(
        request.SerializeToString(), content_type="application/x-protobuf", config=CONFIG, now=NOW
    )
    assert len(batch.accepted) == 1
    assert batch.errors[0].field == "hopwatch.attribute.region"


def test_a_too_long_otlp_event_id_rejects_its_span() -> None:
    long_id = KeyValue(
        key="hopwatch.event_id", value=AnyValue(string_value="i" * (limits.MAX_EVENT_ID + 1))
    )
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=[_span([long_id])])])]
    )
    batch = decode_traces(
        request.SerializeToString(), content_type="application/x-protobuf", config=CONFIG, now=NOW
    )
    assert batch.accepted == ()
    assert batch.errors[0].field == "hopwatch.event_id"


# --- the event loop ---------------------------------------------------------------------------


def app_with_a_blocked_decoder() -> tuple[Any, Any, threading.Event, threading.Event]:
    """An app whose observations decoder waits for ``release`` after setting ``started``: (app,
    its push endpoints, started, release)."""
    runtime = StaticRuntime(CONFIG, FakeClock(NOW))
    app = create_app(runtime)
    started, release = threading.Event(), threading.Event()
    ingest = next(
        r.endpoint.__self__
        for r in app.routes
        if isinstance(r, Route) and r.path == "/v1/observations"
    )
    decoder = ingest._decoder_for(runtime.config)
    original = decoder.observations

    def blocked(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(30), "the test never released the decoder"
        return original(*args, **kwargs)

    decoder.observations = blocked  # type: ignore[method-assign]
    return app, ingest, started, release


def test_healthz_is_answered_while_a_push_body_is_being_decoded() -> None:
    """The decode of a body above ``INLINE_BYTES`` runs off the loop: block it on an event, ask
    /healthz, then release it."""
    app, _ingest, started, release = app_with_a_blocked_decoder()
    answers: list[int] = []
    with serve_in_thread(app) as url:
        push = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{url}/v1/observations",
                    # leading blanks are valid JSON and make the body too big to decode inline
                    content=b" " * INLINE_BYTES + msgspec.json.encode([good("a")]),
                    headers=JSON,
                    timeout=30,
                ).status_code
            )
        )
        push.start()
        try:
            assert started.wait(10), "the push never reached the decoder"
            assert httpx.get(f"{url}/healthz", timeout=10).status_code == 200
            assert answers == []  # the push is still waiting on its decode
        finally:
            release.set()
            push.join(30)
    assert answers == [202]


def test_the_gate_refuses_past_its_capacity_with_retry_after_and_counts_it() -> None:
    gate = DecodeGate(threads=1, waiting=1)
    with gate.admit("observations"), gate.admit("observations"):
        with pytest.raises(Problem) as refused, gate.admit("observations"):
            pass  # pragma: no cover - never admitted
        assert gate.in_progress == 2
    problem = refused.value
    assert (problem.status, problem.headers) == (503, {"Retry-After": "1"})
    assert problem.error == "hopwatch is busy: 2 observations requests are being processed"
    assert gate.refused == 1 and gate.in_progress == 0
    with gate.admit("observations"):  # places are given back when requests end
        assert gate.in_progress == 1


def test_a_push_past_the_gate_is_answered_503_at_once_while_the_first_decodes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One decode thread and no waiting place: while a big body decodes, a second push is
    refused with 503 and Retry-After (not queued), and the first one is still accepted."""
    monkeypatch.setattr(offload, "DECODE_THREADS", 1)
    monkeypatch.setattr(offload, "MAX_WAITING", 0)
    app, ingest, started, release = app_with_a_blocked_decoder()
    answers: list[int] = []
    body = b" " * INLINE_BYTES + msgspec.json.encode([good("a")])
    with serve_in_thread(app) as url:
        push = threading.Thread(
            target=lambda: answers.append(
                httpx.post(
                    f"{url}/v1/observations", content=body, headers=JSON, timeout=30
                ).status_code
            )
        )
        push.start()
        try:
            assert started.wait(10), "the push never reached the decoder"
            second = httpx.post(f"{url}/v1/observations", content=body, headers=JSON, timeout=10)
        finally:
            release.set()
            push.join(30)
    assert second.status_code == 503
    assert second.headers["retry-after"] == "1"
    assert second.json()["error"].startswith("hopwatch is busy")
    assert answers == [202]
    assert ingest.requests[("observations", "503")] == 1
    assert ingest.requests[("observations", "202")] == 1


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/observations", "application/json"),
        ("/v1/counts", "application/json"),
        ("/v1/traces", "application/json"),
        ("/v1/aggregates", "application/msgpack"),
    ],
    ids=["observations", "counts", "OTLP traces", "agents' aggregates"],
)
def test_every_push_endpoint_answers_503_with_retry_after_when_the_gate_is_full(
    monkeypatch: pytest.MonkeyPatch, path: str, content_type: str
) -> None:
    """A gate with no place (one thread, minus one waiting place): refused before the body is
    read, whatever the endpoint."""
    monkeypatch.setattr(offload, "DECODE_THREADS", 1)
    monkeypatch.setattr(offload, "MAX_WAITING", -1)
    client = TestClient(create_app(StaticRuntime(CONFIG, FakeClock(NOW))))
    response = client.post(path, content=b"[]", headers={"Content-Type": content_type})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"


# --- the idempotency cache ----------------------------------------------------------------------


def test_the_idempotency_cache_is_bounded_in_bytes() -> None:
    recent = RecentAnswers(max_bytes=10_000, max_entry_bytes=2_000)
    assert not recent.put("observations", "huge", 202, b"x" * 5_000, NOW)
    assert recent.get("observations", "huge", NOW) is None
    for i in range(100):
        assert recent.put("observations", f"k{i}", 202, b"x" * 1_000, NOW)
    assert recent.bytes <= 10_000
    assert len(recent) < 10
    assert recent.get("observations", "k99", NOW) is not None
    assert recent.get("observations", "k0", NOW) is None
    recent.get("observations", "k99", NOW + 601)  # expiry gives the bytes back
    assert (len(recent), recent.bytes) == (0, 0)


def test_a_huge_keyed_error_answer_is_not_remembered() -> None:
    app_client = client()
    items = [good(str(i), pipeline=f"nope{i}") for i in range(100)]
    headers = {**JSON, "Idempotency-Key": "k1"}
    first = app_client.post(
        "/v1/observations", content=msgspec.json.encode(items * 10), headers=headers
    )
    assert first.status_code == 202
    ingest_recent = next(
        r.endpoint.__self__.recent
        for r in app_client.app.routes  # type: ignore[attr-defined]
        if isinstance(r, Route) and r.path == "/v1/observations"
    )
    assert ingest_recent.bytes <= 16 * 1024 * 1024


# --- silences ---------------------------------------------------------------------------------

SILENCE = {"matchers": ['edge="a->b"'], "createdBy": "ana", "comment": "deploy"}


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"duration": "99999y"}, "endsAt"),
        ({"duration": "2h", "startsAt": "9999-12-31T23:59:59Z"}, "startsAt"),
        ({"endsAt": "9999-12-31T23:59:59Z"}, "endsAt"),
        ({"duration": "2h", "createdBy": "\ud800"}, "createdBy"),
        ({"duration": "2h", "comment": "x\udfff"}, "comment"),
        ({"duration": "2h", "matchers": ['edge="\ud800"']}, "matchers[0].value"),
    ],
)
def test_a_bad_silence_is_a_400_naming_the_field_and_nothing_is_stored(
    extra: dict[str, Any], field: str
) -> None:
    runtime = StaticRuntime(CONFIG, FakeClock(NOW))
    app_client = TestClient(create_app(runtime))
    body = {**SILENCE, **extra}
    # json.dumps escapes lone surrogates as \\udxxx, as a hostile client would send them.
    response = app_client.post("/api/v1/silences", content=json.dumps(body).encode())
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    assert len(runtime.silences) == 0
    assert app_client.get("/api/v1/silences").status_code == 200


def test_a_year_long_silence_is_still_accepted() -> None:
    app_client = client()
    response = app_client.post("/api/v1/silences", json={**SILENCE, "duration": "365d"})
    assert response.status_code == 201, response.text


def test_a_deeply_nested_silence_body_is_a_400() -> None:
    response = client().post("/api/v1/silences", content=b"[" * 20_000 + b"]" * 20_000)
    assert response.status_code == 400


def test_listing_survives_a_bad_stored_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows written before validation (or by hand) are skipped, logged and counted; GET
    /api/v1/silences and ``hopwatch silence list`` keep working, across restarts."""
    store = SQLiteSilences.in_data_dir(tmp_path)
    good_silence = Silence("good", (), NOW, NOW + 3600, "ana", "ok", NOW)
    from monitor.routing.silence import parse_silence_matcher

    good_silence = Silence(
        "good", (parse_silence_matcher('edge="a->b"'),), NOW, NOW + 3600, "ana", "ok", NOW
    )
    store.save(good_silence)
    bad_rows = {
        "far": {**good_silence.to_json(), "id": "far", "ends_at": 1e18},
        "surrogate": {**good_silence.to_json(), "id": "surrogate", "created_by": "\ud800"},
        "broken": {"id": "broken"},
    }
    with sqlite3.connect(tmp_path / DB_FILENAME) as conn:
        for key, payload in bad_rows.items():
            conn.execute("INSERT INTO silences VALUES (?, 0, ?)", (key, json.dumps(payload)))
    reopened = SQLiteSilences.in_data_dir(tmp_path)
    book = reopened.book()
    assert reopened.skipped == 3
    assert [s.id for s in book.list(NOW)] == ["good"]
    runtime = StaticRuntime(CONFIG, FakeClock(NOW), silences=book)
    with serve_in_thread(create_app(runtime)) as url:
        listed = httpx.get(f"{url}/api/v1/silences", timeout=10)
        assert listed.status_code == 200
        assert [s["id"] for s in listed.json()] == ["good"]
        assert main(["silence", "list", "--url", url]) == 0
    assert "good" in capsys.readouterr().out


def test_listing_skips_an_unservable_silence_already_in_memory() -> None:
    runtime = StaticRuntime(CONFIG, FakeClock(NOW))
    from monitor.routing.silence import parse_silence_matcher

    bad = Silence("bad", (parse_silence_matcher('edge="a"'),), NOW, 1e18, "\ud800", "c", NOW)
    runtime.silences._by_id["bad"] = bad
    response = TestClient(create_app(runtime)).get("/api/v1/silences")
    assert (response.status_code, response.json()) == (200, [])


# --- OpenAPI ----------------------------------------------------------------------------------


def test_every_route_of_the_app_is_in_the_openapi_document() -> None:
    app = create_app(StaticRuntime(CONFIG, FakeClock(NOW)))
    paths = document()["paths"]
    for route in app.routes:
        assert isinstance(route, Route)
        assert route.path in paths, route.path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in paths[route.path], (route.path, method)
    served = TestClient(app).get("/openapi.json")
    assert served.status_code == 200
    assert served.json()["openapi"].startswith("3.")


# --- gzip --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("members", "accepted"),
    [
        ((b"x" * 1000,), True),
        ((b"x" * 1001,), False),
        ((b"x" * 600, b"y" * 400), True),
        ((b"x" * 600, b"y" * 401), False),
        ((b"\0" * 10_000_000,), False),
    ],
    ids=[
        "one member inflating to exactly the limit is kept",
        "one byte over the limit is 413",
        "two members adding up to exactly the limit are kept",
        "two members adding up to one byte over are 413",
        "ten megabytes of zeros in a ten-kilobyte body are 413",
    ],
)
def test_gunzip_never_inflates_past_the_limit(members: tuple[bytes, ...], accepted: bool) -> None:
    body = b"".join(gzip.compress(m) for m in members)
    if accepted:
        assert gunzip(body, 1000) == b"".join(members)
        return
    with pytest.raises(Problem) as refused:
        gunzip(body, 1000)
    assert refused.value.status == 413
    assert (
        refused.value.error == "decompressed body is larger than server.max_body_size (1000 bytes)"
    )


def test_a_gzip_body_is_unzipped_and_decoded_in_one_call() -> None:
    seen: list[bytes] = []

    def decode(body: bytes, *, content_type: str | None, now: float) -> int:
        seen.append(body)
        return len(body)

    plain, decoded = decode_body(
        decode, gzip.compress(b"[1, 2]"), gzipped=True, limit=100, content_type=None, now=NOW
    )
    assert (plain, decoded, seen) == (b"[1, 2]", 6, [b"[1, 2]"])
