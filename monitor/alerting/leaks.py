"""``HopwatchForbiddenFlow``: an alert the moment a restricted event crosses a forbidden edge.

Forbidden edges (``expect: none``) are not judged statistically: there is no baseline, warm-up,
``for`` or sampling threshold, because one consent-denied signup reaching activation is already
the incident. At each tick the engine drains the ledgers' leak logs (``monitor.ledger.forbidden``)
and hands them here: an edge with new leaks gets a firing verdict carrying the leaked ids (a
bounded, opaque sample) and where they came from; every other forbidden edge gets a clean one.

A leak does not resolve by itself: the events are delivered and stay delivered. The alert keeps
firing for the edge's ``keep_firing_for`` (24h by default) after the last leak, through the book's
``AlertPolicy``, and ends earlier only when someone acknowledges it, which in Alertmanager terms is
a silence on it (``hopwatch silence add alertname=HopwatchForbiddenFlow edge=...``): the alert stays
visible as firing and muted, and a new leak after the silence expires notifies again.
"""

from __future__ import annotations

from collections.abc import Iterable

from monitor.alerting.book import AlertPolicy
from monitor.config.model import Config, Edge
from monitor.labels import labels_of
from monitor.ledger.forbidden import LeakBatch
from monitor.timeutil import format_duration
from monitor.verdict import Judgement, Verdict

CHECK = "forbidden"
"""The ``check`` label of forbidden-flow alerts (alert name ``HopwatchForbiddenFlow``)."""
ALERT_NAME = "HopwatchForbiddenFlow"


def check_name(pipeline: str, edge: str) -> str:
    """The ``check_name`` label: one alert (and one policy) per forbidden edge of a pipeline."""
    return f"{CHECK}:{pipeline}:{edge}"


class ForbiddenFlowJudge:
    """Turns leak batches into verdicts, one alert series per forbidden edge."""

    def __init__(self, config: Config) -> None:
        self._edges: dict[tuple[str, str], Edge] = {
            (p.name, e.name): e for p in config.pipelines for e in p.forbidden_edges
        }

    def policies(self) -> dict[str, AlertPolicy]:
        """Fire at the first leak; resolve only once ``keep_firing_for`` has passed since the
        last one (one clean tick starts that wait, a new leak restarts it)."""
        return {
            check_name(p, name): AlertPolicy(
                for_=0.0, keep_firing_for=edge.keep_firing_for, resolve_after=1
            )
            for (p, name), edge in self._edges.items()
        }

    def verdicts(
        self, batches: Iterable[LeakBatch], now: float, firing: Iterable[str] = ()
    ) -> list[Verdict]:
        """A firing verdict per edge with new leaks; a clean one only for edges whose alert is
        firing (``firing``: their ``check_name`` labels), the rest say nothing."""
        by_edge = {(b.pipeline, b.edge): b for b in batches}
        active = set(firing)
        out = []
        for (pipeline, name), edge in self._edges.items():
            labels = labels_of(
                {
                    "pipeline": pipeline,
                    "edge": name,
                    "from_hop": edge.from_hop,
                    "to_hop": edge.to_hop,
                    "check_name": check_name(pipeline, name),
                    "severity": "page",
                }
            )
            batch = by_edge.get((pipeline, name))
            if batch is None:
                if check_name(pipeline, name) in active:
                    out.append(Verdict(CHECK, labels, Judgement.OK, now))
                continue
            out.append(
                Verdict(
                    CHECK,
                    labels,
                    Judgement.FIRING,
                    now,
                    score=float(batch.count),
                    summary=_summary(edge, batch),
                    evidence={
                        "leaked": batch.count,
                        "leaked_event_ids": list(batch.event_ids),
                        "from_hop": edge.from_hop,
                        "to_hop": edge.to_hop,
                        "edge": name,
                        "where": edge.where.source,
                        "first_leak_at": batch.first_at,
                        "last_leak_at": batch.last_at,
                        "bucket_starts": list(batch.bucket_starts),
                        "keep_firing_for": edge.keep_firing_for,
                    },
                )
            )
        return out


def _summary(edge: Edge, batch: LeakBatch) -> str:
    events = "event" if batch.count == 1 else "events"
    ids = ", ".join(batch.event_ids[:5])
    more = f" (+{batch.count - 5} more)" if batch.count > 5 else ""
    return (
        f"{batch.count} restricted {events} ({edge.where.source}) left {edge.from_hop} and "
        f"reached {edge.to_hop}: {ids}{more}; keeps firing "
        f"{format_duration(edge.keep_firing_for)} after the last leak unless silenced"
    )


__all__ = ["ALERT_NAME", "CHECK", "ForbiddenFlowJudge", "check_name"]
