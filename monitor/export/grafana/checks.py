"""The *Checks* dashboard: state and score of every check and series, with the threshold in use.

Each check's score is its p-value (or CUSUM statistic) on a shared log scale
(``monitor.anomaly.proportion.surprise``): 0.5 exactly at the alarm threshold the check's
false-alarm budget sets, 0.25 at the warning level, so one pair of threshold lines is right for
every kind. The state timeline shows learning / ok / warn / firing per series.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash_b

from monitor import names
from monitor.anomaly.model import CheckDef
from monitor.config.model import Config
from monitor.export.grafana import panels as p

WARN_SCORE = 0.25
FIRE_SCORE = 0.5
STATES = [(0, "learning", "blue"), (1, "ok", "green"), (2, "warn", "orange"), (3, "firing", "red")]


def state_expr(check: str) -> str:
    """The one-hot ``hopwatch_check_state`` as one number per series (0 learning … 3 firing)."""
    terms = []
    for value, state, _ in STATES:
        sel = f'{{{names.CHECK}="{check}", {names.STATE}="{state}"}}'
        terms.append(f"{value} * sum without ({names.STATE}) ({names.CHECK_STATE.name}{sel})")
    return "\n+ ".join(terms)


def checks_dashboard(config: Config, checks: list[CheckDef]) -> dash_b.Dashboard:
    d = p.dashboard(
        "hopwatch / checks",
        "hopwatch-checks",
        "State and anomaly score of every statistical check in checks/.",
        ["hopwatch", "checks"],
        "now-24h",
        "1m",
    ).with_variable(
        p.custom_variable(
            "check", "Check", [c.name for c in checks], "Checks from checks/ (overview)."
        )
    )
    d = d.with_row(dash_b.Row("Overview"))
    d = d.with_panel(
        p.count_now(
            "Series firing or warning",
            "Series of each check in warn or firing now (hopwatch_check_state).",
            f"sum by ({names.CHECK}) ({names.CHECK_STATE.name}"
            f'{{{names.CHECK}=~"$check", {names.STATE}=~"warn|firing"}})',
            "{{check}}",
            width=24,
            height=4,
        )
    )
    for check in checks:
        d = _check_row(d, config, check)
    return d


def _check_row(d: dash_b.Dashboard, config: Config, check: CheckDef) -> dash_b.Dashboard:
    t = check.target
    where = f"edge `{t.edge}`" if t.edge else f"hop `{t.hop}`"
    split = f", one series per `{t.segment_by}`" if t.segment_by else ""
    pipeline = config.pipeline(t.pipeline)
    bucket = pipeline.bucket_seconds if pipeline else 60.0
    alpha = check.alpha(bucket)
    links = []
    if check.runbook_url:
        links.append(p.link("Runbook", check.runbook_url, f"Runbook of {check.name}"))
    about = (
        f"{check.kind.capitalize()} check on {t.pipeline} {where}{split}. Alarms at "
        f"p < {alpha:.3g} per {bucket:g} s bucket ({check.false_alarms_per_30d:g} false alarm(s) "
        f"per 30 days per series); score {FIRE_SCORE} is that threshold, {WARN_SCORE} the "
        "warning level."
    )
    sel = f'{{{names.CHECK}="{check.name}"}}'
    d = d.with_row(dash_b.Row(f"Check {check.name} ({check.kind})"))
    d = d.with_panel(
        p.state_timeline(
            f"{check.name}: state",
            about,
            [p.query(state_expr(check.name), "{{segment}}")],
            STATES,
            width=12,
            height=7,
        )
    )
    return d.with_panel(
        p.timeseries(
            f"{check.name}: score",
            about,
            [p.query(f"{names.CHECK_SCORE.name}{sel}", "{{segment}}")],
            "none",
            steps=((None, "green"), (WARN_SCORE, "orange"), (FIRE_SCORE, "red")),
            threshold_lines=True,
            min_value=0,
            max_value=1,
            height=7,
            links=links,
        )
    )
