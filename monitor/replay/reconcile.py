"""``hopwatch reconcile``: the edge results a past time range would have had, from files.

Why it exists: pushing history into a running daemon cannot reconcile edges once a bucket has
closed (the 202 answer counts such items as ``too_late_for_edges``), yet an owner wants to try
hopwatch on yesterday's data before deploying it. This runs the **same ledger** the daemon runs
(``PipelineLedger``), fed with the observations in the order they were observed and closed by a
clock that follows their ``observed_time``, ticking every ``tick`` seconds as the daemon does.
So each bucket comes out exactly as a daemon fed live would have reported it, late arrivals and
all; ``tests/test_reconcile.py`` holds it to that, bucket for bucket. After the last observation
the clock runs past the range so every bucket closes.

Files are NDJSON in the push format (``docs/observations.md``), one file per hop: an item may
leave out ``pipeline`` and ``hop`` (the file names them), and one without ``observed_time`` is
taken as seen at its ``event_time`` (a live push would stamp it with the time it arrived, which
history no longer knows). Pulled sources (SQL, Prometheus) are not read here: they give counts
per bucket, not events, and have no past-range query yet; export their rows as NDJSON instead.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import msgspec

from monitor.config.model import Config, Pipeline
from monitor.ledger.ledger import DEFAULT_AMEND_HORIZON, PipelineLedger
from monitor.ledger.records import EdgeResult
from monitor.records import Observation
from monitor.replay.history_inputs import parse_instant
from monitor.sources.push import PushDecoder
from monitor.sources.rejection import format_time

DEFAULT_TICK = 1.0
"""The daemon's tick interval (``Daemon.tick_interval``): how often live buckets may close."""

MAX_ERRORS_SHOWN = 20


@dataclass(frozen=True)
class HopFile:
    """One ``--files hop=PATH`` argument."""

    hop: str
    path: Path


@dataclass
class Loaded:
    """Observations read from the files, and what was left out and why."""

    observations: list[Observation]
    outside: int = 0
    rejected: int = 0
    errors: list[str] | None = None


def parse_hop_file(text: str) -> HopFile:
    """``web=web.ndjson`` → ``HopFile("web", Path("web.ndjson"))``."""
    hop, sep, path = text.partition("=")
    if not sep or not hop or not path:
        raise ValueError(f"{text!r} is not HOP=PATH (e.g. web=web.ndjson)")
    return HopFile(hop.strip(), Path(path))


def _epoch(value: Any) -> float | None:
    """An item's time as epoch seconds, or None when it is no time (the decoder says why)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_instant(value)
        except ValueError:
            return None
    if isinstance(value, datetime):
        return value.timestamp()
    return None


def load_observations(
    config: Config,
    pipeline: Pipeline,
    files: Sequence[tuple[str, Iterable[bytes]]],
    start: float,
    end: float,
) -> Loaded:
    """Decode the NDJSON lines of each hop's file with the push decoder (the same checks as
    ``POST /v1/observations``), keeping items whose ``event_time`` is in ``[start, end)``.

    The decoder's clock is set after the range (``end`` plus the amend horizon), so history is
    inside its time window; an item observed later than that could not amend its bucket anyway.
    """
    decoder = PushDecoder(config)
    now = end + DEFAULT_AMEND_HORIZON
    loaded = Loaded([], errors=[])
    errors = loaded.errors
    assert errors is not None
    for hop, lines in files:
        body: list[bytes] = []
        for line in lines:
            if not line.strip():
                continue
            try:
                item = msgspec.json.decode(line)
            except msgspec.DecodeError as err:
                loaded.rejected += 1
                errors.append(f"{hop}: {err}")
                continue
            if not isinstance(item, dict):
                loaded.rejected += 1
                errors.append(f"{hop}: an item must be a JSON object")
                continue
            item.setdefault("pipeline", pipeline.name)
            item.setdefault("hop", hop)
            event_time = _epoch(item.get("event_time"))
            if event_time is not None:
                if not start <= event_time < end:
                    loaded.outside += 1
                    continue
                item.setdefault("observed_time", item["event_time"])
            body.append(msgspec.json.encode(item))
        if not body:
            continue
        batch = decoder.observations(b"\n".join(body), content_type="application/x-ndjson", now=now)
        loaded.observations.extend(batch.accepted)
        loaded.rejected += batch.rejected_total
        errors.extend(f"{hop}: item {e.index}: {e.field}: {e.message}" for e in batch.errors)
    return loaded


def reconcile(
    pipeline: Pipeline,
    observations: Iterable[Observation],
    end: float,
    tick: float = DEFAULT_TICK,
    amend_horizon: float = DEFAULT_AMEND_HORIZON,
) -> list[EdgeResult]:
    """Every edge result of the buckets the observations fall in, as a live daemon would have
    ended up with them: observations in ``observed_time`` order, the ledger closed at each tick
    before the observations of that tick's second, and finally after ``end`` once every bucket
    can close. For each (edge, bucket) the last amendment wins, as it does in the store.
    """
    ledger = PipelineLedger(pipeline, amend_horizon)
    final: dict[tuple[str, float], EdgeResult] = {}

    def close(now: float) -> None:
        for result in ledger.close(now).edge_results:
            final[(result.edge, result.bucket_start)] = result

    ordered = sorted(observations, key=lambda o: o.observed_time)
    last_tick = -math.inf
    for at, group in itertools.groupby(ordered, key=lambda o: math.floor(o.observed_time / tick)):
        now = at * tick
        if now > last_tick:
            close(now)
            last_tick = now
        ledger.observe(group)
    latest = max(end, ordered[-1].observed_time if ordered else end)
    close(latest + pipeline.bucket_seconds + pipeline.allowed_lateness + tick)
    return sorted(final.values(), key=lambda r: (r.bucket_start, r.edge))


def as_json(result: EdgeResult) -> dict[str, object]:
    """One edge result for ``--out``: the numbers, the bucket in both forms, a few missing ids."""
    return {
        "pipeline": result.pipeline,
        "edge": result.edge,
        "bucket_start": result.bucket_start,
        "bucket": format_time(result.bucket_start),
        "bucket_seconds": result.bucket_seconds,
        "expected": result.expected,
        "arrived": result.arrived,
        "missing": result.missing,
        "late": result.late,
        "duplicates": result.duplicates,
        "loss_ratio": result.loss_ratio,
        "mode": str(result.mode),
        "sample_rate": result.sample_rate,
        "completeness": str(result.completeness),
        "missing_ids": list(result.missing_ids[:20]),
    }


def print_table(results: Sequence[EdgeResult], out: TextIO) -> None:
    """A row per (bucket, edge), then a total per edge."""
    print(
        f"{'bucket (UTC)':<21} {'edge':<24} {'expected':>8} {'arrived':>8} {'missing':>8} "
        f"{'late':>6} {'dup':>5}",
        file=out,
    )
    totals: dict[str, list[int]] = {}
    for r in results:
        print(
            f"{format_time(r.bucket_start):<21} {r.edge:<24} {r.expected:>8} {r.arrived:>8} "
            f"{r.missing:>8} {r.late:>6} {r.duplicates:>5}",
            file=out,
        )
        t = totals.setdefault(r.edge, [0, 0, 0, 0, 0])
        for i, n in enumerate((r.expected, r.arrived, r.missing, r.late, r.duplicates)):
            t[i] += n
    for edge, (expected, arrived, missing, late, dup) in totals.items():
        loss = f"{missing / expected:.2%} loss" if expected else "no events"
        print(
            f"{'total':<21} {edge:<24} {expected:>8} {arrived:>8} {missing:>8} {late:>6} "
            f"{dup:>5}  {loss}",
            file=out,
        )


def reconcile_command(
    config: Config,
    pipeline_name: str | None,
    files: Sequence[HopFile],
    start: float,
    end: float,
    out_path: Path | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """``hopwatch reconcile``: exit 0 with the results, 1 on an input problem (one line why)."""
    if end <= start:
        print("hopwatch reconcile: --to must be after --from", file=err)
        return 2
    if pipeline_name is None:
        if len(config.pipelines) != 1:
            known = ", ".join(p.name for p in config.pipelines)
            print(f"hopwatch reconcile: name the pipeline with --pipeline ({known})", file=err)
            return 2
        pipeline = config.pipelines[0]
    else:
        found = config.pipeline(pipeline_name)
        if found is None:
            known = ", ".join(p.name for p in config.pipelines)
            print(f"hopwatch reconcile: no pipeline {pipeline_name!r} (known: {known})", file=err)
            return 2
        pipeline = found
    unknown = [f.hop for f in files if f.hop not in pipeline.hop_names]
    if unknown:
        print(
            f"hopwatch reconcile: unknown hop {', '.join(unknown)} in pipeline "
            f"{pipeline.name!r} (its hops: {', '.join(pipeline.hop_names)})",
            file=err,
        )
        return 2
    try:
        contents = [(f.hop, f.path.read_bytes().splitlines()) for f in files]
    except OSError as e:
        print(f"hopwatch reconcile: {e}", file=err)
        return 1
    loaded = load_observations(config, pipeline, contents, start, end)
    results = reconcile(pipeline, loaded.observations, end)
    summary = (
        f"pipeline {pipeline.name!r}, {format_time(start)} to {format_time(end)}: "
        f"{len(loaded.observations)} observations from {len(files)} file(s), "
        f"{loaded.outside} outside the range, {loaded.rejected} rejected"
    )
    print(summary, file=err)
    for line in (loaded.errors or [])[:MAX_ERRORS_SHOWN]:
        print(f"  {line}", file=err)
    if out_path is not None:
        document = {
            "pipeline": pipeline.name,
            "from": format_time(start),
            "to": format_time(end),
            "observations": len(loaded.observations),
            "outside_range": loaded.outside,
            "rejected": loaded.rejected,
            "errors": (loaded.errors or [])[:MAX_ERRORS_SHOWN],
            "edges": [as_json(r) for r in results],
        }
        out_path.write_bytes(msgspec.json.format(msgspec.json.encode(document)) + b"\n")
        print(f"wrote {len(results)} edge results to {out_path}", file=err)
    else:
        print_table(results, out)
    return 0
