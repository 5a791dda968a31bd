"""SLI outcomes from streams whose every event's fate is known: exact counts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from monitor.config import compile_where, load_config
from monitor.records import Observation
from monitor.sim import DEFAULT_HOPS, HopModel, Latency, Loss, Scenario, Simulator
from monitor.slo.indicators import SLIRecorder
from monitor.slo.model import SLO, LatencyIndicator, RatioIndicator, SampledIndicator

ROOT = Path(__file__).resolve().parents[1]
START = 1_700_000_040.0
CONSENTED_SIGNUPS = compile_where(
    'event_type == "user_signed_up" and attributes.consent == "granted"'
)


class Tally:
    def __init__(self) -> None:
        self.good: Counter[str] = Counter()
        self.bad: Counter[str] = Counter()
        self.times: list[float] = []

    def __call__(self, name: str, at: float, good: int, bad: int) -> None:
        self.good[name] += good
        self.bad[name] += bad
        self.times.append(at)


def latency_slo(threshold: float = 60.0) -> SLO:
    ind = LatencyIndicator("signup", "sdk", "activation", threshold, CONSENTED_SIGNUPS)
    return SLO(name="signup-latency", service="signup", target=0.99, indicator=ind)


def obs(hop: str, eid: str, t: float, seen: float, **kw) -> Observation:
    return Observation("signup", hop, "user_signed_up", t, seen, event_id=eid, **kw)


def test_the_latency_sli_equals_the_true_fraction_on_a_simulated_stream():
    pipeline = load_config(ROOT / "hopwatch.yaml").pipeline("signup")
    assert pipeline is not None
    hops = {**DEFAULT_HOPS, "identity": HopModel(latency_median=20.0, latency_p95=90.0)}
    faults = (
        Loss(edge="identity->activation", share=0.2, start=300.0, duration=300.0),
        Latency(hop="identity", seconds=45.0, start=900.0, duration=300.0),
    )
    sim = Simulator(pipeline, Scenario(start=START, seed=3, hops=hops, faults=faults))
    tally, recorder = Tally(), SLIRecorder([latency_slo()])
    now = START
    for minute in range(40):  # the stream arrives as time passes; the recorder ticks along
        end = START + (minute + 1) * 60
        recorder.observe(sim.observations(now, end), tally)
        recorder.expire(end, tally)
        now = end
    recorder.expire(now + 3600, tally)

    at_sdk: dict[str, float] = {}
    at_activation: dict[str, float] = {}
    truth_sim = Simulator(pipeline, Scenario(start=START, seed=3, hops=hops, faults=faults))
    for o in truth_sim.observations(START, START + 40 * 60):
        if o.hop == "sdk" and CONSENTED_SIGNUPS(o):
            at_sdk[o.event_id] = o.event_time
        elif o.hop == "activation":
            at_activation.setdefault(o.event_id, o.observed_time)
    good = sum(1 for i, t in at_sdk.items() if at_activation.get(i, float("inf")) <= t + 60.0)
    assert good > 0 and len(at_sdk) - good > 0
    assert tally.good["signup-latency"] == good
    assert tally.bad["signup-latency"] == len(at_sdk) - good
    assert recorder.pending() == {"signup-latency": 0}


def test_an_event_is_bad_the_moment_its_threshold_passes_and_a_late_sighting_changes_nothing():
    tally, recorder = Tally(), SLIRecorder([latency_slo(threshold=60.0)])
    consented = (("consent", "granted"),)
    recorder.observe([obs("sdk", "e1", 100.0, 100.0, attributes=consented)], tally)
    recorder.expire(159.0, tally)
    assert (tally.good["signup-latency"], tally.bad["signup-latency"]) == (0, 0)
    assert recorder.pending() == {"signup-latency": 1}
    recorder.expire(160.0, tally)
    assert (tally.good["signup-latency"], tally.bad["signup-latency"]) == (0, 1)
    assert tally.times == [160.0]  # decided bad at the deadline, not when the tick noticed
    recorder.observe([obs("activation", "e1", 100.0, 170.0)], tally)
    assert (tally.good["signup-latency"], tally.bad["signup-latency"]) == (0, 1)
    assert recorder.evidence["signup-latency"].late == 1
    assert list(recorder.evidence["signup-latency"].bad_ids) == ["e1"]


def test_a_sighting_downstream_before_upstream_still_decides_on_event_time():
    tally, recorder = Tally(), SLIRecorder([latency_slo(threshold=60.0)])
    consented = (("consent", "granted"),)
    recorder.observe([obs("activation", "e1", 100.0, 130.0)], tally)
    recorder.observe([obs("sdk", "e1", 100.0, 100.0, attributes=consented)], tally)
    assert (tally.good["signup-latency"], tally.bad["signup-latency"]) == (1, 0)


def test_ratio_counts_each_attempt_when_it_arrives():
    ind = RatioIndicator("signup", "warehouse", good=compile_where('status == "ok"'))
    slo = SLO(name="delivery", service="signup", target=0.995, indicator=ind)
    tally, recorder = Tally(), SLIRecorder([slo])
    recorder.observe(
        [obs("warehouse", f"e{i}", 1.0, 2.0, status="ok" if i % 4 else "failed") for i in range(8)],
        tally,
    )
    assert (tally.good["delivery"], tally.bad["delivery"]) == (6, 2)


def test_sampled_labels_count_only_once_mature():
    ind = SampledIndicator(
        "signup",
        "identity",
        bad=compile_where('attributes.audit == "false_merge"'),
        where=compile_where('attributes.identity_action == "merged"'),
        maturity=3600.0,
    )
    slo = SLO(name="merges", service="signup", target=0.995, indicator=ind)
    tally, recorder = Tally(), SLIRecorder([slo])
    merged = (("identity_action", "merged"),)
    wrong = (("audit", "false_merge"), ("identity_action", "merged"))
    recorder.observe(
        [
            obs("identity", "m1", 0.0, 1.0, attributes=merged),
            obs("identity", "m2", 0.0, 1.0, attributes=wrong),
            obs("identity", "x", 0.0, 1.0, attributes=(("identity_action", "new"),)),
        ],
        tally,
    )
    recorder.expire(3599.0, tally)
    assert (tally.good["merges"], tally.bad["merges"]) == (0, 0)
    recorder.expire(3600.0, tally)
    assert (tally.good["merges"], tally.bad["merges"]) == (1, 1)


class Log:
    """Every outcome in order, by SLO name, with evidence compared separately."""

    def __init__(self) -> None:
        self.by_slo: dict[str, list[tuple[float, int, int]]] = {}

    def __call__(self, name: str, at: float, good: int, bad: int) -> None:
        self.by_slo.setdefault(name, []).append((at, good, bad))


def _simulated_minutes(recorder: SLIRecorder, sink: Log, seed: int) -> None:
    pipeline = load_config(ROOT / "hopwatch.yaml").pipeline("signup")
    assert pipeline is not None
    faults = (Loss(edge="identity->activation", share=0.3, start=120.0, duration=300.0),)
    sim = Simulator(pipeline, Scenario(start=START, seed=seed, faults=faults))
    now = START
    for minute in range(12):
        end = START + (minute + 1) * 60
        recorder.observe(sim.observations(now, end), sink)
        recorder.expire(end, sink)
        now = end
    recorder.expire(now + 3600, sink)


def test_64_renamed_copies_of_an_slo_each_decide_exactly_what_the_slo_alone_decides():
    """The shared id hash and memoised filters change no outcome: each copy's outcomes, in
    order, and its evidence equal those of the one SLO recorded alone."""
    import dataclasses

    one = latency_slo()
    one = dataclasses.replace(one, segment_by="region")
    alone, alone_log = SLIRecorder([one]), Log()
    _simulated_minutes(alone, alone_log, seed=5)
    expected = alone_log.by_slo[one.name]
    assert sum(g for _, g, _ in expected) > 0 and sum(b for _, _, b in expected) > 0

    copies = [dataclasses.replace(one, name=f"copy-{i:02d}") for i in range(64)]
    many, many_log = SLIRecorder(copies), Log()
    _simulated_minutes(many, many_log, seed=5)
    ref = alone.evidence[one.name]
    for copy in copies:
        assert many_log.by_slo[copy.name] == expected
        ev = many.evidence[copy.name]
        assert (ev.bad_by_segment, list(ev.bad_ids)) == (ref.bad_by_segment, list(ref.bad_ids))
        assert (ev.late, ev.untracked) == (ref.late, ref.untracked)
    assert set(many.pending().values()) == {0}


def test_a_filter_on_the_event_id_is_not_memoised_by_shape():
    """Two observations of one shape but different ids: a filter reading ``event_id`` decides
    each on its own, next to a memoised filter on the same hop."""
    by_id = LatencyIndicator("signup", "sdk", "activation", 60.0, compile_where('event_id == "e1"'))
    slos = [
        SLO(name="by-id", service="signup", target=0.99, indicator=by_id),
        latency_slo(),
    ]
    tally, recorder = Tally(), SLIRecorder(slos)
    consented = (("consent", "granted"),)
    recorder.observe(
        [
            obs("sdk", "e1", 100.0, 100.0, attributes=consented),
            obs("sdk", "e2", 100.0, 100.0, attributes=consented),
        ],
        tally,
    )
    assert recorder.pending() == {"by-id": 1, "signup-latency": 2}
    recorder.observe([obs("sdk", "e3", 100.0, 100.0)], tally)  # no consent: a new shape
    assert recorder.pending() == {"by-id": 1, "signup-latency": 2}
