"""The status page at ``/`` and the edge pages at ``/edges/{pipeline}/{edge}``: server-rendered HTML.

Why server-rendered: the page must work with no build step, no internet and no vendored framework,
and read with a screen reader. So everything is HTML tables, inline SVG (each with a text
alternative) and one small inline script that polls ``/api/v1/status`` and swaps the live part of
the page in place when the engine has ticked (keeping keyboard focus where it was).

It reads one frozen ``Engine.view()`` per request, the silences book and, for an edge's longer
history, the store — never the engine's live objects — and needs only the ``read`` scope. Every
name (from the config) and every piece of evidence (it may hold event ids) is escaped through
``esc``; nothing from a request is echoed without it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import Any, Final
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from monitor.alerting.alert import Alert, AlertState
from monitor.config.model import Edge, Pipeline
from monitor.engine_view import EngineView
from monitor.ledger.records import Completeness, EdgeResult, HopBucket
from monitor.routing.silence import SilenceState
from monitor.server.api import edge_result_json
from monitor.server.problems import json_response
from monitor.server.runtime import Runtime

__all__ = ["EdgeState", "StatusPage", "edge_state", "sparkline"]

EDGE_HISTORY_BUCKETS: Final = 240
"""How many buckets of an edge the edge page reads from the store (the view keeps fewer)."""

REFRESH_SECONDS: Final = 5
"""How often the page asks ``/api/v1/status`` whether the engine has ticked."""

EVIDENCE_KEYS: Final = (
    "p_value",
    "alpha",
    "score",
    "statistic",
    "threshold",
    "bucket_loss",
    "expected_arrivals",
    "missing",
    "observed",
    "expected",
)
"""Evidence numbers worth a column, in this order when present (the rest stay in the JSON API)."""

MISSING_IDS_SHOWN: Final = 5


class EdgeState:
    """An edge's colour on the graph, worst first: an alert firing on it, one pending, the last
    bucket incomplete (hopwatch could not see everything: never loss), ok, or no bucket yet."""

    LOSS: Final = "loss"
    PENDING: Final = "pending"
    INCOMPLETE: Final = "incomplete"
    OK: Final = "ok"
    NO_DATA: Final = "nodata"


STATE_TEXT: Final = {
    EdgeState.LOSS: "loss alert firing",
    EdgeState.PENDING: "alert pending",
    EdgeState.INCOMPLETE: "last bucket incomplete",
    EdgeState.OK: "ok",
    EdgeState.NO_DATA: "no bucket closed yet",
}


def esc(value: object) -> str:
    """Every value that reaches the page goes through here (quotes too: it is used in attributes)."""
    return escape(str(value), quote=True)


def fmt_time(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def fmt_pct(x: float | None, digits: int = 1) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x * 100:.{digits}f}%"


def fmt_num(x: Any) -> str:
    """Evidence numbers, compact; non-numbers as text."""
    if isinstance(x, bool) or x is None:
        return str(x)
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        if not math.isfinite(x):
            return "-"
        return f"{x:.3g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.4g}"
    return str(x)


def fmt_seconds(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x * 1000:.0f}ms" if x < 1 else f"{x:.2f}s"


def edge_url(pipeline: str, edge: str) -> str:
    """The edge page's path; edge names hold ``->``, so both parts are percent-encoded."""
    return f"/edges/{quote(pipeline, safe='')}/{quote(edge, safe='')}"


# --- reading the view --------------------------------------------------------------------------


def _on(alert: Alert, pipeline: str, edge: str) -> bool:
    labels = dict(alert.labels)
    return labels.get("pipeline") == pipeline and labels.get("edge") == edge


def edge_state(view: EngineView, pipeline: str, edge: str) -> str:
    """The ``EdgeState`` of one edge in ``view`` (see ``EdgeState`` for the order)."""
    states = {a.state for a in view.alerts if _on(a, pipeline, edge)}
    if AlertState.FIRING in states:
        return EdgeState.LOSS
    if AlertState.PENDING in states:
        return EdgeState.PENDING
    last = view.last_edge.get((pipeline, edge))
    if last is None:
        return EdgeState.NO_DATA
    if last.completeness is Completeness.INCOMPLETE:
        return EdgeState.INCOMPLETE
    return EdgeState.OK


def loss_series(results: Iterable[EdgeResult]) -> list[float | None]:
    """Loss ratio per bucket; incomplete buckets and empty ones are gaps (None), never zero."""
    return [None if r.completeness is Completeness.INCOMPLETE else r.loss_ratio for r in results]


def rate_series(buckets: Iterable[HopBucket]) -> list[float | None]:
    """Events per minute per bucket; incomplete buckets are gaps."""
    return [
        None if b.completeness is Completeness.INCOMPLETE else b.total * 60.0 / b.bucket_seconds
        for b in buckets
    ]


def _p95(result: EdgeResult | HopBucket | None) -> float | None:
    return None if result is None else result.latency.quantile(0.95)


# --- SVG -------------------------------------------------------------------------------------


def sparkline(
    values: Sequence[float | None],
    label: str,
    *,
    width: int = 120,
    height: int = 24,
    floor_zero: bool = True,
) -> str:
    """A small line chart as inline SVG: one ``<polyline>`` per run of known values (a ``None``
    breaks the line, so an incomplete bucket reads as a gap, not a zero). ``label`` is its text
    alternative (``role="img"`` + ``<title>``), so a screen reader hears the numbers' summary."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    title = f"<title>{esc(label)}</title>"
    head = (
        f'<svg class="spark" role="img" aria-label="{esc(label)}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">{title}'
    )
    if not known:
        return head + "</svg>"
    lo = 0.0 if floor_zero else min(known)
    hi = max(known)
    span = (hi - lo) or 1.0
    step = width / max(1, len(values) - 1)
    runs: list[list[str]] = [[]]
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            if runs[-1]:
                runs.append([])
            continue
        x = i * step
        y = height - 2 - (v - lo) / span * (height - 4)
        runs[-1].append(f"{x:.1f},{y:.1f}")
    lines = []
    for run in runs:
        if len(run) == 1:
            cx, cy = run[0].split(",")
            lines.append(f'<circle cx="{cx}" cy="{cy}" r="1.5"/>')
        elif run:
            lines.append(f'<polyline fill="none" points="{" ".join(run)}"/>')
    return head + "".join(lines) + "</svg>"


def _spark_label(what: str, values: Sequence[float | None], fmt: Any) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return f"{what}: no data yet"
    gaps = len(values) - len(known)
    text = (
        f"{what} over the last {len(values)} buckets: last {fmt(known[-1])}, "
        f"min {fmt(min(known))}, max {fmt(max(known))}"
    )
    return text + (f", {gaps} incomplete or empty" if gaps else "")


def _per_min(x: float) -> str:
    return f"{x:.0f}/min"


@dataclass(frozen=True)
class _Layout:
    positions: Mapping[str, tuple[float, float]]
    width: int
    height: int


NODE_W: Final = 120
NODE_H: Final = 36
COL_GAP: Final = 140
ROW_GAP: Final = 34


def layout(pipeline: Pipeline) -> _Layout:
    """Hops in topology order: a hop's column is its longest path from a source (config order
    breaks ties and any cycle), its row its rank within that column."""
    depth = {h: 0 for h in pipeline.hop_names}
    for _ in range(len(depth)):  # longest path by relaxation; bounded, so a cycle cannot hang
        changed = False
        for e in pipeline.edges:
            if (
                e.from_hop in depth
                and e.to_hop in depth
                and depth[e.to_hop] < depth[e.from_hop] + 1
            ):
                depth[e.to_hop] = min(depth[e.from_hop] + 1, len(depth) - 1)
                changed = True
        if not changed:
            break
    columns: dict[int, list[str]] = {}
    for hop in pipeline.hop_names:
        columns.setdefault(depth[hop], []).append(hop)
    rows = max((len(c) for c in columns.values()), default=1)
    height = rows * (NODE_H + ROW_GAP) + ROW_GAP
    positions = {}
    for col, hops in columns.items():
        offset = (height - len(hops) * (NODE_H + ROW_GAP) + ROW_GAP) / 2
        for row, hop in enumerate(hops):
            positions[hop] = (20 + col * (NODE_W + COL_GAP), offset + row * (NODE_H + ROW_GAP))
    width = 40 + (max(columns, default=0) + 1) * (NODE_W + COL_GAP) - COL_GAP
    return _Layout(positions, width, int(height))


def graph_svg(pipeline: Pipeline, view: EngineView) -> str:
    """The pipeline as a graph: hops as boxes, edges as arrows coloured by ``edge_state`` with
    the last bucket's loss and p95 on them. Each edge is a link to its page (focusable, named for
    screen readers); the SVG as a whole has a title and the same facts are in the edge table."""
    lay = layout(pipeline)
    parts = [
        f'<svg class="graph" role="group" aria-labelledby="graph-title-{esc(pipeline.name)}" '
        f'width="{lay.width}" height="{lay.height}" viewBox="0 0 {lay.width} {lay.height}">',
        f'<title id="graph-title-{esc(pipeline.name)}">Pipeline {esc(pipeline.name)}: '
        f"{len(pipeline.hops)} hops, {len(pipeline.edges)} edges</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
        "</defs>",
    ]
    for edge in pipeline.edges:
        a, b = lay.positions.get(edge.from_hop), lay.positions.get(edge.to_hop)
        if a is None or b is None:
            continue
        state = edge_state(view, pipeline.name, edge.name)
        last = view.last_edge.get((pipeline.name, edge.name))
        x1, y1 = a[0] + NODE_W, a[1] + NODE_H / 2
        x2, y2 = b[0], b[1] + NODE_H / 2
        if x2 <= x1:  # same column or backwards: route below
            x1, y1 = a[0] + NODE_W / 2, a[1] + NODE_H
            x2, y2 = b[0] + NODE_W / 2, b[1] + NODE_H
        mx, my = (x1 + x2) / 2, (y1 + y2) / 2
        loss = "-" if last is None else fmt_pct(last.loss_ratio)
        delay = fmt_seconds(_p95(last))
        name = (
            f"Edge {edge.name}: {STATE_TEXT[state]}, loss {loss}, p95 delay {delay}. "
            "Open its history."
        )
        parts.append(
            f'<a href="{esc(edge_url(pipeline.name, edge.name))}" class="edge edge-{state}" '
            f'data-edge="{esc(edge.name)}" data-state="{state}" aria-label="{esc(name)}">'
            f"<title>{esc(name)}</title>"
            f'<path d="M{x1:.1f},{y1:.1f} C{mx:.1f},{y1:.1f} {mx:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
            'fill="none" marker-end="url(#arrow)"/>'
            f'<text x="{mx:.1f}" y="{my - 5:.1f}" text-anchor="middle">{esc(loss)} · '
            f"{esc(delay)}</text></a>"
        )
    for hop in pipeline.hops:
        x, y = lay.positions[hop.name]
        bucket = view.last_hop.get((pipeline.name, hop.name))
        rate = "-" if bucket is None else _per_min(bucket.total * 60.0 / bucket.bucket_seconds)
        parts.append(
            f'<g class="hop" data-hop="{esc(hop.name)}">'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + NODE_W / 2:.1f}" y="{y + 15:.1f}" text-anchor="middle" '
            f'class="hop-name">{esc(hop.name)}</text>'
            f'<text x="{x + NODE_W / 2:.1f}" y="{y + 29:.1f}" text-anchor="middle" '
            f'class="hop-rate">{esc(rate)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


# --- HTML sections ---------------------------------------------------------------------------


def _table(caption: str, head: Sequence[str], rows: Sequence[str], css: str = "") -> str:
    """A real table: a caption, ``<th scope="col">`` headers; rows start with a row header."""
    if not rows:
        return f'<p class="empty">{esc(caption)}: none.</p>'
    ths = "".join(f'<th scope="col">{esc(h)}</th>' for h in head)
    cls = f' class="{css}"' if css else ""
    return (
        f"<table{cls}><caption>{esc(caption)}</caption><thead><tr>{ths}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _pipeline_section(pipeline: Pipeline, view: EngineView) -> str:
    hop_rows = []
    for hop in pipeline.hops:
        key = (pipeline.name, hop.name)
        recent = view.recent_hops.get(key, ())
        rates = rate_series(recent)
        last = view.last_hop.get(key)
        rate = "-" if last is None else _per_min(last.total * 60.0 / last.bucket_seconds)
        hop_rows.append(
            f'<tr data-hop="{esc(hop.name)}"><th scope="row">{esc(hop.name)}</th>'
            f"<td>{esc(hop.description)}</td><td>{esc(rate)}</td>"
            f"<td>{esc(fmt_seconds(_p95(last)))}</td>"
            f"<td>{sparkline(rates, _spark_label(f'Rate at {hop.name}', rates, _per_min))}</td>"
            "</tr>"
        )
    edge_rows = [_edge_row(pipeline, edge, view) for edge in pipeline.edges]
    return (
        f'<section aria-labelledby="p-{esc(pipeline.name)}"><h2 id="p-{esc(pipeline.name)}">'
        f"Pipeline {esc(pipeline.name)}</h2><p>{esc(pipeline.description)}</p>"
        f'<div class="graph-wrap">{graph_svg(pipeline, view)}</div>'
        + _legend()
        + _table(
            f"Edges of {pipeline.name} (last closed bucket)",
            ["Edge", "State", "Expected", "Arrived", "Missing", "Loss", "p95 delay", "Loss trend"],
            edge_rows,
            "edges",
        )
        + _table(
            f"Hops of {pipeline.name} (last closed bucket)",
            ["Hop", "Description", "Rate", "p95 latency", "Rate trend"],
            hop_rows,
            "hops",
        )
        + "</section>"
    )


def _legend() -> str:
    items = "".join(
        f'<li><span class="swatch edge-{s}" aria-hidden="true"></span>{esc(t)}</li>'
        for s, t in STATE_TEXT.items()
    )
    return f'<ul class="legend" aria-label="Edge colours">{items}</ul>'


def _edge_row(pipeline: Pipeline, edge: Edge, view: EngineView) -> str:
    key = (pipeline.name, edge.name)
    state = edge_state(view, pipeline.name, edge.name)
    last = view.last_edge.get(key)
    losses = loss_series(view.recent_edges.get(key, ()))
    label = _spark_label(f"Loss on {edge.name}", losses, fmt_pct)
    numbers = (
        ["-"] * 4
        if last is None
        else [str(last.expected), str(last.arrived), str(last.missing), fmt_pct(last.loss_ratio)]
    )
    cells = "".join(f"<td>{esc(n)}</td>" for n in numbers)
    return (
        f'<tr class="edge-row state-{state}" data-edge="{esc(edge.name)}" data-state="{state}">'
        f'<th scope="row"><a href="{esc(edge_url(pipeline.name, edge.name))}">{esc(edge.name)}'
        f'</a></th><td><span class="badge edge-{state}">{esc(STATE_TEXT[state])}</span></td>'
        f"{cells}<td>{esc(fmt_seconds(_p95(last)))}</td>"
        f"<td>{sparkline(losses, label)}</td></tr>"
    )


def _evidence(alert: Alert) -> str:
    """The numbers behind an alert: the missing ids sample, the test's statistics, and the
    latency attribution (which hop added the delay)."""
    ev = alert.evidence
    parts = []
    for key, heading in (
        ("missing_ids", "missing ids (sample)"),
        ("sample_event_ids", "bad events"),
    ):
        ids = ev.get(key)
        if isinstance(ids, (list, tuple)) and ids:
            shown = ", ".join(f"<code>{esc(i)}</code>" for i in list(ids)[:MISSING_IDS_SHOWN])
            more = len(ids) - MISSING_IDS_SHOWN
            parts.append(
                f"<dt>{heading}</dt><dd>{shown}{esc(f' and {more} more' if more > 0 else '')}</dd>"
            )
    for key in EVIDENCE_KEYS:
        if key in ev and not isinstance(ev[key], (list, tuple, dict)):
            parts.append(f"<dt>{esc(key.replace('_', ' '))}</dt><dd>{esc(fmt_num(ev[key]))}</dd>")
    attribution = ev.get("attribution")
    if isinstance(attribution, (list, tuple)) and attribution:
        items = ", ".join(
            f"{esc(pair[0])} {esc(fmt_num(pair[1]))}s"
            for pair in attribution
            if isinstance(pair, (list, tuple)) and len(pair) == 2
        )
        parts.append(f"<dt>latency attribution</dt><dd>{items}</dd>")
    trace_ids = ev.get("trace_ids")
    if isinstance(trace_ids, (list, tuple)) and trace_ids:
        items = ", ".join(f"<code>{esc(t)}</code>" for t in list(trace_ids)[:3])
        parts.append(f"<dt>slow traces</dt><dd>{items}</dd>")
    return f"<dl>{''.join(parts)}</dl>" if parts else "-"


def _alerts_section(view: EngineView, silenced: Mapping[str, tuple[str, ...]]) -> str:
    rows = []
    for alert in view.alerts:
        if alert.state not in (AlertState.FIRING, AlertState.PENDING):
            continue
        labels = dict(alert.labels)
        where = " ".join(
            f"{k}={labels[k]}"
            for k in ("pipeline", "edge", "hop", "slo", "segment")
            if labels.get(k)
        )
        summary = dict(alert.annotations).get("summary", "")
        muted = silenced.get(alert.fingerprint, ())
        rows.append(
            f'<tr class="alert alert-{esc(alert.state)}" data-alert="{esc(alert.name)}" '
            f'data-edge="{esc(labels.get("edge", ""))}" data-state="{esc(alert.state)}">'
            f'<th scope="row">{esc(alert.name)}</th><td>{esc(alert.state)}</td>'
            f"<td>{esc(where)}</td><td>{esc(fmt_time(alert.starts_at))}</td>"
            f"<td>{esc(summary)}</td><td>{_evidence(alert)}</td>"
            f"<td>{esc(', '.join(muted) or 'no')}</td></tr>"
        )
    return (
        '<section aria-labelledby="alerts"><h2 id="alerts">Alerts</h2>'
        + _table(
            "Firing and pending alerts",
            ["Alert", "State", "Where", "Since", "Summary", "Evidence", "Silenced by"],
            rows,
            "alerts",
        )
        + "</section>"
    )


def _budget_bar(remaining: float | None) -> str:
    if remaining is None:
        return "-"
    clamped = max(0.0, min(1.0, remaining))
    level = "low" if remaining < 0.25 else "ok"
    return (
        f'<span class="bar" aria-hidden="true"><span class="fill {level}" '
        f'style="width:{clamped * 100:.0f}%"></span></span> {esc(fmt_pct(remaining))}'
    )


def _window_name(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _slos_section(view: EngineView) -> str:
    by_name = {s.slo: s for s in view.slo_statuses}
    rows = []
    for slo in view.slos:
        status = by_name.get(slo.name)
        if status is None:
            cells = "<td>-</td>" * 4
        else:
            burns = ", ".join(
                f"{_window_name(w.window)} {'-' if w.burn_rate is None else f'{w.burn_rate:.2f}×'}"
                for w in status.windows
            )
            tiers = ", ".join(f"{t.tier}: {t.state}" for t in status.tiers) or "-"
            cells = (
                f"<td>{esc(fmt_pct(status.period.sli, 3))}</td>"
                f"<td>{_budget_bar(status.budget_remaining)}</td>"
                f"<td>{esc(burns)}</td><td>{esc(tiers)}</td>"
            )
        rows.append(
            f'<tr data-slo="{esc(slo.name)}"><th scope="row">{esc(slo.name)}</th>'
            f"<td>{esc(slo.service)}</td><td>{esc(fmt_pct(slo.target, 3))}</td>{cells}</tr>"
        )
    return (
        '<section aria-labelledby="slos"><h2 id="slos">SLOs</h2>'
        + _table(
            "Service level objectives",
            ["SLO", "Service", "Objective", "SLI (period)", "Budget left", "Burn rate", "Tiers"],
            rows,
            "slos",
        )
        + "</section>"
    )


def _checks_section(view: EngineView) -> str:
    rows = []
    for entry in view.check_series:
        t = entry.check.target
        target = " ".join(
            f"{k}={v}" for k, v in (("pipeline", t.pipeline), ("hop", t.hop), ("edge", t.edge)) if v
        )
        rows.append(
            f'<tr class="check check-{esc(entry.last.state)}" data-check="{esc(entry.check.name)}">'
            f'<th scope="row">{esc(entry.check.name)}</th><td>{esc(entry.check.kind)}</td>'
            f"<td>{esc(target)}</td><td>{esc(entry.series or '-')}</td>"
            f"<td>{esc(entry.last.state)}</td><td>{esc(fmt_num(round(entry.last.score, 4)))}</td>"
            f"<td>{esc(fmt_time(entry.last.at))}</td></tr>"
        )
    return (
        '<section aria-labelledby="checks"><h2 id="checks">Checks</h2>'
        + _table(
            "Checks and the state of each series",
            ["Check", "Kind", "Target", "Series", "State", "Score", "Bucket judged"],
            rows,
            "checks",
        )
        + "</section>"
    )


def _silences_section(runtime: Runtime, now: float) -> str:
    rows = []
    for s in runtime.silences.list(now, (SilenceState.ACTIVE, SilenceState.PENDING)):
        rows.append(
            f'<tr data-silence="{esc(s.id)}"><th scope="row"><code>{esc(s.id)}</code></th>'
            f"<td>{esc(s.state(now))}</td><td>{esc(', '.join(str(m) for m in s.matchers))}</td>"
            f"<td>{esc(fmt_time(s.starts_at))}</td><td>{esc(fmt_time(s.ends_at))}</td>"
            f"<td>{esc(s.created_by)}</td><td>{esc(s.comment)}</td></tr>"
        )
    return (
        '<section aria-labelledby="silences"><h2 id="silences">Silences</h2>'
        + _table(
            "Active and pending silences",
            ["Id", "State", "Matchers", "Starts", "Ends", "Created by", "Comment"],
            rows,
            "silences",
        )
        + "</section>"
    )


# --- the page shell --------------------------------------------------------------------------

STYLE: Final = """
:root{color-scheme:light dark;--ok:#2e7d32;--loss:#c62828;--pending:#ef6c00;--incomplete:#6d6d6d;
--nodata:#9e9e9e;--fg:#1b1b1b;--bg:#fff;--line:#ccc}
@media (prefers-color-scheme:dark){:root{--fg:#eee;--bg:#161616;--line:#444}}
body{font:14px/1.4 system-ui,sans-serif;margin:0 1.5rem 2rem;color:var(--fg);background:var(--bg)}
a{color:inherit}a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #1e88e5;
outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:1rem;top:.5rem;background:var(--bg);padding:.3rem}
header{display:flex;gap:1rem;align-items:baseline;flex-wrap:wrap}
table{border-collapse:collapse;margin:.5rem 0 1.2rem;min-width:50%}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border-bottom:1px solid var(--line);padding:.25rem .6rem;text-align:left;vertical-align:top}
dl{margin:0;display:grid;grid-template-columns:auto 1fr;gap:0 .5rem}dt{font-weight:600}dd{margin:0}
.graph-wrap{overflow-x:auto}.graph rect{fill:var(--bg);stroke:var(--fg);stroke-width:1.5}
.graph text{fill:var(--fg);font-size:12px}.graph .hop-name{font-weight:600}
.graph path{stroke-width:3}.graph a text{paint-order:stroke;stroke:var(--bg);stroke-width:4px}.graph marker path{fill:var(--fg)}
.graph a:focus{outline:none}.graph a:focus path{stroke-width:6}
.edge-ok path,.edge-ok.swatch{stroke:var(--ok);background:var(--ok)}
.edge-loss path,.edge-loss.swatch{stroke:var(--loss);background:var(--loss)}
.edge-pending path,.edge-pending.swatch{stroke:var(--pending);background:var(--pending)}
.edge-incomplete path,.edge-incomplete.swatch{stroke:var(--incomplete);stroke-dasharray:6 4;
background:var(--incomplete)}
.edge-nodata path,.edge-nodata.swatch{stroke:var(--nodata);stroke-dasharray:2 4;background:var(--nodata)}
.badge{padding:0 .4rem;border-radius:3px;color:#fff}.badge.edge-ok{background:var(--ok)}
.badge.edge-loss{background:var(--loss)}.badge.edge-pending{background:var(--pending)}
.badge.edge-incomplete{background:var(--incomplete)}.badge.edge-nodata{background:var(--nodata)}
.legend{display:flex;gap:1rem;list-style:none;padding:0}.swatch{display:inline-block;width:1.2rem;
height:.35rem;margin-right:.3rem;vertical-align:middle}
.spark polyline{stroke:currentColor;stroke-width:1.5}.spark circle{fill:currentColor}
.bar{display:inline-block;width:6rem;height:.6rem;border:1px solid var(--line);vertical-align:middle}
.bar .fill{display:block;height:100%;background:var(--ok)}.bar .fill.low{background:var(--loss)}
tr.state-loss th,tr.alert-firing th{color:var(--loss)}
"""

SCRIPT: Final = """
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("refresh-status");
  var pause = document.getElementById("pause");
  if (!live || !status || !window.fetch || !window.DOMParser) { return; }
  var tick = live.getAttribute("data-tick");
  function note(text) { status.textContent = text; }
  function swap() {
    return fetch(window.location.href, {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.text();
    }).then(function (html) {
      var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
      if (!next) { return; }
      var focused = document.activeElement && live.contains(document.activeElement)
        ? document.activeElement.getAttribute("href") : null;
      live.innerHTML = next.innerHTML;
      tick = next.getAttribute("data-tick");
      live.setAttribute("data-tick", tick);
      if (focused) {
        var again = live.querySelector('a[href="' + focused.replace(/"/g, "") + '"]');
        if (again) { again.focus(); }
      }
      note("Updated " + new Date().toLocaleTimeString() + ".");
    });
  }
  function poll() {
    if (pause && pause.checked) { return; }
    fetch("/api/v1/status", {credentials: "same-origin"}).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    }).then(function (s) {
      if (s.tick !== tick) { return swap(); }
    }).catch(function (err) { note("Refresh failed (" + err.message + "); retrying."); });
  }
  window.setInterval(poll, %(ms)d);
  document.documentElement.setAttribute("data-refresh", "on");
})();
"""


def tick_token(tick: float | None) -> str:
    """The engine's last tick as the page and ``/api/v1/status`` both spell it (compared as text
    by the script, so no float formatting differs between Python and JavaScript)."""
    return "" if tick is None else f"{tick:.6f}"


def page(title: str, body: str, tick: float | None, now: float) -> str:
    """The shell: landmarks, a skip link, the live part (swapped by the script), the refresh
    control and its polite status line."""
    script = SCRIPT.replace("%(ms)d", str(REFRESH_SECONDS * 1000))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        '<a class="skip" href="#live">Skip to content</a>'
        f'<header><h1><a href="/">hopwatch</a></h1><span>{esc(title)}</span>'
        '<label><input type="checkbox" id="pause"> Pause auto-refresh</label>'
        f'<span id="refresh-status" role="status" aria-live="polite">As of '
        f"{esc(fmt_time(now))}.</span></header>"
        f'<main id="live" data-tick="{esc(tick_token(tick))}" tabindex="-1">{body}</main>'
        '<footer><p>JSON: <a href="/api/v1/pipelines">pipelines</a>, '
        '<a href="/api/v1/alerts">alerts</a>, <a href="/api/v1/slos">SLOs</a>, '
        '<a href="/api/v1/checks">checks</a>, <a href="/metrics">metrics</a>.</p></footer>'
        f"<script>{script}</script></body></html>"
    )


def render_status(runtime: Runtime, view: EngineView, now: float) -> str:
    """The whole status page for one view (pure given its inputs: tests render it directly)."""
    silenced = {
        a.fingerprint: runtime.silences.muting(dict(a.labels), now)
        for a in view.alerts
        if a.state in (AlertState.FIRING, AlertState.PENDING)
    }
    firing = sum(1 for a in view.alerts if a.state is AlertState.FIRING)
    pending = sum(1 for a in view.alerts if a.state is AlertState.PENDING)
    summary = (
        f'<p class="summary"><strong>{firing} firing</strong>, {pending} pending. '
        f"Last evaluation {esc(fmt_time(view.last_tick))}.</p>"
    )
    # The graph first: where data is being lost is the question the page answers at a glance.
    body = (
        summary
        + "".join(_pipeline_section(p, view) for p in runtime.config.pipelines)
        + _alerts_section(view, silenced)
        + _slos_section(view)
        + _checks_section(view)
        + _silences_section(runtime, now)
    )
    return page("Status", body, view.last_tick, now)


def render_edge(
    pipeline: Pipeline, edge: Edge, view: EngineView, history: Sequence[EdgeResult], now: float
) -> str:
    """One edge: its state, its alerts, a larger loss chart and every bucket as a table row."""
    state = edge_state(view, pipeline.name, edge.name)
    losses = loss_series(history)
    chart = sparkline(
        losses, _spark_label(f"Loss on {edge.name}", losses, fmt_pct), width=720, height=120
    )
    rows = []
    for r in reversed(history):
        ids = ", ".join(r.missing_ids[:MISSING_IDS_SHOWN])
        rows.append(
            f'<tr class="{esc(r.completeness)}"><th scope="row">{esc(fmt_time(r.bucket_start))}</th>'
            f"<td>{r.expected}</td><td>{r.arrived}</td><td>{r.missing}</td><td>{r.late}</td>"
            f"<td>{r.duplicates}</td><td>{esc(fmt_pct(r.loss_ratio, 2))}</td>"
            f"<td>{esc(fmt_seconds(_p95(r)))}</td><td>{esc(r.completeness)}</td>"
            f"<td>{esc(ids) or '-'}</td></tr>"
        )
    alerts = [a for a in view.alerts if _on(a, pipeline.name, edge.name)]
    alert_rows = [
        f'<tr data-state="{esc(a.state)}"><th scope="row">{esc(a.name)}</th><td>{esc(a.state)}</td>'
        f"<td>{esc(fmt_time(a.starts_at))}</td>"
        f"<td>{esc(dict(a.annotations).get('summary', ''))}</td><td>{_evidence(a)}</td></tr>"
        for a in alerts
    ]
    body = (
        f'<p><a href="/">All pipelines</a> › {esc(pipeline.name)} › {esc(edge.name)}</p>'
        f'<h2 id="edge" data-edge="{esc(edge.name)}" data-state="{state}">Edge {esc(edge.name)}: '
        f'<span class="badge edge-{state}">{esc(STATE_TEXT[state])}</span></h2>'
        f"<p>Events leaving <strong>{esc(edge.from_hop)}</strong> that match "
        f"<code>{esc(edge.where.source or 'everything')}</code> should reach "
        f"<strong>{esc(edge.to_hop)}</strong>.</p>"
        f"<figure>{chart}<figcaption>Loss ratio per bucket, oldest left; gaps are incomplete "
        "or empty buckets.</figcaption></figure>"
        + _table(
            "Alerts on this edge",
            ["Alert", "State", "Since", "Summary", "Evidence"],
            alert_rows,
            "alerts",
        )
        + _table(
            f"History of {edge.name}, newest first",
            [
                "Bucket start",
                "Expected",
                "Arrived",
                "Missing",
                "Late",
                "Duplicates",
                "Loss",
                "p95 delay",
                "Completeness",
                "Missing ids (sample)",
            ],
            rows,
            "history",
        )
    )
    return page(f"Edge {edge.name} of {pipeline.name}", body, view.last_tick, now)


class StatusPage:
    """Handlers for ``/``, ``/edges/{pipeline}/{edge}`` and ``/api/v1/status`` on one runtime."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def index(self, _request: Request) -> Response:
        view = self.runtime.engine.view()
        return HTMLResponse(render_status(self.runtime, view, self.runtime.clock.now()))

    async def edge(self, request: Request) -> Response:
        pipeline, edge = self._edge_of(request)
        if pipeline is None or edge is None:
            return HTMLResponse(
                page("Not found", "<p>No such edge. <a href='/'>All pipelines</a></p>", None, 0.0),
                status_code=404,
            )
        view = self.runtime.engine.view()
        now = self.runtime.clock.now()
        history = await run_in_threadpool(self._history, pipeline, edge, view, now)
        return HTMLResponse(render_edge(pipeline, edge, view, history, now))

    def _edge_of(self, request: Request) -> tuple[Pipeline | None, Edge | None]:
        """The pipeline and edge a ``{pipeline}/{edge}`` path names (None where unknown)."""
        name, edge_name = request.path_params["pipeline"], request.path_params["edge"]
        pipeline = self.runtime.config.pipeline(name)
        if pipeline is None:
            return None, None
        return pipeline, next((e for e in pipeline.edges if e.name == edge_name), None)

    async def edge_buckets(self, request: Request) -> Response:
        """The same history as JSON, oldest first: each closed bucket's expected, arrived,
        missing, duplicates, late and completeness, for scripts and end-to-end tests."""
        pipeline, edge = self._edge_of(request)
        if pipeline is None or edge is None:
            params = request.path_params
            return json_response(
                {"error": f"no edge {params['edge']!r} in pipeline {params['pipeline']!r}"}, 404
            )
        view = self.runtime.engine.view()
        now = self.runtime.clock.now()
        history = await run_in_threadpool(self._history, pipeline, edge, view, now)
        return json_response([edge_result_json(r) for r in history])

    def _history(
        self, pipeline: Pipeline, edge: Edge, view: EngineView, now: float
    ) -> Sequence[EdgeResult]:
        """The store's longer history when there is a store (read-only), else the view's."""
        store = self.runtime.store
        recent = view.recent_edges.get((pipeline.name, edge.name), ())
        if store is None:
            return recent
        since = now - EDGE_HISTORY_BUCKETS * pipeline.bucket_seconds
        stored = store.edge_results(pipeline.name, edge.name, since=since)
        merged = {r.bucket_start: r for r in stored}
        merged.update({r.bucket_start: r for r in recent})  # the engine's may be newer
        return [merged[k] for k in sorted(merged)][-EDGE_HISTORY_BUCKETS:]

    async def status(self, _request: Request) -> Response:
        """What the page polls: the last tick (it re-renders when that changes) and counts."""
        view = self.runtime.engine.view()
        return json_response(
            {
                "tick": tick_token(view.last_tick),
                "last_tick": view.last_tick,
                "firing": sum(1 for a in view.alerts if a.state is AlertState.FIRING),
                "pending": sum(1 for a in view.alerts if a.state is AlertState.PENDING),
            }
        )
