"""``/metrics``: exact samples after a known bucket closes, and promtool finds nothing to lint.

The whole exposition of ``scenario()`` is also compared byte for byte with the golden file
``tests/golden/metrics.txt`` (build version pinned to ``GOLDEN_VERSION``). After an intended change
to the exposition, refresh it and review the diff::

    HOPWATCH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_metrics.py
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from monitor import names
from monitor.alerting.alert import Alert, AlertState, labels_of
from monitor.config.model import Config, Edge, Expectation, ExpectKind, Hop, Pipeline
from monitor.config.where import compile_where
from monitor.export.metrics import HopwatchCollector, hopwatch_version
from monitor.server.app import create_app
from monitor.sources.push import decode_observations
from monitor.testing import FakeClock, StaticRuntime

T0 = 1_700_000_040.0  # a bucket boundary (60 s buckets)
SHOP = Pipeline(
    name="shop",
    hops=(Hop("web"), Hop("sink")),
    edges=(
        Edge("web", "sink"),
        # A forbidden flow nothing crosses in the scenario: its leak counter is exported at 0.
        Edge(
            "web",
            "sink",
            compile_where('attributes.region == "us"'),
            Expectation(ExpectKind.NONE, 0.0, 0.0),
        ),
    ),
    attributes=frozenset({"region"}),
    allowed_lateness=60.0,
)
CONFIG = Config(pipelines=(SHOP,))


def fake_runtime() -> StaticRuntime:
    return StaticRuntime(CONFIG, FakeClock(T0 + 30))


def ingest(runtime: StaticRuntime, items: list[dict]) -> None:
    batch = decode_observations(
        msgspec.json.encode(items), content_type=None, config=CONFIG, now=runtime.clock.now()
    )
    runtime.engine.observe(batch.accepted)
    runtime.engine.record_ingest(
        "observations", len(batch.accepted), batch.rejected, batch.dropped_attributes
    )


def scenario() -> StaticRuntime:
    """4 orders leave ``web`` 1 s after creation; 3 reach ``sink`` 3 s after creation; 1 is lost."""
    runtime = fake_runtime()
    web = [
        {
            "pipeline": "shop",
            "hop": "web",
            "event_type": "order",
            "event_id": f"e{i}",
            "event_time": T0 + i,
            "observed_time": T0 + i + 1,
            "attributes": {"region": "eu", "email": "never@exported"},
        }
        for i in range(4)
    ]
    sink = [
        {**item, "hop": "sink", "observed_time": item["event_time"] + 3, "attributes": {}}
        for item in web[:3]
    ]
    bad = [{"pipeline": "shop", "hop": "cache", "event_type": "order", "event_time": T0}]
    ingest(runtime, [*web, *sink, *bad])
    runtime.clock.set(T0 + 121)  # bucket end + allowed lateness has passed
    runtime.engine.tick(runtime.clock.now())
    return runtime


def exposition(runtime: StaticRuntime, version: str | None = None) -> str:
    app = create_app(runtime, version=version)
    return generate_latest(app.state.registry).decode()


GOLDEN = Path(__file__).parent / "golden" / "metrics.txt"
GOLDEN_VERSION = "0.0.0-golden"
UPDATE_GOLDEN = os.environ.get("HOPWATCH_UPDATE_GOLDEN") == "1"


def test_the_whole_exposition_matches_the_golden_file() -> None:
    text = exposition(scenario(), version=GOLDEN_VERSION).encode()
    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(text)
    assert GOLDEN.exists(), f"{GOLDEN} is missing; create it with HOPWATCH_UPDATE_GOLDEN=1"
    assert text == GOLDEN.read_bytes(), (
        "the /metrics exposition changed; if that is intended, refresh the golden file with "
        "HOPWATCH_UPDATE_GOLDEN=1 and review the diff"
    )


# DDSketch (1% relative accuracy) represents 1 s as 0.99…, 2 s as 1.99…, 3 s as 2.97…
EXPECTED = f"""\
hopwatch_hop_events_total{{hop="web",pipeline="shop",status="ok"}} 4.0
hopwatch_hop_events_total{{hop="web",pipeline="shop",status="rejected"}} 0.0
hopwatch_hop_events_total{{hop="sink",pipeline="shop",status="ok"}} 3.0
hopwatch_hop_latency_seconds{{hop="web",pipeline="shop",quantile="0.5"}} 0.9900000000000001
hopwatch_hop_latency_seconds{{hop="web",pipeline="shop",quantile="0.99"}} 0.9900000000000001
hopwatch_hop_latency_seconds{{hop="sink",pipeline="shop",quantile="0.9"}} 2.974233423476717
hopwatch_edge_expected_events_total{{edge="web->sink",pipeline="shop"}} 4.0
hopwatch_edge_arrived_events_total{{edge="web->sink",pipeline="shop"}} 3.0
hopwatch_edge_missing_events_total{{edge="web->sink",pipeline="shop"}} 1.0
hopwatch_edge_late_events_total{{edge="web->sink",pipeline="shop"}} 0.0
hopwatch_edge_duplicate_events_total{{edge="web->sink",pipeline="shop"}} 0.0
hopwatch_edge_loss_ratio{{edge="web->sink",pipeline="shop"}} 0.25
hopwatch_edge_latency_seconds{{edge="web->sink",pipeline="shop",quantile="0.5"}} 1.993661701417351
hopwatch_edge_latency_seconds{{edge="web->sink",pipeline="shop",quantile="0.99"}} 1.993661701417351
hopwatch_ingest_items_total{{kind="observations",outcome="accepted"}} 7.0
hopwatch_ingest_items_total{{kind="observations",outcome="rejected"}} 1.0
hopwatch_ingest_items_total{{kind="counts",outcome="accepted"}} 0.0
hopwatch_ingest_rejected_items_total{{kind="observations",reason="unknown_hop"}} 1.0
hopwatch_ingest_rejected_items_total{{kind="observations",reason="too_old"}} 0.0
hopwatch_ingest_dropped_attributes_total{{pipeline="shop"}} 4.0
hopwatch_ledger_pending_ids{{pipeline="shop"}} 1.0
hopwatch_ledger_open_buckets{{pipeline="shop"}} 0.0
hopwatch_ledger_late_observations_total{{pipeline="shop"}} 0.0
hopwatch_ledger_overflow_observations_total{{pipeline="shop"}} 0.0
hopwatch_alerts{{state="firing"}} 0.0
hopwatch_build_info{{version="{hopwatch_version()}"}} 1.0
""".splitlines()


@pytest.mark.parametrize("line", EXPECTED, ids=[line.split(" ")[0] for line in EXPECTED])
def test_the_exposition_has_the_exact_sample(line: str) -> None:
    assert line in exposition(scenario()).splitlines()


def test_a_bucket_with_nothing_expected_has_no_loss_ratio_and_no_latency() -> None:
    runtime = fake_runtime()
    runtime.clock.set(T0 + 121)
    runtime.engine.tick(runtime.clock.now())
    text = exposition(runtime)

    assert 'hopwatch_edge_expected_events_total{edge="web->sink",pipeline="shop"} 0.0' in text
    assert "hopwatch_edge_loss_ratio{" not in text
    assert "hopwatch_edge_latency_seconds{" not in text
    assert "hopwatch_hop_latency_seconds{" not in text


def test_alerts_are_counted_by_state() -> None:
    runtime = fake_runtime()
    runtime.engine.load_alerts(
        [
            Alert(labels_of({"alertname": "EdgeLoss", "edge": "a"})),
            Alert(labels_of({"alertname": "EdgeLoss", "edge": "b"}), state=AlertState.RESOLVED),
        ]
    )
    lines = exposition(runtime).splitlines()
    assert 'hopwatch_alerts{state="firing"} 1.0' in lines
    assert 'hopwatch_alerts{state="resolved"} 1.0' in lines
    assert 'hopwatch_alerts{state="pending"} 0.0' in lines


def test_no_event_id_or_attribute_value_becomes_a_label() -> None:
    text = exposition(scenario())
    assert "e0" not in text
    assert "never@exported" not in text
    assert 'region="' not in text


def test_every_family_is_declared_in_names() -> None:
    families = {
        line.split(" ")[2]
        for line in exposition(scenario()).splitlines()
        if line.startswith("# TYPE")
    }
    assert families == {m.name for m in names.ALL}


def test_each_app_has_its_own_registry() -> None:
    first, second = create_app(fake_runtime()), create_app(fake_runtime())
    assert first.state.registry is not second.state.registry


def test_the_collector_can_be_put_on_any_registry() -> None:
    registry = CollectorRegistry()
    registry.register(HopwatchCollector(scenario()))
    assert b"hopwatch_edge_loss_ratio" in generate_latest(registry)


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package 'prometheus'); it lints the exposition",
)
def test_promtool_check_metrics_finds_nothing() -> None:
    text = exposition(scenario())
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
