"""Slack, PagerDuty and webhook payloads compared byte for byte with ``tests/golden/notify/``.

After an intended change, refresh them with ``HOPWATCH_UPDATE_GOLDEN=1`` and review the diff.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from monitor.alerting.alert import AlertState
from monitor.alerting.notification import Notification, Prior
from monitor.notify.pagerduty import resolve_event, trigger_event
from monitor.notify.slack_blocks import render_message
from monitor.notify.webhook import payload
from monitor.routing.model import PagerDutyConfig, Secret
from monitor.testing_fakes import sample_alert, sample_notification

GOLDEN = Path(__file__).parent / "golden" / "notify"
UPDATE_GOLDEN = os.environ.get("HOPWATCH_UPDATE_GOLDEN") == "1"
PD = PagerDutyConfig(routing_key=Secret(value="ROUTING-KEY"), client_url="http://hopwatch:9464")


def group(resolved: bool = False) -> Notification:
    """A 10% loss on the warehouse edge and a latency shift at identity, as the demo raises them."""
    loss = sample_alert(
        annotations={
            "summary": "10.0% of events lost between identity and warehouse",
            "description": "100 of 1000 expected events missing in the 1m bucket at 2023-11-14 22:12 UTC",
            "runbook_url": "https://runbooks.example/hopwatch/edge-data-loss",
            "dashboard_url": "https://grafana.example/d/hopwatch-edges",
        },
        evidence={
            "expected": 1000,
            "arrived": 900,
            "missing": 100,
            "p_value": 3.1e-12,
            "missing_ids": ["ev-01", "ev-02", "ev-03", "ev-04", "ev-05", "ev-06"],
        },
        check="divergence",
        edge="identity->warehouse",
        hop="warehouse",
    )
    slow = sample_alert(
        "HopwatchLatencyShift",
        annotations={"summary": "p95 latency at identity 18 s vs 2 s expected"},
        evidence={"observed_seconds": 18.0, "expected_seconds": 2.0},
        starts_at=1_700_000_120.0,
        check="latency",
        hop="identity",
    )
    if resolved:
        loss = replace(loss, state=AlertState.RESOLVED, ends_at=1_700_000_900.0)
        slow = replace(slow, state=AlertState.RESOLVED, ends_at=1_700_000_960.0)
    prior = Prior(sent_at=1_700_000_600.0, firing=(loss.fingerprint, slow.fingerprint))
    return sample_notification(
        loss, slow, group_by=("pipeline",), prior=prior if resolved else None
    )


CASES: dict[str, Callable[[], Any]] = {
    "slack_firing.json": lambda: render_message(group()).as_json(),
    "slack_resolved.json": lambda: render_message(group(resolved=True)).as_json(),
    "pagerduty_trigger.json": lambda: trigger_event(group(), PD, "ROUTING-KEY"),
    "pagerduty_resolve.json": lambda: resolve_event(group(resolved=True), "ROUTING-KEY"),
    "webhook_firing.json": lambda: payload(group()),
    "webhook_resolved.json": lambda: payload(group(resolved=True)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_payload_matches_its_golden_file(name: str) -> None:
    text = json.dumps(CASES[name](), indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    path = GOLDEN / name
    if UPDATE_GOLDEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; create it with HOPWATCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), (
        f"{name} changed; if that is intended, refresh it with HOPWATCH_UPDATE_GOLDEN=1 and "
        "review the diff"
    )
