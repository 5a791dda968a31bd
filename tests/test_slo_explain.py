"""``hopwatch slo explain``: the tiers in plain language, exact text."""

from __future__ import annotations

from monitor.config import compile_where
from monitor.slo.explain import explain_tier
from monitor.slo.model import SLO, LatencyIndicator, RatioIndicator, workbook_tiers

LATENCY = SLO(
    name="signup-latency",
    service="signup",
    target=0.99,
    indicator=LatencyIndicator(
        "signup", "sdk", "activation", 60.0, compile_where('status == "ok"')
    ),
    tiers=workbook_tiers(),
)


def test_the_fast_page_tier_reads_as_the_workbook_says():
    assert explain_tier(LATENCY, LATENCY.tiers[0]) == (
        "page-1h: pages when more than 2.14% of the 28d budget is spent within an hour "
        "(14.4× the sustainable rate), i.e. when more than 14.4% of events at sdk matching "
        '`status == "ok"` do not reach activation within 1m over the last hour and the last '
        "5 minutes; it keeps firing 5m after that stops."
    )


def test_a_ticket_tier_on_a_ratio_slo():
    slo = SLO(
        name="delivery",
        service="signup",
        target=0.995,
        indicator=RatioIndicator("signup", "warehouse", good=compile_where('status == "ok"')),
        tiers=workbook_tiers(),
    )
    assert explain_tier(slo, slo.tiers[3]) == (
        "ticket-3d: opens a ticket when more than 10.7% of the 28d budget is spent within 3 days "
        "(1× the sustainable rate), i.e. when more than 0.5% of events at warehouse are not "
        '`status == "ok"` over the last 3d and the last 6h; it keeps firing 6h after that stops.'
    )
