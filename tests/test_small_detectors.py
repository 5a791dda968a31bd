"""The small detectors (proportion, mix, freshness) and the quiet-schedule evaluator, on
constructed series with exact numbers: a known jump is found at a known bucket, a clean series of
90 seeded days stays within 3x its false-alarm budget, a nightly gap is only a stall outside its
quiet window."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from scipy.stats import binom

from monitor.anomaly.freshness import FreshnessDetector
from monitor.anomaly.mix import MixDetector, pool
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Target
from monitor.anomaly.proportion import ProportionDetector, surprise
from monitor.time_intervals import (
    TimeInterval,
    day_of_month_span,
    month_span,
    time_range,
    weekday_span,
    year_span,
)

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
T0 = datetime(2024, 5, 6, tzinfo=UTC).timestamp()  # a Monday, midnight UTC


def _check(kind: CheckKind, **params: object) -> CheckDef:
    return CheckDef("c", kind, Target("signup", hop="identity"), params=params)


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


# --- quiet schedules -------------------------------------------------------------------------

NIGHT = TimeInterval(times=(time_range("01:30", "03:30"),))
QUIET_CASES = [
    ("inside a time range", NIGHT, "2024-05-06T02:00:00+00:00", True),
    ("the start of a time range is inside", NIGHT, "2024-05-06T01:30:00+00:00", True),
    ("the end of a time range is outside", NIGHT, "2024-05-06T03:30:00+00:00", False),
    (
        "a time range is read in its location",
        TimeInterval(times=(time_range("01:30", "03:30"),), location="Europe/Berlin"),
        "2024-05-06T00:00:00+00:00",  # 02:00 in Berlin (CEST)
        True,
    ),
    (
        "24:00 ends the day",
        TimeInterval(times=(time_range("22:00", "24:00"),)),
        "2024-05-06T23:59:00+00:00",
        True,
    ),
    (
        "a weekday range",
        TimeInterval(weekdays=(weekday_span("Monday:Friday"),)),
        "2024-05-10T12:00:00+00:00",
        True,
    ),
    (
        "sunday is outside monday:friday",
        TimeInterval(weekdays=(weekday_span("monday:friday"),)),
        "2024-05-12T12:00:00+00:00",
        False,
    ),
    (
        "-1 is the last day of a leap february",
        TimeInterval(days_of_month=(day_of_month_span("-1"),)),
        "2024-02-29T12:00:00+00:00",
        True,
    ),
    (
        "-1 is not the 28th of a leap february",
        TimeInterval(days_of_month=(day_of_month_span("-1"),)),
        "2024-02-28T12:00:00+00:00",
        False,
    ),
    (
        "the last three days",
        TimeInterval(days_of_month=(day_of_month_span("-3:-1"),)),
        "2024-04-28T00:00:00+00:00",
        True,
    ),
    (
        "a range past the month's end is clamped",
        TimeInterval(days_of_month=(day_of_month_span("25:31"),)),
        "2024-04-30T00:00:00+00:00",
        True,
    ),
    (
        "months by name and number",
        TimeInterval(months=(month_span("january:march"), month_span("12"))),
        "2024-12-01T00:00:00+00:00",
        True,
    ),
    (
        "a month outside the list",
        TimeInterval(months=(month_span("january:march"),)),
        "2024-05-01T00:00:00+00:00",
        False,
    ),
    ("years", TimeInterval(years=(year_span("2023:2024"),)), "2025-01-01T00:00:00+00:00", False),
    (
        "every field that is set must match",
        TimeInterval(times=(time_range("01:00", "02:00"),), weekdays=(weekday_span("saturday"),)),
        "2024-05-06T01:30:00+00:00",  # a Monday
        False,
    ),
]


@pytest.mark.parametrize(
    ("interval", "at", "inside"), [c[1:] for c in QUIET_CASES], ids=[c[0] for c in QUIET_CASES]
)
def test_quiet_schedule(interval: TimeInterval, at: str, inside: bool) -> None:
    assert interval.contains(_ts(at)) is inside


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        (
            weekday_span,
            "saturday:sunday",
            "'saturday:sunday' starts after it ends: the week starts on sunday; list the days instead, e.g. [saturday, sunday]",
        ),
        (day_of_month_span, "0", "0 is not a day of the month; use 1 to 31, or -31 to -1"),
        (day_of_month_span, "-1:-3", "'-1:-3' starts after it ends; write the earlier day first"),
        (month_span, "13", "'13' is not a month; use january to december or 1 to 12"),
    ],
    ids=["weekend as a range", "day zero", "reversed negative days", "month 13"],
)
def test_quiet_parse_errors(parse: object, text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse(text)  # type: ignore[operator]
    assert str(err.value) == message


# --- proportion ------------------------------------------------------------------------------


def test_surprise_is_one_half_at_the_threshold() -> None:
    assert surprise(1e-4, 1e-4) == pytest.approx(0.5)
    assert (surprise(1.0, 1e-4), surprise(1e-8, 1e-4), surprise(0.0, 1e-4)) == (0.0, 1.0, 1.0)


def _rejections(detector: ProportionDetector, series: list[tuple[int, int]]) -> list:
    return [detector.update(T0 + i * MINUTE, p) for i, p in enumerate(series)]


def test_a_rejection_jump_is_found_at_its_bucket() -> None:
    """1 day of 2/200 rejected, then 10 clean buckets, then 20/200 at bucket 1450."""
    detector = ProportionDetector(_check(CheckKind.REJECTIONS), MINUTE)
    series = [(2, 200)] * 1450 + [(20, 200)] + [(2, 200)] * 5
    scores = _rejections(detector, series)
    assert {s.state for s in scores[:1440]} == {CheckState.LEARNING}
    assert [i for i, s in enumerate(scores) if s.alert] == [1450]
    jump = scores[1450]
    share = jump.evidence["expected_share"]
    assert jump.evidence["p_value"] == pytest.approx(float(binom.sf(19, 200, share)), rel=1e-12)
    assert share == pytest.approx(0.01, rel=1e-3)
    assert jump.evidence["observed_share"] == 0.1


def test_rejections_alarm_on_increases_only_and_identity_both_ways() -> None:
    drop = [(20, 200)] * 1450 + [(0, 200)]
    rejections = _rejections(ProportionDetector(_check(CheckKind.REJECTIONS), MINUTE), drop)
    merges = _rejections(ProportionDetector(_check(CheckKind.IDENTITY), MINUTE), drop)
    assert (rejections[-1].alert, merges[-1].alert) == (False, True)
    assert merges[-1].evidence["test"] == "binomial, two-sided"


def test_a_bucket_below_min_events_is_not_judged() -> None:
    series = [(2, 200)] * 1450 + [(10, 10)]
    (last,) = _rejections(ProportionDetector(_check(CheckKind.REJECTIONS), MINUTE), series)[-1:]
    assert (last.state, last.alert, last.evidence["reason"]) == (
        CheckState.OK,
        False,
        "fewer than min_events (20) events",
    )


def test_a_clean_rejection_series_over_90_days_stays_within_3x_its_budget() -> None:
    bucket = 5 * MINUTE
    rng = np.random.default_rng(4)
    n = int(90 * DAY / bucket)
    totals = rng.poisson(400, n)
    hits = rng.binomial(totals, 0.02)
    detector = ProportionDetector(_check(CheckKind.IDENTITY), bucket)
    alerts = sum(
        detector.update(T0 + i * bucket, (int(h), int(t))).alert
        for i, (h, t) in enumerate(zip(hits, totals, strict=True))
    )
    assert alerts <= 3 * 3  # budget: 1 per 30 days


# --- mix -------------------------------------------------------------------------------------


def test_pooling_merges_small_expected_cells() -> None:
    assert pool([50, 40, 3, 1], [50.0, 45.0, 3.0, 2.0]) == ([40, 50, 4], [45.0, 50.0, 5.0], 2)
    assert pool([5, 1], [4.0, 2.0]) == ([6], [6.0], 2)


def test_a_consent_shift_is_found_at_its_bucket_and_named() -> None:
    detector = MixDetector(_check(CheckKind.MIX, attribute="consent"), MINUTE)
    clean = {"granted": 70, "denied": 28, "unknown": 2}
    series = [clean] * 1450 + [{"granted": 45, "denied": 53, "unknown": 2}] + [clean] * 3
    scores = [detector.update(T0 + i * MINUTE, p) for i, p in enumerate(series)]
    assert [i for i, s in enumerate(scores) if s.alert] == [1450]
    evidence = scores[1450].evidence
    assert (evidence["moved_most"], evidence["observed_share"]) == ("denied", 0.53)
    assert evidence["expected_share"] == pytest.approx(0.28, abs=1e-3)
    # "unknown" (2 expected) is pooled with the smallest other cell, "denied", to reach 5.
    assert (evidence["pooled_cells"], evidence["degrees_of_freedom"]) == (2, 1)


def test_a_clean_mix_over_90_days_stays_within_3x_its_budget() -> None:
    bucket = 5 * MINUTE
    rng = np.random.default_rng(7)
    n = int(90 * DAY / bucket)
    counts = rng.multinomial(300, [0.6, 0.3, 0.08, 0.02], n)
    detector = MixDetector(_check(CheckKind.MIX, attribute="region"), bucket)
    names = ("eu", "us", "apac", "latam")
    alerts = sum(
        detector.update(T0 + i * bucket, dict(zip(names, map(int, row), strict=True))).alert
        for i, row in enumerate(counts)
    )
    assert alerts <= 3 * 3


# --- freshness -------------------------------------------------------------------------------


def _warehouse(quiet: tuple[TimeInterval, ...], gap_at: float) -> list:
    """3 days of 10 events a minute, with a 2-hour nightly batch gap at 02:00 UTC on each day,
    and on day 3 a 5-minute gap starting at ``gap_at`` seconds into the day."""
    detector = FreshnessDetector(_check(CheckKind.FRESHNESS, quiet=quiet), MINUTE)
    scores = []
    for i in range(int(3 * DAY / MINUTE)):
        at = T0 + i * MINUTE
        of_day = at % DAY
        silent = 2 * HOUR <= of_day < 4 * HOUR or (
            at >= T0 + 2 * DAY and gap_at <= of_day < gap_at + 5 * MINUTE
        )
        scores.append(detector.update(at, 0 if silent else 10))
    return scores


NIGHTLY = (TimeInterval(times=(time_range("02:00", "04:00"),)),)


def test_a_nightly_gap_inside_its_quiet_window_is_not_a_stall() -> None:
    scores = _warehouse(NIGHTLY, gap_at=2 * HOUR)  # the day-3 gap is inside the window too
    assert [s for s in scores if s.alert] == []
    assert scores[int((DAY + 2 * HOUR) / MINUTE)].evidence["quiet"] is True


def test_the_same_gap_outside_the_window_is_a_stall_at_its_second_minute() -> None:
    """At 10 events a minute, one silent minute has p = e^-10 > 1/43200; two have e^-20."""
    scores = _warehouse(NIGHTLY, gap_at=14 * HOUR)
    fired = [round((s.at - T0) / MINUTE) for s in scores if s.alert]
    start = int((2 * DAY + 14 * HOUR) / MINUTE)
    assert fired == [start + 1, start + 2, start + 3, start + 4]
    # 10 a minute, a little less for the silent first minute the rate already learned from.
    assert scores[start + 1].evidence["expected_events"] == pytest.approx(19.909, abs=1e-3)
    assert (scores[start].state, scores[start].alert) == (CheckState.WARN, False)  # e^-10 < √alpha


def test_without_a_quiet_window_a_gap_its_hour_has_never_shown_is_still_a_stall() -> None:
    """The warm-up saw the nightly gap, so the 02:00 hour learned a rate of zero; 14:00 did not."""
    scores = _warehouse((), gap_at=14 * HOUR)
    first = next(s for s in scores if s.alert)
    assert first.at == T0 + 2 * DAY + 14 * HOUR + MINUTE


def test_a_clean_poisson_series_over_90_days_stays_within_3x_its_budget() -> None:
    bucket = 5 * MINUTE
    rng = np.random.default_rng(11)
    n = int(90 * DAY / bucket)
    t = np.arange(n) * bucket
    rate = 4.0 * (1 + 0.6 * np.sin(2 * np.pi * t / DAY))  # events per bucket, daily cycle
    counts = rng.poisson(rate)
    detector = FreshnessDetector(_check(CheckKind.FRESHNESS), bucket)
    alerts = sum(
        detector.update(T0 + float(s), int(c)).alert for s, c in zip(t, counts, strict=True)
    )
    assert alerts <= 3 * 3
