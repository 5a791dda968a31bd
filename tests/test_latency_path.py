"""Latency attribution in alerts: which hop an end-to-end delay comes from, on a constructed path."""

from __future__ import annotations

import pytest

from monitor.anomaly.latency_path import path_to
from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.engine import Engine
from monitor.records import Observation

PIPELINE = Pipeline(
    name="p",
    hops=(Hop("a"), Hop("b"), Hop("c"), Hop("d")),
    edges=(Edge("a", "b"), Edge("b", "c"), Edge("a", "d")),
)
CONFIG = Config(pipelines=(PIPELINE,))
LATENCY = CheckDef(
    name="c-latency",
    kind=CheckKind.LATENCY,
    target=Target("p", hop="c"),
    warmup=10 * 60.0,
    params={"quantile": 0.5, "attribution": True, "min_shift_seconds": 1.0},
)


def test_the_path_runs_from_the_source_to_the_hop():
    assert path_to(PIPELINE, "c") == ("a", "b", "c")
    assert path_to(PIPELINE, "d") == ("a", "d")
    assert path_to(PIPELINE, "a") == ("a",)


def minute(engine: Engine, m: int, delay_at_b: float) -> list:
    out = []
    for i in range(40):
        t = m * 60.0 + 1.0 + i
        for hop, cumulative in (("a", 1.0), ("b", 2.0 + delay_at_b), ("c", 3.0 + delay_at_b)):
            out.append(Observation("p", hop, "x", t, t + cumulative, event_id=f"m{m}-{i}"))
    engine.observe(out)
    return list(engine.tick(m * 60.0 + 60.0 + 300.0).alerts_changed)


def test_a_latency_alert_names_the_hop_the_delay_comes_from():
    engine = Engine(CONFIG, checks=[LATENCY])
    changed = []
    for m in range(15):
        changed += minute(engine, m, 0.0 if m < 12 else 15.0)
    firing = [a for a in changed if a.state == "firing" and a.name == "HopwatchLatencyShift"]
    assert firing, "a 15 s delay at b must fire the latency check at c"
    summary = dict(firing[0].annotations)["summary"]
    assert "p50 18 s vs 2.97 s expected" in summary  # the sketch's 1% relative accuracy
    assert summary.endswith("of the 15 s, 15 s are at b")
    attribution = dict(firing[0].evidence["attribution"])
    assert attribution["b"] == pytest.approx(15.0, rel=0.02)
    assert attribution["a"] == 0.0
    assert abs(attribution["c"]) <= 0.3
