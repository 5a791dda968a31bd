"""The ``http_json`` source against a local fake of a vendor's delivery API."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sources_support import T0, write_config

from monitor.engine import Engine
from monitor.ledger.records import Completeness
from monitor.records import CountSample
from monitor.sources.health import FailureReason
from monitor.sources.pull import SourceRunner

SOURCE = """
          - kind: http_json
            url: http://127.0.0.1:{port}/deliveries?from={{start}}&to={{end}}
            auth: {{bearer_token_env: VENDOR_TOKEN}}
            items: data.buckets
            fields:
              bucket_start: minute
              count: stats.delivered
              attributes: {{region: geo.region}}
"""
TOKEN = "vendor-s3cret"


class FakeVendor:
    """Answers with ``body`` (or ``status``), remembering each request's query and auth header."""

    def __init__(self) -> None:
        self.body: Any = {"data": {"buckets": []}}
        self.status = 200
        self.requests: list[tuple[dict[str, list[str]], str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake.requests.append(
                    (parse_qs(urlparse(self.path).query), self.headers.get("Authorization"))
                )
                payload = json.dumps(fake.body).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def vendor() -> Iterator[FakeVendor]:
    fake = FakeVendor()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def _item(minute: float, delivered: int, region: str) -> dict[str, Any]:
    return {"minute": minute, "stats": {"delivered": delivered}, "geo": {"region": region}}


def _setup(tmp_path: Path, vendor: FakeVendor) -> tuple[Engine, SourceRunner]:
    config = write_config(tmp_path, SOURCE.format(port=vendor.port), {"VENDOR_TOKEN": TOKEN})
    engine = Engine(config)
    engine.observe_counts([CountSample("signup", "ingest", T0, 60.0, 12)])
    return engine, SourceRunner.from_config(config)


def test_mapped_fields_give_exact_counts(tmp_path: Path, vendor: FakeVendor) -> None:
    engine, runner = _setup(tmp_path, vendor)
    source = runner.sources[0]

    async def polls() -> None:
        vendor.body = {"data": {"buckets": [_item(T0, 5, "eu"), _item(T0 + 30, 2, "us")]}}
        assert await runner.poll(source, engine, T0 + 90)
        vendor.body = {"data": {"buckets": [_item(T0, 10, "eu"), _item(T0 + 30, 2, "us")]}}
        assert await runner.poll(source, engine, T0 + 150)
        await source.aclose()

    asyncio.run(polls())
    query, auth = vendor.requests[0]
    assert auth == f"Bearer {TOKEN}"
    assert query == {"from": [repr(T0 - 60)], "to": [repr(T0 + 90)]}  # open buckets
    out = engine.tick(T0 + 181)
    bucket = next(b for b in out.closed["signup"].hop_buckets if b.hop == "warehouse")
    assert {dict(k.attributes)["region"]: n for k, n in bucket.counts} == {"eu": 10, "us": 2}
    (edge,) = out.edge_results
    assert (edge.expected, edge.arrived, edge.missing) == (12, 12, 0)


@pytest.mark.parametrize(
    ("status", "body", "reason"),
    [
        (500, {"error": "upstream"}, FailureReason.HTTP_STATUS),
        (200, {"data": {"rows": []}}, FailureReason.BAD_RESPONSE),
        (200, {"data": {"buckets": [{"minute": T0}]}}, FailureReason.BAD_RESPONSE),
    ],
    ids=[
        "a 500 answer is an http_status failure",
        "a body without the items list is a bad_response",
        "an item without its count is a bad_response",
    ],
)
def test_a_failing_endpoint_makes_the_bucket_incomplete_not_lost(
    tmp_path: Path, vendor: FakeVendor, status: int, body: Any, reason: FailureReason
) -> None:
    engine, runner = _setup(tmp_path, vendor)
    vendor.status, vendor.body = status, body
    assert not asyncio.run(runner.poll(runner.sources[0], engine, T0 + 90))
    health = runner.health[runner.sources[0].key]
    assert dict(health.errors) == {reason: 1}
    assert TOKEN not in health.last_error
    (edge,) = engine.tick(T0 + 181).edge_results
    assert edge.completeness is Completeness.INCOMPLETE
    assert engine.view().edge_totals[("signup", "ingest->warehouse")].missing == 0
