"""``hopwatch slo status|explain`` and ``hopwatch export prometheus-rules``, end to end.

``status_table`` is fed what the real app answers on ``GET /api/v1/slos`` (served by uvicorn in a
thread, engine driven by an explicit clock); ``explain_command`` and ``export_rules_command`` run
against the repository's own ``hopwatch.yaml`` and its ``slo_definitions/``.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.config import compile_where
from monitor.config.model import Config, Hop, Pipeline
from monitor.engine import Engine
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.slo.model import SLO, LatencyIndicator, RatioIndicator, workbook_tiers
from monitor.slo_cli import explain_command, export_rules_command, status_table
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PATH = ROOT / "hopwatch.yaml"
T0 = 1_700_000_040.0  # a minute boundary
M = 60.0
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")

OK = compile_where('status == "ok"')
SIGNUP = Pipeline(
    name="signup",
    hops=(Hop("sdk"), Hop("activation"), Hop("crm"), Hop("warehouse")),
    allowed_lateness=60.0,
)
CONFIG = Config(pipelines=(SIGNUP,))
SLOS = (
    SLO(
        name="activation-latency",
        service="signup",
        target=0.8,
        indicator=LatencyIndicator("signup", "sdk", "activation", 60.0),
        tiers=workbook_tiers(),
    ),
    SLO(
        name="warehouse-delivery",
        service="warehouse",
        target=0.99,
        indicator=RatioIndicator("signup", "warehouse", good=OK),
        tiers=workbook_tiers(),
    ),
    SLO(  # every tier must hold for 10 minutes before it fires
        name="crm-delivery",
        service="crm",
        target=0.999,
        indicator=RatioIndicator("signup", "crm", good=OK),
        tiers=tuple(replace(t, for_=10 * M) for t in workbook_tiers()),
    ),
    SLO(  # no event matches: no SLI, no budget, no burn
        name="upgrade-latency",
        service="crm",
        target=0.99,
        indicator=LatencyIndicator(
            "signup", "sdk", "crm", 60.0, compile_where('event_type == "plan_upgraded"')
        ),
        tiers=workbook_tiers(),
    ),
)


def obs(hop: str, i: int, event_time: float, seen: float, **kw: object) -> Observation:
    return Observation("signup", hop, "user_signed_up", event_time, seen, event_id=f"e{i}", **kw)


@pytest.fixture
def served() -> Iterator[tuple[StaticRuntime, str]]:
    runtime = StaticRuntime(CONFIG, FakeClock(T0))
    runtime.engine = Engine(CONFIG, slos=SLOS)
    with serve_in_thread(create_app(runtime)) as url:
        yield runtime, url


def get_slos(url: str) -> list[dict[str, Any]]:
    response = httpx.get(url + "/api/v1/slos", timeout=10)
    response.raise_for_status()
    return response.json()


# --- status -------------------------------------------------------------------------------------


def test_status_before_the_first_evaluation_says_no_data(served: tuple[StaticRuntime, str]) -> None:
    _, url = served
    assert status_table(get_slos(url)) == (
        "SLO                 OBJECTIVE  SLI  BUDGET LEFT  BURN 1h  BURN 6h  BURN 3d  STATE\n"
        "activation-latency  80%        -    -            -        -        -        no data\n"
        "warehouse-delivery  99%        -    -            -        -        -        no data\n"
        "crm-delivery        99.9%      -    -            -        -        -        no data\n"
        "upgrade-latency     99%        -    -            -        -        -        no data"
    )


def test_status_after_a_tick(served: tuple[StaticRuntime, str]) -> None:
    runtime, url = served
    engine = runtime.engine
    # 1 of 10 signups misses activation (10% bad on a 20% budget); 2 of 8 warehouse deliveries
    # fail (25× burn on 99%); 1 of 4 CRM deliveries fails, but its tiers must hold for 10 minutes.
    # Nothing is decided in the last 5 minutes, so no page-1h tier (short window 5m) is burning.
    engine.observe([obs("sdk", i, T0 + i, T0 + i) for i in range(10)])
    engine.observe([obs("activation", i, T0 + i, T0 + i + 5) for i in range(9)])
    engine.observe(
        [
            obs("warehouse", i, T0 + i, T0 + 100, status="ok" if i % 4 else "failed")
            for i in range(8)
        ]
    )
    engine.observe(
        [obs("crm", i, T0 + i, T0 + 100, status="failed" if i == 0 else "ok") for i in range(4)]
    )
    runtime.clock.set(T0 + 600)
    engine.tick(runtime.clock.now())

    assert status_table(get_slos(url)) == (
        "SLO                 OBJECTIVE  SLI  BUDGET LEFT  BURN 1h  BURN 6h  BURN 3d  STATE\n"
        "activation-latency  80%        90%  50%          0.50×    0.50×    0.50×    ok\n"
        "warehouse-delivery  99%        75%  -2.4e+03%    25.00×   25.00×   25.00×   "
        "firing page-6h,ticket-1d,ticket-3d\n"
        "crm-delivery        99.9%      75%  -2.49e+04%   250.00×  250.00×  250.00×  "
        "pending page-6h,ticket-1d,ticket-3d\n"
        "upgrade-latency     99%        -    -            -        -        -        ok"
    )


# --- explain ------------------------------------------------------------------------------------


def test_explain_describes_the_slo_then_each_tier() -> None:
    out = io.StringIO()
    assert explain_command(str(CONFIG_PATH), "signup-activation-latency", out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0] == (
        "signup-activation-latency (signup): 99% over a rolling 28d window; the error budget is "
        '1% of events at sdk matching `event_type == "user_signed_up" and '
        'attributes.consent == "granted"`.'
    )
    assert [line.split(":")[0] for line in lines[1:5]] == [
        "  page-1h",
        "  page-6h",
        "  ticket-1d",
        "  ticket-3d",
    ]
    assert lines[1].startswith(
        "  page-1h: pages when more than 2.14% of the 28d budget is spent within an hour "
        "(14.4× the sustainable rate)"
    )


def test_explain_an_unknown_slo_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    out = io.StringIO()
    assert explain_command(str(CONFIG_PATH), "nope", out) == 1
    assert out.getvalue() == ""
    err = capsys.readouterr().err
    assert err.startswith("hopwatch slo explain: no SLO named 'nope' (known: ")
    assert "signup-activation-latency" in err


# --- export -------------------------------------------------------------------------------------


def test_export_writes_one_rules_file_per_slo_file(tmp_path: Path) -> None:
    out = io.StringIO()
    assert export_rules_command(str(CONFIG_PATH), tmp_path / "rules", out) == 0
    written = [Path(line) for line in out.getvalue().splitlines()]
    assert sorted(p.name for p in written) == [
        "openslo-example.rules.yml",
        "privacy.rules.yml",
        "signup.rules.yml",
    ]
    assert sorted(p.name for p in (tmp_path / "rules").iterdir()) == sorted(p.name for p in written)
    assert all(p.parent == tmp_path / "rules" for p in written)


@needs_promtool
def test_promtool_accepts_the_exported_rules(tmp_path: Path) -> None:
    assert export_rules_command(str(CONFIG_PATH), tmp_path, io.StringIO()) == 0
    files = sorted(tmp_path.glob("*.rules.yml"))
    assert len(files) == 3
    result = subprocess.run(
        [str(PROMTOOL), "check", "rules", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAILED" not in result.stdout + result.stderr
