"""``hopwatch demo``: the daemon on the example pipeline, fed by the simulator over real HTTP.

The clock is accelerated (``speed`` simulated seconds per real second, default 60: one simulated hour
per real minute), the simulator's observations are POSTed to the daemon's own ``/v1/observations`` as
NDJSON, the status page's URL is printed first (the page at ``/`` shows it all), and a compact
view is printed every few seconds: per hop the rate and p95 latency of the last closed bucket, per
edge its loss; alerts as they fire and resolve.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import httpx
import msgspec

from monitor.alerting.alert import Alert, AlertState
from monitor.anomaly.load import load_checks
from monitor.clock import AcceleratedClock
from monitor.config import ConfigError
from monitor.config.auth import Credential, Scope
from monitor.config.model import Config
from monitor.daemon import Daemon
from monitor.logs import setup_logging
from monitor.records import Observation
from monitor.routing.load import load_routing
from monitor.routing.model import default_routing
from monitor.sim import Simulator
from monitor.sim.scoreboard import Detection, firing, score
from monitor.sim.scoreboard import render as render_scoreboard
from monitor.sim.spec import load_simulation
from monitor.slo.load import load_slos
from monitor.store import open_store
from monitor.store.nflog_sqlite import open_nflog
from monitor.validate import load_config

HERE = Path(__file__).resolve().parent
PACKAGED_CONFIG = HERE / "examples" / "hopwatch.yaml"
DEFAULT_SCENARIO = HERE / "examples" / "demo-sim.yaml"
_encoder = msgspec.json.Encoder()
log = logging.getLogger("hopwatch.demo")


def default_config() -> Path:
    """``./hopwatch.yaml`` when there is one (the repo, a user's edits), else the packaged copy."""
    local = Path("hopwatch.yaml")
    return local if local.is_file() else PACKAGED_CONFIG


def to_wire(obs: Observation) -> dict:
    """The JSON a pipeline's hop would send for this observation."""
    out = {
        "pipeline": obs.pipeline,
        "hop": obs.hop,
        "event_id": obs.event_id,
        "event_type": obs.event_type,
        "event_time": obs.event_time,
        "observed_time": obs.observed_time,
        "status": str(obs.status),
        "attributes": dict(obs.attributes),
    }
    if obs.reason:
        out["reason"] = obs.reason
    return out


def ndjson(observations: list[Observation]) -> bytes:
    return b"\n".join(_encoder.encode(to_wire(o)) for o in observations)


class Feeder:
    """Moves the simulator along with the accelerated clock and posts what each hop saw."""

    def __init__(
        self, sim: Simulator, clock: AcceleratedClock, url: str, token: str | None = None
    ) -> None:
        self.sim, self.clock, self.url = sim, clock, url
        self.headers = {"content-type": "application/x-ndjson"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        self.sent = 0
        self.stopping = False
        """Set when the demo stops, so the posts the shutdown cuts off are not warned about."""
        self._cursor = sim.start

    async def run(self, interval: float = 0.25) -> None:
        """Post each new window; a failed post keeps its observations for the next round."""
        backlog: list[Observation] = []
        failures = 0
        async with httpx.AsyncClient(timeout=10.0) as client:
            while True:
                now = self.clock.now()
                backlog.extend(self.sim.observations(self._cursor, now))
                self._cursor = now
                try:
                    while backlog:
                        chunk = backlog[:2000]
                        response = await client.post(
                            self.url,
                            content=ndjson(chunk),
                            headers=self.headers,
                        )
                        response.raise_for_status()
                        del backlog[: len(chunk)]
                        self.sent += len(chunk)
                    failures = 0
                except httpx.HTTPError as err:
                    failures += 1
                    if self.stopping:  # the server is shutting down (Ctrl-C): nothing to report
                        return
                    if self.sent or failures >= 20:  # not while the server is still starting
                        # Some httpx errors have no message (a dropped connection): name the type.
                        error = str(err) or type(err).__name__
                        log.warning("demo feed failed; retrying", extra={"error": error})
                await asyncio.sleep(interval)


def render(
    daemon: Daemon,
    sim_now: float,
    sent: int,
    started: float | None = None,
    pipeline: str | None = None,
) -> str:
    """The live view: one line per hop and per edge, from the last closed bucket.

    An SLO's budget is over its whole window (28 days): a demo minutes old has spent it many
    times over on a single fault (``budget -749.2%``), which says nothing. Until the demo has
    run a whole window (since ``started``), the line says how much of the window has elapsed
    instead, and the 1-hour burn rate tells how fast the budget is going. With ``pipeline``,
    only that pipeline and its SLOs are shown: the one the simulator feeds (the bundled config
    also holds a privacy pipeline the demo does not simulate).
    """
    view = daemon.engine.view()
    shown = {p.name for p in daemon.config.pipelines if pipeline in (None, p.name)}
    quiet = {s.name for s in view.slos if s.indicator.pipeline not in shown}
    windows = {slo.name: slo.window.duration for slo in view.slos}
    lines = [
        f"── {time.strftime('%a %H:%M', time.gmtime(sim_now))} simulated · {sent} observations sent"
    ]
    for p in daemon.config.pipelines:
        if p.name not in shown:
            continue
        for hop in p.hop_names:
            bucket = view.last_hop.get((p.name, hop))
            if bucket is None:
                lines.append(f"  hop  {hop:<11} waiting for the first bucket to close")
                continue
            rate = bucket.total * 60.0 / bucket.bucket_seconds
            p95 = bucket.latency.quantile(0.95)
            p95_text = "   -   " if p95 is None else f"{p95:6.2f}s"
            lines.append(f"  hop  {hop:<11} {rate:7.0f}/min  p95 {p95_text}")
        for edge in p.edges:
            r = view.last_edge.get((p.name, edge.name))
            if r is None:
                continue
            loss = "no data" if r.loss_ratio is None else f"{r.loss_ratio:6.1%} loss"
            lines.append(
                f"  edge {edge.name:<21} {r.arrived:5d}/{r.expected:<5d} arrived  {loss}"
                + (f"  late {r.late}" if r.late else "")
                + (f"  dup {r.duplicates}" if r.duplicates else "")
            )
    for status in view.slo_statuses:
        if status.slo in quiet:
            continue
        sli = status.period.sli
        budget = status.budget_remaining
        burn = next((w.burn_rate for w in status.windows if w.window == 3600.0), None)
        firing = [t.tier for t in status.tiers if t.state == "firing"]
        window = windows.get(status.slo, 0.0)
        age = None if started is None else sim_now - started
        if age is not None and window and age < window:
            budget_text = f"window {age / window:.1%} elapsed"
        else:
            budget_text = f"budget {'-' if budget is None else f'{budget:6.1%}'}"
        lines.append(
            f"  slo  {status.slo:<26} SLI {'-' if sli is None else f'{sli:7.2%}'}"
            f"  {budget_text}"
            f"  burn 1h {'-' if burn is None else f'{burn:5.1f}×'}"
            + (f"  FIRING {','.join(firing)}" if firing else "")
        )
    return "\n".join(lines)


def print_alerts(alerts: tuple[Alert, ...], out: TextIO, shown: set | None = None) -> None:
    """Each alert once when it fires and once when it resolves (``shown`` remembers)."""
    shown = set() if shown is None else shown
    for alert in alerts:
        key = (alert.fingerprint, alert.state, alert.starts_at)
        if key in shown:
            continue  # a refresh of an alert already shown
        shown.add(key)
        mark = "FIRING" if alert.state is AlertState.FIRING else "RESOLVED"
        summary = dict(alert.annotations).get("summary", alert.name)
        print(f"!! {mark} {alert.name}: {summary}", file=out, flush=True)


async def _view(
    daemon: Daemon, clock: AcceleratedClock, feeder: Feeder, out: TextIO, started: float
) -> None:
    pipeline = feeder.sim.pipeline.name
    while True:
        await asyncio.sleep(3.0)
        print(render(daemon, clock.now(), feeder.sent, started, pipeline), file=out, flush=True)


class Detections:
    """The first firing of each alert in the run, for the scoreboard (``on_alerts`` feeds it)."""

    def __init__(self) -> None:
        self.found: dict[str, Detection] = {}

    def __call__(self, alerts: tuple[Alert, ...]) -> None:
        for alert, detection in zip(
            (a for a in alerts if a.state is AlertState.FIRING), firing(alerts), strict=True
        ):
            self.found.setdefault(alert.fingerprint, detection)


async def _stop_after(daemon: Daemon, seconds: float) -> None:
    await asyncio.sleep(seconds)
    daemon.request_stop()


def with_demo_token(config: Config) -> tuple[Config, str]:
    """The config plus a fresh token (push and admin) for this run only, and that token.

    The demo posts like any client does, through the same auth as ``hopwatch run``: no open
    mode, so it runs on any listen address, and the printed token lets the user try silences."""
    token = secrets.token_urlsafe(24)
    auth = config.server.auth
    demo = Credential("demo", frozenset({Scope.PUSH, Scope.ADMIN}), token)
    auth = dataclasses.replace(auth, credentials=(*auth.credentials, demo))
    return dataclasses.replace(config, server=dataclasses.replace(config.server, auth=auth)), token


def status_url(host: str, port: int) -> str:
    """Where the status page of this run is; a browser on an IPv6 host needs the brackets."""
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def run_demo(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    # The first thing printed: the page to open while the rest scrolls by.
    print(f"hopwatch demo: status page at {status_url(*args.listen)}", file=out, flush=True)
    setup_logging(args.log_format, args.log_level)
    # Show what the log receiver is handed: the grouped notifications, after group_wait.
    logging.getLogger("hopwatch.notify.console").setLevel(logging.INFO)
    try:
        config = load_config(args.config or default_config())
        slos = [slo for group in load_slos(config) for slo in group.slos]
        checks = load_checks(config)
        load_routing(config)  # the routing file must be valid, but the demo has no Slack token:
        routing = default_routing()  # its notifications go to the log, grouped by alertname
        scenario_path = args.scenario or DEFAULT_SCENARIO
        spec = load_simulation(scenario_path)
    except ConfigError as err:
        print(err, file=sys.stderr)
        return 1
    pipeline = config.pipeline(spec.pipeline)
    if pipeline is None:
        print(
            f"hopwatch demo: the scenario's pipeline {spec.pipeline!r} is not in the config",
            file=sys.stderr,
        )
        return 1
    unknown = sorted(set(spec.hops) - set(pipeline.hop_names))
    if unknown:
        print(
            f"{scenario_path}: hops: {', '.join(unknown)} not in pipeline {pipeline.name!r} "
            f"(its hops: {', '.join(pipeline.hop_names)})",
            file=sys.stderr,
        )
        return 1
    speed = args.speed or spec.speed
    start = time.time()
    clock = AcceleratedClock(start=start, speed=speed)
    try:
        sim = Simulator(pipeline, spec.to_scenario(start=start))
    except ValueError as err:
        print(f"{scenario_path}: {err}", file=sys.stderr)
        return 1
    config, token = with_demo_token(config)
    # A temporary state directory is the demo's own: removed when it ends (a user's --data-dir
    # is kept).
    temporary = args.data_dir is None
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="hopwatch-demo-"))
    daemon = Daemon(
        config,
        clock,
        open_store(data_dir),
        tick_interval=0.5,
        checkpoint_interval=10.0 * speed,
        slos=slos,
        checks=checks,
        routing=routing,
        nflog_store=open_nflog(data_dir),
    )
    shown: set = set()
    daemon.on_alerts.append(lambda alerts: print_alerts(alerts, out, shown))
    detections = Detections()
    daemon.on_alerts.append(detections)
    host, port = args.listen
    feeder = Feeder(sim, clock, f"http://{host}:{port}/v1/observations", token)
    print(
        f"hopwatch demo: pipeline {pipeline.name!r}, {speed:g}× speed "
        f"(one simulated hour every {3600 / speed:.0f} s), metrics at http://{host}:{port}/metrics, "
        f"alerts at http://{host}:{port}/api/v1/alerts, state in {data_dir}. Ctrl-C stops.",
        file=out,
        flush=True,
    )
    print(
        "   writes need a token (server.auth); this run generated one with scopes push and "
        f"admin: export HOPWATCH_TOKEN={token}  then e.g. hopwatch silence add "
        f"--url http://{host}:{port} alertname=EdgeLoss -d 1h -c 'demo'",
        file=out,
        flush=True,
    )
    for fault in spec.faults:
        print(f"   scheduled fault: {fault.model_dump(exclude_none=True)}", file=out)
    tasks: list = [feeder.run(), _view(daemon, clock, feeder, out, start)]
    if args.duration:
        tasks.append(_stop_after(daemon, args.duration))
    stop = daemon.request_stop

    def request_stop() -> None:
        feeder.stopping = True
        stop()

    daemon.request_stop = request_stop  # type: ignore[method-assign]
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(daemon.serve(host, port, extra_tasks=tuple(tasks)))
        feeder.stopping = True
        rows = score(
            sim.scenario.faults,
            start,
            clock.now(),
            detections.found.values(),
            sim.truth,
            checks,
        )
        print(render_scoreboard(rows, start), file=out)
        print("hopwatch demo: stopped", file=out)
    finally:
        if temporary:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0


def simulate(
    config: Config,
    scenario_path: Path,
    seconds: float,
    step: float = 10.0,
    start: float = 1_767_225_600.0,
) -> tuple[str, list]:
    """The demo's scenario on a fake clock, in-process: what the scoreboard would say after
    ``seconds`` of simulated time. The same config, checks, SLOs, simulator and scoreboard as
    ``run_demo``, with the engine fed and ticked directly every ``step`` instead of over HTTP,
    so a test can hold the scoreboard to the simulator's ground truth in seconds.
    """
    from monitor.engine import Engine

    spec = load_simulation(scenario_path)
    pipeline = config.pipeline(spec.pipeline)
    assert pipeline is not None
    slos = [slo for group in load_slos(config) for slo in group.slos]
    checks = load_checks(config)
    sim = Simulator(pipeline, spec.to_scenario(start=start))
    engine = Engine(config, slos=slos, checks=checks)
    detections = Detections()
    t = start
    while t < start + seconds:
        engine.observe(sim.observations(t, t + step))
        t += step
        detections(engine.tick(t).alerts_changed)
    rows = score(sim.scenario.faults, start, t, detections.found.values(), sim.truth, checks)
    return render_scoreboard(rows, start), rows
