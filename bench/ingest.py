"""Ingest throughput and pending-id memory, as ratios to references measured in the same run.

The workload is live: every timed run gets bodies made just before it, with event times in the
last few minutes (inside the lateness window, so buckets are open and the edge joins run) and only
the sightings already made by then. The in-process engine and the ``hopwatch run`` server both
run the bundled SLOs (loaded with ``monitor.reload.load_all``, as the daemon does), so the two
figures measure the same work; HTTP adds the framework and the write-ahead log.

Prints, for the compiled ingest core and the Python one side by side (``monitor.ledger.core``;
the Python one is what runs where the extension is not built), ``--runs`` runs (min / median /
max), each a ratio to the bare decode measured in that run:
- bare decode: observations/s of a typed msgspec decode of the NDJSON bytes (the reference);
- in-process ingest: decode + validate + ledger + SLO indicators, observations/s and ratio to
  bare decode (goal >= 0.70);
- HTTP ingest: NDJSON batches of 1,000 POSTed to a ``hopwatch run`` subprocess on 127.0.0.1
  (``bench/http_push.py``: pre-encoded requests, two keep-alive connections, a niced client),
  observations/s and ratio to bare decode (goal >= 0.5), both per wall second and per second of
  the server process' own CPU time (``... CPU``: the figure comparable with in-process);
  ``--gzip`` adds the same with gzip bodies;
- SLO-count scaling: in-process ingest cost per observation with 4, 16 and 64 latency SLOs from
  the busy first hop (made here), as us/obs and as a ratio to 4 (goal: 64 <= 2x of 4);
- bytes per pending id with 1,000,000 ids pending on one edge (goal <= 64; the Python core's
  from phase 1 only).

Usage: .venv/bin/python bench/ingest.py [--events N] [--runs 3] [--only-http] [--gzip]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import gzip
import json
import math
import os
import re
import secrets
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from statistics import median

import http_push
import msgspec
from http_push import HttpRun
from http_push import (
    free_port as free_port,  # bench/soak.py and bench/durability.py import it from here
)

from monitor.config import load_config
from monitor.config.model import Config, Edge, Hop, Pipeline
from monitor.config.where import compile_where
from monitor.demo import ndjson
from monitor.engine import Engine
from monitor.ledger import core, sampling
from monitor.ledger.ledger import PipelineLedger
from monitor.records import Observation, ObservationIn
from monitor.reload import load_all
from monitor.sim import Scenario, Simulator
from monitor.slo import indicators
from monitor.slo.model import SLO, LatencyIndicator
from monitor.sources import limits, push
from monitor.sources.push import PushDecoder

ROOT = Path(__file__).resolve().parents[1]
BATCH = 1000


def batches(n_events: int) -> tuple[list[bytes], int]:
    """Bodies of events 6 hours old (their buckets closed, no edge join runs): what
    ``bench/durability.py`` compares write-ahead and checkpoint durability on. The ingest figures
    use ``Workload``, which is live."""
    config = load_config(ROOT / "hopwatch.yaml")
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    start = time.time() - 6 * 3600  # all in the past, well within retention
    sim = Simulator(pipeline, Scenario(start=start, seed=7))
    observations = sim.first_events(n_events)
    bodies = [ndjson(observations[i : i + BATCH]) for i in range(0, len(observations), BATCH)]
    return bodies, len(observations)


EVENT_SPAN = 240.0
"""Seconds of event time the workload's events are spread over, ending at the moment its bodies
are made: with 60 s buckets and 5 min of lateness the oldest bucket stays open for two more
minutes, longer than any one timed run."""


class Workload:
    """The simulated signup traffic, re-timed to "now" for each timed run.

    The simulator spreads ``n_events`` over about 40 minutes of event time; their event times are
    squeezed into ``EVENT_SPAN`` seconds ending at the moment ``bodies`` is called (latencies,
    hop order and ids unchanged), and a sighting whose observed time is still in the future then is
    left out, as a live sender would not have it yet.
    """

    def __init__(self, n_events: int) -> None:
        config = load_config(ROOT / "hopwatch.yaml")
        pipeline = config.pipeline("signup")
        assert pipeline is not None
        start = time.time()
        sim = Simulator(pipeline, Scenario(start=start, seed=7))
        observations = sim.first_events(n_events)
        span = max(o.event_time for o in observations) - start or 1.0
        k = EVENT_SPAN / span
        # (event time offset from the end of the span, latency, observation)
        self._timed = [
            ((o.event_time - start) * k - EVENT_SPAN, o.observed_time - o.event_time, o)
            for o in observations
        ]

    def observations(self, now: float) -> list[Observation]:
        out = []
        for offset, latency, o in self._timed:
            event_time = now + offset
            observed = event_time + latency
            if observed <= now:
                out.append(
                    msgspec.structs.replace(o, event_time=event_time, observed_time=observed)
                )
        out.sort(key=lambda o: o.observed_time)
        return out

    def bodies(self, now: float | None = None) -> tuple[list[bytes], int]:
        """NDJSON batches of ``BATCH`` and the number of observations in them."""
        observations = self.observations(time.time() if now is None else now)
        bodies = [ndjson(observations[i : i + BATCH]) for i in range(0, len(observations), BATCH)]
        return bodies, len(observations)


TOKEN_ENV = "HOPWATCH_BENCH_TOKEN"
BENCH_TOKEN = secrets.token_urlsafe(24)
"""The push token of the benches' servers: passed in the environment, never on a command line."""
INCLUDES = ("slo_definitions/", "checks/", "alert_rules/")


def config_text(root: Path = ROOT, durability: str | None = None) -> str:
    """The bundled hopwatch.yaml with a push token read from ``HOPWATCH_BENCH_TOKEN`` (auth is on
    by default for writes), its includes made absolute (the copy lives in a temporary directory)
    and, if given, ``storage.durability``."""
    text = (root / "hopwatch.yaml").read_text()
    auth = (
        f"  auth:\n    tokens:\n      - {{name: bench, scopes: [push], token_env: {TOKEN_ENV}}}\n"
    )
    text, n = re.subn(r"(?m)^server:\n", "server:\n" + auth, text, count=1)
    if n != 1:
        raise ValueError("hopwatch.yaml has no server section")
    for inc in INCLUDES:
        text = text.replace(f"  - {inc}\n", f"  - {root / inc}\n")
    if durability:
        text = text.replace("storage:\n", f"storage:\n  durability: {durability}\n", 1)
    return text


def bench_env() -> dict[str, str]:
    return {**os.environ, TOKEN_ENV: BENCH_TOKEN}


PUSH_HEADERS = {"content-type": "application/x-ndjson", "authorization": f"Bearer {BENCH_TOKEN}"}


def best_of(fn, repeat: int = 3, clock=time.perf_counter) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = clock()
        fn()
        times.append(clock() - t)
    return min(times)


CPU = time.process_time
"""The clock of the in-process figures and their reference: this process' CPU time, so that
other work on the shared 2-core machine (which stretches wall time by 2-3x and unevenly) does not
count. HTTP figures are wall time (server and clients are other processes)."""


def best_per_obs(workload: Workload, run, repeat: int = 3) -> float:
    """Fastest of ``repeat`` runs of ``run(bodies)`` on fresh bodies each (made outside the
    timing, so every run's events are inside the lateness window): CPU seconds per observation."""
    best = math.inf
    for _ in range(repeat):
        bodies, n = workload.bodies()
        gc.collect()
        t = CPU()
        run(bodies)
        best = min(best, (CPU() - t) / n)
    return best


def bare_decode(bodies: list[bytes]) -> None:
    decoder = msgspec.json.Decoder(list[ObservationIn])
    for body in bodies:
        decoder.decode(b"[" + body.replace(b"\n", b",") + b"]")


@contextlib.contextmanager
def python_core() -> Iterator[None]:
    """Run the Python ingest core in this process, as ``HOPWATCH_PURE_PYTHON=1`` would (ledgers,
    push decoders and SLI recorders made inside take the Python paths, push validation the numpy
    scan)."""
    saved = core.batch, limits._compiled, push._compiled, indicators._compiled, indicators.id_hash
    core.batch = limits._compiled = push._compiled = indicators._compiled = None  # type: ignore[misc]
    indicators.id_hash = sampling.id_hash_python
    try:
        yield
    finally:
        (
            core.batch,  # type: ignore[misc]
            limits._compiled,
            push._compiled,
            indicators._compiled,
            indicators.id_hash,
        ) = saved


def in_process(
    bodies: list[bytes], config: Config, slos: tuple[SLO, ...] = (), compiled: bool = True
) -> None:
    if not compiled:
        with python_core():
            in_process(bodies, config, slos)
        return
    # One decoder for the whole run, as the server keeps one per config (its attribute memo
    # lives as long as it does).
    engine, decoder = Engine(config, slos=slos), PushDecoder(config)
    now = time.time()
    for body in bodies:
        batch = decoder.observations(body, content_type="application/x-ndjson", now=now)
        engine.observe(batch.accepted)


def http(bodies: list[bytes], compiled: bool = True, gzipped: bool = False) -> HttpRun:
    """Push ``bodies`` to a fresh ``hopwatch run`` (``bench/http_push.py``: pre-encoded requests
    on two keep-alive connections, the server's CPU time measured apart from the client's)."""
    env = bench_env() if compiled else {**bench_env(), core.PURE_PYTHON_ENV: "1"}
    headers = {k: v for k, v in PUSH_HEADERS.items() if k != "content-type"}
    headers["content-type"] = "application/x-ndjson"
    if gzipped:
        headers["content-encoding"] = "gzip"
        bodies = [gzip.compress(b, compresslevel=1) for b in bodies]
    requests = [http_push.request_bytes("/v1/observations", b, headers) for b in bodies]
    with http_push.server(config_text(), env) as (port, pid):
        return http_push.timed_push(port, pid, requests, requests[0])


BENCH_FILTERS = (
    'event_type == "user_signed_up" and attributes.consent == "granted"',
    'status == "ok"',
    'attributes.consent == "granted"',
    "",
)
BENCH_TO_HOPS = ("activation", "identity", "warehouse", "crm")


def latency_slos(template: SLO, n: int) -> tuple[SLO, ...]:
    """``n`` latency SLOs from the busy first hop (``sdk``, every event passes it), made from the
    bundled one: each its own name and threshold, cycling through a few filters and target hops,
    as a team adding SLOs per journey would."""
    assert isinstance(template.indicator, LatencyIndicator)
    out = []
    for i in range(n):
        indicator = dataclasses.replace(
            template.indicator,
            from_hop="sdk",
            to_hop=BENCH_TO_HOPS[(i // len(BENCH_FILTERS)) % len(BENCH_TO_HOPS)],
            threshold=30.0 + i,
            where=compile_where(BENCH_FILTERS[i % len(BENCH_FILTERS)]),
        )
        out.append(
            dataclasses.replace(template, name=f"bench-latency-{i:02d}", indicator=indicator)
        )
    return tuple(out)


def slo_scaling(
    workload: Workload, config: Config, template: SLO, counts: tuple[int, ...] = (4, 16, 64)
) -> dict[int, float]:
    """In-process ingest seconds per observation with each count of latency SLOs (and no other
    SLO), best of three."""
    out: dict[int, float] = {}
    for count in counts:
        slos = latency_slos(template, count)
        out[count] = best_per_obs(workload, lambda bodies, s=slos: in_process(bodies, config, s))
    return out


def rss_from_status(text: str) -> int:
    """Resident set size in bytes from the text of ``/proc/<pid>/status`` (its ``VmRSS`` line,
    in kB); 0 when there is none (a zombie)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            value, unit = line.split()[1:3]
            if unit.lower() != "kb":
                raise ValueError(f"unexpected VmRSS unit {unit!r}")
            return int(value) * 1024
    return 0


def read_rss(pid: int | str = "self") -> int:
    """RSS of a process, as the kernel counts it (no psutil)."""
    return rss_from_status(Path(f"/proc/{pid}/status").read_text())


def settled_rss() -> int:
    """This process' RSS after a full garbage collection."""
    gc.collect()
    return read_rss()


def _one_edge(cap: int) -> PipelineLedger:
    pipeline = Pipeline(
        name="p", hops=(Hop("a"), Hop("b")), edges=(Edge("a", "b"),), max_pending_ids=cap
    )
    return PipelineLedger(pipeline)


def _push_missing(ledger: PipelineLedger, first: int, count: int, at: float) -> None:
    """``count`` ids of event time ``at`` seen at hop ``a`` (each at its own millisecond, the
    worst case for memory), never at ``b``."""
    ledger.observe(
        [
            Observation(
                "p",
                "a",
                "x",
                at,
                at + 0.25 + k / 1000.0,
                event_id=f"evt-{i:012x}-{(i * 7919) & 0xFFFFFFFF:08x}",
            )
            for k, i in enumerate(range(first, first + count))
        ]
    )


class PendingPhases:
    """Memory of ids that never arrive downstream, through the ledger's real path.

    Time is simulated (``now`` advances with the ids pushed, and ``close(now)`` runs every
    simulated second as the daemon's ticker does: it compacts latency buffers and closes what the
    watermark has passed), so an hour of amendment window takes seconds.

    Phase 1: ``n`` ids at ``fill_rate`` per simulated second, all inside the lateness window (no
    bucket closes): RSS growth / ``n``.
    Phase 2: ``steady_rate`` ids per simulated second for ``minutes``, past the amendment window
    (buckets evicted, and ids beyond ``max_pending_ids`` evicted): RSS at each simulated minute.
    """

    BATCH = 1_000

    def __init__(self, n: int = 1_000_000, fill_rate: int = 10_000) -> None:
        self.n = n
        self.fill_rate = fill_rate
        self.ledger = _one_edge(cap=n)
        # From the start of a bucket, so the ids split over buckets (and dict tables) the same
        # way in every run: 1,000,000 at 10,000/s fill 60 + 40 s of the first two buckets.
        size = self.ledger.watermark.bucket_seconds
        self.now = (time.time() // size) * size
        self.next_id = 0

    def _run(self, rate: int, seconds: int, on_minute=None) -> None:
        per_second = max(rate // self.BATCH, 1)
        for s in range(seconds):
            for _ in range(per_second):
                _push_missing(self.ledger, self.next_id, self.BATCH, self.now)
                self.next_id += self.BATCH
                self.now += 1.0 / per_second
            self.ledger.close(self.now)
            if on_minute is not None and (s + 1) % 60 == 0:
                on_minute((s + 1) // 60)

    def fill(self) -> float:
        """Phase 1: bytes of RSS per pending id."""
        before = settled_rss()
        self._run(self.fill_rate, self.n // self.fill_rate)
        after = settled_rss()
        assert self.ledger.pending_ids == self.n, self.ledger.pending_ids
        joins = [j for js in self.ledger._edges.values() for j in js.values()]
        assert not any(j.closed for j in joins), "phase 1 must stay inside the lateness window"
        return (after - before) / self.n

    def steady(self, rate: int, minutes: int) -> list[int]:
        """Phase 2: RSS at the end of each simulated minute."""
        out: list[int] = []
        self._run(rate, minutes * 60, lambda _m: out.append(settled_rss()))
        return out


def window_minutes(ledger: PipelineLedger) -> float:
    """Minutes after which a bucket's ids are forgotten: bucket, lateness, amendment horizon."""
    w = ledger.watermark
    return (w.bucket_seconds + w.lateness + ledger.amend_horizon) / 60.0


def bytes_per_pending_id(n: int = 1_000_000) -> float:
    """Python heap bytes per pending id (tracemalloc), same path as ``PendingPhases.fill``."""
    phases = PendingPhases(n)
    gc.collect()
    tracemalloc.start()
    phases._run(phases.fill_rate, n // phases.fill_rate)
    gc.collect()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert phases.ledger.pending_ids == n
    return current / n


def pending_rss_report(n: int, steady_rate: int, minutes: int) -> dict[str, object]:
    """Run in a fresh interpreter (``--pending-rss``) so no freed heap of other benches is
    reused: phase 1 and 2 of ``PendingPhases``."""
    phases = PendingPhases(n)
    per_id = phases.fill()
    base_rss = read_rss()
    per_minute = phases.steady(steady_rate, minutes)
    return {
        "per_id": per_id,
        "after_fill": base_rss,
        "per_minute": per_minute,
        "window_minutes": window_minutes(phases.ledger),
        "evicted": phases.ledger.stats.pending_evicted,
        "held": phases.ledger.pending_ids,
    }


def pending_rss_in_child(
    n: int, steady_rate: int, minutes: int, compiled: bool = True
) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, __file__, "--pending-rss", str(n), "--steady-rate", str(steady_rate),
         "--minutes", str(minutes)],
        check=True, capture_output=True, text=True,
        env=None if compiled else {**os.environ, core.PURE_PYTHON_ENV: "1"},
    )  # fmt: skip
    return json.loads(out.stdout)


def flatness(per_minute: list[int], window: float) -> tuple[int, int, float]:
    """(RSS at the first whole minute after the window, RSS at the end, end / that)."""
    if not per_minute:
        return 0, 0, float("nan")
    first = min(math.ceil(window), len(per_minute)) - 1
    start, end = per_minute[max(first, 0)], per_minute[-1]
    return start, end, end / start


def print_pending(report: dict[str, object], tracemalloc_per_id: float, n: int) -> None:
    per_minute = [int(x) for x in report["per_minute"]]  # type: ignore[attr-defined]
    window = float(report["window_minutes"])  # type: ignore[arg-type]
    print(
        f"pending id memory     {tracemalloc_per_id:10.1f} bytes/id at {n:,} (tracemalloc, "
        "Python heap)"
    )
    print(
        f"pending id memory     {float(report['per_id']):10.1f} bytes/id at {n:,} "  # type: ignore[arg-type]
        "(RSS growth, VmRSS; goal <= 64)"
    )
    print(
        f"steady phase: {len(per_minute)} simulated minutes; a bucket's ids are kept "
        f"{window:.0f} min (bucket + lateness + amendment horizon); "
        f"{report['evicted']:,} ids evicted, {report['held']:,} held at the end"
    )
    for i in range(0, len(per_minute), 10):
        row = "  ".join(f"{r / 1e6:6.1f}" for r in per_minute[i : i + 10])
        print(f"  RSS MB, minutes {i + 1:3d}-{min(i + 10, len(per_minute)):3d}: {row}")
    start, end, ratio = flatness(per_minute, window)
    print(
        f"RSS after the window {start / 1e6:.1f} MB, at the end {end / 1e6:.1f} MB: "
        f"{ratio:.3f} (goal: flat)"
    )
    after_fill = int(report["after_fill"])  # type: ignore[call-overload]
    print(
        f"RSS at the end / after phase 1 (both with {report['held']:,} ids held): "
        f"{end / after_fill:.3f} ({after_fill / 1e6:.1f} -> {end / 1e6:.1f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--events", type=int, default=40_000, help="simulated events (≈4.5 observations each)"
    )
    parser.add_argument("--pending", type=int, default=1_000_000, help="ids pending in phase 1")
    parser.add_argument(
        "--steady-rate", type=int, default=2_500, help="ids per simulated second in phase 2"
    )
    parser.add_argument("--minutes", type=int, default=75, help="simulated minutes of phase 2")
    parser.add_argument("--pending-only", action="store_true", help="only the memory figures")
    parser.add_argument("--skip-pending", action="store_true", help="no memory figures")
    parser.add_argument("--skip-http", action="store_true", help="no HTTP figures")
    parser.add_argument(
        "--slo-events", type=int, default=10_000, help="simulated events of the SLO scaling row"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs for min / median / max")
    parser.add_argument("--only-http", action="store_true", help="bare decode and HTTP only")
    parser.add_argument("--gzip", action="store_true", help="also HTTP with gzip bodies")
    parser.add_argument("--pending-rss", type=int, help=argparse.SUPPRESS)  # the child's mode
    args = parser.parse_args()
    if args.pending_rss:
        report = pending_rss_report(args.pending_rss, args.steady_rate, args.minutes)
        print(json.dumps(report))
        return
    if args.pending_only:
        report = pending_rss_in_child(args.pending, args.steady_rate, args.minutes)
        print_pending(report, bytes_per_pending_id(args.pending), args.pending)
        return
    workload = Workload(args.events)
    bodies, n = workload.bodies()
    print(
        f"{n} observations in {len(bodies)} NDJSON batches, {sum(map(len, bodies)) / n:.0f} bytes "
        f"each, event times in the last {EVENT_SPAN:.0f} s (edge joins run); core built: "
        f"{core.NAME}; {args.runs} runs, min / median / max of each run's ratio to its bare decode"
    )
    loaded = load_all(ROOT / "hopwatch.yaml")
    config, slos = loaded.config, loaded.slos
    rows: dict[str, list[float]] = {}
    for _ in range(args.runs):
        figures = one_run(
            workload,
            config,
            slos,
            compiled=core.batch is not None,
            only_http=args.only_http,
            skip_http=args.skip_http,
            gzipped=args.gzip,
        )
        for name, value in figures.items():
            rows.setdefault(name, []).append(value)
    print_runs(rows, len(slos))
    if args.only_http:
        return
    template = next(s for s in slos if isinstance(s.indicator, LatencyIndicator))
    small = Workload(args.slo_events)
    bare = median(rows["bare"])
    scaling = slo_scaling(small, config, template)
    base = scaling[4]
    row = "  ".join(
        f"{count}: {t * 1e6:6.2f} us/obs {t / base:5.2f}x ({1.0 / t / bare:.2f} of bare)"
        for count, t in scaling.items()
    )
    print(f"latency SLOs on sdk   {row}  (goal: 64 <= 2x of 4)")
    if args.skip_pending:
        return
    report = pending_rss_in_child(args.pending, args.steady_rate, args.minutes)
    print_pending(report, bytes_per_pending_id(args.pending), args.pending)
    if core.batch is not None:
        python = pending_rss_in_child(args.pending, args.steady_rate, 0, compiled=False)
        print(
            f"pending id memory     {float(python['per_id']):10.1f} bytes/id at {args.pending:,} "  # type: ignore[arg-type]
            "(RSS growth, VmRSS) with the Python core"
        )


def one_run(
    workload: Workload,
    config: Config,
    slos: tuple[SLO, ...],
    compiled: bool,
    *,
    only_http: bool = False,
    skip_http: bool = False,
    gzipped: bool = False,
) -> dict[str, float]:
    """One run of every throughput figure, in observations/s; both cores when ``compiled``.

    ``HTTP ...`` rows are wall-clock obs/s divided by this CPU-time reference (on a loaded
    machine they come out lower than on a quiet one); ``HTTP ... CPU`` rows are observations per
    second of the server process' own CPU time, the figure comparable with the in-process ones."""
    bodies, n = workload.bodies()
    out = {"bare": n / best_of(lambda: bare_decode(bodies), clock=CPU)}
    cores = (True, False) if compiled else (False,)
    for c in cores if not only_http else ():
        label = "compiled" if c else "python"
        out[f"in-process {label}"] = 1.0 / best_per_obs(
            workload, lambda b, c=c: in_process(b, config, slos, compiled=c)
        )
    if skip_http:
        return out
    variants = [(c, False) for c in cores] + ([(True, True)] if gzipped and compiled else [])
    for c, gz in variants:
        label = ("compiled" if c else "python") + (" gzip" if gz else "")
        bodies, n = workload.bodies()
        run = http(bodies, compiled=c, gzipped=gz)
        out[f"HTTP {label}"] = n / run.wall
        out[f"HTTP {label} CPU"] = n / run.server_cpu
        retried = sum(v for k, v in run.statuses.items() if k != 202)
        if retried:
            print(f"  (HTTP {label}: {retried} answers 429/503, sent again)")
    return out


GOALS = {"in-process": "goal >= 0.70", "HTTP": "goal >= 0.50"}


def print_runs(rows: dict[str, list[float]], n_slos: int) -> None:
    """Each figure as obs/s (min-max) and its ratio to the same run's bare decode (min / median
    / max)."""
    bare = rows["bare"]
    print(
        f"bare typed decode     {min(bare):10,.0f}-{max(bare):,.0f} obs/s  1.00  "
        f"({1e6 / max(bare):.2f}-{1e6 / min(bare):.2f} us/obs)"
    )
    for name, values in rows.items():
        if name == "bare":
            continue
        ratios = sorted(v / b for v, b in zip(values, bare, strict=True))
        goal = GOALS[name.split()[0]]
        print(
            f"{name:<22}{min(values):10,.0f}-{max(values):,.0f} obs/s  "
            f"{ratios[0]:.2f} / {median(ratios):.2f} / {ratios[-1]:.2f} of bare decode "
            f"({goal}; {n_slos} bundled SLOs"
            + (", write-ahead durability" if name.startswith("HTTP") else "")
            + ("; server CPU time)" if name.endswith(" CPU") else ")")
        )


if __name__ == "__main__":
    main()
