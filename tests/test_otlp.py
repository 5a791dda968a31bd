"""``POST /v1/traces``: OTLP spans become observations, and a slow event's trace id is kept.

Spans come from the OpenTelemetry SDK's real OTLP/HTTP exporter (protobuf, gzip, bearer token)
sent to a real hopwatch server on 127.0.0.1, or are built by hand for the JSON encoding and the
bad cases. Span times are pinned, so bucket counts are exact.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import msgspec
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import StatusCode
from prometheus_client import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.client import attributes as keys
from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Edge, Hop, Pipeline, ServerConfig
from monitor.engine import Engine
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.sources.otlp import decode_traces
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

T0 = 1_700_000_040.0  # a bucket boundary (60 s buckets)
TOKEN = "otlp-token"
SHOP = Pipeline(
    name="shop",
    hops=(Hop("web"), Hop("sink")),
    edges=(Edge("web", "sink"),),
    attributes=frozenset({"region"}),
    allowed_lateness=60.0,
)
CONFIG = Config(server=ServerConfig(auth=AuthPolicy.single_token(TOKEN)), pipelines=(SHOP,))
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROTOBUF = {**AUTH, "Content-Type": "application/x-protobuf"}
OPENMETRICS = {"Accept": "application/openmetrics-text; version=1.0.0"}


def ns(t: float) -> int:
    return round(t * 1e9)


@dataclass
class Served:
    runtime: StaticRuntime
    url: str

    def exporter(self, compression: Compression = Compression.Gzip) -> OTLPSpanExporter:
        return OTLPSpanExporter(
            endpoint=f"{self.url}/v1/traces", headers=AUTH, compression=compression
        )

    def close_buckets(self) -> Counter[tuple[str, float]]:
        """Tick past every watermark; events per (hop, bucket start) of what closed."""
        self.runtime.clock.set(T0 + 600)
        out = self.runtime.engine.tick(self.runtime.clock.now())
        return Counter(
            {
                (b.hop, b.bucket_start): b.total
                for closed in out.closed.values()
                for b in closed.hop_buckets
                if b.total
            }
        )


@pytest.fixture
def served() -> Iterator[Served]:
    runtime = StaticRuntime(CONFIG, FakeClock(T0 + 150))
    with serve_in_thread(create_app(runtime)) as url:
        yield Served(runtime, url)


def sdk_spans(exporter: OTLPSpanExporter, spans: list[dict[str, Any]]) -> None:
    """Export ``spans`` (attributes, start, end, optional error) through the real SDK pipeline.

    The resource names the pipeline, so the spans only carry their hop (the resource fallback).
    """
    provider = TracerProvider(resource=Resource({keys.PIPELINE: "shop"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test_otlp")
    for spec in spans:
        span = tracer.start_span("hop", attributes=spec["attributes"], start_time=ns(spec["start"]))
        if spec.get("error"):
            span.set_status(StatusCode.ERROR)
        span.end(end_time=ns(spec["end"]))
    provider.shutdown()


def hop_span(hop: str, event: int, event_time: float, delay: float) -> dict[str, Any]:
    return {
        "attributes": {
            keys.HOP: hop,
            keys.EVENT_TYPE: "order",
            keys.EVENT_ID: f"e{event}",
            keys.EVENT_TIME: event_time,
            f"{keys.ATTRIBUTE_PREFIX}region": "eu",
        },
        "start": event_time + delay - 0.1,
        "end": event_time + delay,
    }


# --- the SDK's exporter against a real server -------------------------------------------------


def test_spans_from_the_sdk_exporter_become_exactly_the_expected_observations(served: Served):
    spans = [hop_span("web", i, T0 + i, 1.0) for i in range(5)]
    spans += [hop_span("sink", i, T0 + i, 3.0) for i in range(3)]
    spans += [hop_span("web", 10 + i, T0 + 60 + i, 1.0) for i in range(2)]
    spans += [{"attributes": {"http.route": "/checkout"}, "start": T0 + 5, "end": T0 + 6}]
    sdk_spans(served.exporter(), spans)

    assert served.close_buckets() == {
        ("web", T0): 5,
        ("sink", T0): 3,
        ("web", T0 + 60): 2,
    }
    stats = served.runtime.engine.view().ingest
    assert stats.accepted[("traces", "accepted")] == 10
    assert stats.accepted[("traces", "skipped")] == 1
    assert not stats.rejected


def test_the_edge_between_traced_hops_is_joined_by_event_id(served: Served):
    spans = [hop_span("web", i, T0 + i, 1.0) for i in range(4)]
    spans += [hop_span("sink", i, T0 + i, 3.0) for i in range(3)]
    sdk_spans(served.exporter(compression=Compression.NoCompression), spans)
    served.close_buckets()

    result = served.runtime.engine.view().last_edge[("shop", "web->sink")]
    assert (result.expected, result.arrived, result.missing) == (4, 3, 1)
    assert result.missing_ids == ("e3",)


def test_a_malformed_payload_gets_400_and_nothing_else_is_lost(served: Served):
    sdk_spans(served.exporter(), [hop_span("web", 1, T0 + 1, 1.0)])
    bad = httpx.post(f"{served.url}/v1/traces", content=b"\x0a\xff\xff\x00", headers=PROTOBUF)
    sdk_spans(served.exporter(), [hop_span("web", 2, T0 + 2, 1.0)])

    assert bad.status_code == 400
    assert bad.headers["content-type"] == "application/x-protobuf"
    assert b"not a protobuf ExportTraceServiceRequest" in bad.content  # google.rpc.Status
    assert served.close_buckets() == {("web", T0): 2}
    requests = Counter(
        {code: n for (kind, code), n in _requests(served).items() if kind == "traces"}
    )
    assert requests == {"200": 2, "400": 1}


def _requests(served: Served) -> Counter[tuple[str, str]]:
    text = httpx.get(f"{served.url}/metrics").text
    out: Counter[tuple[str, str]] = Counter()
    for line in text.splitlines():
        if line.startswith("hopwatch_ingest_requests_total{"):
            labels = dict(
                kv.split("=") for kv in line[line.index("{") + 1 : line.index("}")].split(",")
            )
            out[(labels["kind"].strip('"'), labels["code"].strip('"'))] = int(
                float(line.split()[-1])
            )
    return out


# --- hand-built requests: partial success, JSON, refusals --------------------------------------


def kv(key: str, value: Any) -> KeyValue:
    if isinstance(value, str):
        return KeyValue(key=key, value=AnyValue(string_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(int_value=value))


def proto_span(trace: int, start: float, end: float, **attributes: Any) -> Span:
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=trace.to_bytes(8, "big"),
        name="hop",
        start_time_unix_nano=ns(start),
        end_time_unix_nano=ns(end),
        attributes=[kv(k, v) for k, v in attributes.items()],
    )


def request_of(*spans: Span, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    rs = ResourceSpans(scope_spans=[ScopeSpans(spans=list(spans))])
    for key, value in (resource or {}).items():
        rs.resource.attributes.append(kv(key, value))
    return ExportTraceServiceRequest(resource_spans=[rs])


def web(trace: int, **extra: Any) -> dict[str, Any]:
    return {keys.PIPELINE: "shop", keys.HOP: "web", keys.EVENT_TYPE: "order", **extra}


def test_partial_success_counts_the_rejected_spans_and_keeps_the_others(served: Served):
    request = request_of(
        proto_span(1, T0 + 1, T0 + 2, **web(1)),
        proto_span(2, T0 + 1, T0 + 2, **web(2, **{keys.HOP: "cache"})),
        proto_span(3, T0 + 1, T0 + 2, **{keys.EVENT_TYPE: "order", keys.HOP: "web"}),
        proto_span(4, T0 + 1, T0 + 2, **{"db.system": "postgresql"}),
        proto_span(5, T0 + 3, T0 + 4, **web(5)),
    )
    answer = httpx.post(
        f"{served.url}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF
    )

    assert answer.status_code == 200
    response = ExportTraceServiceResponse.FromString(answer.content)
    assert response.partial_success.rejected_spans == 2
    message = response.partial_success.error_message
    assert message.startswith("2 of 5 spans rejected (missing_field: 1, unknown_hop: 1); ")
    assert "span 1: unknown hop 'cache' in pipeline 'shop'" in message
    assert "span 2: hop span has no hopwatch.pipeline attribute" in message
    assert served.close_buckets() == {("web", T0): 2}
    stats = served.runtime.engine.view().ingest
    assert stats.accepted[("traces", "skipped")] == 1
    assert stats.rejected == {("traces", "unknown_hop"): 1, ("traces", "missing_field"): 1}


def test_a_fully_accepted_export_has_no_partial_success(served: Served):
    body = request_of(proto_span(1, T0 + 1, T0 + 2, **web(1))).SerializeToString()
    answer = httpx.post(f"{served.url}/v1/traces", content=body, headers=PROTOBUF)
    assert answer.status_code == 200
    assert not ExportTraceServiceResponse.FromString(answer.content).HasField("partial_success")


JSON_REQUEST = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": keys.PIPELINE, "value": {"stringValue": "shop"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "handwritten"},
                    "spans": [
                        {
                            "traceId": "5b8efff798038103d269b633813fc60c",
                            "spanId": "eee19b7ec3c1b174",
                            "name": "hop",
                            "kind": 1,
                            "startTimeUnixNano": str(ns(T0 + 4)),
                            "endTimeUnixNano": str(ns(T0 + 5)),
                            "attributes": [
                                {"key": keys.HOP, "value": {"stringValue": "sink"}},
                                {"key": keys.EVENT_TYPE, "value": {"stringValue": "order"}},
                                {"key": keys.EVENT_TIME, "value": {"doubleValue": T0 + 1}},
                                {"key": keys.EVENT_ID, "value": {"intValue": "42"}},
                            ],
                        },
                        {
                            "traceId": "5b8efff798038103d269b633813fc60d",
                            "spanId": "eee19b7ec3c1b175",
                            "name": "hop",
                            "startTimeUnixNano": ns(T0 + 4),
                            "endTimeUnixNano": ns(T0 + 5),
                            "attributes": [
                                {"key": keys.HOP, "value": {"stringValue": "sink"}},
                                {"key": keys.EVENT_TYPE, "value": {"stringValue": "order"}},
                                {"key": keys.STATUS, "value": {"stringValue": "lost"}},
                            ],
                        },
                    ],
                }
            ],
        }
    ]
}


def test_otlp_json_with_hex_ids_becomes_observations(served: Served):
    answer = httpx.post(
        f"{served.url}/v1/traces",
        content=gzip.compress(msgspec.json.encode(JSON_REQUEST)),
        headers={**AUTH, "Content-Type": "application/json", "Content-Encoding": "gzip"},
    )

    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    partial = answer.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "1"  # int64 is a string in protobuf's JSON mapping
    assert "hopwatch.status: 'lost' is not a status" in partial["errorMessage"]
    assert served.close_buckets() == {("sink", T0): 1}
    bucket = served.runtime.engine.view().last_hop[("shop", "sink")]
    assert bucket.exemplar is not None
    assert bucket.exemplar.trace_id == "5b8efff798038103d269b633813fc60c"
    assert bucket.exemplar.latency_seconds == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("headers", "body", "status", "says"),
    [
        ({**AUTH, "Content-Type": "text/plain"}, b"x", 415, "'text/plain' is not supported"),
        ({"Content-Type": "application/json"}, b"{}", 401, "missing Authorization header"),
        (
            {**AUTH, "Content-Type": "application/json"},
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            400,
            "traceId: 'zz' is not a hex string",
        ),
        ({**AUTH, "Content-Type": "application/json"}, b"[1, 2", 400, "not valid JSON"),
    ],
    ids=[
        "a content type other than protobuf or JSON is 415",
        "no bearer token is 401",
        "a JSON trace id that is not hex is a malformed body",
        "JSON that does not parse is a malformed body",
    ],
)
def test_a_refused_export_gets_a_status_naming_the_problem(
    served: Served, headers: dict[str, str], body: bytes, status: int, says: str
):
    answer = httpx.post(f"{served.url}/v1/traces", content=body, headers=headers)
    assert answer.status_code == status
    assert says in answer.json()["message"]


# --- the pure decoder ----------------------------------------------------------------------------


def decode(*spans: Span, resource: dict[str, Any] | None = None):
    body = request_of(*spans, resource=resource).SerializeToString()
    return decode_traces(body, content_type="application/x-protobuf", config=CONFIG, now=T0 + 150)


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (
            proto_span(1, T0 + 2, T0 + 3, **web(1, **{keys.EVENT_TIME: T0 + 1})),
            {"event_time": T0 + 1, "observed_time": T0 + 3, "status": "ok"},
        ),
        (
            proto_span(1, T0 + 2, T0 + 3, **web(1)),
            {"event_time": T0 + 2, "observed_time": T0 + 3},
        ),
        (
            proto_span(1, T0 + 2, T0 + 3, **web(1, **{keys.EVENT_TIME: "2023-11-14T22:14:00.5Z"})),
            {"event_time": T0 + 0.5},
        ),
        (
            proto_span(
                1,
                T0 + 2,
                T0 + 3,
                **web(1, **{keys.STATUS: "rejected", keys.REASON: "consent_denied"}),
            ),
            {"status": "rejected", "reason": "consent_denied"},
        ),
        (
            proto_span(
                1,
                T0 + 2,
                T0 + 3,
                **web(1, **{"hopwatch.attribute.region": "eu", "hopwatch.attribute.email": "x@y"}),
            ),
            {"attributes": (("region", "eu"),)},
        ),
        (
            proto_span(7, T0 + 2, T0 + 3, **web(1, **{keys.EVENT_ID: "evt-9"})),
            {"event_id": "evt-9", "trace_id": f"{7:032x}"},
        ),
    ],
    ids=[
        "event_time comes from hopwatch.event_time and observed_time from the span's end",
        "without hopwatch.event_time the span's start is the event time",
        "hopwatch.event_time may be RFC 3339",
        "status and reason come from their attributes",
        "only allow-listed hopwatch.attribute.* keys become attributes",
        "the event id and the trace id are kept",
    ],
)
def test_a_hop_span_maps_to_an_observation(span: Span, expected: dict[str, Any]):
    batch = decode(span)
    assert batch.errors == ()
    [observation] = batch.accepted
    for field, value in expected.items():
        got = getattr(observation, field)
        assert got == (pytest.approx(value) if isinstance(value, float) else value), field


def test_an_error_span_without_a_status_attribute_is_failed():
    span = proto_span(1, T0 + 2, T0 + 3, **web(1))
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR))
    [observation] = decode(span).accepted
    assert observation.status == "failed"


def test_pipeline_and_hop_fall_back_to_the_resource_and_dropped_keys_are_counted():
    span = proto_span(
        1, T0 + 2, T0 + 3, **{keys.EVENT_TYPE: "order", "hopwatch.attribute.email": "x"}
    )
    batch = decode(span, resource={keys.PIPELINE: "shop", keys.HOP: "web"})
    [observation] = batch.accepted
    assert (observation.pipeline, observation.hop) == ("shop", "web")
    assert batch.dropped_attributes == {"shop": 1}


@pytest.mark.parametrize(
    ("attributes", "field", "reason"),
    [
        (web(1, **{keys.EVENT_TIME: "yesterday"}), keys.EVENT_TIME, "invalid_value"),
        (web(1, **{keys.EVENT_TIME: T0 + 7200}), "event_time", "future_event_time"),
        (web(1, **{keys.HOP: 3}), keys.HOP, "invalid_value"),
        (web(1, **{"hopwatch.attribute.region": 3}), "attributes.region", "invalid_value"),
        ({keys.HOP: "web", keys.EVENT_TYPE: "order"}, keys.PIPELINE, "missing_field"),
    ],
    ids=[
        "an event time that is no time",
        "an event time too far ahead of hopwatch's clock (the push path's window)",
        "a hop that is not a string",
        "an allow-listed attribute that is not a string (the push path's rule)",
        "a hop span without a pipeline anywhere",
    ],
)
def test_a_bad_hop_span_is_rejected_alone(attributes: dict[str, Any], field: str, reason: str):
    batch = decode(
        proto_span(1, T0 + 2, T0 + 3, **attributes), proto_span(2, T0 + 2, T0 + 3, **web(2))
    )
    assert len(batch.accepted) == 1
    [error] = batch.errors
    assert (error.index, error.field, error.reason) == (0, field, reason)


def test_spans_without_hopwatch_event_type_are_skipped_not_rejected():
    batch = decode(proto_span(1, T0, T0 + 1, **{keys.HOP: "web", "http.method": "GET"}))
    assert (batch.accepted, batch.rejected, batch.skipped) == ((), {}, 1)


# --- the trace id as an exemplar -------------------------------------------------------------


def test_the_slowest_traced_event_is_an_openmetrics_exemplar_on_the_latency_histogram(
    served: Served,
):
    request = request_of(
        proto_span(0xA1, T0 + 1, T0 + 2, **web(1, **{keys.EVENT_TIME: T0 + 1})),
        proto_span(0xA2, T0 + 2, T0 + 14, **web(2, **{keys.EVENT_TIME: T0 + 2})),
        proto_span(0xA3, T0 + 3, T0 + 5, **web(3, **{keys.EVENT_TIME: T0 + 3})),
    )
    httpx.post(f"{served.url}/v1/traces", content=request.SerializeToString(), headers=PROTOBUF)
    served.close_buckets()

    answer = httpx.get(f"{served.url}/metrics", headers=OPENMETRICS)
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    slow = f"{0xA2:032x}"
    [line] = [x for x in answer.text.splitlines() if "{trace_id=" in x]
    assert line.startswith(
        'hopwatch_hop_event_latency_seconds_bucket{hop="web",le="30.0",pipeline="shop"} 3.0 '
        f'# {{trace_id="{slow}"}} 12.0 {T0 + 14}'
    )
    families = {f.name: f for f in text_string_to_metric_families(answer.text)}  # strict parser
    exemplars = [
        s.exemplar for s in families["hopwatch_hop_event_latency_seconds"].samples if s.exemplar
    ]
    assert [e.labels for e in exemplars] == [{"trace_id": slow}]
    classic = httpx.get(f"{served.url}/metrics").text
    assert "{trace_id=" not in classic  # the Prometheus text format has no exemplars
    if shutil.which("promtool"):
        lint = subprocess.run(
            ["promtool", "check", "metrics"], input=classic.encode(), capture_output=True
        )
        assert lint.returncode == 0, lint.stdout.decode() + lint.stderr.decode()


LATENCY = CheckDef(
    name="web-latency",
    kind=CheckKind.LATENCY,
    target=Target("shop", hop="web"),
    warmup=10 * 60.0,
    params={"quantile": 0.5, "min_shift_seconds": 1.0},
)


def test_a_latency_alert_carries_the_trace_id_of_a_slow_event():
    engine = Engine(Config(pipelines=(SHOP,)), checks=[LATENCY])
    firing = []
    for m in range(15):
        delay = 1.0 if m < 12 else 20.0
        start = T0 + m * 60.0
        engine.observe(
            [
                Observation(
                    "shop",
                    "web",
                    "order",
                    start + i,
                    start + i + delay + i / 100,
                    event_id=f"m{m}-{i}",
                    trace_id=f"{m:016x}{i:016x}",
                )
                for i in range(30)
            ]
        )
        changed = engine.tick(start + 60.0 + 60.0).alerts_changed  # bucket end + lateness
        firing += [a for a in changed if a.state == "firing" and a.name == "HopwatchLatencyShift"]
    assert firing, "a 20 s delay at web must fire the latency check"
    assert firing[0].evidence["trace_ids"] == [f"{12:016x}{29:016x}"]


def test_the_metrics_scenario_without_traces_has_no_exemplar():
    runtime = StaticRuntime(CONFIG, FakeClock(T0 + 150))
    assert b"{trace_id=" not in generate_latest(create_app(runtime).state.registry)
