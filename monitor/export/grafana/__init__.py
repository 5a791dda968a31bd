"""Grafana dashboards generated from the config: ``hopwatch export grafana``.

Built with grafana-foundation-sdk (the Grafana-maintained builders, pinned for schemaVersion 41)
rather than hand-written JSON, so a rename in ``monitor/names.py`` or a new SLO, check or edge in
the config reaches the dashboards by regenerating them. Four kinds of dashboard:

- ``pipeline.py``: one per pipeline, hops and edges in topology order;
- ``slos.py``: objectives, SLIs, budget burn-down, burn rates against tier thresholds;
- ``checks.py``: state and score per check and series;
- ``itself.py``: the monitor's own health.

Output is deterministic (sorted keys, fixed ids): the same config gives the same bytes, which is
what lets ``grafana/`` be checked against the generator in a golden test.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from monitor.anomaly.model import CheckDef
from monitor.config.model import Config
from monitor.export.grafana.checks import checks_dashboard
from monitor.export.grafana.itself import itself_dashboard
from monitor.export.grafana.pipeline import pipeline_dashboard
from monitor.export.grafana.slos import slos_dashboard
from monitor.slo.model import SLO

__all__ = ["build_dashboards", "dashboard_json", "panel_targets", "write_dashboards"]


def build_dashboards(
    config: Config, slos: Sequence[SLO], checks: Sequence[CheckDef]
) -> dict[str, dict[str, Any]]:
    """File name → dashboard JSON (as a dict), for every pipeline plus SLOs, checks and itself."""
    url = f"http://{config.server.listen}"
    built: dict[str, dash_b.Dashboard] = {}
    for pipeline in config.pipelines:
        built[f"pipeline-{pipeline.name}.json"] = pipeline_dashboard(
            pipeline, list(slos), list(checks), url
        )
    if slos:
        built["slos.json"] = slos_dashboard(list(slos))
    if checks:
        built["checks.json"] = checks_dashboard(config, list(checks))
    built["hopwatch.json"] = itself_dashboard()
    return {name: _finish(d) for name, d in built.items()}


def _finish(d: dash_b.Dashboard) -> dict[str, Any]:
    """The SDK's JSON, with panel ids numbered in order (Grafana wants them unique)."""
    data: dict[str, Any] = json.loads(json.dumps(d.build(), cls=JSONEncoder))
    next_id = 1
    for panel in _all_panels(data):
        panel["id"] = next_id
        next_id += 1
    return data


def _all_panels(data: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for panel in data.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def panel_targets(data: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL expression) of every target of every panel, rows included."""
    return [
        (panel.get("title", ""), target["expr"])
        for panel in _all_panels(data)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def dashboard_json(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboards(dashboards: dict[str, dict[str, Any]], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in dashboards.items():
        path = out_dir / name
        path.write_text(dashboard_json(data), encoding="utf-8", newline="\n")
        paths.append(path)
    return paths
