"""``hopwatch replay --config`` / ``--counts``: the shell around ``history.replay_buckets``.

It loads the config, checks and SLOs as ``hopwatch run`` does, reads closed buckets from the store
(or builds them from counts files), replays them, prints the alerts that would have fired and,
with labelled incidents, precision, recall, detection delay and false alarms per 30 days.
The store opener and the current time come from the caller (``monitor.cli``), so this module
stays free of clocks and database drivers like the rest of ``monitor.anomaly``.

Exit codes: 0 replayed (even when some counts rows were skipped; each is reported), 1 the config
is invalid, 2 the request or an input file is unusable, or there was nothing to replay.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

from monitor.anomaly.load import load_checks
from monitor.config import ConfigError
from monitor.ledger.records import EdgeResult, HopBucket
from monitor.replay.history import (
    HistoryReplay,
    HistoryRow,
    Selection,
    format_time,
    incident_metrics,
    replay_buckets,
    select,
)
from monitor.replay.history_inputs import parse_instant, read_counts, read_incidents
from monitor.slo.load import load_slos
from monitor.slo.model import CompletenessIndicator
from monitor.timeutil import parse_duration
from monitor.validate import load_config

__all__ = ["HistoryRequest", "HistoryStore", "history_command", "read_store", "write_rows"]

MAX_PROBLEMS = 20
"""Skipped rows reported one by one; the rest are only counted."""


class HistoryStore(Protocol):
    """The part of ``monitor.store.Store`` a replay reads."""

    def hop_buckets(
        self,
        pipeline: str,
        hop: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[HopBucket]: ...

    def edge_results(
        self,
        pipeline: str,
        edge: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[EdgeResult]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class HistoryRequest:
    """What ``hopwatch replay`` was asked, minus ``--series`` (that is ``replay.replay_command``)."""

    config: Path
    counts: tuple[Path, ...] = ()
    data_dir: Path | None = None
    checks: tuple[str, ...] = ()
    since: str | None = None
    until: str | None = None
    labels: Path | None = None
    out: Path | None = None
    plot: Path | None = None
    """``--plot``: an SVG or PNG drawn by ``monitor.replay.plot`` (matplotlib)."""


def parse_bound(text: str, now: float) -> float:
    """``--since`` / ``--until``: a time (``parse_instant``) or a duration ago (``7d``, ``12h``)."""
    try:
        return parse_instant(text)
    except ValueError as e:
        try:
            return now - parse_duration(text)
        except ValueError:
            raise ValueError(f"{e}, or a duration before now such as 7d or 12h") from None


def read_store(
    store: HistoryStore, selection: Selection, since: float | None, until: float | None
) -> tuple[list[HopBucket], list[EdgeResult]]:
    """The closed buckets the selected checks and SLOs watch, ``since <= bucket_start < until``.

    They are the buckets as last stored, late arrivals included, so a replay can differ slightly
    from what the daemon judged when the bucket first closed."""
    hops: set[tuple[str, str]] = set()
    edges: set[tuple[str, str]] = set()
    for check in selection.checks:
        t = check.target
        if t.edge is not None:
            edges.add((t.pipeline, t.edge))
        elif t.hop is not None:
            hops.add((t.pipeline, t.hop))
    for slo in selection.slos:
        ind = slo.indicator
        if isinstance(ind, CompletenessIndicator):
            edges.add((ind.pipeline, ind.edge))
    hop_buckets = [b for p, h in sorted(hops) for b in store.hop_buckets(p, h, since, until)]
    edge_results = [r for p, e in sorted(edges) for r in store.edge_results(p, e, since, until)]
    return hop_buckets, edge_results


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if value == int(value) else f"{value:.6g}"


def write_rows(path: Path, rows: Sequence[HistoryRow]) -> None:
    """``timestamp,check,series,value,score,alert``, one row per (check, series, bucket)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["timestamp", "check", "series", "value", "score", "alert"])
        for r in rows:
            w.writerow(
                [
                    format_time(r.at),
                    r.check,
                    r.series,
                    _number(r.value),
                    f"{r.score:.6f}",
                    int(r.alert),
                ]
            )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def report(replay: HistoryReplay, selection: Selection, out: TextIO) -> None:
    """What was replayed, and every alert that would have fired."""
    span = (
        f" from {format_time(replay.first)} to {format_time(replay.last)} UTC"
        if replay.first is not None and replay.last is not None
        else ""
    )
    what = _plural(len(selection.checks), "check")
    if selection.slos:
        what += f", {_plural(len(selection.slos), 'SLO')}"
    line = f"replayed {_plural(replay.judged, 'bucket')} ({what}, {replay.series} series){span}"
    if replay.incomplete:
        line += (
            f"; {_plural(replay.incomplete, 'incomplete bucket')} not judged "
            "(hopwatch was not observing)"
        )
    print(line, file=out)
    for name, why in selection.skipped_slos:
        print(f"not replayed: SLO {name}: {why}", file=out)
    if not replay.alerts:
        print("no alerts would have fired", file=out)
        return
    print(f"{_plural(len(replay.alerts), 'alert')} would have fired:", file=out)
    for a in replay.alerts:
        name = f"{a.check}[{a.series}]" if a.series else a.check
        end = f"{format_time(a.end)} (still firing)" if a.open_at_end else format_time(a.end)
        print(f"  {name}  {format_time(a.start)} → {end}  {a.summary}", file=out)


def _metrics_line(replay: HistoryReplay, incidents: list[tuple[float, float]]) -> str:
    m = incident_metrics(replay, incidents)

    def fmt(x: float | None) -> str:
        return "n/a" if x is None else f"{x:.2f}"

    delay = (
        f"{sum(m.delays_seconds) / len(m.delays_seconds) / 60:.1f} min"
        if m.delays_seconds
        else "n/a"
    )
    return (
        f"incidents {m.windows}  detected {m.detected}  alerts {m.alerts}  "
        f"precision {fmt(m.precision)}  recall {fmt(m.recall)}  mean delay {delay}  "
        f"false alarms/30d {m.false_alarms_per_30d:.1f}"
    )


def history_command(
    request: HistoryRequest,
    open_store: Callable[[Path], Any],
    now: float,
    out: TextIO,
    err: TextIO,
    store_errors: tuple[type[Exception], ...] = (),
) -> int:
    """Replay from the store (``request.counts`` empty) or from counts files; see the module.

    ``open_store(data_dir)`` opens the store; it and the store's reads may raise OSError or one
    of ``store_errors``, whose messages name the file and the fix."""
    try:
        config = load_config(request.config)
        checks = load_checks(config)
        slos = [s for group in load_slos(config) for s in group.slos]
    except ConfigError as e:
        print(e, file=err)
        return 1
    if request.plot is not None and request.plot.suffix.lower() not in (".svg", ".png"):
        print(f"replay: --plot {request.plot}: use a .svg or .png file name", file=err)
        return 2
    try:
        since = None if request.since is None else parse_bound(request.since, now)
        until = None if request.until is None else parse_bound(request.until, now)
    except ValueError as e:
        print(f"replay: --since/--until: {e}", file=err)
        return 2
    if request.counts and request.data_dir is not None:
        print(
            "replay: --data-dir does not apply with --counts (nothing is read from the store)",
            file=err,
        )
        return 2
    selection = select(config, checks, slos, request.checks)
    if selection.unknown:
        known = sorted(
            {c.name for c in select(config, checks, slos).checks} | {s.name for s in slos}
        )
        print(
            f"replay: no check or SLO named {', '.join(map(repr, selection.unknown))}; "
            f"known: {', '.join(known)}",
            file=err,
        )
        return 2
    if not selection.checks and not selection.slos:
        print("replay: nothing to replay: no check and no completeness SLO selected", file=err)
        return 2
    try:
        incidents = None if request.labels is None else read_incidents(request.labels)
    except (OSError, ValueError) as e:
        print(f"replay: {e}", file=err)
        return 2

    if request.counts:
        try:
            counts = read_counts(request.counts, config)
        except (OSError, ValueError) as e:
            print(f"replay: {e}", file=err)
            return 2
        for problem in counts.problems[:MAX_PROBLEMS]:
            print(problem, file=err)
        if counts.skipped > MAX_PROBLEMS:
            print(f"... and {counts.skipped - MAX_PROBLEMS} more", file=err)
        if counts.skipped:
            print(
                f"replay: skipped {counts.skipped} of {_plural(counts.rows, 'row')} "
                "(fix the lines above and run again); replaying the rest",
                file=err,
            )

        def within(b: HopBucket | EdgeResult) -> bool:
            return (since is None or b.bucket_start >= since) and (
                until is None or b.bucket_start < until
            )

        hop_buckets = [b for b in counts.hop_buckets if within(b)]
        edge_results = [r for r in counts.edge_results if within(r)]
        source = ", ".join(map(str, request.counts))
    else:
        failures: tuple[type[Exception], ...] = (OSError, *store_errors)
        data_dir = request.data_dir or config.storage.data_dir
        try:
            store = open_store(data_dir)
        except failures as e:
            print(f"replay: {e}", file=err)
            return 2
        try:
            hop_buckets, edge_results = read_store(store, selection, since, until)
        except failures as e:
            print(f"replay: {e}", file=err)
            return 2
        finally:
            store.close()
        source = f"the store in {data_dir}"

    if not hop_buckets and not edge_results:
        print(
            f"replay: no closed buckets in {source} for the selected checks"
            + (" in the --since/--until range" if since is not None or until is not None else "")
            + (
                "; point --data-dir at the directory the daemon writes (storage.data_dir)"
                if not request.counts
                else ""
            ),
            file=err,
        )
        return 2
    replay = replay_buckets(config, selection, hop_buckets, edge_results)
    report(replay, selection, out)
    if incidents is not None:
        print(_metrics_line(replay, incidents), file=out)
    if request.out is not None:
        try:
            write_rows(request.out, replay.rows)
        except OSError as e:
            print(f"replay: cannot write {request.out}: {e}", file=err)
            return 2
        print(f"wrote {_plural(len(replay.rows), 'row')} to {request.out}", file=out)
    if request.plot is not None:
        from monitor.replay.plot import plot_replay  # matplotlib only when a plot is asked for

        try:
            drawn = plot_replay(replay, request.plot)
        except (OSError, ValueError) as e:
            print(f"replay: cannot plot to {request.plot}: {e}", file=err)
            return 2
        print(f"drew {_plural(drawn, 'series')} to {request.plot}", file=out)
    return 0
