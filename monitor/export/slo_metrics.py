"""The SLO part of ``/metrics``: every family in ``monitor.slo.names.ALL``, read at scrape time.

``HopwatchCollector.collect`` yields these after its own families, and only when the engine has at
least one SLO (a daemon without SLOs exports no empty SLO families). Values come from two places:

- ``EngineView.slo_totals``: the monotonic good / bad counts behind
  ``hopwatch_slo_events_total`` (budget exclusions are not counted), and the objective of each SLO;
- ``EngineView.slo_statuses``, the last evaluation (nothing before the first tick): SLI, events and
  burn rate per alert window and over the period, budget remaining, time to exhaustion and the
  state of each enabled tier.

The ``window`` label is a Prometheus duration: each alert window an SLO's enabled tiers use
(``5m`` … ``3d``) and its period (``28d``; a calendar month is ``30d``, a calendar week ``7d``).
When the period spells the same as one of the alert windows, the alert window's sample wins, so
no series is exported twice. A window without decided events has no SLI and no burn-rate sample
(never NaN); no budget yet means no budget-remaining sample; a budget not being spent means no
time-to-exhaustion sample.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import Metric

from monitor.engine_view import EngineView
from monitor.export.family import new_family
from monitor.slo import names
from monitor.slo.evaluate import SLOStatus, TierPhase, WindowStats
from monitor.slo.model import SLO
from monitor.timeutil import format_duration

__all__ = ["slo_families"]


def _add(family: Any, labels: list[str], value: float | None) -> None:
    """One sample, unless there is no value (or it is not a finite number)."""
    if value is not None and math.isfinite(value):
        family.add_metric(labels, float(value))


def _windows(slo: SLO, status: SLOStatus) -> list[tuple[str, WindowStats]]:
    """(label, stats) for each alert window, shortest first, then the period."""
    out = [(format_duration(w.window), w) for w in status.windows]
    period = format_duration(slo.window.duration)
    if period not in {label for label, _ in out}:
        out.append((period, status.period))
    return out


def slo_families(view: EngineView) -> Iterator[Metric]:
    """Every family of ``monitor.slo.names.ALL``, in that order; nothing when there are no SLOs."""
    slos = view.slos
    if not slos:
        return
    statuses = {s.slo: s for s in view.slo_statuses}

    events = new_family(names.EVENTS)
    objective = new_family(names.OBJECTIVE)
    sli = new_family(names.SLI)
    window_events = new_family(names.WINDOW_EVENTS)
    budget = new_family(names.BUDGET_REMAINING)
    burn_rate = new_family(names.BURN_RATE)
    alert_state = new_family(names.ALERT_STATE)
    exhaustion = new_family(names.TIME_TO_EXHAUSTION)

    for slo, totals in zip(slos, view.slo_totals, strict=True):
        key = [slo.name, slo.service]
        events.add_metric([*key, names.OUTCOME_GOOD], float(totals.good))
        events.add_metric([*key, names.OUTCOME_BAD], float(totals.bad))
        _add(objective, key, slo.target)
        status = statuses.get(slo.name)
        if status is None:  # not evaluated yet (before the first tick)
            continue
        for label, stats in _windows(slo, status):
            _add(sli, [*key, label], stats.sli)
            for outcome, n in (
                (names.OUTCOME_GOOD, stats.good),
                (names.OUTCOME_BAD, stats.bad),
                (names.OUTCOME_PENDING, stats.pending),
            ):
                _add(window_events, [*key, label, outcome], float(n))
            _add(burn_rate, [*key, label], stats.burn_rate)
        _add(budget, key, status.budget_remaining)
        for tier in status.tiers:
            firing = 1.0 if tier.state is TierPhase.FIRING else 0.0
            _add(alert_state, [*key, tier.tier, str(tier.severity)], firing)
        _add(exhaustion, key, status.time_to_exhaustion)

    yield from (events, objective, sli, window_events, budget, burn_rate, alert_state, exhaustion)
