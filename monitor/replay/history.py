"""Replay the configured checks (and completeness SLOs) over closed buckets: what they would have fired.

The daemon judges each bucket once, when its watermark closes it. ``replay_buckets`` does the same
over history — the buckets in the store (``hopwatch replay --config``) or buckets built from a CSV
of counts (``hopwatch replay --counts``) — through the real ``CheckRunner``, in the order the
daemon would have closed them (bucket end + ``allowed_lateness``), so a check alerts in replay
exactly where its own threshold says, never a threshold tuned to the file. Alerts are grouped the
way the alert book groups them: consecutive alerting buckets of one (check, series) are one
alert, which resolves after the book's ``resolve_after`` clean buckets.

Pure: buckets in, rows and alerts out. ``history_inputs`` parses files, ``history_cli`` is the
shell that reads the store and prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from typing import Any

from monitor.alerting.book import RESOLVE_AFTER, AlertBook
from monitor.anomaly.kind import KindRegistry
from monitor.anomaly.kinds import BUILTIN_KINDS
from monitor.anomaly.model import CheckDef, Detector, clamp01
from monitor.anomaly.runner import CheckRunner, default_divergence_checks
from monitor.config.model import Config
from monitor.ledger.records import Completeness, EdgeResult, HopBucket
from monitor.replay.series import WindowMetrics
from monitor.slo.evaluate import SLOEvaluator
from monitor.slo.indicators import SLIRecorder
from monitor.slo.model import SLO, CompletenessIndicator
from monitor.verdict import Judgement, Verdict

__all__ = [
    "HistoryReplay",
    "HistoryRow",
    "ReplayedAlert",
    "Selection",
    "bucket_value",
    "format_time",
    "incident_metrics",
    "replay_buckets",
    "select",
]

Bucket = HopBucket | EdgeResult
Factory = Callable[[CheckDef, float, Config], Detector]


def format_time(at: float) -> str:
    """Epoch seconds as ``YYYY-MM-DD HH:MM:SS`` UTC: the timestamp format of every replay file."""
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S")


# --- what to replay ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The checks and SLOs a replay runs, and the SLOs it cannot run (with why)."""

    checks: tuple[CheckDef, ...]
    slos: tuple[SLO, ...]
    skipped_slos: tuple[tuple[str, str], ...] = ()
    unknown: tuple[str, ...] = ()


def select(
    config: Config,
    checks: Sequence[CheckDef],
    slos: Sequence[SLO],
    names: Sequence[str] = (),
) -> Selection:
    """The configured checks plus the built-in divergence check of every edge without one (the
    runner's defaults: every edge is watched for loss, configured or not), and the SLOs replay
    can judge from closed buckets: ``completeness`` ones. Latency, ratio and sampled SLOs decide
    each event from raw observations, which the store does not keep, so they are listed as
    skipped. ``names`` (check or SLO names) narrows the lot; unknown names come back in
    ``unknown`` so the caller can say which names exist."""
    every = (*checks, *default_divergence_checks(config, checks))
    replayable = [s for s in slos if isinstance(s.indicator, CompletenessIndicator)]
    skipped = [
        (s.name, f"a {s.indicator.kind} SLO needs raw observations, which the store does not keep")
        for s in slos
        if not isinstance(s.indicator, CompletenessIndicator)
    ]
    if not names:
        return Selection(tuple(every), tuple(replayable), tuple(skipped))
    wanted = set(names)
    known = {c.name for c in every} | {s.name for s in slos}
    return Selection(
        tuple(c for c in every if c.name in wanted),
        tuple(s for s in replayable if s.name in wanted),
        tuple((n, why) for n, why in skipped if n in wanted),
        tuple(n for n in dict.fromkeys(names) if n not in known),
    )


# --- the replay -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryRow:
    """One (check, series, bucket): ``value`` is the number a person reads for the kind (see
    ``bucket_value``), ``score`` in [0, 1], ``alert`` the detector's own decision."""

    at: float
    check: str
    series: str
    value: float | None
    score: float
    alert: bool
    evidence: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The detector's numbers for the bucket (baseline, statistic, threshold): what ``--plot``
    draws the band and the threshold from."""


@dataclass(frozen=True)
class ReplayedAlert:
    """An alert the daemon would have raised. For a check, ``start`` is the start of its first
    alerting bucket and ``end`` the end of its last; for an SLO tier, the close times at which it
    started and last was firing (``series`` is then the tier)."""

    check: str
    series: str
    start: float
    end: float
    summary: str
    buckets: int
    fired_at: float
    """When the daemon would have raised it: the close of the first alerting bucket."""
    slo: bool = False
    open_at_end: bool = False
    """Still firing at the last bucket replayed."""


@dataclass(frozen=True)
class HistoryReplay:
    rows: tuple[HistoryRow, ...]
    alerts: tuple[ReplayedAlert, ...]
    judged: int
    """Buckets fed to the runner."""
    incomplete: int
    """Buckets hopwatch could not fully observe: never judged, as in the daemon."""
    first: float | None
    last: float | None
    """Bucket starts of the first and last bucket read."""

    @property
    def series(self) -> int:
        return len({(r.check, r.series) for r in self.rows})


@dataclass
class _Open:
    start: float
    end: float
    summary: str
    fired_at: float
    buckets: int = 1
    clean: int = 0


@dataclass
class _Episodes:
    """Alerting verdicts of one series into alerts, with the alert book's resolution rule."""

    resolve_after: int
    slo: bool = False
    open: dict[tuple[str, str], _Open] = field(default_factory=dict)
    done: list[ReplayedAlert] = field(default_factory=list)

    def see(
        self,
        key: tuple[str, str],
        start: float,
        end: float,
        now: float,
        alert: bool,
        summary: str,
    ) -> None:
        current = self.open.get(key)
        if alert:
            if current is None:
                self.open[key] = _Open(start, end, summary, now)
            else:
                current.end, current.clean = end, 0
                current.buckets += 1
        elif current is not None:
            current.clean += 1
            if current.clean >= self.resolve_after:
                self._close(key)

    def _close(self, key: tuple[str, str], open_at_end: bool = False) -> None:
        o = self.open.pop(key)
        self.done.append(
            ReplayedAlert(
                *key, o.start, o.end, o.summary, o.buckets, o.fired_at, self.slo, open_at_end
            )
        )

    def finish(self) -> list[ReplayedAlert]:
        for key in list(self.open):
            self._close(key, open_at_end=self.open[key].clean == 0)
        return self.done


def bucket_value(
    check: CheckDef, bucket: Bucket, series: str, kinds: KindRegistry = BUILTIN_KINDS
) -> float | None:
    """The number a row shows for ``series`` of ``check`` in ``bucket``, as its kind's plug-in
    reads it (``value``): missing events for ``divergence``, the segment's count for ``volume``
    and ``freshness``, the rejected share for ``rejections``, the action's share for
    ``identity``, all events for ``mix``, the latency quantile the check watches (seconds) for
    ``latency``; None when there is none."""
    return kinds[check.kind].value(check, bucket, series)


def _close_time(bucket: Bucket, config: Config) -> float:
    """When the daemon closes the bucket: its end plus the pipeline's allowed lateness."""
    pipeline = config.pipeline(bucket.pipeline)
    lateness = pipeline.allowed_lateness if pipeline is not None else 0.0
    return bucket.bucket_start + bucket.bucket_seconds + lateness


def _order(bucket: Bucket, config: Config) -> tuple[float, float, int, str]:
    name = bucket.edge if isinstance(bucket, EdgeResult) else bucket.hop
    return (_close_time(bucket, config), bucket.bucket_start, isinstance(bucket, EdgeResult), name)


def replay_buckets(
    config: Config,
    selection: Selection,
    hop_buckets: Iterable[HopBucket],
    edge_results: Iterable[EdgeResult],
    factory: Factory | None = None,
    kinds: KindRegistry = BUILTIN_KINDS,
) -> HistoryReplay:
    """Feed closed buckets through a fresh ``CheckRunner`` (and the completeness SLOs through
    the SLO evaluator) in the order the daemon closes them; one row per verdict, and the alerts.

    ``kinds`` are the check kinds of ``selection`` (each kind's plug-in builds its detectors,
    unless ``factory`` is given, and reads the row values). Each bucket goes in alone so its
    verdicts can be matched to it; the SLOs are evaluated once per close time, after every
    bucket closing then, as one daemon tick would."""
    runner = CheckRunner(selection.checks, config, factory or kinds.detector_for, kinds)
    by_name = {c.name: c for c in selection.checks}
    evaluator = SLOEvaluator(selection.slos)
    recorder = SLIRecorder(selection.slos)
    checks_open = _Episodes(AlertBook().resolve_after)
    slos_open = _Episodes(RESOLVE_AFTER.get("slo", 1), slo=True)
    rows: list[HistoryRow] = []
    judged = incomplete = 0
    first: float | None = None
    last: float | None = None
    buckets: list[Bucket] = [*hop_buckets, *edge_results]
    buckets.sort(key=lambda b: _order(b, config))
    for now, group in groupby(buckets, key=lambda b: _close_time(b, config)):
        for bucket in group:
            first = bucket.bucket_start if first is None else min(first, bucket.bucket_start)
            last = bucket.bucket_start if last is None else max(last, bucket.bucket_start)
            if bucket.completeness is Completeness.INCOMPLETE:
                incomplete += 1
                continue
            judged += 1
            if isinstance(bucket, EdgeResult):
                verdicts = runner.feed((), (bucket,), now)
                recorder.edge_results((bucket,), now, evaluator.ledger.record)
            else:
                verdicts = runner.feed((bucket,), (), now)
            for v in verdicts:
                rows.append(_row(v, by_name, bucket, kinds))
                row = rows[-1]
                checks_open.see(
                    (row.check, row.series),
                    bucket.bucket_start,
                    bucket.bucket_start + bucket.bucket_seconds,
                    now,
                    row.alert,
                    v.summary,
                )
        if selection.slos:
            for v in evaluator.verdicts(evaluator.evaluate(now), now):
                labels = dict(v.labels)
                firing = v.judgement is Judgement.FIRING
                slos_open.see((labels["slo"], labels["tier"]), now, now, now, firing, v.summary)
    alerts = sorted(
        [*checks_open.finish(), *slos_open.finish()], key=lambda a: (a.start, a.check, a.series)
    )
    return HistoryReplay(tuple(rows), tuple(alerts), judged, incomplete, first, last)


def _row(
    v: Verdict, by_name: dict[str, CheckDef], bucket: Bucket, kinds: KindRegistry
) -> HistoryRow:
    labels = dict(v.labels)
    check = by_name[labels["check_name"]]
    series = labels.get("segment", "")
    return HistoryRow(
        at=bucket.bucket_start,
        check=check.name,
        series=series,
        value=bucket_value(check, bucket, series, kinds),
        score=clamp01(v.score),
        alert=v.judgement is Judgement.FIRING,
        evidence=v.evidence,
    )


# --- against labelled incidents ---------------------------------------------------------------


def incident_metrics(
    replay: HistoryReplay, incidents: Sequence[tuple[float, float]]
) -> WindowMetrics:
    """Alerts against labelled incidents (inclusive ``[start, end]`` epoch seconds), with the
    meaning ``window_metrics`` gives NAB windows.

    An alert counts once, where it starts (its first alerting bucket's start): inside an
    incident it detects it, outside every incident it is a false alarm. The delay is from the
    incident's start to when the daemon would have raised the first alert that detects it, the
    close of that bucket (``fired_at``), so it includes the bucket and the allowed lateness.
    False alarms per 30 days are over the replayed span, first to last bucket read."""
    first: dict[int, float] = {}
    false = 0
    for alert in sorted(replay.alerts, key=lambda a: a.fired_at):
        k = next((k for k, (lo, hi) in enumerate(incidents) if lo <= alert.start <= hi), None)
        if k is None:
            false += 1
        else:
            first.setdefault(k, alert.fired_at)
    delays = tuple(first[k] - incidents[k][0] for k in sorted(first))
    span = (
        replay.last - replay.first if replay.first is not None and replay.last is not None else 0.0
    )
    return WindowMetrics(len(incidents), len(first), len(replay.alerts), false, (), delays, span)
