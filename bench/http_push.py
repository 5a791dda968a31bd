"""The HTTP half of ``bench/ingest.py``: a ``hopwatch run`` subprocess, a client that costs next to
nothing, and the server's own CPU time.

Why not httpx threads: on the 2-core machine the client shares the cores with the server, and
httpx spent about as much CPU building and parsing requests as the server spent handling them, so
the wall-clock figure measured the client as much as hopwatch. Here every request is pre-encoded
bytes (request line, headers, body) sent over keep-alive sockets by ``connections`` threads that
only ``sendall`` and read the short answer; the client runs at low priority (``nice``), and the
server's CPU time (user + system of its process, every thread, read from ``/proc/<pid>/stat``)
is reported beside wall time, so a figure can be compared with the in-process ones, which are
CPU time too. Forked checkpoint children are not in it (they are waited for by the daemon, and
run every 10 s; a run lasts a few seconds).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of stat(5)); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bytes(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    """One HTTP/1.1 keep-alive request, ready to send."""
    lines = [f"POST {path} HTTP/1.1", "host: 127.0.0.1", f"content-length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def read_answer(sock: socket.socket, buffer: bytearray) -> int:
    """Read one HTTP answer from ``sock`` (``buffer`` keeps what came after it): its status."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        rest += chunk
    buffer[:] = rest[length:]
    return status


@dataclass(frozen=True)
class HttpRun:
    """One timed push of every body: wall seconds, the server's CPU seconds, answers by status."""

    wall: float
    server_cpu: float
    statuses: dict[int, int]


def post_all(port: int, requests: list[bytes], connections: int) -> dict[int, int]:
    """Send ``requests`` over ``connections`` keep-alive sockets, one request in flight on each;
    a 429 or 503 is sent again after a short pause (the server's back-pressure), and counted."""
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(mine: list[bytes]) -> None:
        with contextlib.suppress(OSError):
            os.nice(10)  # the client yields the cores to the server it measures
        try:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                buffer = bytearray()
                for req in mine:
                    while True:
                        sock.sendall(req)
                        status = read_answer(sock, buffer)
                        with lock:
                            statuses[status] = statuses.get(status, 0) + 1
                        if status not in (429, 503):
                            break
                        time.sleep(0.01)
                    if status != 202:
                        raise RuntimeError(f"push answered {status}")
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    threads = [
        threading.Thread(target=worker, args=(requests[i::connections],))
        for i in range(connections)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise errors[0]
    return statuses


@contextlib.contextmanager
def server(config_text: str, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    """A ``hopwatch run`` on a free port with ``config_text``, ready: (port, pid)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "hopwatch.yaml"
        config.write_text(config_text)
        proc = subprocess.Popen(
            [
                sys.executable, "-m", "monitor", "run", "--config", str(config),
                "--listen", f"127.0.0.1:{port}", "--data-dir", str(Path(tmp) / "data"),
                # the live workload's cut-off sightings fire the bundled SLOs' alerts
                "--log-level", "error",
            ],
            env=env,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(400):
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(base + "/readyz").status_code == 200:
                        break
                time.sleep(0.05)
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def timed_push(
    port: int, pid: int, requests: list[bytes], warmup: bytes, connections: int = 2
) -> HttpRun:
    """Warm the server with one request, then push ``requests``: wall and server CPU time."""
    post_all(port, [warmup], 1)
    cpu = cpu_seconds(pid)
    t = time.perf_counter()
    statuses = post_all(port, requests, connections)
    wall = time.perf_counter() - t
    return HttpRun(wall, cpu_seconds(pid) - cpu, statuses)


__all__ = ["HttpRun", "cpu_seconds", "post_all", "request_bytes", "server", "timed_push"]
