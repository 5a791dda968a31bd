"""``hopwatch slo status|explain``, ``hopwatch export prometheus-rules`` and ``export grafana``."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

import httpx

from monitor.config import ConfigError, load_config
from monitor.slo.explain import explain
from monitor.slo.load import load_slos
from monitor.slo.rules import write_rules


def _load(config_path: str):
    config = load_config(config_path)
    return config, load_slos(config)


def explain_command(config_path: str, name: str, out: TextIO = sys.stdout) -> int:
    try:
        _, groups = _load(config_path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    slos = {slo.name: slo for group in groups for slo in group.slos}
    if name not in slos:
        known = ", ".join(sorted(slos)) or "none"
        print(f"hopwatch slo explain: no SLO named {name!r} (known: {known})", file=sys.stderr)
        return 1
    print(explain(slos[name]), file=out)
    return 0


def export_rules_command(
    config_path: str, out_dir: Path, out: TextIO = sys.stdout, format: str = "prometheus"
) -> int:
    """Write the rules of every SLO file; ``format`` ``prometheus-operator`` writes
    ``PrometheusRule`` objects for clusters where the Prometheus Operator loads rules."""
    try:
        _, groups = _load(config_path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    for path in write_rules(groups, out_dir, format):
        print(path, file=out)
    return 0


def export_grafana_command(config_path: str, out_dir: Path, out: TextIO = sys.stdout) -> int:
    """``hopwatch export grafana``: one JSON file per dashboard into ``out_dir``."""
    from monitor.anomaly.load import load_checks
    from monitor.export.grafana import build_dashboards, write_dashboards

    try:
        config, groups = _load(config_path)
        checks = load_checks(config)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    slos = [slo for group in groups for slo in group.slos]
    for path in write_dashboards(build_dashboards(config, slos, checks), out_dir):
        print(path, file=out)
    return 0


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.3g}%"


def _burn(status: dict[str, Any], seconds: float) -> str:
    for w in status["windows"]:
        if w["window"] == seconds and w["burn_rate"] is not None:
            return f"{w['burn_rate']:.2f}×"
    return "-"


def status_table(slos: list[dict[str, Any]]) -> str:
    """The rows of ``hopwatch slo status``: SLO, SLI, budget left, burn 1h/6h/3d, state."""
    header = ("SLO", "OBJECTIVE", "SLI", "BUDGET LEFT", "BURN 1h", "BURN 6h", "BURN 3d", "STATE")
    rows = [header]
    for item in slos:
        st = item["status"]
        if st is None:
            rows.append((item["name"], _pct(item["objective"]), "-", "-", "-", "-", "-", "no data"))
            continue
        firing = [t["tier"] for t in st["tiers"] if t["state"] == "firing"]
        pending = [t["tier"] for t in st["tiers"] if t["state"] == "pending"]
        state = (
            "firing " + ",".join(firing)
            if firing
            else "pending " + ",".join(pending)
            if pending
            else "ok"
        )
        rows.append(
            (
                item["name"],
                _pct(item["objective"]),
                _pct(st["period"]["sli"]),
                _pct(st["budget_remaining"]),
                _burn(st, 3600.0),
                _burn(st, 6 * 3600.0),
                _burn(st, 3 * 86400.0),
                state,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def status_command(
    url: str,
    out: TextIO | None = None,
    config: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The SLO table of a running hopwatch, found by ``url`` or by its ``config``."""
    out = out or sys.stdout  # at call time: a default bound at import would miss redirection
    headers: dict[str, str] = {}
    if config is not None:
        from monitor.config.auth import Scope
        from monitor.daemon_address import from_config

        try:
            address = from_config(config, Scope.READ, environ)
        except ConfigError as exc:
            print(f"hopwatch slo status: {exc}", file=sys.stderr)
            return 2
        url, headers = address.url, address.headers
    try:
        response = httpx.get(url.rstrip("/") + "/api/v1/slos", headers=headers, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError as err:
        print(f"hopwatch slo status: cannot read {url}/api/v1/slos: {err}", file=sys.stderr)
        return 1
    print(status_table(response.json()), file=out)
    return 0
