"""Checks run by the engine on what the ledger closes: one detector per (check, series)."""

from __future__ import annotations

from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.engine import Engine
from monitor.records import Observation

PIPELINE = Pipeline(
    name="p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),), attributes=frozenset({"region"})
)
CONFIG = Config(pipelines=(PIPELINE,))
DIVERGENCE = CheckDef(
    name="a-to-b-loss",
    kind=CheckKind.DIVERGENCE,
    target=Target("p", edge="a->b"),
    warmup=10 * 60.0,
)


def minute(engine: Engine, m: int, sent: int, arrived: int) -> list:
    t = m * 60.0 + 1.0
    ids = [f"m{m}-{i}" for i in range(sent)]
    engine.observe([Observation("p", "a", "x", t, t, event_id=i) for i in ids])
    engine.observe([Observation("p", "b", "x", t, t + 1, event_id=i) for i in ids[:arrived]])
    return list(engine.tick(m * 60.0 + 60.0 + 300.0).alerts_changed)


def test_a_configured_divergence_check_replaces_the_first_version_on_its_edge():
    engine = Engine(CONFIG, checks=[DIVERGENCE])
    changed = []
    for m in range(30):
        changed += minute(engine, m, 100, 100 if m < 20 else 70)
    firing = [a for a in changed if a.state == "firing"]
    assert firing, "30% loss must fire"
    labels = dict(firing[0].labels)
    assert labels["alertname"] == "HopwatchEdgeDataLoss"
    assert labels["check_name"] == "a-to-b-loss"  # the new detector, not the first version
    assert firing[0].evidence["bucket_start"] == 20 * 60.0
    assert len(firing[0].evidence["missing_ids"]) == 20
    states = {(c.name, s): score.state for c, s, score in engine._checks.states()}
    assert states[("a-to-b-loss", "")] == "firing"


def test_checks_are_learning_until_their_warm_up_is_over():
    engine = Engine(CONFIG, checks=[DIVERGENCE])
    for m in range(5):
        minute(engine, m, 100, 100)
    [(_, _, score)] = engine._checks.states()
    assert score.state == "learning"


def test_check_states_and_scores_are_exported_and_promtool_clean():
    import shutil
    import subprocess

    from prometheus_client import CollectorRegistry, generate_latest

    from monitor.export.metrics import HopwatchCollector
    from monitor.testing import StaticRuntime

    runtime = StaticRuntime(CONFIG)
    runtime.engine = Engine(CONFIG, checks=[DIVERGENCE])
    for m in range(30):
        minute(runtime.engine, m, 100, 100 if m < 20 else 70)
    registry = CollectorRegistry()
    registry.register(HopwatchCollector(runtime))
    text = generate_latest(registry).decode()
    labels = 'check="a-to-b-loss",kind="divergence",segment=""'
    assert f'hopwatch_check_state{{{labels},state="firing"}} 1.0' in text
    assert f'hopwatch_check_state{{{labels},state="ok"}} 0.0' in text
    assert f"hopwatch_check_score{{{labels}}} 1.0" in text
    promtool = shutil.which("promtool")
    if promtool:
        out = subprocess.run(
            [promtool, "check", "metrics"], input=text, capture_output=True, text=True
        )
        assert out.stdout + out.stderr == ""


def test_every_edge_is_watched_by_the_default_divergence_check_without_configuration():
    engine = Engine(CONFIG)
    changed = []
    for m in range(12):
        changed += minute(engine, m, 100, 100 if m < 10 else 60)
    firing = [a for a in changed if a.state == "firing"]
    labels = dict(firing[0].labels)
    assert labels["check_name"] == "divergence:a->b"
    assert (labels["from_hop"], labels["to_hop"]) == ("a", "b")
    assert firing[0].evidence["bucket_start"] == 10 * 60.0
    summary = dict(firing[0].annotations)["summary"]
    assert "40 of 100 expected events missing (40.0%) in the 1m bucket at 1970-01-01 00:10 UTC" in (
        summary
    )


class _Broken:
    def update(self, at: float, point: object) -> object:
        raise ValueError("cannot size a threshold")


def test_a_failing_detector_is_counted_and_the_other_series_go_on():
    from monitor.anomaly.factory import detector_for
    from monitor.anomaly.runner import CheckRunner
    from monitor.ledger.records import EdgeResult

    other = CheckDef(name="other", kind=CheckKind.DIVERGENCE, target=Target("p", edge="a->b"))

    def factory(check: CheckDef, bucket_seconds: float, config: Config):
        if check.name == "a-to-b-loss":
            return _Broken()
        return detector_for(check, bucket_seconds, config)

    runner = CheckRunner([DIVERGENCE, other], CONFIG, factory)
    result = EdgeResult("p", "a->b", "a", "b", 0.0, 60.0, 100, 90, 10, closed_at=400.0)
    verdicts = runner.feed([], [result, result], 400.0)
    assert [dict(v.labels)["check_name"] for v in verdicts] == ["other", "other"]
    assert runner.errors == {("a-to-b-loss", "ValueError"): 2}
    assert runner.last_error == "a-to-b-loss (all): cannot size a threshold"


def _loss_run(engine: Engine, minutes: range) -> list:
    changed = []
    for m in minutes:
        changed += minute(engine, m, 100, 100 if m < 20 else 70)
    return changed


def test_detector_state_survives_a_checkpoint():
    first = Engine(CONFIG, checks=[DIVERGENCE])
    _loss_run(first, range(21))
    states = {(c.name, s): score.state for c, s, score in first._checks.states()}
    assert states[("a-to-b-loss", "")] == "firing"
    second = Engine(CONFIG, checks=[DIVERGENCE])
    second.restore(first.checkpoint())
    _loss_run(second, range(21, 23))
    [(_, _, score)] = [x for x in second._checks.states() if x[0].name == "a-to-b-loss"]
    assert score.state == "firing"  # not learning again, and the incident is still on
    assert score.evidence["baseline_period"] == (0.0, 10 * 60.0)  # learned before the restart


def test_a_changed_check_starts_learning_after_a_restart():
    import dataclasses

    first = Engine(CONFIG, checks=[DIVERGENCE])
    _loss_run(first, range(21))
    changed = dataclasses.replace(DIVERGENCE, false_alarms_per_30d=0.5)
    second = Engine(CONFIG, checks=[changed])
    second.restore(first.checkpoint())
    _loss_run(second, range(21, 23))
    [(_, _, score)] = [x for x in second._checks.states() if x[0].name == "a-to-b-loss"]
    assert score.state == "learning"


def test_an_unreadable_checks_checkpoint_means_learning_again_not_a_crash():
    engine = Engine(CONFIG, checks=[DIVERGENCE])
    assert engine._checks.restore(b"not a pickle") == 0
    assert "every check re-learns" in (engine._checks.last_error or "")


class _Recorder:
    def __init__(self, log: list, name: str) -> None:
        self.log, self.name = log, name

    def update(self, at: float, point: object):
        from monitor.anomaly.model import CheckState, Score

        self.log.append((self.name, at, point))
        return Score(at, 0.0, CheckState.OK)


def test_volume_series_include_silent_segments_and_roll_up_small_ones():
    from monitor.anomaly.runner import CheckRunner
    from monitor.anomaly.segments import ROLLUP

    volume = CheckDef(
        name="vol",
        kind=CheckKind.VOLUME,
        target=Target("p", hop="a", segment_by="region"),
        params={"rollup_below": 5.0},
    )
    log: list = []
    runner = CheckRunner([volume], CONFIG, lambda c, b, cfg: _Recorder(log, "?"))
    engine = Engine(CONFIG)
    engine._checks = runner
    counts = [{"eu": 50, "us": 60, "mt": 2, "lu": 1}, {"us": 60, "mt": 1}]
    for m, by_region in enumerate(counts):
        t = m * 60.0 + 1.0
        engine.observe(
            [
                Observation(
                    "p", "a", "x", t, t, event_id=f"{m}-{r}-{i}", attributes=(("region", r),)
                )
                for r, n in by_region.items()
                for i in range(n)
            ]
        )
        engine.tick(m * 60.0 + 360.0)
    assert {series for (_, series), _ in runner._series.items()} == {"eu", "us", ROLLUP}
    # eu stopped sending: fed 0; mt and lu are small: judged together as one series
    assert [(at, point) for _, at, point in log] == [
        (0.0, 50),
        (0.0, 60),
        (0.0, 3),
        (60.0, 0),
        (60.0, 60),
        (60.0, 1),
    ]
