"""The volume detector on constructed series: known drops at known buckets, a clean seasonal series
within its false-alarm budget, the learning state, and incidents kept out of the baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Target
from monitor.anomaly.volume import ALERT_SCORE, VolumeDetector, cusum_h

HOUR = 3600.0
DAY = 86400.0
T0 = 1_700_006_400.0  # a Wednesday 00:00 UTC


def check(**params) -> CheckDef:
    return CheckDef(
        "volume",
        CheckKind.VOLUME,
        Target("p", hop="collector"),
        false_alarms_per_30d=1.0,
        warmup=7 * DAY,
        params=params,
    )


def daily_mean(at: float, base: float = 200.0) -> float:
    """Daily cycle (peak mid-afternoon) with quieter weekends."""
    tod = (at % DAY) / DAY
    weekend = 0.7 if int((at // DAY + 3) % 7) >= 5 else 1.0
    return base * weekend * (1.0 + 0.6 * math.sin(2 * math.pi * (tod - 0.375)))


def nb_counts(n: int, bucket: float, seed: int, phi: float = 0.02) -> list[float]:
    """Negative binomial counts (variance μ + φμ²) around the seasonal mean."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        mu = daily_mean(T0 + i * bucket)
        out.append(float(rng.negative_binomial(1 / phi, 1 / (1 + phi * mu))))
    return out


def run(det: VolumeDetector, values: list[float], bucket: float):
    return [det.update(T0 + i * bucket, v) for i, v in enumerate(values)]


def test_cusum_threshold_grows_with_the_run_length():
    assert cusum_h(100) < cusum_h(10_000) < cusum_h(1_000_000)


def test_learning_until_the_warmup_is_over_and_never_alerts_on_a_guess():
    values = nb_counts(24 * 8, HOUR, seed=1)
    values[24 * 3] = 0.0  # a total outage during warm-up
    scores = run(VolumeDetector(check(), HOUR), values, HOUR)
    assert all(s.state is CheckState.LEARNING and not s.alert for s in scores[: 24 * 7])
    assert all(s.state is not CheckState.LEARNING for s in scores[24 * 7 :])


@pytest.mark.parametrize(
    ("direction", "factor", "alerts"),
    [("both", 0.5, True), ("drop", 0.5, True), ("spike", 0.5, False), ("spike", 3.0, True)],
    ids=[
        "a 50% drop is found at its first bucket",
        "a drop-only check finds it too",
        "a spike-only check ignores a drop",
        "a spike is found at its first bucket",
    ],
)
def test_a_known_change_is_found_at_a_known_bucket(direction, factor, alerts):
    start = 24 * 21 + 14  # day 21, 14:00
    values = nb_counts(24 * 23, HOUR, seed=7)
    values[start:] = [round(v * factor) for v in values[start:]]
    scores = run(VolumeDetector(check(direction=direction), HOUR), values, HOUR)
    fired = [i for i, s in enumerate(scores) if s.alert]
    if alerts:
        assert start in fired
        assert not [i for i in fired if start - 24 <= i < start]
        s = scores[start]
        assert s.score >= ALERT_SCORE and s.state is CheckState.FIRING
        assert s.evidence["observed"] == values[start]
        assert s.evidence["expected"] > values[start] if factor < 1 else True
        assert {"z", "p_value", "cusum", "baseline"} <= set(s.evidence)
    else:
        assert start not in fired


def test_a_small_sustained_drop_is_found_by_the_cusum():
    start = 24 * 21
    values = nb_counts(24 * 24, HOUR, seed=3)
    values[start:] = [round(v * 0.8) for v in values[start:]]
    scores = run(VolumeDetector(check(direction="drop"), HOUR), values, HOUR)
    fired = [i for i, s in enumerate(scores) if s.alert and i >= start - 24]
    assert fired and start <= fired[0] < start + 24


def test_a_clean_seasonal_series_over_90_days_stays_near_its_budget():
    bucket = 900.0
    n = int(90 * DAY / bucket)
    values = nb_counts(n, bucket, seed=11, phi=0.05)
    scores = run(VolumeDetector(check(), bucket), values, bucket)
    fired = [i for i, s in enumerate(scores) if s.alert]
    # 3 onsets in the 83 days after the warm-up (budget 2.77): from the one-bucket tail test at
    # genuine negative-binomial tail events; over seeds 1-12 the mean was 3.0 (3.75 before the
    # seasonal gain and the series' own tail calibration). 4 while the day-of-week profile
    # waited for a third week (bucket 2391 was judged on the weekday profile).
    assert fired == [3168, 5752, 8379]
    budget = 1.0 * (90 - 7) / 30  # 1 alarm per 30 days after the 7-day warm-up
    assert len(fired) <= 2 * budget
    assert all(0.0 <= s.score <= 1.0 for s in scores)


def test_a_drop_at_minute_buckets_and_10_events_per_minute_is_found_within_minutes():
    """Poisson counts at 10/min with a daily curve; a 50% drop at day 21, 14:00 (μ ≈ 15/min,
    CUSUM floor ≈ 5 buckets) is found by the CUSUM bank on the smoothed day-of-week profile."""
    rng = np.random.default_rng(3)
    n = 22 * 1440
    x = rng.poisson([daily_mean(T0 + i * 60.0, base=10.0) for i in range(n)]).astype(float)
    start = 21 * 1440 + 840
    x[start:] = np.random.default_rng(4).binomial(x[start:].astype(int), 0.5)
    scores = run(VolumeDetector(check(direction="drop", min_weeks=2), 60.0), list(x), 60.0)
    fired = [i for i, s in enumerate(scores) if s.alert]
    assert fired == [start + 6]
    assert scores[start + 7].evidence["baseline"] == "day-of-week profile ±30 slots"


def test_an_incident_does_not_lower_the_baseline_the_next_day():
    # Daily profile over the last 3 days (no weekly profile yet): without exclusion the median of
    # (incident, normal) would sit halfway down.
    params = {"days": 3, "min_weeks": 99, "direction": "both"}
    n = 24 * 12
    clean = [round(daily_mean(T0 + i * HOUR)) for i in range(n)]
    incident = list(clean)
    hit = range(24 * 9 + 10, 24 * 9 + 13)  # day 9, 10:00-12:00: volume at 10%
    for i in hit:
        incident[i] = round(clean[i] * 0.1)
    c = check(**params)
    with_incident = run(VolumeDetector(c, HOUR), incident, HOUR)
    without = run(VolumeDetector(c, HOUR), clean, HOUR)
    assert with_incident[hit[0]].alert
    assert all(with_incident[i].evidence["excluded_from_training"] for i in hit)
    for i in hit:
        nxt = i + 24
        # Kept in, the 10% bucket would be one of three and drag the median well below 90%.
        assert with_incident[nxt].evidence["expected"] >= 0.9 * without[nxt].evidence["expected"]
        assert not with_incident[nxt].alert


def real_daily(n: int, seed: int, spike_every_day: bool = False) -> list[float]:
    """A real-valued daily sine at 5-minute buckets with Gaussian noise (and a nightly spike)."""
    rng = np.random.default_rng(seed)
    out = [50.0 + 5 * math.sin(2 * math.pi * i / 288) + rng.normal(0, 0.5) for i in range(n)]
    if spike_every_day:
        for i in range(100, n, 288):
            out[i] += 30.0 + rng.normal(0, 1.0)
    return out


def test_real_valued_series_get_the_precedent_test():
    values = real_daily(3000, seed=5)
    values[2200] = 80.0
    scores = run(VolumeDetector(check(), 300.0), values, 300.0)
    s = scores[2200]
    assert s.alert and s.evidence["model"] == "precedent"
    assert s.evidence["precedent_feature"] in ("mean of 1", "day-over-day change, mean of 1")
    # ... and only there: a day later the spike does not come back as a drop against it.
    assert [i for i, s in enumerate(scores) if s.alert] == [2200]


def test_the_model_test_is_still_there_for_real_values():
    values = real_daily(3000, seed=5)
    values[2200] = 80.0
    scores = run(VolumeDetector(check(real_test="model"), 300.0), values, 300.0)
    assert scores[2200].alert and scores[2200].evidence["model"] == "robust_z"


def test_a_spike_that_recurs_every_night_is_not_an_anomaly_once_seen():
    values = real_daily(288 * 14, seed=6, spike_every_day=True)
    scores = run(VolumeDetector(check(), 300.0), values, 300.0)
    # The warm-up (7 days) has seen the nightly spike: it is never new again. (Seed 6 has one
    # chance record of a mean of the day-over-day change at day 10 16:15; it stays within the
    # margin now that a mean over w buckets counts as about n/w independent values.)
    fired = [i for i, s in enumerate(scores) if s.alert]
    assert fired == []
    values[288 * 11 + 150] += 60.0  # twice the usual spike, at an unusual time
    scores = run(VolumeDetector(check(), 300.0), values, 300.0)
    assert [i for i, s in enumerate(scores) if s.alert] == [288 * 11 + 150]


def test_a_level_that_is_normal_at_night_but_not_at_noon_is_found_by_the_daily_change():
    values = real_daily(288 * 12, seed=7)
    start = 288 * 10 + 72  # day 10, the peak of the sine
    values[start : start + 72] = [v - 10.0 for v in values[start : start + 72]]
    # The day-over-day features alone: with the variability features too, seed 7 has a chance
    # record of the 30-minute mean step at bucket 2897 (ratio 1.3), half a day before the drop.
    no_variability = check(precedent_variability_scales_seconds=[])
    scores = run(VolumeDetector(no_variability, 300.0), values, 300.0)
    fired = [i for i, s in enumerate(scores) if s.alert]
    assert fired and start <= fired[0] < start + 12
    assert fired[0] >= 288 * 7 and all(i >= start for i in fired)
    assert "day-over-day" in scores[fired[0]].evidence["precedent_feature"]


def test_unknown_real_test_is_refused():
    with pytest.raises(ValueError, match="real_test: 'knn' is not one of precedent, model"):
        VolumeDetector(check(real_test="knn"), HOUR)


def test_unknown_direction_is_refused():
    with pytest.raises(ValueError, match="direction: 'up' is not one of both, drop, spike"):
        VolumeDetector(check(direction="up"), HOUR)


def test_values_on_a_lattice_coarser_than_one_are_not_counts():
    # 0/20 spikes: a negative binomial would read each spike as 20 surprising events.
    det = VolumeDetector(check(), 300.0)
    det.update(T0, 0.0)
    det.update(T0 + 300, 20.0)
    assert not det._is_count
    det.update(T0 + 600, 40.0)
    assert not det._is_count
    det.update(T0 + 900, 7.0)  # gcd 1: a count from now on
    assert det._is_count
    det.update(T0 + 1200, 20.0)
    assert det._is_count


def test_a_lasting_incident_alerts_once_even_after_the_holdoff():
    bucket = 300.0
    values = nb_counts(288 * 10, bucket, seed=3)
    det = VolumeDetector(check(holdoff_seconds=3600.0, relearn_seconds=1e9), bucket)
    scores = run(det, values[: 288 * 8], bucket)
    assert not any(s.alert for s in scores[288 * 7 :])
    # The count falls to 30% for two days.
    tail = [T0 + (288 * 8 + i) * bucket for i in range(288 * 2)]
    alerts = [
        det.update(at, float(round(v * 0.3))).alert
        for at, v in zip(tail, values[288 * 8 :], strict=True)
    ]
    # It alerts at once; the hold-off (1 h) ends 47 times, yet no new alert starts while the
    # run of flagged buckets goes on (at most one more, if the statistic dips and rises again).
    assert alerts[0] and sum(alerts) <= 2


def test_a_clean_real_valued_series_stays_within_its_budget():
    """The precedent test's ten features (two sides each) share one budget: 60 days of clean
    Gaussian 5-minute values may raise at most 2 alarms at one per 30 days (each feature with the
    whole budget raised about 13; bench/volume_budget.py measures five families over 90 days)."""
    rng = np.random.default_rng(0)
    values = (50.0 + 5.0 * rng.standard_normal(60 * 288)).tolist()
    det = VolumeDetector(check(), 300.0)
    fired = [i for i, s in enumerate(run(det, values, 300.0)) if s.alert]
    assert len(fired) <= 2, fired
    assert det.precedent.records.rate() > 10  # the features' records are nearly independent


def test_a_run_that_starts_inside_the_holdoff_belongs_to_the_incident_it_follows():
    # A spike alerts; the next bucket is normal (its run ends), then the count falls to 30% and
    # stays down. That fall starts inside the 3-hour hold-off, so it is the same incident: no
    # second alert when the hold-off ends (before, the run that began in the hold-off alerted
    # at its end, as news bursts did 12 hours after their spike on held-out series).
    bucket = HOUR
    values = nb_counts(24 * 10, bucket, seed=3)
    det = VolumeDetector(check(holdoff_seconds=3 * HOUR, relearn_seconds=1e9), bucket)
    scores = run(det, values[: 24 * 8], bucket)
    assert not any(s.alert for s in scores[24 * 7 :])
    spike = 24 * 8 + 14
    later = [
        values[i] * (3.0 if i == spike else 0.3 if i >= spike + 2 else 1.0)
        for i in range(24 * 8, 24 * 9)
    ]
    fired = [
        i
        for i, v in enumerate(later, start=24 * 8)
        if det.update(T0 + i * bucket, float(round(v))).alert
    ]
    assert fired == [spike]
