"""Late is not lost: an `all` edge whose 0.5% late tail amends buckets after they were judged.

Seeded runs with exact alarm counts (the bench's ``late_tail_section`` is the long version)."""

from __future__ import annotations

import numpy as np

from monitor.anomaly.divergence_cusum import DivergenceDetector
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Target

BUCKET = 60.0
DAY = 1440
LATE = 0.005
AFTER = 15


def _check() -> CheckDef:
    return CheckDef("late", CheckKind.DIVERGENCE, Target("p", edge="a->b"))


def _run(
    det: DivergenceDetector,
    rate: float,
    minutes: int,
    seed: int,
    *,
    amend: bool = True,
    loss_from: int | None = None,
    loss: float = 0.0,
) -> tuple[int, int | None]:
    """Onsets over ``minutes`` buckets, and the first alarm bucket."""
    rng = np.random.default_rng(seed)
    pending: dict[int, int] = {}
    onsets, first = 0, None
    for i in range(minutes):
        n = int(rng.poisson(rate))
        q = 1.0 - loss if loss_from is not None and i >= loss_from else 1.0
        delivered = int(rng.binomial(n, q))
        late = int(rng.binomial(delivered, LATE))
        score = det.update(i * BUCKET, (n, delivered - late))
        onsets += bool(score.evidence.get("onset"))
        if score.alert and first is None:
            first = i
        pending[i + AFTER] = late
        back = pending.pop(i, 0)
        if amend and back:
            det.amend((i - AFTER) * BUCKET, back)
    return onsets, first


def test_a_late_tail_without_amendments_reads_as_loss():
    det = DivergenceDetector(_check(), BUCKET, expected_ratio=1.0)
    onsets, _ = _run(det, 100.0, 11 * DAY, seed=1, amend=False)
    assert onsets == 184  # over 10 judged days: what the engine did before it passed amendments


def test_a_learned_late_tail_is_not_loss_at_100_and_10_per_minute():
    """30 judged days each: within the budget of 1 false alarm per 30 days."""
    for rate, seed, alarms in ((100.0, 1, 0), (10.0, 2, 1), (10.0, 3, 0)):
        det = DivergenceDetector(_check(), BUCKET, expected_ratio=1.0)
        onsets, _ = _run(det, rate, 31 * DAY, seed=seed)
        assert det.baseline is not None
        assert 0.005 < det.baseline.late_discount < 0.006
        assert onsets == alarms, rate


def test_a_real_loss_on_a_late_tail_edge_is_still_found():
    det = DivergenceDetector(_check(), BUCKET, expected_ratio=1.0)
    change = DAY + 300
    _, first = _run(det, 100.0, change + 60, seed=3, loss_from=change, loss=0.1)
    assert first is not None and change <= first <= change + 3


def test_an_alarm_whose_shortfall_arrives_late_resolves_as_late_not_lost():
    det = DivergenceDetector(_check(), BUCKET, expected_ratio=1.0)
    _run(det, 100.0, DAY, seed=4)
    at = DAY * BUCKET
    fired = det.update(at, (100, 80))  # 20 missing in one bucket: the one-bucket test fires
    assert fired.alert and fired.evidence["trigger"] == "one_bucket"
    assert det.amend(at - 3600.0, 5) is None  # a bucket before the run: nothing to credit
    assert det.amend(at, 1) is None  # one came: still short
    # Each late event moves the 50% CUSUM that fired by a − b ≈ −5 nats: 10 of 20 drain it.
    resolved = det.amend(at, 10)
    assert resolved is not None and resolved.state is CheckState.OK
    assert resolved.evidence["late_not_lost"] is True
    assert resolved.evidence["late_since_onset"] == 11
    assert not det.update(at + BUCKET, (100, 100)).alert


def test_the_late_tail_survives_a_checkpoint():
    det = DivergenceDetector(_check(), BUCKET, expected_ratio=1.0)
    _run(det, 10.0, DAY + 10, seed=5)
    again = DivergenceDetector(_check(), BUCKET, expected_ratio=1.0)
    again.restore(det.state())
    assert again.state() == det.state()
