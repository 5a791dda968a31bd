"""Hostile bodies against every endpoint of the OpenAPI document: no answer is ever a 5xx.

Hypothesis generates deep nesting, huge strings, wrong types, invalid UTF-8, lone surrogates,
gzip bombs and NDJSON garbage, plus items mutated from valid ones, and sends them in process
(Starlette's TestClient, an open server as on loopback) to every (path, method) that
``/openapi.json`` lists, so a new route is fuzzed the day it is documented. Deterministic
(``derandomize``) and bounded in examples to stay well under a minute. The slowest answer is
recorded and printed; only the ``slow`` variant asserts it under 2 s.
"""

from __future__ import annotations

import gzip
import time
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig
from monitor.server.app import create_app
from monitor.server.openapi import document
from monitor.testing import FakeClock, StaticRuntime

NOW = 1_700_000_000.0
SHOP = Pipeline(
    name="shop",
    hops=(Hop("web"), Hop("sink")),
    edges=(Edge("web", "sink"),),
    attributes=frozenset({"region"}),
)
# Open on loopback so hostile bodies reach the handlers (auth refusals are test_auth.py's).
CONFIG = Config(
    server=ServerConfig(max_body_bytes=1024 * 1024, auth=AuthPolicy(open=True)), pipelines=(SHOP,)
)

ENDPOINTS = sorted(
    (path.replace("{silence_id}", "fuzz-id"), method.upper())
    for path, item in document()["paths"].items()
    for method in item
    if method in {"get", "post", "delete", "put", "patch"}
)
CONTENT_TYPES = [
    None,
    "application/json",
    "application/x-ndjson",
    "application/x-protobuf",
    "application/msgpack",
    "text/plain",
    "application/json; charset=latin-1",
]

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True)
    | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def _good(i: int) -> dict[str, Any]:
    return {
        "pipeline": "shop",
        "hop": "web",
        "event_type": "order",
        "event_id": f"e{i}",
        "event_time": NOW - 10,
        "attributes": {"region": "eu"},
    }


_FIELDS = [
    "pipeline",
    "hop",
    "event_type",
    "event_id",
    "event_time",
    "status",
    "reason",
    "attributes",
    "bucket_start",
    "count",
    "matchers",
    "duration",
    "createdBy",
    "comment",
    "startsAt",
    "endsAt",
    "resourceSpans",
]
_hostile_values = st.one_of(
    _json,
    st.integers(min_value=1, max_value=300_000).map(lambda n: "x" * n),
    st.just("\ud800"),
    st.just("9999-12-31T23:59:59Z"),
    st.just("99999y"),
    st.integers(min_value=1, max_value=200).map(lambda n: "[" * n),
)


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    """Valid-looking items with one field replaced by something hostile."""
    items = [_good(i) for i in range(draw(st.integers(1, 5)))]
    for item in items:
        item[draw(st.sampled_from(_FIELDS))] = draw(_hostile_values)
    try:
        text = msgspec.json.encode(items)
    except (msgspec.EncodeError, UnicodeEncodeError):
        import json

        return json.dumps(items).encode()
    return text


def _nested(n: int, opener: bytes) -> bytes:
    closer = b"]" if opener == b"[" else b"}"
    if opener == b"{":
        return b'{"a":' * n + b"1" + closer * n
    return opener * n + closer * n


def _otlp_nested(n: int) -> bytes:
    """An OTLP/JSON export whose one attribute nests ``arrayValue`` ``n`` deep (built as text:
    encoders recurse too)."""
    value = b'{"arrayValue":{"values":[' * n + b'{"stringValue":"x"}' + b"]}}" * n
    span = b'{"attributes":[{"key":"hopwatch.attribute.region","value":' + value + b"}]}"
    return b'{"resourceSpans":[{"scopeSpans":[{"spans":[' + span + b"]}]}]}"


BODIES = st.one_of(
    st.binary(max_size=200),
    _json.map(lambda v: msgspec.json.encode(v)),
    st.integers(1, 5000).flatmap(
        lambda n: st.sampled_from([b"[", b"{"]).map(lambda o: _nested(n, o))
    ),
    st.integers(1, 200).map(_otlp_nested),
    st.integers(1, 20_000).map(lambda n: b"x\n" * n),
    st.integers(1, 20_000).map(lambda n: b"[" + b",".join([b"{}"] * n) + b"]"),
    st.just(b'["\xff\xfe"]'),
    st.just(b'[{"event_id":"\\ud800"}]'),
    _mutated(),
)


class Slowest:
    seconds = 0.0
    what = ""


def _app_client() -> TestClient:
    return TestClient(
        create_app(StaticRuntime(CONFIG, FakeClock(NOW))), raise_server_exceptions=False
    )


CLIENT = _app_client()


def _send(path: str, method: str, body: bytes, content_type: str | None, gzipped: bool) -> int:
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if gzipped:
        headers["Content-Encoding"] = "gzip"
        body = gzip.compress(body, compresslevel=1)
    started = time.perf_counter()
    response = CLIENT.request(
        method, path, content=body if method != "GET" else None, headers=headers
    )
    took = time.perf_counter() - started
    if took > Slowest.seconds:
        Slowest.seconds, Slowest.what = took, f"{method} {path} ({len(body)} bytes)"
    assert response.status_code < 500, (method, path, response.status_code, response.text[:300])
    return response.status_code


@pytest.mark.parametrize(("path", "method"), ENDPOINTS)
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(body=BODIES, content_type=st.sampled_from(CONTENT_TYPES), gzipped=st.booleans())
def test_no_hostile_body_gets_a_5xx(
    path: str, method: str, body: bytes, content_type: str | None, gzipped: bool
) -> None:
    _send(path, method, body, content_type, gzipped)


@pytest.mark.parametrize("path", ["/v1/observations", "/v1/counts", "/v1/traces", "/v1/aggregates"])
def test_a_gzip_bomb_is_refused_not_expanded(path: str) -> None:
    bomb = gzip.compress(b"[" + b" " * (50 * 1024 * 1024) + b"]", compresslevel=9)
    headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    if path == "/v1/aggregates":
        headers["Content-Type"] = "application/msgpack"
    status = CLIENT.post(path, content=bomb, headers=headers).status_code
    assert status == 413


def test_zz_report_the_slowest_answer() -> None:
    """Printed for the record (-s); asserting a time here would flake on a loaded machine."""
    print(f"slowest fuzz answer: {Slowest.seconds:.3f} s for {Slowest.what}")


@pytest.mark.slow
def test_the_worst_bodies_are_answered_within_2_seconds() -> None:
    """The issue's measure, generous for a busy 2-core machine; run with -m slow."""
    worst = [
        ("/v1/observations", b"[" + b",".join([b"{}"] * 1_000_000) + b"]", "application/json"),
        ("/v1/observations", b"x\n" * 4_500_000, "application/x-ndjson"),
        ("/v1/counts", b"[" * 5_000_000 + b"]" * 5_000_000, "application/json"),
        ("/v1/traces", _otlp_nested(3000), "application/json"),
    ]
    client = TestClient(
        create_app(StaticRuntime(Config(pipelines=(SHOP,)), FakeClock(NOW))),
        raise_server_exceptions=False,
    )
    for path, body, media in worst:
        started = time.perf_counter()
        response = client.post(path, content=body, headers={"Content-Type": media})
        took = time.perf_counter() - started
        assert response.status_code < 500
        assert took < 2.0, (path, took)
