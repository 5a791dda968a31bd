"""Every SLO metric hopwatch exports and every name in the Prometheus rules it writes, in one place.

The sibling of ``monitor/names.py`` (same ``Metric`` record, same conventions): the daemon's
SLO collector exports these families, and ``monitor/slo/rules.py`` builds its recording and
alerting rules over ``EVENTS`` with the record names below, so a rename happens here once.

Labels are bounded: ``slo`` and ``service`` come from ``slo_definitions/``, ``window`` is one of an
SLO's alert windows or its period (Prometheus duration syntax, ``5m`` … ``28d``), ``tier`` is a
configured tier name, and ``outcome`` / ``severity`` are closed sets.
"""

from __future__ import annotations

from typing import Final

from monitor.names import OUTCOME, Metric

# --- label names --------------------------------------------------------------------------------

SLO: Final = "slo"
SERVICE: Final = "service"
WINDOW: Final = "window"
TIER: Final = "tier"
SEVERITY: Final = "severity"
LONG: Final = "long"
"""Alert label: the tier's long window (``1h``)."""
SHORT: Final = "short"
"""Alert label: the tier's short window (``5m``)."""

# --- closed label values ------------------------------------------------------------------------

OUTCOME_GOOD: Final = "good"
OUTCOME_BAD: Final = "bad"
OUTCOME_PENDING: Final = "pending"
DECIDED_OUTCOMES: Final = (OUTCOME_GOOD, OUTCOME_BAD)
"""Values of ``outcome`` on ``EVENTS``: only decided events are counted."""
WINDOW_OUTCOMES: Final = (OUTCOME_GOOD, OUTCOME_BAD, OUTCOME_PENDING)
"""Values of ``outcome`` on ``WINDOW_EVENTS``."""

# --- metrics the daemon exports -----------------------------------------------------------------

EVENTS = Metric(
    "hopwatch_slo_events_total",
    "counter",
    "Decided SLO events (budget exclusions removed), counted when hopwatch judged them, by outcome.",
    (SLO, SERVICE, OUTCOME),
)
OBJECTIVE = Metric(
    "hopwatch_slo_objective_ratio",
    "gauge",
    "The SLO's target: the share of events that must be good over its period (0.99 for 99%).",
    (SLO, SERVICE),
)
SLI = Metric(
    "hopwatch_slo_sli_ratio",
    "gauge",
    "Good / (good + bad) events over the window (absent when the window has no decided events).",
    (SLO, SERVICE, WINDOW),
)
WINDOW_EVENTS = Metric(
    "hopwatch_slo_window_events",
    "gauge",
    "SLO events in the window by outcome; pending events are not decided yet.",
    (SLO, SERVICE, WINDOW, OUTCOME),
)
BUDGET_REMAINING = Metric(
    "hopwatch_slo_error_budget_remaining_ratio",
    "gauge",
    "Share of the period's error budget not yet spent (negative once overspent).",
    (SLO, SERVICE),
)
BURN_RATE = Metric(
    "hopwatch_slo_burn_rate",
    "gauge",
    "Bad share of events over the window divided by the error budget (1 spends it exactly).",
    (SLO, SERVICE, WINDOW),
)
ALERT_STATE = Metric(
    "hopwatch_slo_alert_state",
    "gauge",
    "1 while the tier's burn-rate alert fires, else 0.",
    (SLO, SERVICE, TIER, SEVERITY),
)
TIME_TO_EXHAUSTION = Metric(
    "hopwatch_slo_time_to_exhaustion_seconds",
    "gauge",
    "Seconds until the remaining error budget is spent at the current burn rate (absent when not burning).",
    (SLO, SERVICE),
)

ALL: Final = (
    EVENTS,
    OBJECTIVE,
    SLI,
    WINDOW_EVENTS,
    BUDGET_REMAINING,
    BURN_RATE,
    ALERT_STATE,
    TIME_TO_EXHAUSTION,
)
"""Every SLO family, in exposition order."""

# --- names in the exported Prometheus rules -----------------------------------------------------

RULE_PREFIX: Final = "hopwatch:"
OBJECTIVE_RECORD: Final = "hopwatch:slo_objective:ratio"
ERROR_BUDGET_RECORD: Final = "hopwatch:slo_error_budget:ratio"
PERIOD_DAYS_RECORD: Final = "hopwatch:slo_time_period:days"
PERIOD_BURN_RATE_RECORD: Final = "hopwatch:slo_period_burn_rate:ratio"
PERIOD_BUDGET_REMAINING_RECORD: Final = "hopwatch:slo_period_error_budget_remaining:ratio"
BURN_RATE_ALERT: Final = "HopwatchSLOBurnRate"
"""One alert name for every tier; the ``tier``, ``severity``, ``long`` and ``short`` labels tell them apart."""


def error_ratio_record(window: str) -> str:
    """``"1h"`` → ``hopwatch:slo_errors:ratio_rate1h``: bad / decided events over the window."""
    return f"hopwatch:slo_errors:ratio_rate{window}"
