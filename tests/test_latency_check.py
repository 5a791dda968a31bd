"""The latency check: a shift found at a known bucket, and attribution of a delay to its hop."""

from __future__ import annotations

from monitor.anomaly.latency import LatencyDetector, attribute
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Target
from monitor.ledger.sketch import LatencySketch

CHECK = CheckDef(
    name="identity-latency",
    kind=CheckKind.LATENCY,
    target=Target("signup", hop="identity"),
    warmup=20 * 60.0,
    min_events=10,
    params={"quantile": 0.5},
)


def sketch(values: list[float]) -> LatencySketch:
    s = LatencySketch()
    for v in values:
        s.add(v)
    return s


def test_a_latency_shift_is_found_at_the_bucket_it_starts():
    detector = LatencyDetector(CHECK, 60.0)
    states = []
    for minute in range(40):
        base = 2.0 + 0.1 * (minute % 5)  # 2.0 … 2.4 s, a little wobble
        values = [base + (20.0 if minute >= 30 else 0.0)] * 20
        states.append(detector.update(minute * 60.0, sketch(values)).state)
    assert states[:20] == [CheckState.LEARNING] * 20
    # Every event of a bucket 0.1-0.4 s above the usual median is above it (a warning at most):
    # less than min_shift_seconds (1 s), so no alarm.
    assert [s is CheckState.FIRING for s in states[20:30]] == [False] * 10
    assert states[30:] == [CheckState.FIRING] * 10


def test_too_few_events_in_a_bucket_is_not_judged():
    detector = LatencyDetector(CHECK, 60.0)
    score = detector.update(0.0, sketch([1.0] * 3))
    assert score.state is CheckState.LEARNING and not score.alert


def test_the_delay_is_attributed_to_the_hop_that_adds_it():
    path = ["sdk", "ingest", "broker", "identity", "activation"]
    baseline = {"sdk": 0.0, "ingest": 0.1, "broker": 0.2, "identity": 0.6, "activation": 1.5}
    current = {"sdk": 0.0, "ingest": 0.1, "broker": 0.2, "identity": 15.6, "activation": 19.5}
    result = attribute(path, baseline, current)
    assert result.total_seconds == 18.0
    assert dict(result.by_hop)["identity"] == 15.0
    assert result.summary() == "of the 18 s, 15 s are at identity"
