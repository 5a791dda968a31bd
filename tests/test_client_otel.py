"""The span processor: ended spans carrying hop attributes become observations, sent through the
same reporter; other spans are ignored, and nothing about hopwatch can break the tracer."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from client_support import GENEROUS, TOKEN, FakeHopwatch, fake_hopwatch, real_hopwatch
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode, Tracer

from monitor.client import Backoff, HopReporter
from monitor.client import attributes as hop
from monitor.client.otel import HopAttributeNames, HopSpanProcessor
from monitor.testing import free_port

T = 1_700_000_000.0


@pytest.fixture
def fake() -> Iterator[FakeHopwatch]:
    with fake_hopwatch(free_port()) as server:
        yield server


def traced(
    url: str, names: HopAttributeNames | None = None
) -> tuple[Tracer, TracerProvider, HopReporter]:
    reporter = HopReporter(
        url,
        "shop",
        "web",
        token=TOKEN,
        flush_interval=0.05,
        backoff=Backoff(0.02, 0.1),
        rng=random.Random(3),
    )
    provider = TracerProvider()
    provider.add_span_processor(HopSpanProcessor(reporter, names))
    return provider.get_tracer("test"), provider, reporter


def test_hop_spans_become_observations_and_other_spans_are_ignored(fake: FakeHopwatch) -> None:
    tracer, provider, reporter = traced(fake.url)
    with tracer.start_as_current_span("handle") as span:
        span.set_attributes(
            {
                hop.EVENT_ID: "e1",
                hop.EVENT_TYPE: "signup",
                hop.EVENT_TIME: T,
                hop.ATTRIBUTE_PREFIX + "region": "eu",
            }
        )
    with tracer.start_as_current_span("deliver") as span:
        span.set_attributes(
            {
                hop.PIPELINE: "shop",
                hop.HOP: "sink",
                hop.EVENT_ID: "e1",
                hop.EVENT_TYPE: "signup",
                hop.EVENT_TIME: "2023-11-14T22:13:20Z",
            }
        )
        span.set_status(Status(StatusCode.ERROR, "sink down"))
    with tracer.start_as_current_span("consent") as span:
        span.set_attributes(
            {
                hop.EVENT_ID: "e2",
                hop.EVENT_TYPE: "signup",
                hop.EVENT_TIME: T,
                hop.STATUS: "rejected",
                hop.REASON: "consent_denied",
            }
        )
    with tracer.start_as_current_span("unrelated") as span:
        span.set_attribute("http.method", "GET")
    assert provider.force_flush()
    stats = reporter.stats()
    provider.shutdown()
    reporter.close()
    seen = [{k: v for k, v in item.items() if k != "observed_time"} for item in fake.arrivals.items]
    assert seen == [
        {
            "pipeline": "shop",
            "hop": "web",
            "event_id": "e1",
            "event_type": "signup",
            "event_time": T,
            "status": "ok",
            "attributes": {"region": "eu"},
        },
        {
            "pipeline": "shop",
            "hop": "sink",
            "event_id": "e1",
            "event_type": "signup",
            "event_time": "2023-11-14T22:13:20Z",
            "status": "failed",
        },
        {
            "pipeline": "shop",
            "hop": "web",
            "event_id": "e2",
            "event_type": "signup",
            "event_time": T,
            "status": "rejected",
            "reason": "consent_denied",
        },
    ]
    assert (stats.sent, stats.dropped) == (3, 0)


def test_a_hop_span_without_an_event_time_is_counted_not_raised(fake: FakeHopwatch) -> None:
    tracer, provider, reporter = traced(fake.url)
    with tracer.start_as_current_span("handle") as span:
        span.set_attributes({hop.EVENT_ID: "e1", hop.EVENT_TYPE: "signup"})
    assert provider.force_flush()
    stats = reporter.stats()
    provider.shutdown()
    reporter.close()
    assert (stats.dropped_invalid, stats.sent) == (1, 0)
    assert not fake.arrivals.items


def test_a_service_can_name_the_attributes_its_own_way(fake: FakeHopwatch) -> None:
    names = HopAttributeNames(event_id="app.event.id", event_type="app.event.type")
    tracer, provider, reporter = traced(fake.url, names)
    with tracer.start_as_current_span("handle") as span:
        span.set_attributes({"app.event.id": "e9", "app.event.type": "order", hop.EVENT_TIME: T})
    assert provider.force_flush()
    provider.shutdown()
    reporter.close()
    assert [(i["event_id"], i["event_type"]) for i in fake.arrivals.items] == [("e9", "order")]


def test_spans_reach_the_real_hopwatch() -> None:
    port = free_port()
    with real_hopwatch(port) as (runtime, arrivals):
        tracer, provider, reporter = traced(f"http://127.0.0.1:{port}")
        for n in range(5):
            with tracer.start_as_current_span("handle") as span:
                span.set_attributes(
                    {
                        hop.EVENT_ID: f"e{n}",
                        hop.EVENT_TYPE: "signup",
                        hop.EVENT_TIME: time.time() - 1,
                    }
                )
        assert provider.force_flush(int(GENEROUS * 1000))
        provider.shutdown()
        reporter.close()
    assert dict(arrivals.ids) == {f"e{n}": 1 for n in range(5)}
    assert runtime.engine.view().hop_totals == {("shop", "web", "ok"): 5}
