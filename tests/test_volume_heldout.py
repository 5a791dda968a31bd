"""The ``volume`` check on constructed held-out series (``monitor.replay.shapes``), its seasonal
gain (``volume_gain``) and its opt-in alarm-rate governor (``alarm_governor``).

Each long-run case states the alarms at the check's budget (1 per 30 days) and asserts the exact
count for one seed, plus the tolerance it is held to. The shapes were fixed before these numbers
were measured; ``bench/heldout.py`` runs them over more seeds.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import msgspec
import numpy as np
import pytest

from monitor.anomaly.alarm_governor import AlarmGovernor
from monitor.anomaly.volume_gain import SeasonalGain
from monitor.anomaly.volume_state import VolumeState
from monitor.replay.series import NAB_CHECK, nab_detector
from monitor.replay.shapes import BUCKET, SHAPES, START, shape

DAYS = 60
BUDGET = DAYS / 30  # alarms the budget allows over the run


def with_params(check, params):
    return replace(check, params={**check.params, **params})


def alarms(name: str, seed: int = 0, **params: object) -> tuple[list[float], tuple | None]:
    """Alert times (days from the start) of ``NAB_CHECK`` over one constructed series."""
    det = nab_detector(with_params(NAB_CHECK, params))
    values, incident = shape(name, DAYS, seed)
    out = []
    for i, v in enumerate(values.tolist()):
        if det.update(START + BUCKET * i, v).alert:
            out.append(round(i / 288, 2))
    return out, incident


@pytest.mark.parametrize(
    ("name", "expected", "tolerance"),
    [
        # A 15% trend under a daily and weekly cycle: the profile lags, the gain follows
        # (was 47 alarms in 60 days without the gain).
        ("taxi_cycles", 2, BUDGET),
        # A handful of events by day and hours of zeros: one event at night is not impossible
        # (was 26: a slot that never saw an event read as a mean of exactly 0).
        ("quiet_counts", 4, 2 * BUDGET),
        # Real-valued shapes, judged by the precedent test: at or near the budget.
        ("changing_variance", 3, 2 * BUDGET),
        ("heavy_real", 0, 2 * BUDGET),
    ],
    ids=[
        "a trend under daily and weekly cycles is followed, not alarmed on",
        "quiet integer counts with hours of zeros",
        "noise whose variance changes with the regime",
        "a log-normal KPI around a daily cycle",
    ],
)
def test_constructed_series_stay_near_the_budget(name, expected, tolerance):
    fired, _ = alarms(name)
    assert len(fired) == expected
    assert len(fired) <= tolerance


def test_a_level_shift_that_stays_is_reported_once_then_absorbed():
    fired, incident = alarms("level_shift")
    assert incident is not None
    day = (incident[0] - START) / 86400
    assert [t for t in fired if day <= t <= day + 1] == [20.03]  # found within 45 min, once
    # After it: 2 in 40 days, near-threshold CUSUM runs (was 10 without the gain: the weekly
    # profile forgot the old level over four weeks and alarmed on the way).
    assert fired[1:] == [25.95, 41.69]
    assert len(fired) - 1 <= 40 / 30 * 1.5


def daily_burst(days: int, seed: int) -> np.ndarray:
    """Counts on a daily cycle (30-90 per bucket) with a burst every day at 09:00: eight times
    the base, decaying over half an hour (a nightly export, a morning newsletter)."""
    n = days * 288
    rng = np.random.default_rng(seed)
    t = np.arange(n) % 288
    base = 30.0 + 60.0 * 0.5 * (1 - np.cos(2 * np.pi * (t / 288 - 1 / 6)))
    burst = np.where(t >= 108, 8.0 * base * np.exp(-(t - 108) / 6.0), 0.0)
    return rng.poisson((base + burst) * rng.gamma(50.0, 1 / 50.0, n)).astype(float)


def test_a_burst_that_recurs_every_day_becomes_part_of_the_baseline():
    # Judged from day 2: the first judged morning (day 2.36) and the first Saturday (5.38, no
    # weekend profile yet, judged on the level) alarm; in the 53 days after the first week one
    # alarm (day 23.41 with the day-of-week profile from two weeks; 39.51 from three), within the
    # budget's 1.77 (seeds 1-3: 1, 0, 0; measured after the shape was fixed).
    det = nab_detector()
    fired = [
        round(i / 288, 2)
        for i, v in enumerate(daily_burst(DAYS, 0).tolist())
        if det.update(START + BUCKET * i, v).alert
    ]
    assert fired == [2.36, 5.38, 23.41]
    assert len([t for t in fired if t >= 7]) <= (DAYS - 7) / 30


def test_no_incident_alarms_again_the_moment_its_holdoff_ends():
    # A news burst alerts at day 39.74; the decay starts a run of flagged buckets inside the
    # 12-hour hold-off. That run is the same incident: before, it alerted at 40.24, when the
    # hold-off ended (7 such re-alarms on 6 of the 28 held-out series, 3 on 2 real NAB files).
    fired, _ = alarms("news_bursts", seed=3)
    assert 39.74 in fired and 40.24 not in fired
    assert all(round(b - a, 2) != 0.5 for a, b in itertools.pairwise(fired))


@pytest.mark.parametrize(
    ("name", "expected", "calibrated_only", "negative_binomial_only"),
    [
        ("news_bursts", [2.34, 2.98, 8.05, 15.7, 32.72, 36.82], 11, 23),
        ("pareto_counts", [2.65, 3.59, 4.65, 29.54, 56.83], 9, 43),
    ],
    ids=["mention counts with decaying news bursts", "counts whose rate has a Pareto tail"],
)
def test_heavy_tailed_counts_are_held_by_their_own_tail_then_by_the_precedent_test(
    name, expected, calibrated_only, negative_binomial_only
):
    # The negative binomial alone calls every burst an outlier (23 and 43 alarms in 60 days).
    # The series' own ratio tail (tail_threshold) raises its threshold (11 and 9); its alarm
    # runs still exceed the budget beyond chance within days, and from then on the series is
    # judged by the distribution-free precedent test (2 alarms in the 50 days after the switch
    # on the Pareto series).
    fired, _ = alarms(name)
    assert fired == expected
    assert len(fired) <= 4 * BUDGET
    assert len(alarms(name, count_fallback=False)[0]) == calibrated_only
    off = alarms(name, count_fallback=False, calibrate="off")[0]
    assert len(off) == negative_binomial_only


def test_every_shape_is_seeded_and_named():
    a, _ = shape("pareto_counts", 2, 5)
    b, _ = shape("pareto_counts", 2, 5)
    assert np.array_equal(a, b) and len(a) == 2 * 288
    assert len(SHAPES) == 7
    with pytest.raises(ValueError, match="shape: 'twitter' is not one of pareto_counts"):
        shape("twitter", 2, 0)


# -- the parts ---------------------------------------------------------------------------------


def test_the_gain_is_the_ratio_of_recent_observed_to_expected_volume():
    g = SeasonalGain(memory=100.0, follow_memory=4.0)
    g.update(110.0, 100.0, follow=False)
    assert g.gain() == 1.0  # not before min_weight buckets
    for _ in range(300):
        g.update(110.0, 100.0, follow=False)
    assert g.gain() == pytest.approx(1.1)
    # An incident that goes on after its alert is followed within a few buckets.
    for _ in range(24):
        g.update(60.0, 100.0, follow=True)
    assert g.gain() == pytest.approx(0.612, abs=0.001)  # 0.1% of the old volume is left


def test_the_governor_keeps_the_models_threshold_where_the_model_is_right():
    # Ratios distributed as the model says: P(r > t) = α^t per bucket.
    alpha = 1.0 / 8640
    rng = np.random.default_rng(2)
    gov = AlarmGovernor(alpha=alpha, memory=8640.0, prior=4320.0)
    for u in rng.random(40_000):
        gov.add(math.log(u) / math.log(alpha))
    assert gov.floor() == pytest.approx(1.0, abs=0.15)


def test_the_governor_raises_the_threshold_of_a_series_that_cries_wolf():
    # Ratios twice as spread as the model's (r = 2·r_model − 0.25): runs above r = 0.5 come
    # three times as often and reach twice as far; the level exceeded α times per bucket is
    # r = 1.75. A month of evidence against the prior's half month puts the floor at 1.54.
    alpha = 1.0 / 8640
    rng = np.random.default_rng(2)
    gov = AlarmGovernor(alpha=alpha, memory=8640.0, prior=4320.0)
    for u in rng.random(40_000):
        gov.add(2.0 * math.log(u) / math.log(alpha) - 0.25)
    assert gov.floor() == pytest.approx(1.54, abs=0.01)
    assert 1.0 < gov.floor() < 1.75
    assert gov.describe()["governor_floor"] == gov.floor()


def test_gain_and_governor_survive_a_checkpoint_and_old_records_without_them():
    det = nab_detector(with_params(NAB_CHECK, {"governor": True}))
    values, _ = shape("taxi_cycles", 4, 1)
    for i, v in enumerate(values.tolist()):
        det.update(START + BUCKET * i, v)
    state = det.state()
    assert state.gain is not None and state.governor is not None
    again = nab_detector(with_params(NAB_CHECK, {"governor": True}))
    again.restore(msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=VolumeState))
    assert again.gain.state() == det.gain.state()
    assert again.governor.state() == det.governor.state()
    old = msgspec.structs.replace(state, gain=None, governor=None)
    fresh = nab_detector(with_params(NAB_CHECK, {"governor": True}))
    fresh.restore(old)
    assert fresh.gain.gain() == 1.0 and fresh.governor.floor() == 1.0


def test_a_switched_series_says_which_test_judges_it_and_at_what_threshold():
    det = nab_detector()
    values, _ = shape("pareto_counts", 10, 0)
    for i, v in enumerate(values.tolist()):
        last = det.update(START + BUCKET * i, v)
    assert last.evidence["model"] == "precedent"
    assert last.evidence["threshold"] == 1.0
    assert last.evidence["calibration"] == "precedent test: the model's own alarms ran over budget"
    # A series the model fits keeps the model and its (calibrated) threshold.
    det = nab_detector()
    values, _ = shape("taxi_cycles", DAYS, 0)
    for i, v in enumerate(values[: 20 * 288].tolist()):
        last = det.update(START + BUCKET * i, v)
    assert last.evidence["model"] == "negative_binomial"
    assert last.evidence["calibration"] in ("model", "gpd")
