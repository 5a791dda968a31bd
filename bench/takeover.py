"""How long a standby takes to lead after ``kill -9`` of the leader (``storage.postgres``), as a
ratio to restarting a single SQLite server after the same ``kill -9``, measured in the same run.

Starts its own PostgreSQL (as the ``postgres`` user when run as root), then:
- context: an empty server's start (spawn to ``/readyz`` 200), what any restart pays first;
- reference: one server on SQLite is fed ``--events`` observations, killed with ``kill -9`` and
  started again; the time from the kill to ``/readyz`` answering 200 (process start, restore of
  the checkpoint, replay of the write-ahead log);
- takeover: a leader and a standby on one PostgreSQL database, the leader fed the same
  observations, then killed with ``kill -9``; the time from the kill to the standby's
  ``/-/ready`` answering 200 (the lock freed by the dead session, the standby's next attempt,
  its restore of the checkpoint and replay of the shared log). Repeated ``--rounds`` times (the
  killed server comes back as the standby each round), and after each the new leader's
  ``hopwatch_hop_events_total`` must equal every acknowledged observation.

Usage: PYTHONPATH=. .venv/bin/python bench/takeover.py [--events N] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec

ROOT = Path(__file__).resolve().parents[1]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
COUNT = re.compile(r'^hopwatch_hop_events_total\{hop="a",pipeline="p",status="ok"\} (\S+)$', re.M)
CONFIG = """\
apiVersion: hopwatch/v1
server:
  auth: {{open: true}}
storage:
{storage}
pipelines:
  - name: p
    hops:
      - name: a
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def as_postgres(*argv: str) -> None:
    if os.geteuid() == 0:
        command = " ".join(f"'{a}'" for a in argv)
        subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], check=True,
                       capture_output=True)  # fmt: skip
    else:
        subprocess.run(list(argv), check=True, capture_output=True)


def start_postgres(tmp: Path) -> tuple[int, Path]:
    data = tmp / "pg"
    data.mkdir()
    if os.geteuid() == 0:
        shutil.chown(tmp, "postgres", "postgres")
        shutil.chown(data, "postgres", "postgres")
    port = free_port()
    as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    opts = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", opts, "-w", "-l",
                str(data / "log"), "start")  # fmt: skip
    return port, data


def serve(config: Path, data: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "monitor", "run", "--config", str(config), "--data-dir", str(data),
         "--listen", f"127.0.0.1:{port}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def status(port: int, path: str) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1).status_code
    except httpx.TransportError:
        return None


def until(port: int, path: str, timeout: float = 60.0) -> float:
    """Seconds until ``path`` answers 200."""
    started = time.perf_counter()
    while status(port, path) != 200:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"127.0.0.1:{port}{path} not 200 after {timeout} s")
        time.sleep(0.01)
    return time.perf_counter() - started


def feed(port: int, events: int, first: int) -> int:
    """Push ``events`` observations in batches of 1,000, half before and half after a pause
    longer than a checkpoint interval (so the restore is a checkpoint and a log tail)."""
    now, sent = time.time(), 0
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        for start in range(first, first + events, 1000):
            if sent == events // 2:
                time.sleep(11)
            rows = [{"pipeline": "p", "hop": "a", "event_id": f"e{i}", "event_type": "t",
                     "event_time": now} for i in range(start, min(start + 1000, first + events))]  # fmt: skip
            r = client.post("/v1/observations", headers={"content-type": "application/x-ndjson"},
                            content=b"\n".join(msgspec.json.encode(x) for x in rows))  # fmt: skip
            assert r.status_code == 202, r.text
            sent += len(rows)
    return sent


def counted(port: int) -> int:
    match = COUNT.search(httpx.get(f"http://127.0.0.1:{port}/metrics").text)
    return int(float(match.group(1))) if match else 0


def kill(proc: subprocess.Popen[bytes]) -> float:
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return time.perf_counter()


def reference(tmp: Path, events: int) -> float:
    config = tmp / "sqlite.yaml"
    config.write_text(CONFIG.format(storage="  durability: wal"))
    port = free_port()
    proc = serve(config, tmp / "sqlite", port)
    until(port, "/readyz")
    acked = feed(port, events, 0)
    killed = kill(proc)
    proc = serve(config, tmp / "sqlite", port)
    until(port, "/readyz")
    seconds = time.perf_counter() - killed
    assert counted(port) == acked, (counted(port), acked)
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    return seconds


def cold_start(tmp: Path) -> float:
    """Seconds from spawning a server with no state to ``/readyz`` 200: process start alone."""
    config = tmp / "empty.yaml"
    config.write_text(CONFIG.format(storage="  durability: wal"))
    port = free_port()
    started = time.perf_counter()
    proc = serve(config, tmp / "empty", port)
    until(port, "/readyz")
    seconds = time.perf_counter() - started
    proc.send_signal(signal.SIGTERM)
    proc.wait()
    return seconds


def takeovers(tmp: Path, pg_port: int, events: int, rounds: int) -> list[float]:
    url = f"postgresql://postgres@127.0.0.1:{pg_port}/postgres"
    config = tmp / "pg.yaml"
    config.write_text(CONFIG.format(storage=f"  postgres:\n    url: {url}"))
    ports = [free_port(), free_port()]
    procs = [serve(config, tmp / "a", ports[0])]
    until(ports[0], "/-/ready")
    procs.append(serve(config, tmp / "b", ports[1]))
    until(ports[1], "/readyz")
    leader, acked, seconds = 0, 0, []
    for _ in range(rounds):
        acked += feed(ports[leader], events, acked)
        killed = kill(procs[leader])
        standby = 1 - leader
        until(ports[standby], "/-/ready")
        seconds.append(time.perf_counter() - killed)
        assert counted(ports[standby]) == acked, (counted(ports[standby]), acked)
        procs[leader] = serve(config, tmp / "ab"[leader], ports[leader])
        until(ports[leader], "/readyz")
        leader = standby
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
        proc.wait()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hopwatch-takeover-") as name:
        tmp = Path(name)
        pg_port, pg_data = start_postgres(tmp)
        try:
            cold = cold_start(tmp)
            restart = reference(tmp, args.events)
            seconds = takeovers(tmp, pg_port, args.events, args.rounds)
        finally:
            as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(pg_data), "-m", "immediate", "-w",
                        "stop")  # fmt: skip
    median = statistics.median(seconds)
    print(f"events fed before each kill: {args.events:,} (half before a checkpoint, half after)")
    print(f"reference: kill -9 + restart of one SQLite server, to /readyz 200: {restart:.3f} s")
    print(f"context: start of an empty server, spawn to /readyz 200: {cold:.3f} s")
    print(
        f"takeover: kill -9 of the leader to the standby's /-/ready 200, {len(seconds)} rounds: "
        f"median {median:.3f} s, max {max(seconds):.3f} s "
        f"({', '.join(f'{s:.3f}' for s in seconds)})"
    )
    print(
        f"ratio takeover/restart: median {median / restart:.2f}, max {max(seconds) / restart:.2f}"
    )
    print("no acknowledged observation lost: every round's new leader counted all of them")


if __name__ == "__main__":
    main()
