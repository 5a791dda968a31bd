"""Agent liveness: a server that stops hearing from an agent marks its hops unobserved, not lost.

The pure tracker first (who was heard when, which hops a silence covers, the down verdict), then
two agents and a server on one fake clock with one agent cut off for ten minutes — longer than
``allowed_lateness``, so buckets close without its data — checked against an engine fed the raw
observations: no loss is counted or alerted, ``HopwatchAgentDown`` fires and resolves, and once
the spool drains the hop counts are the truth. Then heartbeats against exactly-once, and a server
restart.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from prometheus_client import generate_latest
from prometheus_client.utils import floatToGoString

from monitor.agent.daemon import Agent
from monitor.alerting.alert import Alert, AlertState
from monitor.config import load_config
from monitor.config.model import Config
from monitor.engine import Engine, TickOutput
from monitor.ledger.agents import AgentContact, AgentLiveness, Outage
from monitor.ledger.aggregate import AggregateBatch, HopAggregate
from monitor.ledger.records import Completeness
from monitor.ledger.watermark import Gap
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread
from monitor.verdict import Judgement

B0 = 1_700_000_040.0  # a bucket start (divisible by 60)

CONFIG = """\
apiVersion: hopwatch/v1
server:
  auth: {open: true}  # tests of agents' data, not of auth (test_auth.py)
agent:
  flush_interval: 5s
pipelines:
  - name: signup
    hops: [{name: sdk}, {name: ingest}, {name: crm}]
    edges:
      - {from: sdk, to: ingest}
      - {from: ingest, to: crm}
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def runtime(config: Config) -> StaticRuntime:
    """The server: a real engine on a fake clock, fed by agents over HTTP, ticked by the test."""
    return StaticRuntime(config, clock=FakeClock(B0))


@pytest.fixture
def server_url(runtime: StaticRuntime) -> Iterator[str]:
    with serve_in_thread(create_app(runtime)) as url:
        yield url


# --- the pure tracker ---------------------------------------------------------------------------

SDK, INGEST = ("signup", "sdk"), ("signup", "ingest")


def test_an_agent_unheard_for_longer_than_the_grace_is_an_outage_from_its_last_contact() -> None:
    live = AgentLiveness(silent_after=15.0, alert_after=120.0)
    live.heard("a1", [SDK, INGEST], 100.0)
    assert live.silent(115.0) == [], "exactly the grace is not yet an outage"
    assert live.is_up("a1", 115.0)
    assert live.silent(115.5) == [Outage("a1", 100.0, frozenset({SDK, INGEST}))]
    assert not live.is_up("a1", 115.5)
    assert live.heard("a1", [], 300.0) == Outage("a1", 100.0, frozenset({SDK, INGEST}))
    assert live.contacts["a1"] == AgentContact("a1", 300.0, frozenset({SDK, INGEST}))
    assert live.heard("a1", [], 305.0) is None, "the outage ended at the first contact"


@pytest.mark.parametrize(
    ("declared", "known"),
    [
        ([SDK], {SDK}),
        ([], {SDK, INGEST}),
    ],
    ids=["declared hops replace what was known", "a request declaring none keeps them"],
)
def test_hops_come_from_what_the_agent_declares(
    declared: list[tuple[str, str]], known: set[tuple[str, str]]
) -> None:
    live = AgentLiveness(silent_after=15.0)
    live.heard("a1", [SDK, INGEST], 100.0)
    live.heard("a1", declared, 105.0)
    assert live.contacts["a1"].hops == known


@pytest.mark.parametrize(
    ("now", "judgement"),
    [(219.0, Judgement.OK), (220.0, Judgement.FIRING)],
    ids=["silent for less than the alert grace: ok", "silent for the alert grace: firing"],
)
def test_the_down_verdict_fires_after_the_alert_grace(now: float, judgement: Judgement) -> None:
    live = AgentLiveness(silent_after=15.0, alert_after=120.0)
    live.heard("a1", [SDK], 100.0)
    (verdict,) = live.verdicts(now)
    assert verdict.judgement is judgement
    assert dict(verdict.labels) == {"agent": "a1", "severity": "ticket"}


def test_an_agent_silent_for_a_week_is_retired_its_ticket_resolved() -> None:
    live = AgentLiveness(silent_after=15.0, alert_after=120.0, forget_after=7 * 86400.0)
    live.heard("a1", [SDK], 100.0)
    assert live.verdicts(100.0 + 7 * 86400.0 - 1)[0].judgement is Judgement.FIRING
    (last,) = live.verdicts(100.0 + 7 * 86400.0)
    assert last.judgement is Judgement.OK and dict(last.labels)["agent"] == "a1"
    assert live.contacts == {} and live.silent(100.0 + 8 * 86400.0) == []
    assert live.verdicts(100.0 + 8 * 86400.0) == []


def test_time_the_server_was_not_running_does_not_count_as_silence() -> None:
    live = AgentLiveness(silent_after=15.0, alert_after=120.0)
    live.heard("a1", [SDK], 100.0)
    live.resumed(1000.0)
    assert live.silent(1015.0) == [] and live.verdicts(1100.0)[0].judgement is Judgement.OK
    assert live.silent(1016.0) == [Outage("a1", 100.0, frozenset({SDK}))]


def test_the_tracker_survives_its_bytes() -> None:
    live = AgentLiveness(silent_after=15.0)
    live.heard("a1", [SDK, INGEST], 100.0)
    live.heard("a2", [], 110.0)
    live.silent(200.0)
    live.resumed(150.0)
    restored = AgentLiveness(silent_after=15.0)
    restored.restore(live.to_bytes())
    assert restored.contacts == live.contacts and restored.resumed_at == 150.0
    assert restored.contacts["a1"].down


# --- two agents, one cut off for ten minutes ----------------------------------------------------


class Link(httpx.Client):
    """The agent's HTTP client to the server, with a cable the test can cut."""

    def __init__(self) -> None:
        super().__init__(timeout=5.0)
        self.cut = False

    def post(self, url: Any, **kwargs: Any) -> httpx.Response:  # type: ignore[override]
        if self.cut:
            raise httpx.ConnectError("no route to host")
        return super().post(url, **kwargs)


def _agent(runtime: StaticRuntime, server: str, data_dir: Path, agent_id: str) -> Agent:
    agent = Agent(
        runtime.config,
        runtime.clock,
        data_dir,
        server_url=server,
        agent_id=agent_id,
        client=Link(),
    )
    agent.forwarder.rng = random.Random(7)  # backoff jitter, fixed
    return agent


def _link(agent: Agent) -> Link:
    assert isinstance(agent.forwarder.client, Link)
    return agent.forwarder.client


def _events(now: float, first: int) -> dict[str, list[Observation]]:
    """Two events created in the last 5 s, seen at every hop before ``now``; nothing is lost."""
    out: dict[str, list[Observation]] = {"sdk": [], "ingest": [], "crm": []}
    for k, created in enumerate((now - 4.75, now - 2.25)):
        for delay, hop in ((0.25, "sdk"), (0.5, "ingest"), (0.75, "crm")):
            out[hop].append(
                Observation(
                    "signup", hop, "user_signed_up", created, created + delay,
                    event_id=f"e{first + k}",
                )
            )  # fmt: skip
    return out


def _alerts(outputs: list[TickOutput], name: str) -> list[Alert]:
    return [a for out in outputs for a in out.alerts_changed if a.name == name]


def test_an_agent_cut_off_longer_than_allowed_lateness_leaves_incomplete_buckets_not_loss(
    runtime: StaticRuntime, server_url: str, tmp_path: Path
) -> None:
    clock = runtime.clock
    server, truth = runtime.engine, Engine(runtime.config)
    sdk = _agent(runtime, server_url, tmp_path / "a1", "a1")
    downstream = _agent(runtime, server_url, tmp_path / "a2", "a2")
    downstream_link = _link(downstream)
    outputs: list[TickOutput] = []
    cut_at, back_at, traffic_ends = B0 + 300, B0 + 900, B0 + 1500
    last_contact = returned = None
    n = 0
    while clock.now() < traffic_ends + 360 + 10:  # every bucket with traffic has closed
        clock.advance(5)
        now = clock.now()
        if now <= traffic_ends:
            events = _events(now, n)
            n += 2
            sdk.engine.observe(events["sdk"])
            downstream.engine.observe(events["ingest"] + events["crm"])
            for hop in ("sdk", "ingest", "crm"):
                truth.observe(events[hop])
        if now == cut_at + 5:
            last_contact = server._agents.contacts["a2"].last_contact
            downstream_link.cut = True
        if now == back_at:
            downstream_link.cut = False
        sdk.tick()
        downstream.tick()
        if returned is None and now >= back_at and not server._agents.contacts["a2"].down:
            returned = server._agents.contacts["a2"].last_contact
        outputs.append(server.tick(now))
        truth.tick(now)
        if now == cut_at + 300:  # longer than allowed_lateness: buckets closed meanwhile
            assert downstream.spool.depth == 60
    assert last_contact == cut_at and returned is not None and back_at <= returned < back_at + 30
    assert downstream.spool.depth == 0

    # One gap for the outage, covering only the cut-off agent's hops.
    (gap,) = server._ledgers["signup"].gaps
    assert gap == Gap(last_contact, returned, "agent a2 unreachable", frozenset({"ingest", "crm"}))

    # Buckets the gap overlaps are incomplete, every other is complete; nothing counted missing.
    watermark = server._ledgers["signup"].watermark
    first_edges = {}
    for out in outputs:
        for r in out.edge_results:
            first_edges.setdefault(r.key, r)
    assert len(first_edges) == 2 * (traffic_ends - B0) / 60
    for r in first_edges.values():
        overlaps = watermark.overlaps(watermark.bucket_of(r.bucket_start), gap)
        assert r.completeness is (Completeness.INCOMPLETE if overlaps else Completeness.COMPLETE)
    incomplete = {
        r.bucket_start for r in first_edges.values() if r.completeness.value != "complete"
    }
    assert min(incomplete) == cut_at - 360 + 60 and max(incomplete) == returned // 60 * 60
    for edge in ("sdk->ingest", "ingest->crm"):
        totals = server.view().edge_totals[("signup", edge)]
        assert totals.missing == 0 and totals.incomplete_buckets == len(incomplete) / 1
    sdk_buckets = [h for out in outputs for c in out.closed.values() for h in c.hop_buckets]
    assert {h.completeness for h in sdk_buckets if h.hop == "sdk"} == {Completeness.COMPLETE}

    # No loss alert; the agent's ticket fired after the grace and resolved at its return.
    assert _alerts(outputs, "HopwatchEdgeDataLoss") == []
    down = _alerts(outputs, "HopwatchAgentDown")
    assert [(a.state, a.updated_at) for a in down] == [
        (AlertState.FIRING, last_contact + 120),
        *[(AlertState.FIRING, t) for t in range(int(last_contact) + 125, int(returned), 5)],
        (AlertState.RESOLVED, returned),
    ]
    assert dict(down[0].labels)["agent"] == "a2" and dict(down[0].labels)["severity"] == "ticket"

    # The spool drained into late amendments: the server has every count the truth has.
    assert server.view().hop_totals == truth.view().hop_totals
    assert sum(truth.view().hop_totals.values()) == 3 * n
    for key, last in server.view().last_edge.items():
        want = truth.view().last_edge[key]
        assert (last.expected, last.arrived, last.missing) == (want.expected, want.arrived, 0)


def test_without_liveness_the_same_outage_is_counted_as_loss(
    runtime: StaticRuntime, server_url: str, tmp_path: Path
) -> None:
    """The counterfactual: what the server reported before it tracked agents."""
    clock = runtime.clock
    runtime.engine._agents.silent_after = runtime.engine._agents.alert_after = float("inf")
    downstream = _agent(runtime, server_url, tmp_path / "a2", "a2")
    link = _link(downstream)
    outputs: list[TickOutput] = []
    n = 0
    while clock.now() < B0 + 900:
        now = clock.advance(5)
        events = _events(now, n)
        n += 2
        runtime.engine.observe(events["sdk"])  # pushed straight to the server
        downstream.engine.observe(events["ingest"] + events["crm"])
        link.cut = now > B0 + 300
        downstream.tick()
        outputs.append(runtime.engine.tick(now))
    assert runtime.engine._ledgers["signup"].gaps == []
    # Five buckets closed while the agent's data sat in its spool: all of it counted missing.
    totals = runtime.engine.view().edge_totals[("signup", "sdk->ingest")]
    assert (totals.expected, totals.arrived, totals.missing) == (240, 120, 120)
    loss = _alerts(outputs, "HopwatchEdgeDataLoss")
    assert loss and loss[0].state is AlertState.FIRING


# --- heartbeats and exactly-once -----------------------------------------------------------------


def test_an_idle_agent_heartbeats_every_flush_and_a_resent_heartbeat_is_ignored(
    runtime: StaticRuntime, server_url: str, tmp_path: Path
) -> None:
    clock, config = runtime.clock, runtime.config
    agent = _agent(runtime, server_url, tmp_path / "a1", "a1")
    link = _link(agent)
    agent.engine.observe(_events(B0, 0)["ingest"])
    clock.advance(5)
    agent.tick()  # a batch with data: the agent now serves signup/ingest
    before = runtime.engine.checkpoint()
    link.cut = True
    for _ in range(3):
        clock.advance(5)
        agent.tick()
    assert agent.spool.depth == 1, "while a batch waits, it is the heartbeat: no pile of them"
    heartbeat = msgspec.msgpack.decode(agent.spool.oldest()[1], type=AggregateBatch)  # type: ignore[index]
    assert heartbeat == AggregateBatch(
        "a1", agent.spool.instance, 2, 2, hops=(("signup", "ingest"),)
    )
    link.cut = False
    clock.advance(30)
    agent.tick()
    assert agent.spool.depth == 0
    body = msgspec.msgpack.encode(heartbeat)
    answer = link.post(
        f"{server_url}/v1/aggregates", content=body, headers={"content-type": "application/msgpack"}
    )
    assert answer.json() == {"outcome": "duplicate", "seq": 2, "applied_through": 2}
    engine = runtime.engine
    assert engine.view().agent_batches == {("a1", "applied"): 2, ("a1", "duplicate"): 1}
    assert engine._agents.contacts["a1"] == AgentContact(
        "a1", clock.now(), frozenset({("signup", "ingest")})
    )
    restored = Engine(config)
    restored.restore(before)
    assert engine._ledgers["signup"].to_bytes() == restored._ledgers["signup"].to_bytes(), (
        "heartbeats, applied or resent, leave the ledger as it was"
    )
    metrics = link.get(f"{server_url}/metrics").text
    assert 'hopwatch_agent_up{agent="a1"} 1.0' in metrics
    last = f'hopwatch_agent_last_contact_timestamp_seconds{{agent="a1"}} {floatToGoString(clock.now())}'
    assert last in metrics


def test_a_heartbeat_naming_an_unknown_hop_is_refused(
    runtime: StaticRuntime, server_url: str
) -> None:
    batch = AggregateBatch("a1", "i1", 1, 1, hops=(("signup", "nope"),))
    answer = httpx.post(
        f"{server_url}/v1/aggregates",
        content=msgspec.msgpack.encode(batch),
        headers={"content-type": "application/msgpack"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "batch 1 of agent 'a1' names unknown hop signup/nope"
    assert runtime.engine._agents.contacts == {}


def test_an_agent_restarted_still_declares_the_hops_it_served(
    runtime: StaticRuntime, server_url: str, tmp_path: Path
) -> None:
    agent = _agent(runtime, server_url, tmp_path / "a1", "a1")
    agent.engine.observe(_events(B0, 0)["crm"])
    _link(agent).cut = True
    agent.stop()
    again = _agent(runtime, server_url, tmp_path / "a1", "a1")
    _link(again).cut = True
    again.spool.ack(1)
    assert again.flush() == 2
    batch = msgspec.msgpack.decode(again.spool.oldest()[1], type=AggregateBatch)  # type: ignore[index]
    assert batch.hops == (("signup", "crm"),) and batch.aggregates == ()


# --- a server restart ---------------------------------------------------------------------------


def test_a_restarted_server_keeps_each_agents_last_contact_and_hops(config: Config) -> None:
    engine = Engine(config)
    engine.absorb(AggregateBatch("a1", "i1", 1, 1, (HopAggregate("signup", "crm", 1),)), B0)
    engine.absorb(AggregateBatch("a1", "i1", 2, 1, hops=(("signup", "crm"),)), B0 + 5)
    engine.tick(B0 + 30)  # silent for 25 s: an outage opens
    restarted = Engine(config)
    restarted.restore(engine.checkpoint())
    assert restarted._agents.contacts == {
        "a1": AgentContact("a1", B0 + 5, frozenset({("signup", "crm")}), down=True)
    }
    assert restarted._applied.seen(AggregateBatch("a1", "i1", 2, 1))
    restarted.mark_gap(Gap(B0 + 40, B0 + 100, "hopwatch was not running"))
    restarted.tick(B0 + 110)  # silence counts from the restart: still within the grace
    restarted.tick(B0 + 120)  # the same outage: its gap is extended, not doubled
    outage = [g for g in restarted._ledgers["signup"].gaps if g.reason == "agent a1 unreachable"]
    assert outage == [Gap(B0 + 5, B0 + 135, "agent a1 unreachable", frozenset({"crm"}))]
    restarted.absorb(AggregateBatch("a1", "i1", 3, 3), B0 + 122)
    outage = [g for g in restarted._ledgers["signup"].gaps if g.reason == "agent a1 unreachable"]
    assert outage == [Gap(B0 + 5, B0 + 122, "agent a1 unreachable", frozenset({"crm"}))]
    assert not restarted._agents.contacts["a1"].down


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (Debian package 'prometheus'); it lints the exposition",
)
def test_the_agent_series_pass_promtool(runtime: StaticRuntime) -> None:
    app = create_app(runtime)
    runtime.engine.absorb(AggregateBatch("a1", "i1", 1, 1, hops=(("signup", "sdk"),)), B0)
    runtime.engine.absorb(AggregateBatch("a1", "i1", 1, 1), B0 + 1)
    runtime.clock.set(B0 + 20)
    text = generate_latest(app.state.registry)
    assert b'hopwatch_agent_up{agent="a1"} 0.0' in text
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30, check=False
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, b"", b"")
