"""The *Pipeline* dashboard: one per configured pipeline, hops and edges in topology order.

What an on-call person asks first is "where is data being lost": so the top shows the loss ratio
of every edge, then a row per edge (expected / arrived / missing / late / duplicates, the loss
ratio against the edge's tolerance, from→to latency, incomplete buckets) that links to the status
page's edge view, then a row per hop (event rate by status, latency quantiles). The loss ratio is
hopwatch's own gauge for the last closed bucket, which hopwatch leaves out for incomplete buckets:
those show as gaps, never as a reassuring zero.
"""

from __future__ import annotations

from urllib.parse import quote

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.models import dashboard as dash_m

from monitor import names
from monitor.anomaly.model import CheckDef
from monitor.config.model import Edge, ExpectKind, Pipeline
from monitor.export.grafana import panels as p
from monitor.slo import names as slo_names
from monitor.slo.model import SLO

HOPWATCH_URL_VAR = "hopwatch_url"


def topology(pipeline: Pipeline) -> tuple[list[str], list[Edge]]:
    """Hops in topological order (Kahn's algorithm, ties in config order) and edges by (from, to)
    position, so the dashboard reads top to bottom the way events flow."""
    order = {h: i for i, h in enumerate(pipeline.hop_names)}
    indegree = {h: 0 for h in pipeline.hop_names}
    for e in pipeline.edges:
        indegree[e.to_hop] += 1
    ready = [h for h in pipeline.hop_names if indegree[h] == 0]
    out: list[str] = []
    while ready:
        ready.sort(key=order.__getitem__)
        hop = ready.pop(0)
        out.append(hop)
        for e in pipeline.edges_from(hop):
            indegree[e.to_hop] -= 1
            if indegree[e.to_hop] == 0:
                ready.append(e.to_hop)
    out += [h for h in pipeline.hop_names if h not in out]  # a cycle: keep config order
    pos = {h: i for i, h in enumerate(out)}
    edges = sorted(pipeline.edges, key=lambda e: (pos[e.from_hop], pos[e.to_hop]))
    return out, edges


def alternation(values: list[str]) -> str:
    """A PromQL regex matching exactly these names (regex metacharacters escaped twice: once
    for the regex, once for the PromQL string)."""
    special = set(".^$*+?()[]{}|\\")
    return "|".join("".join("\\\\" + c if c in special else c for c in v) for v in values)


def _sel(**labels: str) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def loss_threshold(edge: Edge) -> float:
    """The loss share the edge tolerates: its tolerance, on top of what a ``ratio`` promise
    already expects to go missing."""
    expected_loss = 0.0 if edge.expect.kind is ExpectKind.ALL else 1.0 - edge.expect.ratio
    return expected_loss + edge.expect.tolerance


def edge_view_url(pipeline: str, edge: str) -> str:
    """The status page's edge view, on the hopwatch URL the dashboard variable names."""
    return f"${{{HOPWATCH_URL_VAR}}}/edges/{quote(pipeline, safe='')}/{quote(edge, safe='')}"


def pipeline_dashboard(
    pipeline: Pipeline,
    slos: list[SLO],
    checks: list[CheckDef],
    hopwatch_url: str,
) -> dash_b.Dashboard:
    hops, edges = topology(pipeline)
    pl = "$pipeline"
    d = (
        p.dashboard(
            f"hopwatch / pipeline {pipeline.name}",
            f"hopwatch-pipeline-{pipeline.name}"[:40],
            pipeline.description or f"Pipeline {pipeline.name}, hop by hop.",
            ["hopwatch", "pipeline", pipeline.name],
            "now-6h",
            "30s",
        )
        .with_variable(
            p.custom_variable(
                "pipeline",
                "Pipeline",
                [pipeline.name],
                "The pipeline this dashboard was generated for (hopwatch.yaml).",
                include_all=False,
            )
        )
        .with_variable(
            p.custom_variable(
                "edge",
                "Edge",
                [e.name for e in edges],
                "Edges in topology order; filters the overview panels.",
            )
        )
        .with_variable(
            dash_b.TextBoxVariable(HOPWATCH_URL_VAR)
            .label("hopwatch URL")
            .description("Base URL of hopwatch's status page, for the edge links.")
            .default_value(hopwatch_url)
        )
        .link(p.link("hopwatch status page", f"${{{HOPWATCH_URL_VAR}}}/", "hopwatch's own view"))
    )
    for annotation in _annotations(pipeline, slos, checks):
        d = d.annotation(annotation)

    flow = " → ".join(f"`{h}`" for h in hops)
    edge_lines = "\n".join(
        f"- `{e.name}`"
        + (f": where `{e.where.source}`" if e.where.source else ": every event")
        + (f", expect {e.expect.ratio:g} of them" if e.expect.kind is ExpectKind.RATIO else "")
        for e in edges
    )
    d = d.with_panel(
        p.markdown(
            "Topology",
            f"{pipeline.description}\n\nHops: {flow}\n\nEdges (what each promises):\n{edge_lines}\n\n"
            f"Buckets of {pipeline.bucket_seconds:g} s close {pipeline.allowed_lateness:g} s after "
            "they end; every number below is per closed bucket.",
            height=7,
        )
    )
    d = d.with_row(dash_b.Row("Edges overview"))
    all_edges = f'{{{names.PIPELINE}="{pl}", {names.EDGE}=~"$edge"}}'
    d = d.with_panel(
        p.timeseries(
            "Loss ratio by edge",
            "missing / expected in each edge's last closed bucket "
            f"({names.EDGE_LOSS_RATIO.name}). Gaps are buckets hopwatch could not fully observe "
            "or where nothing was expected: not zero loss, no measurement.",
            [p.query(f"{names.EDGE_LOSS_RATIO.name}{all_edges}", "{{edge}}")],
            "percentunit",
            steps=(
                (None, "green"),
                (min(loss_threshold(e) for e in edges) if edges else 0.001, "red"),
            ),
            threshold_lines=True,
            min_value=0,
            width=16,
        )
    )
    d = d.with_panel(
        p.count_now(
            "Missing events by edge (range)",
            f"Events expected and not seen at the to hop over the dashboard's time range "
            f"({names.EDGE_MISSING.name}).",
            f"sum by ({names.EDGE}) (increase({names.EDGE_MISSING.name}{all_edges}[$__range]))",
            "{{edge}}",
            width=8,
            height=8,
        )
    )
    for edge in edges:
        d = _edge_row(d, pipeline, edge)
    for hop in hops:
        d = _hop_row(d, pipeline, hop)
    return d


def _forbidden_row(d: dash_b.Dashboard, pipeline: Pipeline, edge: Edge) -> dash_b.Dashboard:
    """A forbidden edge (``expect: none``) promises that nothing crosses: its one number is the
    leaks (blocked events are its success, not "missing"), and it has no latency to show."""
    sel = _sel(pipeline="$pipeline", edge=edge.name)
    d = d.with_row(dash_b.Row(f"Forbidden {edge.from_hop} -/-> {edge.to_hop}"))
    return d.with_panel(
        p.timeseries(
            f"{edge.name}: leaked events",
            f"Events matching `{edge.where.source}` at `{edge.from_hop}` that reached "
            f"`{edge.to_hop}` anyway ({names.EDGE_FORBIDDEN.name}); any value above 0 is a "
            "leak and fires HopwatchForbiddenFlow.",
            [
                p.query(
                    f"sum(increase({names.EDGE_FORBIDDEN.name}{sel}[{p.RATE_INTERVAL}]))",
                    "leaked",
                )
            ],
            "short",
            steps=((None, "green"), (1, "red")),
            min_value=0,
            width=24,
            links=[
                p.link(
                    f"{edge.name} in hopwatch",
                    edge_view_url(pipeline.name, edge.name),
                    "The status page's edge view: the leaked ids and the alert",
                )
            ],
        )
    )


def _edge_row(d: dash_b.Dashboard, pipeline: Pipeline, edge: Edge) -> dash_b.Dashboard:
    if edge.forbidden:
        return _forbidden_row(d, pipeline, edge)
    sel = _sel(pipeline="$pipeline", edge=edge.name)
    links = [
        p.link(
            f"{edge.name} in hopwatch",
            edge_view_url(pipeline.name, edge.name),
            "The status page's edge view: history, missing ids, alerts",
        )
    ]
    where = f"where `{edge.where.source}`" if edge.where.source else "every event"
    limit = loss_threshold(edge)
    d = d.with_row(dash_b.Row(f"Edge {edge.from_hop} → {edge.to_hop}"))
    counts = [
        p.query(f"sum(increase({m.name}{sel}[{p.RATE_INTERVAL}]))", legend, chr(ord("A") + i))
        for i, (m, legend) in enumerate(
            [
                (names.EDGE_EXPECTED, "expected"),
                (names.EDGE_ARRIVED, "arrived"),
                (names.EDGE_MISSING, "missing"),
                (names.EDGE_LATE, "late"),
                (names.EDGE_DUPLICATE, "duplicates"),
            ]
        )
    ]
    d = d.with_panel(
        p.timeseries(
            f"{edge.name}: expected, arrived, missing, late, duplicates",
            f"Events leaving `{edge.from_hop}` ({where}) and what became of them at "
            f"`{edge.to_hop}`, summed over the buckets that closed in each interval.",
            counts,
            "short",
            min_value=0,
            width=9,
            links=links,
        )
    )
    d = d.with_panel(
        p.timeseries(
            f"{edge.name}: loss ratio",
            f"missing / expected of the last closed bucket; the dashed line is the edge's "
            f"tolerated loss ({limit:.3%}). Incomplete buckets (hopwatch down or a source "
            "failing) are gaps, not zeros.",
            [p.query(f"{names.EDGE_LOSS_RATIO.name}{sel}", "loss ratio")],
            "percentunit",
            steps=((None, "green"), (limit, "red")),
            threshold_lines=True,
            min_value=0,
            width=7,
            links=links,
        )
    )
    d = d.with_panel(
        p.timeseries(
            f"{edge.name}: latency quantiles",
            f"{edge.from_hop} → {edge.to_hop} latency of the events in the last closed bucket "
            f"({names.EDGE_LATENCY.name}).",
            [p.query(f"{names.EDGE_LATENCY.name}{sel}", "p{{quantile}}")],
            "s",
            min_value=0,
            width=5,
            links=links,
        )
    )
    return d.with_panel(
        p.stat(
            f"{edge.name}: incomplete buckets",
            "Closed buckets hopwatch could not fully observe over the time range: never "
            "counted as loss.",
            [
                p.query(
                    f"sum(increase({names.EDGE_INCOMPLETE.name}{sel}[$__range]))",
                    "incomplete",
                    instant=True,
                )
            ],
            "short",
            steps=((None, "green"), (1, "orange")),
            width=3,
            height=8,
            decimals=0,
            links=links,
        )
    )


def _hop_row(d: dash_b.Dashboard, pipeline: Pipeline, hop: str) -> dash_b.Dashboard:
    sel = _sel(pipeline="$pipeline", hop=hop)
    desc = next((h.description for h in pipeline.hops if h.name == hop), "")
    d = d.with_row(dash_b.Row(f"Hop {hop}" + (f": {desc}" if desc else "")))
    d = d.with_panel(
        p.timeseries(
            f"{hop}: events per second by status",
            f"Events observed at `{hop}` (pushed or pulled), by the status the hop gave them "
            f"({names.HOP_EVENTS.name}).",
            [
                p.query(
                    f"sum by ({names.STATUS}) (rate({names.HOP_EVENTS.name}{sel}[{p.RATE_INTERVAL}]))",
                    "{{status}}",
                )
            ],
            "ops",
            min_value=0,
        )
    )
    return d.with_panel(
        p.timeseries(
            f"{hop}: latency quantiles (observed − event time)",
            f"Quantiles of observed_time − event_time at `{hop}` in the last closed bucket "
            f"({names.HOP_LATENCY.name}).",
            [p.query(f"{names.HOP_LATENCY.name}{sel}", "p{{quantile}}")],
            "s",
            min_value=0,
        )
    )


def _annotations(
    pipeline: Pipeline, slos: list[SLO], checks: list[CheckDef]
) -> list[dash_b.AnnotationQuery]:
    """Alerts as annotations: check series in ``firing`` and SLO tiers firing, for this
    pipeline's checks and SLOs (hopwatch's own judgement, exported as gauges)."""
    out = [
        dash_b.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(dash_m.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .type("dashboard")
        .built_in(1)
    ]
    names_ = [c.name for c in checks if c.target.pipeline == pipeline.name]
    if names_:
        out.append(
            dash_b.AnnotationQuery()
            .name("Check alerts")
            .datasource(p.datasource())
            .enable(True)
            .icon_color("red")
            .expr(
                f"max by ({names.CHECK}, {names.SEGMENT}) ({names.CHECK_STATE.name}"
                f'{{{names.CHECK}=~"{alternation(names_)}", {names.STATE}="firing"}}) == 1'
            )
        )
    of_pipeline = [s.name for s in slos if s.indicator.pipeline == pipeline.name]
    if of_pipeline:
        out.append(
            dash_b.AnnotationQuery()
            .name("SLO burn-rate alerts")
            .datasource(p.datasource())
            .enable(True)
            .icon_color("orange")
            .expr(
                f"max by ({slo_names.SLO}, {slo_names.TIER}, {slo_names.SEVERITY}) "
                f'({slo_names.ALERT_STATE.name}{{{slo_names.SLO}=~"{alternation(of_pipeline)}"}}) == 1'
            )
        )
    return out
