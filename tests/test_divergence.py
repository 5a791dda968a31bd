"""The exact one-bucket test and the alert book: exact numbers for constructed verdicts."""

from __future__ import annotations

import pytest

from monitor.alerting.alert import AlertState, labels_of
from monitor.alerting.book import AlertBook
from monitor.anomaly.divergence import shortfall_pvalue
from monitor.verdict import Judgement, Verdict


def verdict(judgement: Judgement, summary: str = "") -> Verdict:
    labels = labels_of(
        {
            "pipeline": "signup",
            "edge": "identity->activation",
            "from_hop": "identity",
            "to_hop": "activation",
        }
    )
    return Verdict("divergence", labels, judgement, 0.0, 0.0, summary, 600.0, {})


def test_pvalue_is_the_exact_binomial_tail():
    # P(X <= 8 | n=10, p=0.9) = 1 - P(9) - P(10) = 1 - 10*0.9^9*0.1 - 0.9^10
    assert shortfall_pvalue(10, 8, 0.9) == pytest.approx(1 - 10 * 0.9**9 * 0.1 - 0.9**10)
    assert shortfall_pvalue(10, 10, 0.9) == 1.0
    assert shortfall_pvalue(0, 0, 0.9) == 1.0
    assert shortfall_pvalue(10, 9, 1.0) == 0.0


def test_alert_fires_once_and_resolves_after_two_clean_buckets():
    book = AlertBook(resolve_after=2)
    fire = verdict(Judgement.FIRING, "identity->activation: 10 of 80 expected events missing")
    clean = verdict(Judgement.OK)
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


def test_one_bucket_tail_uses_the_measured_over_dispersion():
    # Share Beta(mean 0.7, sd 0.03) per bucket of 6000 events: φ = 1 + 5999·ρ with
    # ρ = 0.03² / (0.7·0.3) ≈ 0.00429, φ ≈ 26.7. A bucket at 0.61 (3 sd of the share) is
    # ordinary under the beta-binomial, impossible under the binomial.
    from scipy.stats import beta as beta_dist

    rho = 0.03**2 / (0.7 * 0.3)
    phi = 1 + 5999 * rho
    assert shortfall_pvalue(6000, 3660, 0.7) < 1e-30
    p_over = shortfall_pvalue(6000, 3660, 0.7, phi, 6000.0)
    share_tail = beta_dist.cdf(0.61, 0.7 * (1 - rho) / rho, 0.3 * (1 - rho) / rho)
    # The share's own tail (0.0020) plus the binomial noise of 6000 draws around it (0.0024).
    assert share_tail < p_over < 1.25 * share_tail
    assert 1e-4 < p_over < 1e-2
    assert shortfall_pvalue(6000, 3660, 0.7, 1.0, 6000.0) == shortfall_pvalue(6000, 3660, 0.7)
