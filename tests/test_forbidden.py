"""Forbidden flows (``expect: none``): restricted events that reach a hop they must not.

The issue's repro on the bundled pipeline: 50 signups pass every hop, 5 of them with consent
denied. ``identity->activation`` keeps reporting what it promises (45 expected, 45 arrived), and
the forbidden edge beside it counts the 5 that leaked, pages at once with their ids, and keeps
firing for its window after the last leak.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.alerting.alert import AlertState
from monitor.config import load_config
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.records import Observation

PACKAGED = Path(__file__).parents[1] / "monitor" / "examples" / "hopwatch.yaml"
T0 = 1_700_000_040.0  # a bucket boundary (60 s buckets)
FORBIDDEN = "identity-/->activation"


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(PACKAGED)


def _signups(n: int, denied: set[int], t0: float = T0) -> list[Observation]:
    out = []
    for i in range(n):
        consent = "denied" if i in denied else "granted"
        for k, hop in enumerate(("sdk", "ingest", "broker", "identity", "activation")):
            out.append(
                Observation(
                    pipeline="signup",
                    hop=hop,
                    event_type="user_signed_up",
                    event_time=t0 + i * 0.5,
                    observed_time=t0 + i * 0.5 + k * 0.2,
                    event_id=f"evt-{i:03d}",
                    attributes=(("consent", consent),),
                )
            )
    return out


def test_the_issue_repro_counts_and_pages_the_five_leaks(config: Config) -> None:
    engine = Engine(config)
    engine.observe(_signups(50, denied={3, 11, 20, 33, 47}))
    out = engine.tick(T0 + 30)  # the bucket is still open: the leaks page anyway
    fired = [a for a in out.alerts_changed if a.name == "HopwatchForbiddenFlow"]
    assert len(fired) == 1
    alert = fired[0]
    assert alert.state is AlertState.FIRING
    labels = dict(alert.labels)
    assert (labels["edge"], labels["from_hop"], labels["to_hop"]) == (
        FORBIDDEN,
        "identity",
        "activation",
    )
    assert alert.evidence["leaked"] == 5
    assert sorted(alert.evidence["leaked_event_ids"]) == [
        "evt-003",
        "evt-011",
        "evt-020",
        "evt-033",
        "evt-047",
    ]
    assert engine.view().ledgers["signup"].forbidden == {FORBIDDEN: 5}
    out = engine.tick(T0 + 60 + 300 + 1)  # the bucket closes
    by_edge = {r.edge: r for r in out.edge_results}
    allowed = by_edge["identity->activation"]
    assert (allowed.expected, allowed.arrived, allowed.missing) == (45, 45, 0)
    leaked = by_edge[FORBIDDEN]
    assert (leaked.expected, leaked.arrived, leaked.missing) == (5, 5, 0)
    # The forbidden edge's blocked events are not loss: no divergence alert on it.
    assert not [
        a
        for a in engine._book.alerts()
        if dict(a.labels).get("edge") == FORBIDDEN and a.name != "HopwatchForbiddenFlow"
    ]


def test_a_clean_stream_never_pages_and_blocked_events_are_not_loss(config: Config) -> None:
    engine = Engine(config)
    obs = [
        o
        for o in _signups(50, denied={1, 2, 3})
        if not (o.hop == "activation" and dict(o.attributes)["consent"] == "denied")
    ]
    engine.observe(obs)
    engine.tick(T0 + 30)
    out = engine.tick(T0 + 361)
    leaked = {r.edge: r for r in out.edge_results}[FORBIDDEN]
    assert (leaked.expected, leaked.arrived, leaked.missing) == (3, 0, 3)
    assert engine._book.alerts() == []
    assert engine.view().ledgers["signup"].forbidden == {FORBIDDEN: 0}


def test_a_leak_reported_downstream_first_is_still_caught(config: Config) -> None:
    engine = Engine(config)
    stream = _signups(4, denied={2})
    engine.observe([o for o in stream if o.hop == "activation"])
    engine.observe([o for o in stream if o.hop != "activation"])
    out = engine.tick(T0 + 10)
    (alert,) = [a for a in out.alerts_changed if a.name == "HopwatchForbiddenFlow"]
    assert alert.evidence["leaked_event_ids"] == ["evt-002"]


def test_a_late_leak_after_the_bucket_closed_still_pages(config: Config) -> None:
    engine = Engine(config)
    stream = _signups(4, denied={2})
    engine.observe([o for o in stream if o.hop != "activation"])
    assert engine.tick(T0 + 361).alerts_changed == ()  # closed: evt-002 was blocked ... so far
    engine.observe([o for o in stream if o.hop == "activation"])
    (alert,) = [
        a for a in engine.tick(T0 + 400).alerts_changed if a.name == "HopwatchForbiddenFlow"
    ]
    assert alert.evidence["leaked_event_ids"] == ["evt-002"]


def test_the_alert_keeps_firing_24h_after_the_last_leak_then_resolves(config: Config) -> None:
    engine = Engine(config)
    engine.observe(_signups(10, denied={4}))
    engine.tick(T0 + 10)
    for hour in range(1, 24):
        engine.tick(T0 + 10 + hour * 3600)
        assert [a.state for a in engine._book.alerts()] == [AlertState.FIRING]
    # 24h after the first clean tick (T0 + 10 + 3600) it resolves.
    engine.tick(T0 + 10 + 3600 + 86400 - 1)
    assert [a.state for a in engine._book.alerts()] == [AlertState.FIRING]
    changed = engine.tick(T0 + 10 + 3600 + 86400).alerts_changed
    assert [a.state for a in changed] == [AlertState.RESOLVED]


def test_leak_counts_survive_a_checkpoint(config: Config) -> None:
    engine = Engine(config)
    engine.observe(_signups(10, denied={4, 5}))
    engine.tick(T0 + 10)
    again = Engine(config)
    again.restore(engine.checkpoint())
    assert again.view().ledgers["signup"].forbidden == {FORBIDDEN: 2}
