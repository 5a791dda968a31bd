"""The SLO families of ``/metrics``: exact samples after known outcomes, and promtool finds nothing.

The SLO part of the exposition of ``scenario()`` (every line of a ``hopwatch_slo_*`` family) is
compared byte for byte with ``tests/golden/slo_metrics.txt``. After an intended change, refresh it
and review the diff::

    HOPWATCH_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_slo_metrics.py
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client import generate_latest

from monitor.config import compile_where
from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.engine import Engine
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.slo import names
from monitor.slo.model import (
    SLO,
    LatencyIndicator,
    RatioIndicator,
    Severity,
    Tier,
    TimeWindow,
    workbook_tiers,
)
from monitor.testing import FakeClock, StaticRuntime

T0 = 1_700_000_040.0  # a minute boundary
H, M, D = 3600.0, 60.0, 86400.0
SIGNUP = Pipeline(
    name="signup",
    hops=(Hop("sdk"), Hop("activation"), Hop("warehouse")),
    edges=(Edge("sdk", "activation"), Edge("sdk", "warehouse")),
    allowed_lateness=60.0,
)
CONFIG = Config(pipelines=(SIGNUP,))

LATENCY = SLO(
    name="activation-latency",
    service="signup",
    target=0.75,  # a budget of 0.25, exact in binary, keeps the ratios readable
    indicator=LatencyIndicator("signup", "sdk", "activation", 60.0),
    tiers=(
        Tier("page-1h", Severity.PAGE, 14.4, 1 * H, 5 * M),
        Tier("ticket-6h", Severity.TICKET, 0.5, 6 * H, 1 * H),
    ),
)
DELIVERY = SLO(
    name="warehouse-delivery",
    service="warehouse",
    target=0.99,
    indicator=RatioIndicator("signup", "warehouse", good=compile_where('status == "ok"')),
    tiers=workbook_tiers(),
)

GOLDEN = Path(__file__).parent / "golden" / "slo_metrics.txt"
GOLDEN_VERSION = "0.0.0-golden"
UPDATE_GOLDEN = os.environ.get("HOPWATCH_UPDATE_GOLDEN") == "1"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package 'prometheus'); it lints the exposition",
)


def obs(hop: str, i: int, event_time: float, seen: float, **kw: object) -> Observation:
    return Observation("signup", hop, "user_signed_up", event_time, seen, event_id=f"e{i}", **kw)


def runtime(slos: tuple[SLO, ...] = (LATENCY, DELIVERY)) -> StaticRuntime:
    rt = StaticRuntime(CONFIG, FakeClock(T0))
    rt.engine = Engine(CONFIG, slos=slos)
    return rt


def scenario() -> StaticRuntime:
    """Ten signups at ``sdk`` (T0 … T0+9 s): eight reach ``activation`` 5 s later, two never do
    (bad 60 s after their event time). Eight deliveries reach ``warehouse`` at T0+200 s, two of
    them failed. One more signup at T0+590 s is still pending at the last tick, T0+600 s, when the
    5-minute window holds no decided event of either SLO."""
    rt = runtime()
    engine = rt.engine
    engine.observe([obs("sdk", i, T0 + i, T0 + i) for i in range(10)])
    engine.observe([obs("activation", i, T0 + i, T0 + i + 5) for i in range(8)])
    engine.tick(T0 + 120)
    engine.observe(
        [
            obs("warehouse", i, T0 + i, T0 + 200, status="ok" if i % 4 else "failed")
            for i in range(8)
        ]
    )
    engine.observe([obs("sdk", 99, T0 + 590, T0 + 590)])
    rt.clock.set(T0 + 600)
    engine.tick(rt.clock.now())
    return rt


def exposition(rt: StaticRuntime) -> str:
    app = create_app(rt, version=GOLDEN_VERSION)
    return generate_latest(app.state.registry).decode()


def _family_of(line: str) -> str:
    if line.startswith("#"):
        return line.split(" ")[2]
    return line.split("{")[0].split(" ")[0]


def slo_part(text: str) -> str:
    """Every line of a ``hopwatch_slo_*`` family, in exposition order."""
    lines = [line for line in text.splitlines() if _family_of(line).startswith("hopwatch_slo_")]
    return "".join(line + "\n" for line in lines)


def samples(text: str) -> dict[str, float]:
    """``name{labels}`` → value for every sample line."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def key(metric: names.Metric, **labels: str) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{metric.name}{{{inner}}}"


def latency(**labels: str) -> dict[str, str]:
    return {"slo": "activation-latency", "service": "signup", **labels}


def delivery(**labels: str) -> dict[str, str]:
    return {"slo": "warehouse-delivery", "service": "warehouse", **labels}


# --- golden file --------------------------------------------------------------------------------


def test_the_slo_part_of_the_exposition_matches_the_golden_file() -> None:
    text = slo_part(exposition(scenario())).encode()
    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(text)
    assert GOLDEN.exists(), f"{GOLDEN} is missing; create it with HOPWATCH_UPDATE_GOLDEN=1"
    assert text == GOLDEN.read_bytes(), (
        "the SLO part of the /metrics exposition changed; if that is intended, refresh the golden "
        "file with HOPWATCH_UPDATE_GOLDEN=1 and review the diff"
    )


# --- exact samples ------------------------------------------------------------------------------


def test_the_event_counters_are_the_ledger_totals() -> None:
    got = samples(exposition(scenario()))
    assert got[key(names.EVENTS, **latency(outcome="good"))] == 8.0
    assert got[key(names.EVENTS, **latency(outcome="bad"))] == 2.0
    assert got[key(names.EVENTS, **delivery(outcome="good"))] == 6.0
    assert got[key(names.EVENTS, **delivery(outcome="bad"))] == 2.0
    assert key(names.EVENTS, **latency(outcome="pending")) not in got  # counted once decided


def test_sli_events_and_burn_rate_per_window_and_over_the_period() -> None:
    got = samples(exposition(scenario()))
    assert got[key(names.OBJECTIVE, **latency())] == 0.75
    assert got[key(names.SLI, **latency(window="1h"))] == 0.8
    assert got[key(names.SLI, **latency(window="28d"))] == 0.8
    assert got[key(names.BURN_RATE, **latency(window="6h"))] == 0.8
    assert got[key(names.SLI, **delivery(window="30m"))] == 0.75
    assert got[key(names.WINDOW_EVENTS, **latency(window="1h", outcome="good"))] == 8.0
    assert got[key(names.WINDOW_EVENTS, **latency(window="1h", outcome="bad"))] == 2.0
    assert got[key(names.WINDOW_EVENTS, **latency(window="1h", outcome="pending"))] == 1.0
    # Windows are the SLO's own: its tiers' windows and its period, nothing from the other SLO.
    windows = {
        labels.split('window="')[1].split('"')[0]
        for labels in got
        if labels.startswith(names.WINDOW_EVENTS.name + "{")
        and 'slo="activation-latency"' in labels
    }
    assert windows == {"5m", "1h", "6h", "28d"}


def test_an_empty_window_has_counts_but_no_sli_and_no_burn_rate() -> None:
    got = samples(exposition(scenario()))
    assert got[key(names.WINDOW_EVENTS, **latency(window="5m", outcome="good"))] == 0.0
    assert got[key(names.WINDOW_EVENTS, **latency(window="5m", outcome="bad"))] == 0.0
    for labels in (latency(window="5m"), delivery(window="5m")):
        assert key(names.SLI, **labels) not in got
        assert key(names.BURN_RATE, **labels) not in got
    assert not any(math.isnan(v) for v in got.values())


def test_budget_alert_state_and_time_to_exhaustion() -> None:
    got = samples(exposition(scenario()))
    # 20% bad on a 25% budget: a fifth of it left, spent in a week at 0.8× over 28 days.
    assert got[key(names.BUDGET_REMAINING, **latency())] == pytest.approx(0.2)
    assert got[key(names.TIME_TO_EXHAUSTION, **latency())] == pytest.approx(7 * D)
    assert got[key(names.ALERT_STATE, **latency(tier="page-1h", severity="page"))] == 0.0
    assert got[key(names.ALERT_STATE, **latency(tier="ticket-6h", severity="ticket"))] == 1.0
    # 25% bad on a 1% budget: overspent 24 times over, nothing left to exhaust.
    assert got[key(names.BUDGET_REMAINING, **delivery())] == pytest.approx(-24.0)
    assert got[key(names.TIME_TO_EXHAUSTION, **delivery())] == 0.0
    assert got[key(names.ALERT_STATE, **delivery(tier="page-1h", severity="page"))] == 0.0
    assert got[key(names.ALERT_STATE, **delivery(tier="page-6h", severity="page"))] == 1.0


def test_counters_stay_when_the_windows_empty_out() -> None:
    rt = scenario()
    rt.engine.tick(T0 + 4 * D)  # past the longest alert window (3d), inside the 28d period
    got = samples(exposition(rt))
    assert got[key(names.EVENTS, **latency(outcome="good"))] == 8.0
    assert got[key(names.EVENTS, **delivery(outcome="bad"))] == 2.0
    for window in ("5m", "30m", "1h", "2h", "6h", "1d", "3d"):
        assert key(names.SLI, **delivery(window=window)) not in got
        assert got[key(names.WINDOW_EVENTS, **delivery(window=window, outcome="bad"))] == 0.0
    assert got[key(names.SLI, **delivery(window="28d"))] == 0.75
    # No burn over the exhaustion window (1h): the budget is not being spent.
    assert key(names.TIME_TO_EXHAUSTION, **latency()) not in got
    assert got[key(names.ALERT_STATE, **latency(tier="ticket-6h", severity="ticket"))] == 0.0


def test_before_the_first_tick_only_counters_and_objectives_have_samples() -> None:
    text = exposition(runtime())
    got = {k: v for k, v in samples(text).items() if k.startswith("hopwatch_slo_")}
    assert {k.split("{")[0] for k in got} == {names.EVENTS.name, names.OBJECTIVE.name}
    assert got[key(names.EVENTS, **latency(outcome="good"))] == 0.0
    assert got[key(names.OBJECTIVE, **delivery())] == 0.99


def test_every_slo_family_is_exported_with_its_declared_type() -> None:
    types = {
        line.split(" ")[2]: line.split(" ")[3]
        for line in exposition(scenario()).splitlines()
        if line.startswith("# TYPE hopwatch_slo_")
    }
    assert types == {m.name: m.kind for m in names.ALL}


def test_without_slos_there_is_no_slo_family() -> None:
    assert "hopwatch_slo_" not in exposition(runtime(slos=()))


def test_a_period_as_long_as_an_alert_window_is_exported_once() -> None:
    six_hours = SLO(
        name="six-hours",
        service="signup",
        target=0.75,
        indicator=LatencyIndicator("signup", "sdk", "activation", 60.0),
        window=TimeWindow(6 * H),
        tiers=(Tier("ticket-6h", Severity.TICKET, 0.5, 6 * H, 1 * H),),
    )
    rt = runtime(slos=(six_hours,))
    rt.engine.observe([obs("sdk", 1, T0, T0), obs("activation", 1, T0, T0 + 1)])
    rt.engine.tick(T0 + 120)
    lines = [line for line in exposition(rt).splitlines() if line.startswith(names.SLI.name)]
    assert [line.split('window="')[1].split('"')[0] for line in lines] == ["1h", "6h"]


def test_labels_are_bounded() -> None:
    text = exposition(scenario())
    assert 'event_id="' not in text
    assert "e99" not in text
    label_names = {
        pair.split("=")[0]
        for line in text.splitlines()
        if line.startswith("hopwatch_slo_")
        for pair in line.split("{")[1].split("}")[0].split(",")
    }
    assert label_names == {"slo", "service", "window", "outcome", "tier", "severity"}


# --- promtool -----------------------------------------------------------------------------------


@needs_promtool
@pytest.mark.parametrize("when", ["after_ticks", "before_the_first_tick"])
def test_promtool_check_metrics_finds_nothing(when: str) -> None:
    text = exposition(scenario() if when == "after_ticks" else runtime())
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=text.encode(),
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
