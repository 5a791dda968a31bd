"""Runs the statistical checks on what the ledger closes: series per check, a detector per series.

Pure: each tick hands in the newly closed hop buckets and edge results; the runner turns them into
each check's series points (a count, expected/arrived, category counts, a latency sketch), feeds one
detector per (check, series) and returns verdicts for the alert book. What is kind-specific (the
points, the detector, the detail line, extra evidence) comes from the check's kind plug-in
(``monitor/anomaly/kinds/``); the runner only dispatches. Amendments and incomplete
buckets are not fed: a detector sees every bucket once, as it was when it closed, and never a
bucket hopwatch could not fully observe.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from monitor.anomaly import state as saved_state
from monitor.anomaly.kind import CheckKindPlugin, KindRegistry
from monitor.anomaly.kinds import BUILTIN_KINDS
from monitor.anomaly.latency_path import PathLatency
from monitor.anomaly.model import CheckDef, CheckKind, CheckState, Detector, Score, Target
from monitor.anomaly.segments import Segments, unsegmented
from monitor.config.model import Config
from monitor.labels import labels_of
from monitor.ledger.records import Completeness, EdgeResult, HopBucket
from monitor.verdict import Judgement, Verdict

DEFAULT_ROLLUP_BELOW = 5.0
"""Segments with fewer events per bucket than this (typically) are judged together, not alone."""

_JUDGEMENT = {
    CheckState.LEARNING: Judgement.LEARNING,
    CheckState.OK: Judgement.OK,
    CheckState.WARN: Judgement.OK,
    CheckState.FIRING: Judgement.FIRING,
}


def default_divergence_checks(config: Config, configured: Sequence[CheckDef]) -> list[CheckDef]:
    """Every edge is watched for loss, configured or not: the built-in default has the default
    budget (one false alarm per 30 days). Its baseline is the edge's promise, so it needs no
    warm-up beyond one bucket with ``min_events`` expected events (to size its threshold)."""
    watched = {
        (c.target.pipeline, c.target.edge) for c in configured if c.kind is CheckKind.DIVERGENCE
    }
    out = []
    for pipeline in config.pipelines:
        for edge in pipeline.edges:
            # A forbidden edge (expect: none) promises no arrivals: its missing are blocked
            # events, not loss; ``monitor.alerting.leaks`` judges its arrivals instead.
            if not edge.forbidden and (pipeline.name, edge.name) not in watched:
                out.append(
                    CheckDef(
                        name=f"divergence:{edge.name}",
                        kind=CheckKind.DIVERGENCE,
                        target=Target(pipeline.name, edge=edge.name),
                        warmup=0.0,
                    )
                )
    return out


def _edge_hops(bucket: HopBucket | EdgeResult) -> dict[str, str]:
    """An edge alert names both ends, so routes and inhibitions can match on either hop."""
    if isinstance(bucket, EdgeResult):
        return {"from_hop": bucket.from_hop, "to_hop": bucket.to_hop}
    return {}


def _bucket_evidence(bucket: HopBucket | EdgeResult) -> dict[str, Any]:
    out: dict[str, Any] = {"bucket_start": bucket.bucket_start}
    if isinstance(bucket, EdgeResult):
        out["missing"] = bucket.missing
        out["missing_ids"] = list(bucket.missing_ids)
    return out


def _identity(check: CheckDef, config: Config) -> str:
    """What a detector's state depends on: the check's definition and its pipeline's buckets."""
    pipeline = config.pipeline(check.target.pipeline)
    bucket = pipeline.bucket_seconds if pipeline is not None else None
    return repr((check, bucket))


@dataclass
class _Series:
    detector: Detector
    last: Score | None = None


class CheckRunner:
    def __init__(
        self,
        checks: Iterable[CheckDef],
        config: Config,
        factory: Callable[[CheckDef, float, Config], Detector],
        kinds: KindRegistry = BUILTIN_KINDS,
    ) -> None:
        """``kinds`` are the check kinds ``checks`` use (the built-in ones unless a test or an
        embedding program registers more); ``factory`` builds a series' detector (usually
        ``kinds.detector_for``; tests wrap it)."""
        self.checks = tuple(checks)
        self.config = config
        self._factory = factory
        self._kinds = kinds
        self._series: dict[tuple[str, str], _Series] = {}
        self.paths = PathLatency(self.checks, config)
        self._segments: dict[str, Segments] = {}
        self.errors: Counter[tuple[str, str]] = Counter()
        self.last_error: str | None = None
        self._by_hop: dict[tuple[str, str], list[CheckDef]] = {}
        self._by_edge: dict[tuple[str, str], list[CheckDef]] = {}
        for check in self.checks:
            t = check.target
            if t.edge is not None:
                self._by_edge.setdefault((t.pipeline, t.edge), []).append(check)
            elif t.hop is not None:
                self._by_hop.setdefault((t.pipeline, t.hop), []).append(check)

    def feed(
        self, hop_buckets: Iterable[HopBucket], edge_results: Iterable[EdgeResult], now: float
    ) -> list[Verdict]:
        """Newly closed buckets in, one verdict per (check, series) they touch."""
        out: list[Verdict] = []
        hop_buckets = list(hop_buckets)
        self.paths.feed(hop_buckets)
        for bucket in hop_buckets + list(edge_results):
            if bucket.completeness is Completeness.INCOMPLETE:
                continue
            if isinstance(bucket, EdgeResult):
                checks = self._by_edge.get((bucket.pipeline, bucket.edge), [])
            else:
                checks = self._by_hop.get((bucket.pipeline, bucket.hop), [])
            for check in checks:
                for series, point in self._series_points(check, bucket):
                    try:
                        out.append(self._judge(check, series, bucket, point, now))
                    except (ValueError, ArithmeticError) as exc:
                        # One series' bad point (or a detector that cannot size its threshold)
                        # must not stop the others; counted, exported, and logged by the daemon.
                        self.errors[(check.name, type(exc).__name__)] += 1
                        self.last_error = f"{check.name} ({series or 'all'}): {exc}"
        return out

    def _series_points(
        self, check: CheckDef, bucket: HopBucket | EdgeResult
    ) -> list[tuple[str, Any]]:
        plugin = self._kinds[check.kind]
        points = plugin.points(check, bucket)
        if not plugin.segmented or not points:
            return points
        [(_, counts)] = points
        if check.target.segment_by is None:
            return unsegmented(counts)
        segments = self._segments.get(check.name)
        if segments is None:
            below = float(check.params.get("rollup_below", DEFAULT_ROLLUP_BELOW))
            span = 3600.0 / bucket.bucket_seconds
            segments = self._segments[check.name] = Segments(below, span=max(span, 2.0))
        return segments.split(counts)

    def _judge(self, check: CheckDef, series: str, bucket: Any, point: Any, now: float) -> Verdict:
        key = (check.name, series)
        state = self._series.get(key)
        if state is None:
            detector = self._factory(check, bucket.bucket_seconds, self.config)
            state = self._series[key] = _Series(detector)
        score = state.detector.update(bucket.bucket_start, point)
        state.last = score
        return self._verdict(check, series, bucket, score, now)

    def amend(self, amended: Iterable[tuple[EdgeResult, int]], now: float) -> list[Verdict]:
        """Late arrivals that amended edge buckets already judged: ``(result, late)`` with the
        number of events that arrived since the bucket was last handed over. A detector that
        can use them (``amend``: divergence) learns its edge's late tail from them, and a verdict
        comes out only when they resolve an alert ("late, not lost")."""
        out: list[Verdict] = []
        for result, late in amended:
            if late <= 0 or result.completeness is Completeness.INCOMPLETE:
                continue
            for check in self._by_edge.get((result.pipeline, result.edge), []):
                state = self._series.get((check.name, ""))
                amend = getattr(state.detector, "amend", None) if state is not None else None
                if state is None or amend is None:
                    continue
                score = amend(result.bucket_start, late)
                if score is None:
                    continue
                state.last = score
                out.append(self._verdict(check, "", result, score, now))
        return out

    def _verdict(
        self, check: CheckDef, series: str, bucket: Any, score: Score, now: float
    ) -> Verdict:
        t = check.target
        labels = labels_of(
            {
                "check_name": check.name,
                "kind": str(check.kind),
                "pipeline": t.pipeline,
                "hop": t.hop or "",
                "edge": t.edge or "",
                "segment": series,
                **_edge_hops(bucket),
                **dict(check.labels),
            }
        )
        plugin = self._kinds[check.kind]
        summary = _subject(plugin, check) + (f" ({series})" if series else "")
        detail = plugin.detail(bucket, score)
        evidence = {**score.evidence, "check": check.name, **_bucket_evidence(bucket)}
        evidence.update(plugin.evidence(bucket))
        attribution = self.paths.explain(check) if score.alert else None
        if attribution is not None:
            detail += f"; {attribution.summary()}"
            evidence["attribution"] = [[hop, round(s, 3)] for hop, s in attribution.by_hop]
        if score.evidence.get("late_not_lost"):
            late = score.evidence.get("late_since_onset", score.evidence.get("late"))
            detail = (
                f"late, not lost: {late} of the missing events arrived after the allowed lateness"
            )
        if score.evidence.get("relearned"):
            detail = str(score.evidence.get("relearn_summary", "share changed; re-learned"))
        if detail:
            summary += f": {detail}"
        return Verdict(
            check=str(check.kind),
            labels=labels,
            judgement=_JUDGEMENT[score.state],
            at=now,
            score=score.score,
            summary=summary if score.alert or _resolves_with_summary(score) else "",
            bucket_start=bucket.bucket_start,
            evidence=evidence,
            links=_links(check.runbook_url, check.dashboard_url),
        )

    def to_bytes(self) -> bytes:
        """Every series' detector (learned baseline, CUSUM statistics, alarm state) for the
        checkpoint, so a restart neither re-learns nor forgets an incident in progress.

        Each detector gives its typed record (``state()``; ``monitor.anomaly.state``), saved with
        its check's definition: ``restore`` keeps only series whose check is unchanged. No
        pickle: decoding a checkpoint validates data and runs no code.
        """
        by_name = {c.name: c for c in self.checks}
        series = [
            saved_state.SeriesRecord(
                check=name,
                series=key,
                identity=_identity(by_name[name], self.config),
                detector=held.detector.state(),
                last=None if held.last is None else saved_state.ScoreRecord.of(held.last),
            )
            for (name, key), held in self._series.items()
            if name in by_name and isinstance(held.detector, saved_state.Stateful)
        ]
        segments = [
            saved_state.SegmentsRecord(name, _identity(by_name[name], self.config), held.state())
            for name, held in self._segments.items()
            if name in by_name
        ]
        return saved_state.encode_checks(
            saved_state.ChecksRecord(saved_state.CHECKS_VERSION, series, segments)
        )

    def restore(self, blob: bytes) -> int:
        """Resume the series of unchanged checks; returns how many were dropped (changed or
        removed checks start learning again). Each detector is built afresh from today's check
        and configuration, then given its learned state."""
        by_name = {c.name: c for c in self.checks}
        try:
            saved = saved_state.decode_checks(blob)
        except saved_state.CheckpointError as exc:
            # Unreadable or from a newer hopwatch: learning again beats refusing to start.
            self.last_error = f"checkpoint of the checks unreadable ({exc}); every check re-learns"
            return len(self._series)
        dropped = 0
        for kept in saved.segments:
            check = by_name.get(kept.check)
            if check is None or _identity(check, self.config) != kept.identity:
                dropped += 1
                continue
            self._segments[kept.check] = Segments.from_state(kept.segments)
        for record in saved.series:
            check = by_name.get(record.check)
            pipeline = None if check is None else self.config.pipeline(check.target.pipeline)
            if (
                check is None
                or pipeline is None
                or _identity(check, self.config) != record.identity
            ):
                dropped += 1
                continue
            detector = self._factory(check, pipeline.bucket_seconds, self.config)
            try:
                if not isinstance(detector, saved_state.Stateful):
                    raise TypeError(f"{type(detector).__name__} keeps no state")
                detector.restore(record.detector)
            except (TypeError, ValueError) as exc:
                # Another kind or shape of detector for this check: it learns again.
                self.last_error = f"{record.check} ({record.series or 'all'}): {exc}; re-learns"
                dropped += 1
                continue
            last = None if record.last is None else record.last.to_score()
            self._series[(record.check, record.series)] = _Series(detector, last)
        return dropped

    def states(self) -> list[tuple[CheckDef, str, Score]]:
        """(check, series, last score) for every series seen: what /metrics exports."""
        by_name = {c.name: c for c in self.checks}
        return [
            (by_name[name], series, s.last)
            for (name, series), s in sorted(self._series.items())
            if s.last is not None
        ]


def _subject(plugin: CheckKindPlugin, check: CheckDef) -> str:
    """How a summary starts: what is wrong where (the kind says), led by the check's name unless
    it is the built-in edge watch (whose name only repeats the edge)."""
    t = check.target
    what = plugin.subject(check)
    default = check.name == f"{check.kind}:{t.edge}"
    return what if default else f"{check.name}: {what}"


def _links(runbook_url: str, dashboard_url: str) -> tuple[tuple[str, str], ...]:
    """The link annotations Slack, PagerDuty and Alertmanager users expect, when configured."""
    given = (("dashboard_url", dashboard_url), ("runbook_url", runbook_url))
    return tuple((k, v) for k, v in given if v)


def _resolves_with_summary(score: Score) -> bool:
    """A resolution that says why: late, not lost; or a learned share that changed and stays."""
    return bool(score.evidence.get("late_not_lost") or score.evidence.get("relearned"))
