"""The first divergence check and the alert book: exact verdicts for constructed buckets."""

from __future__ import annotations

import pytest

from monitor.alerting.alert import AlertState
from monitor.alerting.book import AlertBook
from monitor.anomaly.check import Judgement
from monitor.anomaly.divergence import DivergencePolicy, judge_edge, shortfall_pvalue
from monitor.config.model import Expectation, ExpectKind
from monitor.ledger.records import Completeness, EdgeResult

ALL = Expectation()
HALF = Expectation(ExpectKind.RATIO, ratio=0.5, tolerance=0.0)
POLICY = DivergencePolicy()


def result(expected: int, arrived: int, **kw) -> EdgeResult:
    return EdgeResult(
        pipeline="signup",
        edge="identity->activation",
        from_hop="identity",
        to_hop="activation",
        bucket_start=600.0,
        bucket_seconds=60.0,
        expected=expected,
        arrived=arrived,
        missing=max(0, expected - arrived),
        closed_at=960.0,
        **kw,
    )


def test_alpha_spends_one_false_alarm_per_30_days_of_minute_buckets():
    assert POLICY.alpha(60.0) == pytest.approx(1 / 43_200)


def test_pvalue_is_the_exact_binomial_tail():
    # P(X <= 8 | n=10, p=0.9) = 1 - P(9) - P(10) = 1 - 10*0.9^9*0.1 - 0.9^10
    assert shortfall_pvalue(10, 8, 0.9) == pytest.approx(1 - 10 * 0.9**9 * 0.1 - 0.9**10)
    assert shortfall_pvalue(10, 10, 0.9) == 1.0
    assert shortfall_pvalue(0, 0, 0.9) == 1.0
    assert shortfall_pvalue(10, 9, 1.0) == 0.0


@pytest.mark.parametrize(
    ("expected", "arrived", "expectation", "judgement"),
    [
        (80, 72, ALL, Judgement.FIRING),
        (80, 75, ALL, Judgement.FIRING),
        (80, 79, ALL, Judgement.OK),
        (1000, 995, ALL, Judgement.OK),
        (1000, 989, ALL, Judgement.FIRING),
        (100, 50, HALF, Judgement.OK),
        (100, 44, HALF, Judgement.OK),
        (100, 25, HALF, Judgement.FIRING),
        (0, 0, ALL, Judgement.NO_DATA),
    ],
    ids=[
        "ten percent of 80 missing fires",
        "five of 80 missing is at the absolute floor and fires",
        "one of 80 missing is below the absolute floor",
        "half a percent missing is below the relative floor",
        "1.1 percent of 1000 missing fires",
        "half arriving on a half-ratio edge is fine",
        "44 of a promised 50 is within chance",
        "25 of a promised 50 fires",
        "nothing expected is no data, not zero loss",
    ],
)
def test_divergence_verdicts(expected, arrived, expectation, judgement):
    assert judge_edge(result(expected, arrived), expectation, POLICY).judgement is judgement


def test_incomplete_buckets_are_never_judged_as_loss():
    verdict = judge_edge(result(100, 0, completeness=Completeness.INCOMPLETE), ALL, POLICY)
    assert verdict.judgement is Judgement.INCOMPLETE


def test_firing_verdict_carries_the_evidence():
    verdict = judge_edge(result(80, 72, missing_ids=("evt-1", "evt-2")), ALL, POLICY)
    assert verdict.evidence["missing"] == 8
    assert verdict.evidence["expected"] == 80
    assert verdict.evidence["missing_ids"] == ["evt-1", "evt-2"]
    assert verdict.summary.startswith(
        "identity->activation: 8 of 80 expected events missing (10.0%)"
    )


def test_alert_fires_once_and_resolves_after_two_clean_buckets():
    book = AlertBook(resolve_after=2)
    fire = judge_edge(result(80, 70), ALL, POLICY)
    clean = judge_edge(result(80, 80), ALL, POLICY)
    [opened] = book.apply([fire], now=1000.0)
    assert opened.state is AlertState.FIRING and opened.starts_at == 1000.0
    [again] = book.apply([fire], now=1060.0)
    assert again.starts_at == 1000.0 and again.fingerprint == opened.fingerprint
    assert book.apply([clean], now=1120.0) == []
    [resolved] = book.apply([clean], now=1180.0)
    assert resolved.state is AlertState.RESOLVED and resolved.ends_at == 1180.0
    assert dict(resolved.labels) == {
        "alertname": "HopwatchEdgeDataLoss",
        "check": "divergence",
        "edge": "identity->activation",
        "from_hop": "identity",
        "to_hop": "activation",
        "pipeline": "signup",
        "severity": "page",
    }
