"""The SLO evaluator with an explicit clock: exact numbers over 28 days, gates, phases, calendars."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import UTC, datetime

import pytest

from monitor.alerting.book import AlertBook
from monitor.config.model import MATCH_ALL
from monitor.slo.evaluate import Gate, SLOEvaluator, SLOStatus, TierPhase
from monitor.slo.model import (
    SLO,
    BudgetingMethod,
    Exclusion,
    LowTraffic,
    RatioIndicator,
    SampledIndicator,
    Severity,
    Tier,
    TimeWindow,
    WindowKind,
    workbook_tiers,
)
from monitor.slo.outcomes import period_start
from monitor.verdict import Judgement

T0 = 1_699_999_200.0  # an hour boundary
DAY, HOUR, MINUTE = 86400.0, 3600.0, 60.0
MERGE_AUDIT = SampledIndicator("identity", "merge", bad=MATCH_ALL)


def slo(name: str = "signup-latency", **kw) -> SLO:
    kw.setdefault("tiers", workbook_tiers())
    return SLO(name, "signup", 0.99, RatioIndicator("signup", "activation"), **kw)


def one_tier(burn: float = 14.4, long: float = HOUR, short: float = 5 * MINUTE, **kw) -> tuple:
    return (Tier("page-1h", Severity.PAGE, burn, long, short, **kw),)


def steady_28_days(ev: SLOEvaluator, row: int = 0, good: int = 999, bad: int = 1) -> float:
    """One decision batch every 10 minutes for 28 days, 30 s into each slot; returns the end."""
    for i in range(28 * 144):
        ev.ledger.record(row, T0 + 600 * i + 30, good, bad)
    return T0 + 28 * DAY


def assert_no_nan(status: SLOStatus) -> None:
    def walk(value):
        if isinstance(value, float):
            assert not math.isnan(value)
        elif isinstance(value, tuple):
            for v in value:
                walk(v)
        elif hasattr(value, "__dataclass_fields__"):
            for f in fields(value):
                walk(getattr(value, f.name))

    walk(status)


# Exact numbers over a 28-day window


def test_a_steady_28_days_at_a_tenth_of_the_budget_gives_exact_counts() -> None:
    ev = SLOEvaluator([slo()])
    now = steady_28_days(ev)
    [status] = ev.evaluate(now)
    # The rolling period is the last 672 hourly buckets, the current (empty) one included: the
    # first hour's 6 batches have left it.
    assert (status.period.good, status.period.bad) == (4026 * 999, 4026)
    assert status.budget_remaining == pytest.approx(0.9)
    # (now − 1h, now] at minute resolution: the batch at now − 3570 s is in minute −60, outside.
    hour = status.window(HOUR)
    assert (hour.good, hour.bad, hour.sli) == (5 * 999, 5, 0.999)
    assert hour.burn_rate == pytest.approx(0.1)
    assert (status.window(3 * DAY).good, status.window(3 * DAY).bad) == (431 * 999, 431)
    assert status.exhaustion_window == HOUR
    assert status.time_to_exhaustion == pytest.approx(0.9 * 28 * DAY / 0.1)
    assert [t.state for t in status.tiers] == [TierPhase.INACTIVE] * 4
    assert [v.judgement for v in ev.verdicts([status], now)] == [Judgement.OK] * 4


def test_an_outage_in_the_last_hour_pages_with_budget_context() -> None:
    ev = SLOEvaluator([slo()])
    now = steady_28_days(ev)
    for m in range(60):  # 30% bad, every minute of the next hour
        ev.ledger.record(0, now + m * MINUTE + 1, 700, 300)
    now += HOUR
    [status] = ev.evaluate(now)
    page = status.tier("page-1h")
    assert (page.condition, page.state, page.since) == (True, TierPhase.FIRING, now)
    verdict = ev.verdicts([status], now)[0]
    assert verdict.judgement is Judgement.FIRING
    assert dict(verdict.labels) == {
        "slo": "signup-latency",
        "service": "signup",
        "tier": "page-1h",
        "long": "1h",
        "short": "5m",
        "severity": "page",
    }
    assert verdict.summary.startswith(
        "signup-latency: 30.0× burn over 1h (30.0%) and 30.0× over 5m (30.0%), pages above 14.4×; "
    )
    assert verdict.evidence["bad_long"] == 59 * 300
    assert verdict.evidence["error_ratio_threshold"] == pytest.approx(0.144)
    # An outage minute holds 10× a steady 10-minute slot's events, so the hour dominates every
    # longer window: 20.3% bad over 6 h (over 6%), 9.2% over 1 d (3%), 3.8% over 3 d (1%).
    phases = {t.tier: (t.state, round(t.long_ratio or 0.0, 3)) for t in status.tiers}
    assert phases == {
        "page-1h": (TierPhase.FIRING, 0.3),
        "page-6h": (TierPhase.FIRING, 0.203),
        "ticket-1d": (TierPhase.FIRING, 0.092),
        "ticket-3d": (TierPhase.FIRING, 0.038),
    }


def test_budget_text_gives_what_is_left_and_when_it_runs_out() -> None:
    ev = SLOEvaluator([slo(tiers=one_tier())])
    now = steady_28_days(ev, good=9995, bad=5)  # 5% of the budget spent
    for m in range(60):
        ev.ledger.record(0, now + m * MINUTE + 1, 80, 20)  # 20× over the hour
    now += HOUR
    [status] = ev.evaluate(now)
    left = status.budget_remaining
    assert left is not None and 0.0 < left < 0.95
    assert status.time_to_exhaustion == pytest.approx(left * 28 * DAY / 20.0)
    assert (
        f"{left:.0%} of the 28d budget left, exhausted in " in ev.verdicts([status], now)[0].summary
    )


def test_late_data_counts_when_the_threshold_passed_not_at_its_event_time() -> None:
    # Events from 2 h ago missed their 60 s threshold; the indicator decides them bad when the
    # threshold passes (a late arrival afterwards changes nothing), so they burn the short window.
    ev = SLOEvaluator([slo(tiers=one_tier())])
    now = steady_28_days(ev)
    [before] = ev.evaluate(now)
    assert before.window(5 * MINUTE).bad == 0
    decided = now + 100.0
    ev.ledger.record(0, decided, 0, 2000)
    [status] = ev.evaluate(decided + 30.0)
    assert status.window(5 * MINUTE).bad == 2000
    assert status.tier("page-1h").state is TierPhase.FIRING


@pytest.mark.parametrize(
    ("low_traffic", "good", "bad", "condition", "gate"),
    [
        (LowTraffic(min_events=100), 7, 3, False, Gate.MIN_EVENTS),
        (LowTraffic(min_events=10), 7, 3, True, Gate.NONE),
        (LowTraffic(binomial_alpha=0.05), 7, 3, False, Gate.NOT_SIGNIFICANT),
        (LowTraffic(binomial_alpha=0.05), 14, 6, True, Gate.NONE),
        (LowTraffic(min_events=1), 10, 0, False, Gate.NONE),
    ],
    ids=[
        "10 events do not page when 100 are needed",
        "10 events page when 10 are enough",
        "3 bad in 10 at 90% is not a significant excess (p=0.070)",
        "6 bad in 20 at 90% is (p=0.011)",
        "no bad events never page",
    ],
)
def test_low_traffic_gates(low_traffic, good, bad, condition, gate) -> None:
    # 90% target, 2× over 1h/5m: the threshold is a 20% error ratio.
    spec = SLO(
        "merges", "identity", 0.9, RatioIndicator("p", "h"), tiers=one_tier(2.0),
        low_traffic=low_traffic,
    )  # fmt: skip
    ev = SLOEvaluator([spec])
    ev.ledger.record(0, T0 + 10, good, bad)
    [status] = ev.evaluate(T0 + 20)
    tier = status.tier("page-1h")
    assert (tier.condition, tier.gate) == (condition, gate)
    held_back = "held back" in ev.verdicts([status], T0 + 20)[0].summary
    assert held_back is (gate is not Gate.NONE)


def test_no_data_is_no_data_everywhere_and_never_nan() -> None:
    ev = SLOEvaluator([slo()])
    [status] = ev.evaluate(T0)
    assert status.budget_remaining is None and status.time_to_exhaustion is None
    assert status.period.sli is None and status.window(HOUR).burn_rate is None
    assert {t.gate for t in status.tiers} == {Gate.NO_DATA}
    assert_no_nan(status)
    verdicts = ev.verdicts([status], T0)
    assert [v.judgement for v in verdicts] == [Judgement.NO_DATA] * 4
    assert verdicts[0].summary == (
        "signup-latency: no events over 1h; no events yet in the 28d period"
    )


def test_an_exclusion_removes_its_events_from_the_score() -> None:
    incident = Exclusion(T0 + 28 * DAY - 1800, T0 + 28 * DAY, "declared upstream incident")
    ev = SLOEvaluator([slo(exclusions=(incident,))])
    now = steady_28_days(ev)
    ev.ledger.record(0, incident.start + 60, 0, 50_000)  # excluded
    [status] = ev.evaluate(now)
    assert (status.period.good, status.period.bad) == (4026 * 999 - 3 * 999, 4026 - 3)
    assert status.excluded == 50_000 + 3 * 1000
    assert [t.state for t in status.tiers] == [TierPhase.INACTIVE] * 4
    assert status.budget_remaining == pytest.approx(0.9)


@pytest.mark.parametrize(
    ("bad", "total", "fires"),
    [(3, 10, False), (30, 100, True)],
    ids=[
        "3 of 10 sampled bad: the Wilson lower bound 10.8% is under 14.4%",
        "30 of 100 sampled bad: the lower bound 21.9% is over it",
    ],
)
def test_sampled_indicators_gate_on_the_wilson_lower_bound(bad, total, fires) -> None:
    ev = SLOEvaluator([SLO("merge-fp", "identity", 0.99, MERGE_AUDIT, tiers=one_tier())])
    ev.ledger.record(0, T0 + 10, total - bad, bad)
    [status] = ev.evaluate(T0 + 20)
    tier = status.tier("page-1h")
    assert tier.condition is fires
    assert tier.long_ratio is not None and tier.long_ratio < bad / total
    assert "Wilson lower bound" in ev.verdicts([status], T0 + 20)[0].summary


def test_timeslices_budget_counts_bad_minutes_not_bad_events() -> None:
    ev = SLOEvaluator([slo(tiers=(), budgeting=BudgetingMethod.TIMESLICES)])
    for m in range(100):  # one bad minute in a hundred: exactly the 1% budget spent
        ev.ledger.record(0, T0 + m * MINUTE, 0 if m == 0 else 100, 100 if m == 0 else 0)
    [status] = ev.evaluate(T0 + 100 * MINUTE)
    assert status.period_slices is not None
    assert (status.period_slices.good, status.period_slices.bad) == (99, 1)
    assert status.budget_remaining == pytest.approx(0.0)
    assert status.period.bad == 100  # the events are still reported


def test_a_disabled_tier_has_no_state_and_no_verdict() -> None:
    tiers = workbook_tiers()
    off = Tier(tiers[0].name, tiers[0].severity, 14.4, HOUR, 300.0, enabled=False)
    ev = SLOEvaluator([slo(tiers=(off, *tiers[1:]))])
    [status] = ev.evaluate(T0)
    assert [t.tier for t in status.tiers] == ["page-6h", "ticket-1d", "ticket-3d"]
    assert [s.window for s in status.windows] == [1800.0, 7200.0, 6 * HOUR, DAY, 3 * DAY]
    assert len(ev.verdicts([status], T0)) == 3


# for / keep_firing_for

# One-minute long and short windows: the condition at each tick is whether that minute was bad.
PHASES = [
    # (condition per tick, expected phase per tick), ticks a minute apart; for 2m, keep 5m
    ("TTTT", "PPFF"),
    ("TTF", "PPI"),
    ("TTTFFFFFF", "PPFFFFFFI"),
    ("TTTFFTFFFFFF", "PPFFFFFFFFFI"),
    ("FFT", "IIP"),
]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    PHASES,
    ids=[
        "a condition held for 2m goes pending then firing",
        "a condition gone before 2m falls back to inactive",
        "a firing tier keeps firing until 5m after the first false evaluation",
        "a blip while keeping resets the 5m",
        "pending starts when the condition does",
    ],
)
def test_for_and_keep_firing_for(conditions: str, expected: str) -> None:
    tiers = one_tier(1.0, MINUTE, MINUTE, for_=120.0, keep_firing_for=300.0)
    ev = SLOEvaluator([slo(tiers=tiers)])
    phases, sinces = "", []
    for k, c in enumerate(conditions):
        now = T0 + k * MINUTE + 30
        ev.ledger.record(0, now - 1, 10 if c == "F" else 0, 10 if c == "T" else 0)
        [status] = ev.evaluate(now)
        tier = status.tier("page-1h")
        assert tier.condition is (c == "T")
        phases += tier.state.value[0].upper()
        sinces.append(tier.since)
    assert phases == expected
    if expected.startswith("PPF"):
        assert sinces[:3] == [T0 + 30, T0 + 30, T0 + 150]


def test_a_restart_keeps_each_tiers_phase_pending_for_and_keep_firing_for() -> None:
    """The phases go into the checkpoint: "TTTFF" then a restart then "FFFF" resolves exactly
    where the uninterrupted run does (5m after the first false evaluation), not at once."""
    tiers = one_tier(1.0, MINUTE, MINUTE, for_=120.0, keep_firing_for=300.0)

    def run(conditions: str, ev: SLOEvaluator, first: int) -> str:
        phases = ""
        for k, c in enumerate(conditions, start=first):
            now = T0 + k * MINUTE + 30
            ev.ledger.record(0, now - 1, 10 if c == "F" else 0, 10 if c == "T" else 0)
            phases += ev.evaluate(now)[0].tier("page-1h").state.value[0].upper()
        return phases

    straight = run("TTTFFFFFF", SLOEvaluator([slo(tiers=tiers)]), 0)
    before = SLOEvaluator([slo(tiers=tiers)])
    head = run("TTTFF", before, 0)
    after = SLOEvaluator([slo(tiers=tiers)])
    after.ledger.restore(before.ledger.to_bytes())
    after.restore_phases(before.phases_to_bytes())
    assert head + run("FFFF", after, 5) == straight == "PPFFFFFFI"


def test_without_for_a_tier_fires_at_once_and_resolves_at_once() -> None:
    ev = SLOEvaluator([slo(tiers=one_tier(1.0, MINUTE, MINUTE))])
    ev.ledger.record(0, T0 + 1, 0, 5)
    assert ev.evaluate(T0 + 2)[0].tiers[0].state is TierPhase.FIRING
    ev.ledger.record(0, T0 + 61, 5, 0)
    assert ev.evaluate(T0 + 62)[0].tiers[0].state is TierPhase.INACTIVE


# Calendar periods


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("timezone", "now", "start"),
    [
        ("Europe/Berlin", "2024-03-01T12:00", "2024-02-29T23:00"),
        ("Europe/Berlin", "2024-04-15T12:00", "2024-03-31T22:00"),
        ("America/New_York", "2024-03-01T03:00", "2024-02-01T05:00"),
        ("UTC", "2024-03-01T00:00", "2024-03-01T00:00"),
    ],
    ids=[
        "March in Berlin starts at 23:00 UTC on 29 February",
        "April in Berlin (summer time) starts at 22:00 UTC on 31 March",
        "at 22:00 on 29 February in New York it is still February there",
        "a UTC month starts at UTC midnight",
    ],
)
def test_calendar_month_starts_at_local_midnight(timezone: str, now: str, start: str) -> None:
    window = TimeWindow(30 * DAY, WindowKind.CALENDAR, timezone, "month")
    assert period_start(ts(now), window) == ts(start)


def test_a_calendar_month_counts_only_events_decided_in_that_local_month() -> None:
    window = TimeWindow(30 * DAY, WindowKind.CALENDAR, "Europe/Berlin", "month")
    ev = SLOEvaluator([slo(window=window), slo("rolling")])
    ev.ledger.record(0, ts("2024-02-29T22:30"), 100, 1)  # 23:30 on 29 February in Berlin
    ev.ledger.record(0, ts("2024-02-29T23:30"), 200, 2)  # 00:30 on 1 March in Berlin
    ev.ledger.record(1, ts("2024-02-29T22:30"), 100, 1)
    calendar, rolling = ev.evaluate(ts("2024-03-01T12:00"))
    assert (calendar.period.good, calendar.period.bad) == (200, 2)
    assert calendar.period.window == 13 * HOUR
    assert (rolling.period.good, rolling.period.bad) == (100, 1)
    assert "calendar month (Europe/Berlin) budget" in ev.verdicts([calendar], 0.0)[0].summary


def test_calendar_week_starts_on_monday() -> None:
    window = TimeWindow(7 * DAY, WindowKind.CALENDAR, "Asia/Tokyo", "week")
    # Wednesday 2024-03-06 12:00 in Tokyo; Monday 00:00 there is Sunday 15:00 UTC.
    assert period_start(ts("2024-03-06T03:00"), window) == ts("2024-03-03T15:00")


# A burn rate hovering at the threshold: one page, not one per evaluation

PAGE_6H = workbook_tiers()[1]  # 6× over 6h and 30m: 6% bad pages; keeps firing 30m by default


def hover_then_clean(keep_firing_for: float | None) -> list[tuple[int, str, str]]:
    """Minutes 0–19 of 1000 events alternate 65 and 55 bad, so the cumulative error ratio (both
    windows hold everything) is 6.0% + a little after even minutes and exactly 6.0% (not above
    the threshold) after odd ones; then clean minutes until 60. The evaluator judges each minute
    30 s in, the alert book (as the engine wires it) turns verdicts into alerts. Returns the
    alert's state changes as (minute, state, summary)."""
    tier = PAGE_6H if keep_firing_for is None else replace(PAGE_6H, keep_firing_for=keep_firing_for)
    ev = SLOEvaluator([slo(tiers=(tier,))])
    book = AlertBook()
    changes: list[tuple[int, str, str]] = []
    for k in range(60):
        bad = (65 if k % 2 == 0 else 55) if k < 20 else 0
        ev.ledger.record(0, T0 + k * MINUTE + 10, 1000 - bad, bad)
        now = T0 + k * MINUTE + 30
        statuses = ev.evaluate(now)
        for alert in book.apply(ev.verdicts(statuses, now), now):
            if not changes or changes[-1][1] != alert.state:
                changes.append((k, str(alert.state), dict(alert.annotations)["summary"]))
    return changes


def test_without_keep_firing_for_a_burn_hovering_at_the_threshold_flaps_every_minute() -> None:
    """Prometheus's default (and hopwatch's before tiers kept firing by default): each dip to
    exactly 6.0% resolves the page and the next minute pages again — ten pages in twenty minutes."""
    changes = hover_then_clean(keep_firing_for=0.0)
    assert [(k, state) for k, state, _ in changes] == [
        (k, "firing" if k % 2 == 0 else "resolved") for k in range(20)
    ]


def test_a_burn_hovering_at_the_threshold_pages_once_and_resolves_once() -> None:
    """With the default keep_firing_for (the 30m short window) the hovering burn is one firing
    episode; it resolves 30m after the first evaluation of the last clear spell (minute 19, 30 s
    in), at minute 49, and the resolved alert says the burn then, not the burn that paged."""
    changes = hover_then_clean(keep_firing_for=None)
    assert [(k, state) for k, state, _ in changes] == [(0, "firing"), (49, "resolved")]
    fired, resolved = changes[0][2], changes[1][2]
    assert fired.startswith(
        "signup-latency: 6.5× burn over 6h (6.5%) and 6.5× over 30m (6.5%), pages above 6×; "
    )
    # 1200 bad of 50 000 over 6h; the 30m window (minutes 20–49) is clean.
    assert resolved.startswith(
        "signup-latency: 2.4× burn over 6h (2.4%) and 0.0× over 30m (0.0%), pages above 6×; "
    )
    assert "keeps firing" not in resolved


def test_a_tier_kept_firing_says_so_and_for_how_long() -> None:
    ev = SLOEvaluator([slo(tiers=(PAGE_6H,))])
    ev.ledger.record(0, T0 + 10, 900, 100)
    [status] = ev.evaluate(T0 + 30)
    assert status.tier("page-6h").keep_until is None
    ev.ledger.record(0, T0 + 70, 1000, 0)  # 5% over both windows: the condition clears
    [status] = ev.evaluate(T0 + 90)
    tier = status.tier("page-6h")
    assert (tier.condition, tier.state, tier.keep_until) == (False, TierPhase.FIRING, T0 + 1890)
    verdict = ev.verdicts([status], T0 + 90)[0]
    assert verdict.judgement is Judgement.FIRING
    assert verdict.evidence["keep_firing_until"] == T0 + 1890
    assert verdict.summary.startswith(
        "signup-latency: 5.0× burn over 6h (5.0%) and 5.0× over 30m (5.0%), pages above 6×; "
        "condition clear, keeps firing 30m more unless it returns (keep_firing_for); "
    )
