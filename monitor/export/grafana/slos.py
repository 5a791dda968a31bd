"""The *SLOs* dashboard: what Sloth's and Pyrra's dashboards show, from hopwatch's own evaluation.

Per SLO: the objective, the SLI over the period, the error budget left (now, and as a burn-down
over time), the burn rate of every alert window against the thresholds of the tiers that use it,
and each tier's alert state. The numbers are the gauges hopwatch exports (``hopwatch_slo_*``),
not a re-derivation in PromQL, so the dashboard agrees with the alerts hopwatch sends, Wilson
bounds and low-traffic gating included; the exported recording rules
(``hopwatch export prometheus-rules``) remain for clusters that evaluate SLOs themselves.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash_b

from monitor.export.grafana import panels as p
from monitor.export.grafana.pipeline import alternation
from monitor.slo import names
from monitor.slo.model import SLO
from monitor.timeutil import format_duration


def _sel(slo: SLO, **extra: str) -> str:
    labels = {names.SLO: slo.name, names.SERVICE: slo.service, **extra}
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def slos_dashboard(slos: list[SLO]) -> dash_b.Dashboard:
    d = p.dashboard(
        "hopwatch / SLOs",
        "hopwatch-slos",
        "Objectives, error budgets and burn rates of every SLO in slo_definitions/.",
        ["hopwatch", "slo"],
        "now-7d",
        "1m",
    ).with_variable(
        p.custom_variable(
            "slo",
            "SLO",
            [s.name for s in slos],
            "SLOs from slo_definitions/ (overview panels).",
        )
    )
    sel_all = f'{{{names.SLO}=~"$slo"}}'
    d = d.with_row(dash_b.Row("Overview"))
    d = d.with_panel(
        p.stat(
            "Error budget remaining",
            "Share of each SLO's period error budget not yet spent (negative once overspent), "
            f"as hopwatch evaluates it ({names.BUDGET_REMAINING.name}).",
            [p.query(f"{names.BUDGET_REMAINING.name}{sel_all}", "{{slo}}", instant=True)],
            "percentunit",
            steps=((None, "red"), (0, "orange"), (0.25, "green")),
            width=12,
            height=5,
        )
    )
    d = d.with_panel(
        p.count_now(
            "Tier alerts firing",
            f"Burn-rate tiers currently firing ({names.ALERT_STATE.name}).",
            f"sum by ({names.SLO}) ({names.ALERT_STATE.name}{sel_all})",
            "{{slo}}",
            width=12,
            height=5,
        )
    )
    for slo in slos:
        d = _slo_row(d, slo)
    return d


def _slo_row(d: dash_b.Dashboard, slo: SLO) -> dash_b.Dashboard:
    sel = _sel(slo)
    period = format_duration(slo.window.duration)
    tiers = [t for t in slo.tiers if t.enabled]
    windows = sorted({w for t in tiers for w in (t.long_window, t.short_window)})
    window_labels = [format_duration(w) for w in windows]
    links = [p.link("Runbook", slo.runbook, f"Runbook of {slo.name}")] if slo.runbook else []
    about = slo.description or f"{slo.service}/{slo.name}"
    d = d.with_row(dash_b.Row(f"SLO {slo.name} ({slo.objective_percent:g}% over {period})"))
    d = d.with_panel(
        p.stat(
            "Objective",
            f"{about} Target share of good events over the {period} period "
            f"({names.OBJECTIVE.name}).",
            [p.query(f"{names.OBJECTIVE.name}{sel}", "objective", instant=True)],
            "percentunit",
            steps=((None, "blue"),),
            width=4,
            decimals=3,
            links=links,
        )
    )
    d = d.with_panel(
        p.stat(
            f"SLI over {period}",
            f"Good / decided events over the period ({names.SLI.name}, window={period}); red "
            f"below the objective of {slo.objective_percent:g}%. No value: no decided events.",
            [p.query(f"{names.SLI.name}{_sel(slo, window=period)}", "SLI", instant=True)],
            "percentunit",
            steps=((None, "red"), (slo.target, "green")),
            width=4,
            decimals=3,
            links=links,
        )
    )
    d = d.with_panel(
        p.stat(
            "Error budget remaining",
            f"Share of the {period} error budget ({slo.error_budget:.3%} of events) not yet "
            f"spent ({names.BUDGET_REMAINING.name}).",
            [p.query(f"{names.BUDGET_REMAINING.name}{sel}", "remaining", instant=True)],
            "percentunit",
            steps=((None, "red"), (0, "orange"), (0.25, "green")),
            width=4,
            decimals=1,
            links=links,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Error budget burn-down",
            f"Error budget left over time; it reaches 0 when the {period} budget is spent.",
            [p.query(f"{names.BUDGET_REMAINING.name}{sel}", "budget remaining")],
            "percentunit",
            steps=((None, "red"), (0, "green")),
            threshold_lines=True,
            max_value=1,
            width=12,
            height=4,
            links=links,
        )
    )
    tier_lines = "; ".join(
        f"{t.name} ({t.severity}): {t.burn_rate:g}× over {format_duration(t.long_window)} "
        f"and {format_duration(t.short_window)}"
        for t in tiers
    )
    rates = sorted({t.burn_rate for t in tiers})
    colours = ["yellow", "orange", "red", "dark-red", "purple"]
    d = d.with_panel(
        p.timeseries(
            "Burn rate per alert window",
            "Bad share over each window / error budget (1 spends the budget exactly in the "
            f"period; {names.BURN_RATE.name}). A tier fires when both its windows exceed its "
            f"rate; dashed lines are the tiers' rates. Tiers: {tier_lines or 'none enabled'}.",
            [
                p.query(
                    f'{names.BURN_RATE.name}{_sel(slo)[:-1]}, {names.WINDOW}=~"'
                    f'{alternation(window_labels)}"}}',
                    "{{window}}",
                )
            ],
            "x",
            steps=((None, "green"), *((r, colours[min(i, 4)]) for i, r in enumerate(rates))),
            threshold_lines=True,
            min_value=0,
            width=16,
            links=links,
        )
    )
    return d.with_panel(
        p.state_timeline(
            "Alert state per tier",
            f"1 while the tier's multi-window burn-rate alert fires ({names.ALERT_STATE.name}).",
            [
                p.query(
                    f"{names.ALERT_STATE.name}{sel}",
                    f"{{{{{names.TIER}}}}} ({{{{{names.SEVERITY}}}}})",
                )
            ],
            [(0, "ok", "green"), (1, "firing", "red")],
            width=8,
            height=8,
        )
    )
