"""The bundled ``privacy`` pipeline and SLOs: deletion propagation over days, consent enforcement.

A sink that stalls deletions for 8 days burns its 7-day deletion SLO and pages; the privacy SLO
group's exported rules match their golden file and pass ``promtool check rules`` and ``promtool
test rules``; long lateness costs memory per pending request, not per bucket width.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import msgspec
import pytest
import yaml

from monitor.config import load_config
from monitor.engine import Engine
from monitor.ledger.ledger import PipelineLedger
from monitor.records import Observation
from monitor.slo.load import load_slos
from monitor.slo.model import BlockedIndicator
from monitor.slo.rules import prometheus_rules, rules_filename, write_rules

ROOT = Path(__file__).parents[1]
GOLDEN = Path(__file__).parent / "golden" / "rules"
UPDATE_GOLDEN = os.environ.get("HOPWATCH_UPDATE_GOLDEN") == "1"
PROMTOOL = shutil.which("promtool")
DAY, H = 86400.0, 3600.0
T0 = 1_704_067_200.0  # 2024-01-01T00:00:00Z


@pytest.fixture(scope="module")
def setup():  # type: ignore[no-untyped-def]
    config = load_config(ROOT / "hopwatch.yaml")
    groups = load_slos(config)
    privacy = next(g for g in groups if g.service == "privacy")
    return config, privacy


def _request(i: int, hop: str, at: float, created: float) -> Observation:
    return Observation(
        pipeline="privacy",
        hop=hop,
        event_type="deletion_requested",
        event_time=created,
        observed_time=at,
        event_id=f"del-{i:05d}",
        attributes=(("request_type", "deletion"),),
    )


def test_a_sink_that_stalls_deletions_for_8_days_burns_the_slo_and_pages(setup) -> None:  # type: ignore[no-untyped-def]
    config, privacy = setup
    deletion = [s for s in privacy.slos if s.name.startswith("deletion-")]
    engine = Engine(config, slos=deletion)
    stall_start, stall_end = T0 + 2 * DAY, T0 + 10 * DAY
    pages: list[tuple[float, str]] = []
    i = 0
    t = T0
    held: list[Observation] = []  # warehouse confirmations held back by the stall
    while t < T0 + 12 * DAY:
        batch: list[Observation] = []
        for k in range(4):  # 4 requests an hour; crm and ads complete within hours
            created = t + k * 900
            batch.append(_request(i, "portal", created, created))
            batch.append(_request(i, "crm", created + 2 * H, created))
            batch.append(_request(i, "ads", created + 6 * H, created))
            done = created + 1 * DAY
            confirm = _request(i, "warehouse", done, created)
            if stall_start <= done < stall_end:
                held.append(msgspec.structs.replace(confirm, observed_time=stall_end))
            else:
                batch.append(confirm)
            i += 1
        due = [o for o in held if o.observed_time <= t + H]
        held = [o for o in held if o.observed_time > t + H]
        engine.observe(batch + due)  # sinks' sightings carry their own observed times
        t += H
        for alert in engine.tick(t).alerts_changed:
            labels = dict(alert.labels)
            if (
                alert.state.value == "firing"
                and labels.get("severity") == "page"
                and "slo" in labels
            ):
                pages.append((t, dict(alert.labels)["slo"]))
    slos = {p[1] for p in pages}
    assert slos == {"deletion-warehouse"}
    first = min(t for t, _ in pages)
    # Requests created from day 1 on would complete in the stall; the first reaches its 7-day
    # deadline at day 8, and the 1h page fires within the hour.
    assert T0 + 8 * DAY <= first <= T0 + 8 * DAY + 2 * H
    status = {s.slo: s for s in engine._slos.evaluate(t)}
    assert (status["deletion-warehouse"].budget_remaining or 0.0) < 0
    assert status["deletion-crm"].budget_remaining == 1.0


def test_pending_deletion_requests_cost_about_150_bytes_each() -> None:
    """8 days of lateness with 1h buckets: what is held is one entry per pending request."""
    config = load_config(ROOT / "hopwatch.yaml")
    pipeline = config.pipeline("privacy")
    assert pipeline is not None
    ledger = PipelineLedger(pipeline)
    ledger.observe(_request(i, "portal", T0 + i, T0 + i) for i in range(10_000))
    ledger.close(T0 + 7 * DAY)
    assert ledger.pending_ids == 30_000  # one per request per sink edge, for 8 days
    assert ledger.open_buckets() == 3  # 2.8 hours of requests: 3 buckets, however long they stay
    state = len(ledger.to_bytes())
    assert state / ledger.pending_ids < 40  # bytes per pending id in a checkpoint


def test_the_privacy_rules_match_the_golden_file(setup) -> None:  # type: ignore[no-untyped-def]
    _, privacy = setup
    assert isinstance(privacy.slos[0].indicator, BlockedIndicator)
    # The header names the SLO file as the export from the repository root does, wherever the
    # checkout lies (an absolute path would make the golden file depend on it).
    privacy = dataclasses.replace(privacy, source="slo_definitions/privacy.yaml")
    text = prometheus_rules(privacy)
    golden = GOLDEN / rules_filename(privacy)
    if UPDATE_GOLDEN:
        golden.write_text(text, encoding="utf-8", newline="\n")
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is not installed")
def test_promtool_checks_and_tests_the_privacy_rules(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from tests.test_slo_rules import promtool_test, scenario_slo

    _, privacy = setup
    (path,) = write_rules([privacy], tmp_path)
    done = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # The blocked indicator's rules fire and resolve at the predicted steps, as every kind's do.
    blocked = dataclasses.replace(
        scenario_slo(), name="consent-enforcement", indicator=privacy.slos[0].indicator
    )
    test_file = tmp_path / "blocked.test.yml"
    test_file.write_text(yaml.safe_dump(promtool_test(blocked, tmp_path), sort_keys=False))
    done = subprocess.run(
        [PROMTOOL, "test", "rules", str(test_file)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
