"""The status page in a real browser: headless Chromium loads ``/`` during a simulated loss.

A daemon on a fake clock is fed the simulator's observations with 10 % loss on one edge (as in
``test_e2e.py``), served on loopback; Chromium (Debian ``chromium``, flags from
``ENVIRONMENT.md`` so it never reaches the internet) dumps the DOM after its script has run and
polled once, and takes a screenshot kept in the test's tmp dir. The faulty edge must be marked,
its alert shown, the script must have started, and the browser's log must hold no console error
(the scan is shown to catch one on a page with a broken script).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from monitor.sim import Loss, Scenario, Simulator
from monitor.testing import FakeClock
from tests.test_e2e import EDGE, HOPS, START, events_before, example_config, post, running

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
    "--window-size=1400,1800",
)
CONSOLE_ERRORS = ("Uncaught", "CONSOLE(", ":ERROR:CONSOLE", "Failed to load resource")


def chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / "profile"
    profile.mkdir(exist_ok=True)
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_errors(stderr: str) -> list[str]:
    """Lines where the page logged an error: an uncaught exception or a console message."""
    return [line for line in stderr.splitlines() if any(m in line for m in CONSOLE_ERRORS)]


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium not installed (scripts/install.sh installs it)"
)


@needs_chromium
def test_the_console_scan_catches_a_broken_script(tmp_path: Path) -> None:
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><title>x</title><script>notDefinedAnywhere();</script>")
    run = chromium(tmp_path, "--virtual-time-budget=1000", "--dump-dom", page.as_uri())
    assert any("notDefinedAnywhere" in line for line in console_errors(run.stderr)), run.stderr


@needs_chromium
def test_status_page_in_chromium_marks_the_faulty_edge(tmp_path: Path) -> None:
    config = example_config(tmp_path)
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    scenario = Scenario(
        start=START, seed=5, hops=HOPS, faults=(Loss(edge=EDGE, share=0.10, start=0.0),)
    )
    sim = Simulator(pipeline, scenario)
    end = START + 4 * 60
    clock = FakeClock(end + 120)
    shot = tmp_path / "status-page.png"

    with running(config, clock) as (daemon, url):
        post(url, events_before(sim, end))
        clock.advance(400)
        daemon.tick()
        # 7 s of virtual time: the script starts and polls /api/v1/status once (every 5 s).
        dom = chromium(tmp_path, "--virtual-time-budget=7000", "--dump-dom", url + "/")
        snap = chromium(tmp_path, "--virtual-time-budget=2000", f"--screenshot={shot}", url + "/")

    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    edge = EDGE.replace(">", "&gt;")
    assert f'class="edge edge-loss" data-edge="{edge}" data-state="loss"' in html
    assert f'data-alert="HopwatchEdgeDataLoss" data-edge="{edge}" data-state="firing"' in html
    assert 'data-refresh="on"' in html  # the script ran to its end
    assert html.count('data-state="loss"') == 2  # the graph's edge and the table's row only
    assert console_errors(dom.stderr) == [], dom.stderr[-2000:]
    assert console_errors(snap.stderr) == [], snap.stderr[-2000:]
    assert snap.returncode == 0 and shot.stat().st_size > 10_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
