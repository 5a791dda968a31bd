"""Sustained push at a fixed rate against ``hopwatch run``: is it flat from the first minute to the last?

Starts ``hopwatch run`` on 127.0.0.1 (a free port, a temporary data dir, default durability
``wal``, the bundled pipeline's hops and edges, a push token) and pushes NDJSON batches of 1,000
observations at a fixed rate from ``--clients`` threads for ``--minutes``. Every event goes through
the bundled ``signup`` pipeline with ``event_time`` = now, so every edge's join is live inside the
lateness window; a few events stop short of a hop (the last event of each batch is cut), so some
ids stay pending and come out missing.

Prints per minute: achieved observations/s, request latency p50 / p99 / p99.9 / max, the server's
RSS (``/proc/<pid>/status``), checkpoints written, the last checkpoint's duration and size and the
pending ids (from ``/metrics``). At the end: last / first minute for throughput and p99 (goal: both
within 20%), and RSS at the end / RSS once the lateness window and, if the run is long enough, the
amendment window (bucket + lateness + 1 h) are full (goal: flat).

Bounded: traffic only to 127.0.0.1, the server is stopped at the end (killed if it does not stop).

Usage: PYTHONPATH=. .venv/bin/python bench/soak.py [--minutes 10] [--rate 5000] [--clients 2]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ingest import ROOT, TOKEN_ENV, config_text, free_port, read_rss

AMEND_HORIZON_S = 3600.0
"""``monitor.ledger.ledger.DEFAULT_AMEND_HORIZON``: closed buckets are kept this long."""

# --- helpers (tested in tests/test_bench_helpers.py) ------------------------------------------


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by linear interpolation between closest ranks (numpy's
    default); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")


def metric_value(exposition: str, name: str, labels: dict[str, str] | None = None) -> float | None:
    """The value of the first sample of ``name`` whose labels include ``labels`` in a Prometheus
    text exposition; None when there is none."""
    want = labels or {}
    for line in exposition.splitlines():
        m = _SAMPLE.match(line)
        if m is None or m.group(1) != name:
            continue
        have = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(have.get(k) == v for k, v in want.items()):
            return float(m.group(3))
    return None


def ratio(last: float, first: float) -> float:
    return last / first if first else float("nan")


# --- the events ---------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
_TYPES = ("user_signed_up", "user_signed_up", "plan_upgraded", "profile_updated")
_REGIONS = ("eu", "us", "apac")


class Events:
    """Observations of whole events through the bundled pipeline, at ``time.time()``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.prefix = f"soak{seed}-{secrets.token_hex(3)}"
        self.n = 0

    def _event(self, now: float) -> list[dict[str, object]]:
        rng = self.rng
        self.n += 1
        event_id = f"{self.prefix}-{self.n:010d}"
        event_type = rng.choice(_TYPES)
        consent = "granted" if rng.random() < 0.7 else "denied"
        attributes = {"region": rng.choice(_REGIONS), "consent": consent, "source": "web"}
        hops = ["sdk", "ingest", "broker", "identity", "warehouse"]
        if consent == "granted":
            hops.append("activation")
            if event_type in ("user_signed_up", "plan_upgraded"):
                hops.append("crm")
        out = []
        for i, hop in enumerate(hops):
            out.append(
                {
                    "pipeline": "signup",
                    "hop": hop,
                    "event_id": event_id,
                    "event_type": event_type,
                    "event_time": now,
                    "observed_time": now + 0.01 * i,
                    "status": "ok",
                    "attributes": attributes,
                }
            )
        return out

    def batch(self, size: int) -> bytes:
        """``size`` observations; the last event is cut at the batch's end (its ids go missing)."""
        now = time.time()
        lines: list[dict[str, object]] = []
        while len(lines) < size:
            lines.extend(self._event(now))
        return b"\n".join(_encoder.encode(o) for o in lines[:size])


# --- the run ------------------------------------------------------------------------------


@dataclass
class Sample:
    done: float
    seconds: float
    accepted: int
    ok: bool


@dataclass
class Minute:
    minute: int
    obs_per_s: float
    requests: int
    errors: int
    p50: float
    p99: float
    p999: float
    worst: float
    rss: int
    checkpoints: float | None
    checkpoint_s: float | None
    checkpoint_bytes: float | None
    pending: float | None
    seconds: float = 60.0
    """Length of the interval (the last one may be cut short)."""


@dataclass
class Recorder:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, s: Sample) -> None:
        with self.lock:
            self.samples.append(s)

    def take(self) -> list[Sample]:
        with self.lock:
            out, self.samples = self.samples, []
        return out


def summarise(minute: int, samples: list[Sample], seconds: float) -> dict[str, float | int]:
    """Throughput and latency of one interval's requests."""
    lat = [s.seconds for s in samples if s.ok]
    return {
        "minute": minute,
        "obs_per_s": sum(s.accepted for s in samples) / seconds,
        "requests": len(samples),
        "errors": sum(1 for s in samples if not s.ok),
        "p50": percentile(lat, 50),
        "p99": percentile(lat, 99),
        "p999": percentile(lat, 99.9),
        "worst": max(lat) if lat else float("nan"),
    }


class Server:
    def __init__(self, data: Path, token: str, mode: str | None) -> None:
        text = config_text(durability=mode)
        self.config = data / "hopwatch.yaml"
        self.config.write_text(text)
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(self.config),
             "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(data / "data"),
             "--log-level", "warning"],
            cwd=ROOT, env={**os.environ, TOKEN_ENV: token},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hopwatch exited with {self.proc.returncode}")
            try:
                if httpx.get(self.base + "/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("hopwatch did not become ready in 60 s")

    def metrics(self) -> str:
        try:
            return httpx.get(self.base + "/metrics", timeout=30).text
        except httpx.HTTPError:
            return ""

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def client(
    base: str, token: str, seed: int, interval: float, batch: int, end: float, rec: Recorder
) -> None:
    """One batch every ``interval`` seconds on a fixed schedule (a late send does not shift the
    following ones; a client that falls behind sends back to back until it catches up)."""
    events = Events(seed)
    headers = {"content-type": "application/x-ndjson", "authorization": f"Bearer {token}"}
    with httpx.Client(timeout=60, headers=headers) as http:
        due = time.monotonic() + interval * (seed % 2) / 2  # the clients interleave
        while due < end:
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            body = events.batch(batch)
            t = time.perf_counter()
            try:
                r = http.post(base + "/v1/observations", content=body)
                ok = r.status_code == 202
                accepted = int(r.json().get("accepted", 0)) if ok else 0
            except httpx.HTTPError:
                ok, accepted = False, 0
            rec.add(Sample(time.monotonic(), time.perf_counter() - t, accepted, ok))
            due += interval


def row(m: Minute) -> str:
    def ms(x: float) -> str:
        return f"{x * 1000:7.1f}"

    def opt(x: float | None, fmt: str) -> str:
        return "-" if x is None else format(x, fmt)

    return (
        f"{m.minute:4d} {m.obs_per_s:9,.0f} {m.requests:6d} {m.errors:4d} {ms(m.p50)} {ms(m.p99)} "
        f"{ms(m.p999)} {ms(m.worst)} {m.rss / 1e6:8.1f} {opt(m.checkpoints, '5.0f')} "
        f"{opt(m.checkpoint_s, '7.3f')} {opt(None if m.checkpoint_bytes is None else m.checkpoint_bytes / 1e6, '8.2f')} "
        f"{opt(m.pending, '9,.0f')}"
    )


HEADER = (
    " min     obs/s   reqs  err  p50 ms  p99 ms p99.9ms  max ms   RSS MB ckpts  ckpt s  ckpt MB"
    "   pending"
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5000.0, help="observations per second")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000, help="observations per request")
    parser.add_argument("--durability", choices=("wal", "checkpoint"), default=None)
    parser.add_argument("--interval", type=float, default=60.0, help="seconds per report row")
    args = parser.parse_args()
    token = secrets.token_urlsafe(24)
    interval = args.clients * args.batch / args.rate
    rec = Recorder()
    rows: list[Minute] = []
    with tempfile.TemporaryDirectory(prefix="hopwatch-soak-") as tmp:
        server = Server(Path(tmp), token, args.durability)
        try:
            text = (ROOT / "hopwatch.yaml").read_text()
            bucket = 60.0 if "bucket: 60s" in text else float("nan")
            lateness = 300.0 if "allowed_lateness: 5m" in text else float("nan")
            print(
                f"hopwatch pid {server.proc.pid} on {server.base}; {args.rate:,.0f} obs/s target "
                f"from {args.clients} clients, NDJSON x {args.batch}, {args.minutes:g} min; "
                f"durability {args.durability or 'default (wal)'}; bucket {bucket:.0f} s, "
                f"lateness {lateness:.0f} s; {os.cpu_count()} CPUs shared with other work"
            )
            print(HEADER)
            start = time.monotonic()
            end = start + args.minutes * 60
            threads = [
                threading.Thread(
                    target=client,
                    args=(server.base, token, i, interval, args.batch, end, rec),
                    daemon=True,
                )
                for i in range(args.clients)
            ]
            for th in threads:
                th.start()
            k = 0
            while True:
                k += 1
                wake = start + k * args.interval
                last = wake >= end - 1e-6
                wake = min(wake, end)
                time.sleep(max(0.0, wake - time.monotonic()))
                if last:
                    for th in threads:
                        th.join(timeout=120)
                seconds = wake - (start + (k - 1) * args.interval)
                samples = rec.take()
                stats = summarise(k, samples, seconds)
                exposition = server.metrics()
                m = Minute(
                    minute=k,
                    obs_per_s=float(stats["obs_per_s"]),
                    requests=int(stats["requests"]),
                    errors=int(stats["errors"]),
                    p50=float(stats["p50"]),
                    p99=float(stats["p99"]),
                    p999=float(stats["p999"]),
                    worst=float(stats["worst"]),
                    rss=read_rss(server.proc.pid),
                    checkpoints=metric_value(
                        exposition, "hopwatch_checkpoints_total", {"outcome": "ok"}
                    ),
                    checkpoint_s=metric_value(
                        exposition, "hopwatch_checkpoint_last_duration_seconds"
                    ),
                    checkpoint_bytes=metric_value(exposition, "hopwatch_checkpoint_size_bytes"),
                    pending=metric_value(
                        exposition, "hopwatch_ledger_pending_ids", {"pipeline": "signup"}
                    ),
                    seconds=seconds,
                )
                rows.append(m)
                print(row(m), flush=True)
                if last:
                    break
        finally:
            server.stop()
    report(rows, args.interval, bucket + lateness)


def report(rows: list[Minute], interval: float, lateness_window: float) -> None:
    # Whole intervals only: a last one cut short holds a handful of requests.
    full = [m for m in rows if m.requests and m.seconds >= 0.99 * interval]
    if len(full) < 2:
        print("too short for first / last ratios")
        return
    first, last = full[0], full[-1]
    print(
        f"throughput last / first {ratio(last.obs_per_s, first.obs_per_s):.2f} "
        f"({first.obs_per_s:,.0f} -> {last.obs_per_s:,.0f} obs/s; goal within 0.80-1.20)"
    )
    print(
        f"p99 latency last / first {ratio(last.p99, first.p99):.2f} "
        f"({first.p99 * 1000:.1f} -> {last.p99 * 1000:.1f} ms; goal within 0.80-1.20)"
    )
    for label, window in (
        ("lateness window (bucket + lateness)", lateness_window),
        ("amendment window (bucket + lateness + 1 h)", lateness_window + AMEND_HORIZON_S),
    ):
        after = [m for m in rows if m.minute * interval >= window]
        if len(after) < 2:
            print(f"RSS after the {label}: not reached in this run ({window / 60:.0f} min)")
            continue
        print(
            f"RSS after the {label}: {after[0].rss / 1e6:.1f} MB at row {after[0].minute}, "
            f"{after[-1].rss / 1e6:.1f} MB at the end: {ratio(after[-1].rss, after[0].rss):.2f}"
        )


if __name__ == "__main__":
    main()
