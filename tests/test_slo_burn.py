"""Budget and burn-rate arithmetic, and the outcome ledger's window sums, as properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.slo import burn
from monitor.slo.model import (
    SLO,
    BudgetingMethod,
    Exclusion,
    RatioIndicator,
    TimeWindow,
    workbook_tiers,
)
from monitor.slo.outcomes import OutcomeLedger

counts = st.integers(min_value=0, max_value=10**9)
targets = st.floats(min_value=0.5, max_value=0.99999)
confidences = st.sampled_from([0.8, 0.9, 0.95, 0.99])


# Scalar semantics


@given(good=counts, bad=counts, target=targets)
def test_burn_over_the_period_is_the_budget_spent(good: int, bad: int, target: float) -> None:
    remaining = burn.budget_remaining(good, bad, target)
    rate = burn.burn_rate(burn.error_ratio(good, bad), target)
    if good + bad == 0:
        assert remaining is None and rate is None
    else:
        assert remaining is not None and rate is not None
        assert rate == pytest.approx(1.0 - remaining, rel=1e-9, abs=1e-9)


@given(good=counts, bad=counts, more=st.integers(min_value=1, max_value=10**6), target=targets)
def test_more_bad_events_leave_less_budget_and_more_good_leave_more(
    good: int, bad: int, more: int, target: float
) -> None:
    if good + bad == 0:
        return
    remaining = burn.budget_remaining(good, bad, target)
    assert remaining is not None
    more_bad = burn.budget_remaining(good, bad + more, target)
    more_good = burn.budget_remaining(good + more, bad, target)
    assert more_bad is not None and more_good is not None
    slack = 1e-12 * max(1.0, abs(remaining))  # one rounding step either way
    assert more_bad <= remaining + slack
    assert remaining <= more_good + slack
    assert remaining <= 1.0


@given(good=counts, bad=counts, target=targets)
def test_no_ratio_is_ever_nan(good: int, bad: int, target: float) -> None:
    for value in (
        burn.error_ratio(good, bad),
        burn.burn_rate(burn.error_ratio(good, bad), target),
        burn.budget_remaining(good, bad, target),
    ):
        assert value is None or not math.isnan(value)


def test_zero_over_zero_is_no_data_not_nan() -> None:
    assert burn.error_ratio(0, 0) is None
    assert burn.budget_remaining(0, 0, 0.99) is None
    assert burn.burn_rate(None, 0.99) is None
    assert burn.wilson_interval(0, 0, 0.95) is None
    ratio, has = burn.error_ratios(np.zeros(3, np.int64), np.zeros(3, np.int64))
    assert not np.isnan(ratio).any() and not has.any()
    assert not np.isnan(burn.wilson_lower(np.zeros(2, np.int64), np.zeros(2, np.int64), 1.96)).any()


@given(
    remaining=st.floats(min_value=1e-6, max_value=1.0),
    rate=st.floats(min_value=1e-3, max_value=1e3),
    period=st.sampled_from([28 * 86400.0, 30 * 86400.0]),
)
def test_exhaustion_spends_exactly_the_remaining_budget(
    remaining: float, rate: float, period: float
) -> None:
    ttx = burn.time_to_exhaustion(remaining, rate, period)
    assert ttx is not None
    assert ttx * rate / period == pytest.approx(remaining, rel=1e-12)


@pytest.mark.parametrize(
    ("remaining", "rate", "expected"),
    [
        (0.5, 1.0, 14 * 86400.0),
        (0.5, 0.0, None),
        (0.5, None, None),
        (None, 2.0, None),
        (0.0, 2.0, 0.0),
        (-0.3, 2.0, 0.0),
    ],
    ids=[
        "half the budget at 1x lasts half the period",
        "a budget not being spent is never exhausted",
        "no burn rate (no data) gives no estimate",
        "no budget figure gives no estimate",
        "an exhausted budget is exhausted now",
        "an overspent budget is exhausted now",
    ],
)
def test_time_to_exhaustion(remaining, rate, expected) -> None:
    assert burn.time_to_exhaustion(remaining, rate, 28 * 86400.0) == expected


@given(n=st.integers(min_value=1, max_value=10**6), data=st.data(), confidence=confidences)
def test_wilson_interval_holds_the_point_estimate_and_matches_the_vector_form(
    n: int, data: st.DataObject, confidence: float
) -> None:
    bad = data.draw(st.integers(min_value=0, max_value=n))
    interval = burn.wilson_interval(bad, n, confidence)
    assert interval is not None
    lo, hi = interval
    assert 0.0 <= lo <= bad / n + 1e-12
    assert bad / n - 1e-12 <= hi <= 1.0
    vector = burn.wilson_lower(np.array([bad]), np.array([n]), burn.z_score(confidence))
    assert vector[0] == pytest.approx(lo, abs=1e-12)


def test_wilson_lower_with_z_zero_is_the_point_estimate() -> None:
    bad, n = np.array([0, 3, 7, 10]), np.array([10, 10, 10, 10])
    assert burn.wilson_lower(bad, n, 0.0).tolist() == (bad / n).tolist()


def test_wilson_interval_of_3_in_10_at_95_percent() -> None:
    lo, hi = burn.wilson_interval(3, 10, 0.95)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == (0.1078, 0.6032)


@pytest.mark.parametrize(
    ("bad", "n", "target", "alpha", "expected"),
    [
        (3, 10, 0.9, 0.05, False),
        (6, 20, 0.9, 0.05, True),
        (1, 5, 0.99, 0.05, True),
        (0, 100, 0.99, 0.05, False),
        (0, 0, 0.99, 0.05, False),
    ],
    ids=[
        "3 bad in 10 at 90% is not significant (p=0.070)",
        "6 bad in 20 at 90% is (p=0.011)",
        "1 bad in 5 at 99% is (p=0.049)",
        "no bad events are never an excess",
        "no events are never an excess",
    ],
)
def test_binomial_shortfall(bad, n, target, alpha, expected) -> None:
    assert burn.binomial_shortfall_significant(bad, n, target, alpha) is expected
    if n:
        vector = burn.binomial_significant(
            np.array([bad]), np.array([n]), np.array([target]), np.array([alpha])
        )
        assert vector.tolist() == [expected]


# Window sums of the outcome ledger against brute force

T0 = 1_699_999_200.0  # an hour boundary


def slo(name: str, **kw) -> SLO:
    return SLO(name, "svc", 0.99, RatioIndicator("p", "h"), tiers=workbook_tiers(), **kw)


record_streams = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),  # SLO row
        st.floats(min_value=0.0, max_value=5 * 86400.0),  # offset of the decision
        st.integers(min_value=0, max_value=50),
        st.integers(min_value=0, max_value=50),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(
    stream=record_streams,
    after=st.floats(min_value=0.0, max_value=2 * 86400.0),
    window=st.sampled_from([60.0, 300.0, 3600.0, 6 * 3600.0, 86400.0, 3 * 86400.0]),
)
def test_window_sums_equal_brute_force_sums(stream, after: float, window: float) -> None:
    ledger = OutcomeLedger([slo("a"), slo("b"), slo("c", window=TimeWindow(2 * 86400.0))])
    stream = sorted(stream, key=lambda r: r[1])  # decisions arrive in evaluation-time order
    for row, offset, good, bad in stream:
        ledger.record(row, T0 + offset, good, bad)
    now = T0 + (stream[-1][1] if stream else 0.0) + after
    good, bad = ledger.sums(now, window)

    last = math.floor(now / 60)
    head = math.floor((T0 + stream[-1][1]) / 60) if stream else last
    first = max(last - int(window // 60) + 1, head - ledger.minute_span + 1)
    for row in range(3):
        inside = [
            r for r in stream if r[0] == row and first <= math.floor((T0 + r[1]) / 60) <= last
        ]
        assert good[row] == sum(r[2] for r in inside)
        assert bad[row] == sum(r[3] for r in inside)

    period_good, period_bad = ledger.period_sums(now)
    last_hour = math.floor(now / 3600)
    for row, hours in ((0, 28 * 24), (1, 28 * 24), (2, 48)):
        inside = [
            r
            for r in stream
            if r[0] == row and last_hour - hours < math.floor((T0 + r[1]) / 3600) <= last_hour
        ]
        assert period_good[row] == sum(r[2] for r in inside)
        assert period_bad[row] == sum(r[3] for r in inside)


@settings(max_examples=40, deadline=None)
@given(stream=record_streams)
def test_timeslices_count_each_nonempty_minute_once_by_its_final_ratio(stream) -> None:
    slos = [slo(n, budgeting=BudgetingMethod.TIMESLICES) for n in "abc"]
    ledger = OutcomeLedger(slos)
    stream = sorted(stream, key=lambda r: r[1])
    minutes: dict[tuple[int, int], list[int]] = {}
    for row, offset, good, bad in stream:
        ledger.record(row, T0 + offset, good, bad)
        cell = minutes.setdefault((row, math.floor((T0 + offset) / 60)), [0, 0])
        cell[0] += good
        cell[1] += bad
    good_slices, bad_slices = ledger.period_slices(T0 + 5 * 86400.0)
    for row in range(3):
        cells = [c for (r, _), c in minutes.items() if r == row and sum(c) > 0]
        expected_bad = sum(1 for g, b in cells if b / (g + b) > 0.01 + 1e-12)
        assert bad_slices[row] == expected_bad
        assert good_slices[row] == len(cells) - expected_bad


def test_record_many_equals_one_record_per_slo_even_with_repeats() -> None:
    one, many = OutcomeLedger([slo("a"), slo("b")]), OutcomeLedger([slo("a"), slo("b")])
    for row, good, bad in [(0, 5, 1), (1, 2, 0), (0, 3, 4)]:
        one.record(row, T0 + 30, good, bad)
    many.record_many([0, 1, 0], T0 + 30, [5, 2, 3], [1, 0, 4])
    for w in (60.0, 3600.0):
        assert [x.tolist() for x in one.sums(T0 + 59, w)] == [[8, 2], [5, 0]]
        assert [x.tolist() for x in many.sums(T0 + 59, w)] == [[8, 2], [5, 0]]
    assert [x.tolist() for x in many.period_slices(T0 + 59)] == [[0, 1], [1, 0]]


def test_an_exclusion_sends_its_events_to_the_excluded_counter() -> None:
    ledger = OutcomeLedger([slo("a", exclusions=(Exclusion(T0 + 60, T0 + 120, "backfill"),))])
    ledger.record("a", T0 + 30, 10, 0)
    ledger.record("a", T0 + 60, 0, 7)  # the exclusion starts here
    ledger.record_many([0], T0 + 119.5, [1], [1])
    ledger.record("a", T0 + 120, 0, 1)  # and has ended here
    assert [x.tolist() for x in ledger.sums(T0 + 180, 3600.0)] == [[10], [1]]
    assert [x.tolist() for x in ledger.totals()] == [[10], [1], [9]]


def test_a_checkpoint_restores_by_name_across_changed_slos() -> None:
    before = OutcomeLedger([slo("a"), slo("b")])
    for m in range(0, 5 * 1440, 7):
        before.record("a", T0 + m * 60, 3, 1)
        before.record("b", T0 + m * 60, 1, 0)
    before.set_pending("a", 4)
    now = T0 + 5 * 86400.0
    # "b" is gone, "c" is new, and "a" no longer has the 3-day tier (a smaller minute ring).
    after = OutcomeLedger([slo("c"), SLO("a", "svc", 0.99, RatioIndicator("p", "h"))])
    after.restore(before.to_bytes())
    for w in (300.0, 3600.0, 86400.0, 3 * 86400.0):
        assert after.sums(now, w)[0].tolist() == [0, before.sums(now, w)[0][0]]
    assert after.period_sums(now)[1].tolist() == [0, before.period_sums(now)[1][0]]
    assert after.pending.tolist() == [0, 4]
    assert after.totals()[0].tolist() == [0, before.totals()[0][0]]


def test_restore_refuses_a_ledger_that_already_has_outcomes() -> None:
    ledger = OutcomeLedger([slo("a")])
    data = ledger.to_bytes()
    ledger.record("a", T0, 1, 0)
    with pytest.raises(ValueError, match="already has outcomes"):
        ledger.restore(data)


def test_unsupported_timeslice_length_is_an_error_that_says_how_to_fix() -> None:
    with pytest.raises(
        ValueError, match=r"SLO a: timeslice 420s .* \(use 1m, 5m, 10m, 15m, 30m or 1h\)"
    ):
        OutcomeLedger([slo("a", budgeting=BudgetingMethod.TIMESLICES, timeslice=420.0)])


@settings(max_examples=40, deadline=None)
@given(stream=record_streams, minutes=st.sampled_from([1, 5, 15, 60]))
def test_longer_timeslices_are_judged_on_their_whole_span(stream, minutes: int) -> None:
    slos = [slo(n, budgeting=BudgetingMethod.TIMESLICES, timeslice=minutes * 60.0) for n in "ab"]
    slos.append(slo("c"))  # occurrences: 1-minute slices alongside
    ledger, twin = OutcomeLedger(slos), OutcomeLedger(slos)
    cells: dict[tuple[int, int], list[int]] = {}
    for row, offset, good, bad in sorted(stream, key=lambda r: r[1]):
        ledger.record(row, T0 + offset, good, bad)
        twin.record_many([row, row], T0 + offset, [good, 0], [0, bad])
        size = 1 if row == 2 else minutes
        cell = cells.setdefault((row, math.floor((T0 + offset) / 60 / size)), [0, 0])
        cell[0] += good
        cell[1] += bad
    expected = [[0, 0, 0], [0, 0, 0]]
    for (row, _), (g, b) in cells.items():
        if g + b:
            expected[b / (g + b) > 0.01 + 1e-12][row] += 1
    now = T0 + 5 * 86400.0
    assert [x.tolist() for x in ledger.period_slices(now)] == expected
    assert [x.tolist() for x in twin.period_slices(now)] == expected


def test_record_batch_leaves_exactly_the_state_of_recording_one_by_one():
    """Summed per SLO and minute (the ingest path), or one by one when the batch spans more
    than the rings: the same bytes as ``record`` in order, with timeslices and exclusions."""
    import random

    from monitor.slo.model import (
        SLO,
        BudgetingMethod,
        Exclusion,
        LatencyIndicator,
        workbook_tiers,
    )
    from monitor.slo.outcomes import OutcomeLedger

    ind = LatencyIndicator("signup", "sdk", "activation", 60.0)
    base = 1_700_000_000.0
    slos = [
        SLO(name="occ", service="s", target=0.99, indicator=ind, tiers=workbook_tiers()),
        SLO(
            name="slices", service="s", target=0.9, indicator=ind, tiers=workbook_tiers(),
            budgeting=BudgetingMethod.TIMESLICES, timeslice=300.0,
        ),
        SLO(
            name="excl", service="s", target=0.99, indicator=ind,
            exclusions=(Exclusion(base + 600, base + 1200, "backfill"),),
        ),
    ]  # fmt: skip
    rng = random.Random(4)
    for spread in (3600.0, 90 * 86400.0):  # narrow: summed; wider than the rings: one by one
        one, batched = OutcomeLedger(slos), OutcomeLedger(slos)
        for ledger in (one, batched):
            ledger.record("occ", base - 7200, 3, 1)  # history before the batches
        for _ in range(5):
            records = [
                (
                    rng.choice(["occ", "slices", "excl"]),
                    base + rng.uniform(0.0, spread),
                    rng.randint(0, 2),
                    rng.randint(0, 1),
                )
                for _ in range(400)
            ]
            for r in records:
                one.record(*r)
            batched.record_batch(records)
            base += spread / 4
        assert batched.to_bytes() == one.to_bytes()
