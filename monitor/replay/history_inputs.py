"""The files a history replay reads: CSVs of counts (into closed buckets) and labelled incidents.

Parsing is pure (text in, records and problems out) so every message can be tested exactly; the
``read_*`` functions only open the paths. A bad counts row is skipped and reported as
``file:line: what is wrong; how to fix it`` while the good rows are kept: one typo in a month of
counts should not cost the month. A bad header, or a bad incident, stops the replay instead: the
first would make every row wrong, the second would silently change precision and recall.

Counts files (docs/checks.md, "Replay"), one kind per file, told apart by the header:

* hop counts — ``timestamp,pipeline,hop,count[,status][,<attribute>...]``: events seen at a hop in
  the bucket containing ``timestamp``; ``status`` defaults to ``ok``; every other column is an
  allow-listed attribute of the pipeline (an empty cell means the attribute is absent).
* edge counts — ``timestamp,pipeline,edge,expected,arrived[,duplicates][,late]``: what an edge
  (``from->to``) expected and what arrived in the bucket.

Rows of one bucket (and series) add up. A bucket with no row has no data, not zero: write a row
with ``count`` 0 to say that nothing arrived.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from monitor.config.model import Config, Edge, Pipeline
from monitor.config.suggest import known_hint
from monitor.ledger.records import EdgeResult, HopBucket, JoinMode, SeriesKey
from monitor.records import Status

__all__ = [
    "EDGE_COLUMNS",
    "HOP_COLUMNS",
    "CountsInput",
    "parse_counts",
    "parse_incidents",
    "parse_instant",
    "read_counts",
    "read_incidents",
]

HOP_COLUMNS = ("timestamp", "pipeline", "hop", "count")
EDGE_COLUMNS = ("timestamp", "pipeline", "edge", "expected", "arrived")
_EDGE_OPTIONAL = ("duplicates", "late")
_STATUSES = [s.value for s in Status]
TIME_HINT = "write an ISO 8601 time such as 2024-05-01T12:00:00Z (no zone = UTC) or epoch seconds"


def parse_instant(text: str) -> float:
    """Epoch seconds from ``2024-05-01T12:00:00Z``, ``2024-05-01 12:00:00+02:00``, ``2024-05-01``
    (a zone-less time is UTC, like NAB files) or a plain number of epoch seconds."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(value):
            return value
        raise ValueError(f"{text!r} is not a time; {TIME_HINT}")
    try:
        parsed = datetime.fromisoformat(text.removesuffix("Z").removesuffix("z"))
    except ValueError:
        raise ValueError(f"{text!r} is not a time; {TIME_HINT}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def _whole(text: str, column: str, example: str) -> int:
    try:
        n = int(text.strip())
    except ValueError:
        n = -1
    if n < 0:
        raise ValueError(f"{column} {text!r} is not a whole number ≥ 0; write e.g. {example}")
    return n


# --- counts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CountsInput:
    """Buckets built from counts files, and what was skipped on the way."""

    hop_buckets: tuple[HopBucket, ...]
    edge_results: tuple[EdgeResult, ...]
    rows: int
    """Data rows read (good and bad)."""
    problems: tuple[str, ...]
    """One ``file:line: message`` per skipped row."""

    @property
    def skipped(self) -> int:
        return len(self.problems)


class _Rows:
    """Data rows of a CSV with their line numbers (a quoted cell may span lines)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._reader = csv.reader(lines)

    def header(self) -> list[str] | None:
        row = next(self._reader, None)
        return None if row is None else [c.strip() for c in row]

    def __iter__(self) -> Iterator[tuple[int, list[str]]]:
        for row in self._reader:
            if row and any(c.strip() for c in row):
                yield self._reader.line_num, row


def _bucket_start(at: float, pipeline: Pipeline) -> float:
    return math.floor(at / pipeline.bucket_seconds) * pipeline.bucket_seconds


def _pipeline(config: Config, name: str) -> Pipeline:
    pipeline = config.pipeline(name)
    if pipeline is None:
        known = [p.name for p in config.pipelines]
        raise ValueError(f"unknown pipeline {name!r}; {known_hint(name, known, 'pipelines')}")
    return pipeline


@dataclass
class _Builder:
    config: Config
    hops: dict[tuple[str, str, float], Counter[SeriesKey]]
    edges: dict[tuple[str, str, float], list[int]]

    def hop_row(self, cells: dict[str, str], attributes: list[str]) -> None:
        pipeline = _pipeline(self.config, cells["pipeline"].strip())
        hop = cells["hop"].strip()
        if hop not in pipeline.hop_names:
            hint = known_hint(hop, pipeline.hop_names, "hops")
            raise ValueError(f"unknown hop {hop!r} in pipeline {pipeline.name!r}; {hint}")
        at = parse_instant(cells["timestamp"])
        count = _whole(cells["count"], "count", "120 (events seen in the bucket)")
        status_text = cells.get("status", "").strip() or Status.OK.value
        if status_text not in _STATUSES:
            raise ValueError(f"status {status_text!r} is not one of {', '.join(_STATUSES)}")
        pairs = []
        for name in attributes:
            value = cells[name].strip()
            if not value:
                continue
            if name not in pipeline.attributes:
                allowed = ", ".join(sorted(pipeline.attributes)) or "none"
                raise ValueError(
                    f"attribute {name!r} is not allow-listed in pipeline {pipeline.name!r} "
                    f"(allowed: {allowed}); leave the cell empty or add it to the pipeline's "
                    "attributes"
                )
            pairs.append((name, value))
        key = SeriesKey(Status(status_text), tuple(sorted(pairs)))
        series = self.hops.setdefault((pipeline.name, hop, _bucket_start(at, pipeline)), Counter())
        series[key] += count

    def edge_row(self, cells: dict[str, str]) -> None:
        pipeline = _pipeline(self.config, cells["pipeline"].strip())
        name = cells["edge"].strip()
        if name not in {e.name for e in pipeline.edges}:
            hint = known_hint(name, [e.name for e in pipeline.edges], "edges")
            raise ValueError(f"unknown edge {name!r} in pipeline {pipeline.name!r}; {hint}")
        at = parse_instant(cells["timestamp"])
        expected = _whole(cells["expected"], "expected", "100 (events that left the from hop)")
        arrived = _whole(cells["arrived"], "arrived", "98 (of them seen at the to hop)")
        extra = [_whole(cells.get(c, "") or "0", c, "0") for c in _EDGE_OPTIONAL]
        sums = self.edges.setdefault((pipeline.name, name, _bucket_start(at, pipeline)), [0] * 4)
        for i, n in enumerate((expected, arrived, *extra)):
            sums[i] += n

    def build(self) -> tuple[tuple[HopBucket, ...], tuple[EdgeResult, ...]]:
        hops = []
        for (pipeline_name, hop, start), counts in sorted(self.hops.items()):
            pipeline = _pipeline(self.config, pipeline_name)
            hops.append(
                HopBucket(
                    pipeline_name,
                    hop,
                    start,
                    pipeline.bucket_seconds,
                    tuple(sorted(counts.items(), key=lambda kv: (kv[0].status, kv[0].attributes))),
                )
            )
        edges = []
        for (pipeline_name, name, start), (expected, arrived, dups, late) in sorted(
            self.edges.items()
        ):
            pipeline = _pipeline(self.config, pipeline_name)
            edge: Edge = next(e for e in pipeline.edges if e.name == name)
            end = start + pipeline.bucket_seconds
            edges.append(
                EdgeResult(
                    pipeline_name,
                    name,
                    edge.from_hop,
                    edge.to_hop,
                    start,
                    pipeline.bucket_seconds,
                    expected,
                    arrived,
                    max(0, expected - arrived),
                    duplicates=dups,
                    late=late,
                    mode=JoinMode.COUNTS,
                    closed_at=end + pipeline.allowed_lateness,
                )
            )
        return tuple(hops), tuple(edges)


def _columns(name: str, header: list[str] | None, config: Config) -> tuple[str, list[str]]:
    """The file's kind (``hop`` or ``edge``) and its attribute columns, or why the header is wrong."""
    where = f"{name}:1"
    if not header:
        raise ValueError(
            f"{where}: the file is empty; the first line is a header, "
            f"{','.join(HOP_COLUMNS)} or {','.join(EDGE_COLUMNS)}"
        )
    seen = [c for c in header if c]
    dupes = sorted({c for c in seen if seen.count(c) > 1})
    if dupes or len(seen) != len(header):
        what = f"repeats {', '.join(dupes)}" if dupes else "has an empty column name"
        raise ValueError(f"{where}: the header {what}; name every column once")
    if "edge" in header:
        missing = [c for c in EDGE_COLUMNS if c not in header]
        unknown = [c for c in header if c not in (*EDGE_COLUMNS, *_EDGE_OPTIONAL)]
        if missing or unknown:
            problem = (
                f"lacks {', '.join(missing)}" if missing else f"has unknown {', '.join(unknown)}"
            )
            raise ValueError(
                f"{where}: the edge counts header {problem}; an edge counts file has the columns "
                f"{','.join(EDGE_COLUMNS)}[,{','.join(_EDGE_OPTIONAL)}]"
            )
        return "edge", []
    missing = [c for c in HOP_COLUMNS if c not in header]
    if missing:
        raise ValueError(
            f"{where}: the header {','.join(header)} lacks {', '.join(missing)}; write "
            f"{','.join(HOP_COLUMNS)}[,status][,<attribute>...] for hop counts or "
            f"{','.join(EDGE_COLUMNS)}[,{','.join(_EDGE_OPTIONAL)}] for edge counts"
        )
    known = {a for p in config.pipelines for a in p.attributes}
    attributes = [c for c in header if c not in (*HOP_COLUMNS, "status")]
    unknown = [a for a in attributes if a not in known]
    if unknown:
        raise ValueError(
            f"{where}: column {unknown[0]!r} is neither a counts column nor an allow-listed "
            f"attribute of any pipeline; {known_hint(unknown[0], sorted(known), 'attributes')}"
        )
    return "hop", attributes


def parse_counts(files: Iterable[tuple[str, Iterable[str]]], config: Config) -> CountsInput:
    """Buckets from ``(name, lines)`` counts files, bad rows skipped with ``name:line`` problems.

    Raises ValueError for a header that cannot be read (every row would be wrong)."""
    builder = _Builder(config, {}, {})
    problems: list[str] = []
    rows = 0
    for name, lines in files:
        reader = _Rows(lines)
        header = reader.header()
        kind, attributes = _columns(name, header, config)
        assert header is not None
        for line, row in reader:
            rows += 1
            if len(row) != len(header):
                problems.append(
                    f"{name}:{line}: {len(row)} cells for {len(header)} columns "
                    f"({','.join(header)}); add or remove commas, quote a value that has one"
                )
                continue
            cells = dict(zip(header, row, strict=True))
            try:
                if kind == "edge":
                    builder.edge_row(cells)
                else:
                    builder.hop_row(cells, attributes)
            except ValueError as e:
                problems.append(f"{name}:{line}: {e}")
    hops, edges = builder.build()
    return CountsInput(hops, edges, rows, tuple(problems))


def read_counts(paths: Iterable[Path], config: Config) -> CountsInput:
    """``parse_counts`` over files on disk. Raises OSError / ValueError naming the file."""
    opened = []
    try:
        for path in paths:
            opened.append((str(path), path.open(newline="", encoding="utf-8")))
        return parse_counts(opened, config)
    finally:
        for _, f in opened:
            f.close()


# --- incidents --------------------------------------------------------------------------------


def _instant(value: Any) -> float:
    """A YAML or CSV value as epoch seconds; YAML reads an unquoted time as a datetime."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        return parse_instant(value)
    raise ValueError(f"{value!r} is not a time; {TIME_HINT}")


def _window(start: Any, end: Any) -> tuple[float, float]:
    if start is None or end is None:
        raise ValueError(f"an incident needs a start and an end; {TIME_HINT}")
    lo, hi = _instant(start), _instant(end)
    if hi < lo:
        raise ValueError("the end is before the start; swap them")
    return lo, hi


def _incidents_csv(name: str, text: str) -> list[tuple[float, float]]:
    reader = _Rows(text.splitlines())
    header = reader.header()
    if not header or "start" not in header or "end" not in header:
        raise ValueError(
            f"{name}:1: the header is {','.join(header or []) or 'missing'}; an incidents CSV "
            "has the columns start,end (others, e.g. name, are ignored)"
        )
    out, problems = [], []
    for line, row in reader:
        cells = dict(zip(header, row, strict=False))
        try:
            out.append(_window(cells.get("start"), cells.get("end")))
        except ValueError as e:
            problems.append(f"{name}:{line}: {e}")
    if problems:
        raise ValueError("\n".join(problems))
    return out


def _incidents_yaml(name: str, text: str) -> list[tuple[float, float]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"{name}: not valid YAML ({e})") from None
    items = data.get("incidents") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValueError(
            f"{name}: expected a list of incidents, e.g. '- {{start: 2024-05-01T12:00:00Z, "
            "end: 2024-05-01T13:00:00Z}' (optionally under an 'incidents:' key)"
        )
    out, problems = [], []
    for i, item in enumerate(items):
        try:
            if isinstance(item, dict):
                out.append(_window(item.get("start"), item.get("end")))
            elif isinstance(item, list) and len(item) == 2:
                out.append(_window(item[0], item[1]))
            else:
                raise ValueError("write {start: ..., end: ...} or [start, end]")
        except ValueError as e:
            problems.append(f"{name}: incidents[{i}]: {e}")
    if problems:
        raise ValueError("\n".join(problems))
    return out


def parse_incidents(name: str, text: str) -> list[tuple[float, float]]:
    """Labelled incidents as inclusive ``(start, end)`` epoch seconds, from a ``start,end`` CSV
    (``name`` ends in ``.csv``) or a YAML list. Raises ValueError listing every bad incident."""
    if name.lower().endswith(".csv"):
        return _incidents_csv(name, text)
    if name.lower().endswith((".yaml", ".yml")):
        return _incidents_yaml(name, text)
    raise ValueError(
        f"{name}: an incidents file is a start,end CSV (.csv) or a YAML list (.yaml, .yml); "
        "a NAB windows JSON goes with --series"
    )


def read_incidents(path: Path) -> list[tuple[float, float]]:
    return parse_incidents(str(path), path.read_text(encoding="utf-8"))
