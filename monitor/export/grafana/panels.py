"""Small builders shared by the hopwatch dashboards, over grafana-foundation-sdk.

Every panel and query goes through here so the dashboards agree on the things a reader notices:
one datasource variable (``$datasource``, never a hard-coded uid, so the same JSON works against
any Prometheus), gaps rather than joined lines where hopwatch exported nothing (an incomplete
bucket is not a zero), and a description on every panel saying where its numbers come from.
"""

from __future__ import annotations

from collections.abc import Sequence

from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.builders import stat as stat_b
from grafana_foundation_sdk.builders import statetimeline as state_b
from grafana_foundation_sdk.builders import text as text_b
from grafana_foundation_sdk.builders import timeseries as ts_b
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash_m
from grafana_foundation_sdk.models import text as text_m

DATASOURCE_VAR = "datasource"
RATE_INTERVAL = "$__rate_interval"

Steps = Sequence[tuple[float | None, str]]
"""Threshold steps: (value, colour); the first value is None (the base colour)."""


def datasource() -> dash_m.DataSourceRef:
    """The Prometheus picked in the dashboard's datasource variable."""
    return dash_m.DataSourceRef(type_val="prometheus", uid="${" + DATASOURCE_VAR + "}")


def datasource_variable() -> dash_b.DatasourceVariable:
    return (
        dash_b.DatasourceVariable(DATASOURCE_VAR)
        .label("Prometheus")
        .type("prometheus")
        .description("The Prometheus that scrapes hopwatch's /metrics.")
    )


def custom_variable(
    name: str, label: str, values: Sequence[str], description: str, *, include_all: bool = True
) -> dash_b.CustomVariable:
    """A variable over names from the config, in the config's order (a query variable would sort
    them, and topology order is what a reader of a pipeline expects)."""
    options = [dash_m.VariableOption(text=v, value=v, selected=False) for v in values]
    var = (
        dash_b.CustomVariable(name)
        .label(label)
        .description(description)
        .values(",".join(v.replace(",", "\\,") for v in values))
        .options(options)
        .multi(include_all)
        .include_all(include_all)
    )
    if include_all:
        var = var.all_value(".*").current(
            dash_m.VariableOption(text="All", value="$__all", selected=True)
        )
    elif values:
        var = var.current(dash_m.VariableOption(text=values[0], value=values[0], selected=True))
    return var


def query(
    expr: str, legend: str = "", ref: str = "A", *, instant: bool = False
) -> prom_b.Dataquery:
    q = prom_b.Dataquery().expr(expr).ref_id(ref).datasource(datasource())
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def thresholds(steps: Steps) -> dash_b.ThresholdsConfig:
    return (
        dash_b.ThresholdsConfig()
        .mode(dash_m.ThresholdsMode.ABSOLUTE)
        .steps([dash_m.Threshold(value=v, color=c) for v, c in steps])
    )


def link(title: str, url: str, tooltip: str = "") -> dash_b.DashboardLink:
    out = (
        dash_b.DashboardLink(title)
        .type(dash_m.DashboardLinkType.LINK)
        .url(url)
        .target_blank(True)
        .keep_time(False)
        .include_vars(False)
        .as_dropdown(False)
        .tags([])
        .icon("external link")
    )
    return out.tooltip(tooltip) if tooltip else out


def timeseries(
    title: str,
    description: str,
    targets: Sequence[prom_b.Dataquery],
    unit: str,
    *,
    steps: Steps = ((None, "green"),),
    threshold_lines: bool = False,
    min_value: float | None = None,
    max_value: float | None = None,
    width: int = 12,
    height: int = 8,
    links: Sequence[dash_b.DashboardLink] = (),
    bars: bool = False,
) -> ts_b.Panel:
    """A time series that never joins across missing samples: hopwatch leaves a series out when
    it has nothing honest to say (an incomplete bucket, no decided events), and a line drawn
    across that gap would claim a value nobody measured."""
    panel = (
        ts_b.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(list(targets))
        .unit(unit)
        .span(width)
        .height(height)
        .span_nulls(False)
        .insert_nulls(False)
        .fill_opacity(10)
        .show_points(common.VisibilityMode.AUTO)
        .thresholds(thresholds(steps))
        .legend(
            common_b.VizLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.LIST)
            .placement(common.LegendPlacement.BOTTOM)
            .calcs([])
        )
    )
    if bars:
        panel = panel.draw_style(common.GraphDrawStyle.BARS).fill_opacity(60)
    if threshold_lines:
        panel = panel.thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.DASHED)
        )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if links:
        panel = panel.links(list(links))
    return panel


def stat(
    title: str,
    description: str,
    targets: Sequence[prom_b.Dataquery],
    unit: str,
    *,
    steps: Steps = ((None, "green"),),
    width: int = 6,
    height: int = 4,
    decimals: int | None = None,
    links: Sequence[dash_b.DashboardLink] = (),
) -> stat_b.Panel:
    panel = (
        stat_b.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(list(targets))
        .unit(unit)
        .span(width)
        .height(height)
        .thresholds(thresholds(steps))
        .color_mode(common.BigValueColorMode.VALUE)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    if decimals is not None:
        panel = panel.decimals(decimals)
    if links:
        panel = panel.links(list(links))
    return panel


def count_now(
    title: str, description: str, expr: str, legend: str, *, width: int, height: int
) -> stat_b.Panel:
    """How many things are wrong right now (missing events, firing tiers, alarming series):
    one instant query, whole numbers, red from the first one."""
    return stat(
        title,
        description,
        [query(expr, legend, instant=True)],
        "short",
        steps=((None, "green"), (1, "red")),
        width=width,
        height=height,
        decimals=0,
    )


def state_timeline(
    title: str,
    description: str,
    targets: Sequence[prom_b.Dataquery],
    states: Sequence[tuple[int, str, str]],
    *,
    width: int = 12,
    height: int = 6,
) -> state_b.Panel:
    """Numbers mapped to named, coloured states: (value, text, colour)."""
    mapping = dash_m.ValueMap(
        options={
            str(v): dash_m.ValueMappingResult(text=text, color=color, index=i)
            for i, (v, text, color) in enumerate(states)
        }
    )
    return (
        state_b.Panel()
        .title(title)
        .description(description)
        .datasource(datasource())
        .targets(list(targets))
        .span(width)
        .height(height)
        .mappings([mapping])
        .show_value(common.VisibilityMode.AUTO)
        .merge_values(True)
        .thresholds(thresholds(((None, "green"),)))
    )


def markdown(title: str, content: str, *, width: int = 24, height: int = 5) -> text_b.Panel:
    return (
        text_b.Panel()
        .title(title)
        .mode(text_m.TextMode.MARKDOWN)
        .content(content)
        .span(width)
        .height(height)
    )


def dashboard(
    title: str, uid: str, description: str, tags: list[str], since: str, refresh: str
) -> dash_b.Dashboard:
    """A hopwatch dashboard with the settings they all share: browser time zone, editable,
    a shared crosshair, and the datasource variable (never a hard-coded datasource uid)."""
    return (
        dash_b.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(tags)
        .time(since, "now")
        .refresh(refresh)
        .timezone("browser")
        .editable()
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .with_variable(datasource_variable())
    )
