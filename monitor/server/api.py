"""Read-only endpoints: health, readiness, ``/metrics`` and the JSON API for pipelines and alerts.

Everything here reads one ``Engine.view()`` taken at the moment of the request; nothing writes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from monitor import names
from monitor.config.model import Edge, Pipeline
from monitor.engine_view import EngineView
from monitor.ledger.records import EdgeResult
from monitor.ledger.sketch import LatencySketch
from monitor.server.problems import json_response
from monitor.server.runtime import Runtime

RECENT_RESULTS = 3600.0
"""How far back ``/api/v1/pipelines`` asks the store for an edge's last bucket after a restart."""


class ReadApi:
    """Handlers bound to one runtime and the app's metrics registry."""

    def __init__(self, runtime: Runtime, registry: CollectorRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    async def healthz(self, _request: Request) -> Response:
        """Liveness: the process answers. Readiness is separate so restarts are not kill loops."""
        return PlainTextResponse("ok")

    async def readyz(self, _request: Request) -> Response:
        if self.runtime.ready():
            standby_of = getattr(self.runtime, "standby_of", None)
            leader = standby_of() if callable(standby_of) else None
            if isinstance(leader, str):  # serving reads; writes go to the leader (``/-/ready``)
                return PlainTextResponse(f"ready: standby, the leader is {leader or 'unknown'}")
            return PlainTextResponse("ready")
        return PlainTextResponse("not ready: restoring state", status_code=503)

    async def metrics(self, request: Request) -> Response:
        """Prometheus text by default; OpenMetrics (with exemplars) when the scraper asks for it.

        Prometheus asks for OpenMetrics first by default; exemplars only exist in that format.
        """
        accept = request.headers.get("accept", "")
        if "application/openmetrics-text" in accept:
            encoder, content_type = choose_encoder(accept)
            return Response(encoder(self.registry), headers={"Content-Type": content_type})
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

    async def alerts(self, _request: Request) -> Response:
        """Every alert, with ``silenced_by`` (ids of the active silences that mute it) and, when
        the process routes alerts itself, ``inhibited_by`` (fingerprints of the alerts that
        inhibit it) and ``muted_by_time_intervals``, as of the notifier's last round."""
        silences, now = self.runtime.silences, self.runtime.clock.now()
        notifier = getattr(self.runtime, "notifier", None)
        out = []
        for a in self.runtime.engine.view().alerts:
            item = {**a.to_json(), "silenced_by": list(silences.muting(dict(a.labels), now))}
            if notifier is not None:
                status = notifier.dispatcher.status(a.fingerprint)
                item["inhibited_by"] = list(status.inhibited_by)
                item["muted_by_time_intervals"] = list(status.time_muted_by)
            out.append(item)
        return json_response(out)

    async def pipelines(self, _request: Request) -> Response:
        view = self.runtime.engine.view()
        return json_response([self._pipeline(p, view) for p in self.runtime.config.pipelines])

    async def slos(self, _request: Request) -> Response:
        """Every SLO's last evaluation: SLI and counts per window, budget, burn rates, tiers."""
        view = self.runtime.engine.view()
        by_name = {s.slo: s for s in view.slo_statuses}
        out = []
        for slo in view.slos:
            status = by_name.get(slo.name)
            out.append(
                {
                    "name": slo.name,
                    "service": slo.service,
                    "objective": slo.target,
                    "indicator": str(slo.indicator.kind),
                    "status": None if status is None else msgspec.to_builtins(status),
                }
            )
        return json_response(out)

    async def checks(self, _request: Request) -> Response:
        """Every check (configured ones and the built-in edge watches) with each series' last
        judgement: state, score, the bucket it judged, the evidence (numbers only), and the
        threshold in use with how it was calibrated, so an owner can see why a series alarms."""
        view = self.runtime.engine.view()
        series: dict[str, list[dict[str, Any]]] = {}
        for entry in view.check_series:
            score = entry.last
            series.setdefault(entry.check.name, []).append(
                {
                    "series": entry.series,
                    "state": str(score.state),
                    "score": score.score,
                    "alert": score.alert,
                    "bucket_start": score.at,
                    "evidence": to_jsonable(score.evidence),
                    # The threshold this series is judged against now, and how it was set (a
                    # series' own score tail, a simulated ARL0 ...); null while it learns.
                    "threshold": to_jsonable(score.evidence.get("threshold")),
                    "calibration": score.evidence.get("calibration"),
                }
            )
        out = []
        for check in view.checks:
            t = check.target
            out.append(
                {
                    "name": check.name,
                    "kind": str(check.kind),
                    "owner": check.owner,
                    "labels": dict(check.labels),
                    "target": {
                        "pipeline": t.pipeline,
                        "hop": t.hop,
                        "edge": t.edge,
                        "segment_by": t.segment_by,
                    },
                    "false_alarms_per_30d": check.false_alarms_per_30d,
                    "min_events": check.min_events,
                    "warmup_seconds": check.warmup,
                    "for_seconds": check.for_,
                    "keep_firing_for_seconds": check.keep_firing_for,
                    "series": series.get(check.name, []),
                }
            )
        return json_response(out)

    # --- views --------------------------------------------------------------------------------

    def _pipeline(self, pipeline: Pipeline, view: EngineView) -> dict[str, Any]:
        ledger = view.ledgers.get(pipeline.name)
        return {
            "name": pipeline.name,
            "description": pipeline.description,
            "bucket_seconds": pipeline.bucket_seconds,
            "allowed_lateness": pipeline.allowed_lateness,
            "id_sampling": pipeline.id_sampling,
            "attributes": sorted(pipeline.attributes),
            "hops": [
                {
                    "name": hop.name,
                    "description": hop.description,
                    "totals": {
                        status: n
                        for (p, h, status), n in sorted(view.hop_totals.items())
                        if p == pipeline.name and h == hop.name
                    },
                }
                for hop in pipeline.hops
            ],
            "edges": [self._edge(pipeline, edge, view) for edge in pipeline.edges],
            "ledger": None
            if ledger is None
            else {
                "pending_ids": ledger.pending_ids,
                "open_buckets": ledger.open_buckets,
                "late_observations": ledger.late_observations,
                "overflow_observations": ledger.overflow_observations,
            },
        }

    def _edge(self, pipeline: Pipeline, edge: Edge, view: EngineView) -> dict[str, Any]:
        totals = view.edge_totals.get((pipeline.name, edge.name))
        last = view.last_edge.get((pipeline.name, edge.name)) or self._stored_last(
            pipeline.name, edge.name
        )
        return {
            "name": edge.name,
            "from": edge.from_hop,
            "to": edge.to_hop,
            "where": edge.where.source,
            "expectation": {
                "kind": edge.expect.kind.value,
                "ratio": edge.expect.ratio,
                "tolerance": edge.expect.tolerance,
            },
            "totals": None
            if totals is None
            else {
                "expected": totals.expected,
                "arrived": totals.arrived,
                "missing": totals.missing,
                "duplicates": totals.duplicates,
                "late": totals.late,
            },
            "last_bucket": None if last is None else edge_result_json(last),
        }

    def _stored_last(self, pipeline: str, edge: str) -> EdgeResult | None:
        """After a restart the engine has totals but no last bucket yet; the store has it."""
        store = self.runtime.store
        if store is None:
            return None
        since = self.runtime.clock.now() - RECENT_RESULTS
        results = store.edge_results(pipeline, edge, since=since)
        return results[-1] if results else None


def _quantiles(sketch: LatencySketch) -> dict[str, float | None]:
    return {names.quantile_label(q): sketch.quantile(q) for q in names.QUANTILES}


def edge_result_json(r: EdgeResult) -> dict[str, Any]:
    return {
        "bucket_start": r.bucket_start,
        "bucket_seconds": r.bucket_seconds,
        "expected": r.expected,
        "arrived": r.arrived,
        "missing": r.missing,
        "duplicates": r.duplicates,
        "late": r.late,
        "loss_ratio": r.loss_ratio,
        "mode": r.mode.value,
        "sample_rate": r.sample_rate,
        "completeness": r.completeness.value,
        "latency_seconds": _quantiles(r.latency),
        "missing_ids_sample": list(r.missing_ids),
    }


def to_jsonable(value: Any) -> Any:
    """Evidence as JSON: numbers, strings and lists of them; numpy scalars become floats, and
    infinities or NaN (a threshold not yet learned) become null rather than invalid JSON."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if isinstance(value, int):
        return value
    return number if math.isfinite(number) else None
