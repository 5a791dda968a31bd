"""Servers for the client tests: the real hopwatch app on a chosen port, and a fake hopwatch
that can be told to answer 500, 400, 413 or 429, to hang, or to accept and count.

Both count what arrives per event id, so a test can say "arrived exactly once". Waiting is done
on conditions with generous deadlines, never by sleeping a fixed time or timing anything.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import uvicorn

from monitor.config.auth import AuthPolicy
from monitor.config.model import Config, Hop, Pipeline, ServerConfig
from monitor.server.app import create_app
from monitor.testing import FakeClock, StaticRuntime

TOKEN = "client-test-token"
GENEROUS = 60.0
"""Seconds to wait for something that should happen within a fraction of one."""

SHOP = Pipeline(
    name="shop",
    hops=(Hop("web"), Hop("sink")),
    attributes=frozenset({"region"}),
)


class Arrivals:
    """Observations that reached a server, by event id, with a condition to wait on."""

    def __init__(self) -> None:
        self.ids: Counter[str | None] = Counter()
        self.items: list[dict[str, Any]] = []
        self.requests: Counter[str] = Counter()
        self._cond = threading.Condition()

    def add(self, items: list[dict[str, Any]]) -> None:
        with self._cond:
            self.items.extend(items)
            self.ids.update(item.get("event_id") for item in items)
            self._cond.notify_all()

    def request(self, kind: str) -> None:
        with self._cond:
            self.requests[kind] += 1
            self._cond.notify_all()

    def wait_for(self, predicate: Callable[[Arrivals], bool], timeout: float = GENEROUS) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout)


# --- the real hopwatch --------------------------------------------------------------------------


def hopwatch_runtime() -> tuple[StaticRuntime, Arrivals]:
    """A real engine behind the real app, with its ``observe`` wrapped to record ids."""
    config = Config(server=ServerConfig(auth=AuthPolicy.single_token(TOKEN)), pipelines=(SHOP,))
    runtime = StaticRuntime(config, FakeClock(time.time()))
    arrivals = Arrivals()
    observe = runtime.engine.observe

    def recording(observations: Any) -> None:
        observations = list(observations)
        observe(observations)
        arrivals.add([{"event_id": o.event_id, "hop": o.hop} for o in observations])

    runtime.engine.observe = recording  # type: ignore[method-assign]
    return runtime, arrivals


@contextlib.contextmanager
def real_hopwatch(port: int) -> Iterator[tuple[StaticRuntime, Arrivals]]:
    """hopwatch's HTTP app under uvicorn on 127.0.0.1:``port``, in a thread."""
    runtime, arrivals = hopwatch_runtime()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(runtime),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + GENEROUS
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, f"uvicorn did not start on {port}"
        time.sleep(0.01)
    try:
        yield runtime, arrivals
    finally:
        server.should_exit = True
        thread.join(timeout=GENEROUS)


# --- a fake hopwatch ----------------------------------------------------------------------------


class FakeHopwatch:
    """Answers ``POST /v1/observations`` as ``mode`` says; switch ``mode`` at any time.

    ``ok`` accepts and records every line (or rejects the event ids in ``reject_ids``), ``fail``
    answers 500, ``bad`` 400, ``busy`` 429 with ``Retry-After: 0``, ``hang`` keeps the request
    open without answering until the fake stops. In ``ok`` mode a body of more than
    ``max_lines`` lines gets a 413. Hanging or failed requests record nothing.
    """

    def __init__(self, port: int, mode: str = "ok") -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.mode = mode
        self.max_lines: int | None = None
        self.reject_ids: frozenset[str] = frozenset()
        self.arrivals = Arrivals()
        self.release = threading.Event()
        self.keys: list[str | None] = []
        """The ``Idempotency-Key`` of every request, in order."""
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> FakeHopwatch:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.handle(self)

            def log_message(self, *_args: Any) -> None:
                pass

        self.release.clear()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def handle(self, request: BaseHTTPRequestHandler) -> None:
        body = request.rfile.read(int(request.headers.get("Content-Length", "0")))
        mode = self.mode
        self.keys.append(request.headers.get("Idempotency-Key"))
        self.arrivals.request(mode)
        if mode == "hang":
            self.release.wait(GENEROUS)
            request.close_connection = True
            return
        if mode != "ok":
            status, headers = {"fail": (500, {}), "bad": (400, {}), "busy": (429, {})}[mode]
            if mode == "busy":
                headers = {"Retry-After": "0"}
            self._answer(request, status, {"error": f"fake says {mode}", "hint": "wait"}, headers)
            return
        lines = gzip.decompress(body).splitlines()
        if self.max_lines is not None and len(lines) > self.max_lines:
            self._answer(request, 413, {"error": "too large", "hint": "split"})
            return
        items = [json.loads(line) for line in lines]
        kept = [i for i in items if i.get("event_id") not in self.reject_ids]
        self.arrivals.add(kept)
        errors = [
            {"index": n, "field": "event_id", "message": "refused by the fake", "reason": "x"}
            for n, i in enumerate(items)
            if i.get("event_id") in self.reject_ids
        ]
        answer = {"accepted": len(kept), "rejected": len(errors), "errors": errors}
        self._answer(request, 202, answer)

    @staticmethod
    def _answer(
        request: BaseHTTPRequestHandler,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = json.dumps(payload).encode()
        request.send_response(status)
        for name, value in (headers or {}).items():
            request.send_header(name, value)
        request.send_header("Content-Type", "application/json")
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


@contextlib.contextmanager
def fake_hopwatch(port: int, mode: str = "ok") -> Iterator[FakeHopwatch]:
    fake = FakeHopwatch(port, mode).start()
    try:
        yield fake
    finally:
        fake.stop()
