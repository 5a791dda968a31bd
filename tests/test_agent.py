"""Agent mode: local buckets shipped as aggregates give the server exactly the raw-fed results.

Three layers, each checked against the truth (the same observations fed straight to a ledger or
an engine): the pure merge of two aggregates, the ledger absorbing aggregates instead of
observations, and two agents and a server over real HTTP with the server down for a minute, a
lost acknowledgement and a restart from its data dir.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from monitor.agent.bucketer import Bucketer
from monitor.agent.daemon import Agent
from monitor.config import load_config
from monitor.config.model import Config
from monitor.daemon import Daemon
from monitor.engine import Engine, TickOutput
from monitor.ledger.aggregate import (
    AggregateBatch,
    EdgeIds,
    HopAggregate,
    SeriesCount,
    Sighting,
    merge,
)
from monitor.ledger.applied import AppliedSequences
from monitor.ledger.ledger import Closed, PipelineLedger
from monitor.ledger.sketch import LatencySketch
from monitor.records import Observation
from monitor.server.app import create_app
from monitor.sources.push import PushDecoder
from monitor.store import open_store
from monitor.testing import FakeClock, free_port

B0 = 1_700_000_040.0  # a bucket start (divisible by 60)
T0 = B0 + 10.0

CONFIG = """\
apiVersion: hopwatch/v1
server:
  auth: {{open: true}}  # tests of agents' data, not of auth (test_auth.py)
agent:
  flush_interval: 5s
pipelines:
  - name: signup
    attributes: [region]
    id_sampling: {sampling}
    hops: [{{name: sdk}}, {{name: ingest}}, {{name: crm}}]
    edges:
      - {{from: sdk, to: ingest, where: 'status == "ok"'}}
      - {{from: ingest, to: crm}}
"""


def _config(tmp_path: Path, sampling: float = 1.0) -> Config:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(CONFIG.format(sampling=sampling), encoding="utf-8")
    return load_config(path)


def _obs(hop: str, i: int, delay: float, status: str = "ok", **extra: Any) -> dict[str, Any]:
    """Event ``e{i}`` at ``hop``; times are multiples of 1/4 s so every float sum is exact."""
    event_time = B0 + (i % 50) + 0.25
    return {
        "pipeline": "signup",
        "hop": hop,
        "event_type": "user_signed_up",
        "event_id": f"e{i}",
        "event_time": event_time,
        "observed_time": event_time + delay,
        "status": status,
        "attributes": {"region": "eu" if i % 3 else "us"},
        **extra,
    }


def traffic(first: int, last: int) -> dict[str, list[dict[str, Any]]]:
    """Per hop, in the order each hop reports: a rejection, a retry, losses, a duplicate, an
    event seen downstream before upstream, and traced events."""
    sdk, ingest, crm = [], [], []
    for i in range(first, last):
        sdk.append(_obs("sdk", i, 0.5, "rejected" if i % 7 == 0 else "ok"))
        if i % 9 == 3:
            sdk.append(_obs("sdk", i, 0.75))  # the sdk retried: expected once
        if i % 7 == 0 or i in (5, 11, 25):
            continue  # rejected at sdk, or lost on the way to ingest
        ingest.append(_obs("ingest", i, 1.25))
        if i in (8, 30):
            ingest.append(_obs("ingest", i, 1.5))  # a duplicate at ingest
        if i != 13:
            crm.append(_obs("crm", i, 2.0 + (i % 4) / 4, trace_id=f"{i:032x}"))
    return {"sdk": sdk, "ingest": ingest, "crm": crm}


def decode(config: Config, items: list[dict[str, Any]], now: float) -> list[Observation]:
    body = msgspec.json.encode(items)
    batch = PushDecoder(config).observations(body, content_type="application/json", now=now)
    assert not batch.rejected_total
    return list(batch.accepted)


# --- the pure merge -----------------------------------------------------------------------------


def _sketch(*values: float) -> bytes:
    s = LatencySketch()
    s.add_many(list(values))
    return s.to_bytes()


def test_merging_two_aggregates_adds_counts_sketches_and_unions_ids() -> None:
    a = HopAggregate(
        "signup",
        "ingest",
        7,
        counts=(SeriesCount("ok", (("region", "eu"),), 3), SeriesCount("failed", (), 1)),
        latency=_sketch(0.5, 1.0, 1.0, 2.0),
        exemplar=("a" * 32, 2.0, 10.0),
        late=1,
        edges=(EdgeIds("ingest->crm", 3, 3, (("e1", 1000), ("e2", 1100))),),
        sightings=(Sighting(11, 1000, 1), Sighting(12, 1200, 2)),
    )
    b = HopAggregate(
        "signup",
        "ingest",
        7,
        counts=(SeriesCount("ok", (("region", "us"),), 2), SeriesCount("failed", (), 4)),
        latency=_sketch(4.0, 0.25),
        exemplar=("b" * 32, 4.0, 11.0),
        edges=(EdgeIds("ingest->crm", 2, 1, (("e2", 900), ("e3", 1300))),),
        sightings=(Sighting(12, 900, 1), Sighting(13, 1400, 1)),
    )
    m = merge(a, b)
    assert [(c.status, c.attributes, c.n) for c in m.counts] == [
        ("ok", (("region", "eu"),), 3),
        ("failed", (), 5),
        ("ok", (("region", "us"),), 2),
    ]
    assert m.total == 10 and m.late == 1
    assert m.edges == (EdgeIds("ingest->crm", 5, 4, (("e1", 1000), ("e2", 1100), ("e3", 1300))),)
    assert m.sightings == (Sighting(11, 1000, 1), Sighting(12, 1200, 3), Sighting(13, 1400, 1))
    assert m.exemplar == ("b" * 32, 4.0, 11.0)
    assert m.sketch().count == 6 and m.sketch().sum == 8.75
    assert m.latency == _sketch(0.5, 1.0, 1.0, 2.0, 4.0, 0.25)


def test_aggregates_of_two_halves_merge_into_the_aggregate_of_the_whole(tmp_path: Path) -> None:
    config = _config(tmp_path)
    hops = traffic(0, 40)
    observations = decode(config, [*hops["sdk"], *hops["ingest"], *hops["crm"]], T0)
    whole, first, second = Bucketer(config), Bucketer(config), Bucketer(config)
    whole.observe(observations)
    first.observe(observations[:37])
    second.observe(observations[37:])
    by_key: dict[tuple[str, str, int], HopAggregate] = {}
    for agg in [*first.take(T0)[0], *second.take(T0)[0]]:
        by_key[agg.key] = merge(by_key[agg.key], agg) if agg.key in by_key else agg
    expected = {a.key: a for a in whole.take(T0)[0]}
    assert by_key == expected
    ingest = expected[("signup", "ingest", int(B0 // 60))]
    # 40 events, 6 rejected at sdk, 3 lost before ingest; 2 seen twice there.
    assert ingest.total == 33 and len(ingest.sightings) == 31
    assert {e.edge: e.expected_count for e in ingest.edges} == {"ingest->crm": 33}


def test_merging_aggregates_of_different_buckets_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot merge"):
        merge(HopAggregate("signup", "sdk", 1), HopAggregate("signup", "sdk", 2))


# --- the ledger: aggregates in, the raw-fed results out -----------------------------------------


def _results(closed: list[Closed]) -> tuple[dict[Any, Any], dict[Any, Any]]:
    """Latest hop bucket and edge result per key, with sketches compared byte for byte."""
    hops: dict[Any, Any] = {}
    edges: dict[Any, Any] = {}
    for c in closed:
        for h in (*c.hop_buckets, *c.partial_hop_buckets):
            hops[(h.hop, h.bucket_start)] = (h, h.latency.to_bytes(), h.exemplar)
        for e in c.edge_results:
            edges[e.key] = (e, e.latency.to_bytes())
    return hops, edges


@pytest.mark.parametrize(
    "sampling", [1.0, 0.5], ids=["every id joined", "half the ids joined by hash sample"]
)
def test_a_ledger_absorbing_aggregates_builds_what_raw_observations_build(
    tmp_path: Path, sampling: float
) -> None:
    config = _config(tmp_path, sampling)
    pipeline = config.pipelines[0]
    raw, agg = PipelineLedger(pipeline), PipelineLedger(pipeline)
    early, late = traffic(0, 30), traffic(30, 45)
    sdk_agent, downstream_agent = Bucketer(config), Bucketer(config)
    # Raw: hop by hop as they happen. Aggregates: the downstream agent's flush lands first.
    for part in (early, late):
        for hop in ("sdk", "ingest", "crm"):
            raw.observe(decode(config, part[hop], T0))
        sdk_agent.observe(decode(config, part["sdk"], T0))
        downstream_agent.observe(decode(config, part["ingest"] + part["crm"], T0))
        agg.absorb(downstream_agent.take(T0)[0])
        agg.absorb(sdk_agent.take(T0)[0])
    close_at = B0 + 60 + 300 + 1
    outputs_raw, outputs_agg = [raw.close(close_at)], [agg.close(close_at)]
    # A late sighting after the close amends the bucket on both sides.
    straggler = [_obs("crm", 13, 400.0)]
    raw.observe(decode(config, straggler, close_at))
    downstream_agent.observe(decode(config, straggler, close_at))
    agg.absorb(downstream_agent.take(close_at + 5)[0])
    outputs_raw.append(raw.close(close_at + 10))
    outputs_agg.append(agg.close(close_at + 10))

    assert _results(outputs_agg) == _results(outputs_raw)
    assert agg.hop_totals() == raw.hop_totals()
    assert agg.stats == raw.stats
    _, edges = _results(outputs_raw)
    sdk_ingest = edges[("signup", "sdk->ingest", B0)][0]
    if sampling == 1.0:
        # 45 events, 7 rejected at sdk but e21 passed on its retry; e5, e11, e21, e25 lost.
        assert (sdk_ingest.expected, sdk_ingest.arrived, sdk_ingest.missing) == (39, 35, 4)
        assert (sdk_ingest.duplicates, sdk_ingest.late) == (2, 0)
        assert sorted(sdk_ingest.missing_ids) == ["e11", "e21", "e25", "e5"]
        crm = edges[("signup", "ingest->crm", B0)][0]
        assert (crm.expected, crm.arrived, crm.missing, crm.late) == (35, 35, 0, 1)


# --- what the server remembers of applied batches -----------------------------------------------


def _batch(seq: int, low_water: int = 1, agent: str = "a1", instance: str = "i1") -> AggregateBatch:
    return AggregateBatch(agent, instance, seq, low_water)


def test_a_batch_is_applied_once_and_its_resend_is_a_duplicate() -> None:
    applied = AppliedSequences()
    for seq in (1, 2, 4):
        assert not applied.seen(_batch(seq))
        applied.record(_batch(seq), applied=True)
    assert [applied.seen(_batch(s)) for s in (1, 2, 3, 4, 5)] == [True, True, False, True, False]
    assert not applied.seen(_batch(1, instance="i2")), "a wiped spool starts a new sequence"
    applied.record(_batch(2), applied=False)
    assert applied.outcomes == {("a1", "applied"): 3, ("a1", "duplicate"): 1}


def test_low_water_forgets_batches_the_agent_dropped() -> None:
    applied = AppliedSequences()
    applied.record(_batch(1), applied=True)
    applied.record(_batch(5, low_water=5), applied=True)  # 2-4 were dropped from a full spool
    inst = applied._instances[("a1", "i1")]
    assert (inst.contiguous, inst.extra) == (5, set())
    restored = AppliedSequences()
    restored.restore(applied.to_bytes())
    assert restored.seen(_batch(5)) and not restored.seen(_batch(6))
    assert restored.outcomes == applied.outcomes


# --- two agents, a server that goes away, a lost answer -----------------------------------------


class LosesAnswers(httpx.HTTPTransport):
    """Delivers requests but loses the next ``lose`` answers: the server acted, the agent
    never heard."""

    def __init__(self) -> None:
        super().__init__()
        self.lose = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if self.lose:
            self.lose -= 1
            response.read()
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


@contextlib.contextmanager
def serve_on(app: Any, port: int) -> Iterator[str]:
    """uvicorn in a thread on a given port, so a restarted server is found where it was."""
    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class Server:
    """A hopwatch server daemon on a fixed port, stoppable and restartable from its data dir."""

    def __init__(self, config: Config, clock: FakeClock, data_dir: Path, port: int) -> None:
        self.config, self.clock, self.data_dir, self.port = config, clock, data_dir, port
        self.outputs: list[TickOutput] = []
        self._serving: contextlib.ExitStack | None = None

    def start(self) -> Any:
        self.daemon = Daemon(self.config, self.clock, open_store(self.data_dir))
        gap = self.daemon.start()
        self._serving = contextlib.ExitStack()
        self._serving.enter_context(serve_on(create_app(self.daemon), self.port))
        return gap

    def stop(self) -> None:
        assert self._serving is not None
        self._serving.close()
        self.daemon.stop()

    def tick(self) -> None:
        out = self.daemon.tick()
        assert out is not None
        self.outputs.append(out)


def _post(url: str, items: list[dict[str, Any]]) -> None:
    response = httpx.post(url + "/v1/observations", json=items)
    assert response.status_code == 202 and response.json()["rejected"] == 0, response.text


def test_two_agents_count_every_observation_exactly_once_across_a_server_outage(
    tmp_path: Path,
) -> None:
    config = _config(tmp_path)
    clock = FakeClock(T0)
    port = free_port()
    server = Server(config, clock, tmp_path / "server", port)
    truth = Engine(config)
    truth_outputs: list[TickOutput] = []

    def tick_both() -> None:
        server.tick()
        truth_outputs.append(truth.tick(clock.now()))

    lossy = LosesAnswers()
    agents = {
        "sdk": Agent(
            config, clock, tmp_path / "a1", server_url=f"http://127.0.0.1:{port}", agent_id="a1"
        ),
        "downstream": Agent(
            config,
            clock,
            tmp_path / "a2",
            server_url=f"http://127.0.0.1:{port}",
            agent_id="a2",
            client=httpx.Client(transport=lossy, timeout=5.0),
        ),
    }
    with contextlib.ExitStack() as stack:
        urls = {
            name: stack.enter_context(serve_on(a.app(), free_port())) for name, a in agents.items()
        }

        def push(part: dict[str, list[dict[str, Any]]]) -> None:
            _post(urls["sdk"], part["sdk"])
            _post(urls["downstream"], part["ingest"] + part["crm"])
            for hop in ("sdk", "ingest", "crm"):
                truth.observe(decode(config, part[hop], clock.now()))

        def tick_agents(seconds: float) -> None:
            clock.advance(seconds)
            for agent in agents.values():
                agent.tick()

        server.start()
        push(traffic(0, 20))
        lossy.lose = 1  # the server applies the downstream agent's first batch; the answer is lost
        tick_agents(5)
        assert agents["sdk"].spool.depth == 0
        assert agents["downstream"].spool.depth == 1
        assert server.daemon.engine.view().agent_batches[("a2", "applied")] == 1
        tick_both()

        server.stop()  # down for a minute; the agents keep accepting and spool
        for first in (20, 30, 40):
            push(traffic(first, first + 10))
            tick_agents(20)
        assert agents["downstream"].spool.depth == 4 and agents["sdk"].spool.depth == 3
        assert agents["downstream"].forwarder.stats.retries >= 1

        gap = server.start()  # from its data dir: what was applied is in its checkpoint
        assert gap is not None and gap.end - gap.start == 60
        truth.mark_gap(gap)
        tick_agents(31)  # past the longest backoff
        for agent in agents.values():
            assert agent.spool.depth == 0
        outcomes = server.daemon.engine.view().agent_batches
        assert outcomes == {("a1", "applied"): 4, ("a2", "applied"): 4, ("a2", "duplicate"): 1}
        assert agents["downstream"].forwarder.stats.duplicates == 1
        tick_both()

        clock.set(B0 + 60 + 300 + 1)  # the bucket closes
        tick_both()
        push({"sdk": [], "ingest": [], "crm": [_obs("crm", 13, 400.0)]})  # a straggler
        tick_agents(5)
        tick_both()

        metrics = httpx.get(urls["downstream"] + "/metrics").text
        assert 'hopwatch_agent_sent_batches_total{outcome="duplicate"} 1.0' in metrics
        assert "hopwatch_agent_spool_batches 0.0" in metrics
        server_metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'hopwatch_agent_batches_total{agent="a2",outcome="duplicate"} 1.0' in server_metrics
        server.stop()

    closed = [c for out in server.outputs for c in out.closed.values()]
    truth_closed = [c for out in truth_outputs for c in out.closed.values()]
    hops, edges = _results(closed)
    assert (hops, edges) == _results(truth_closed)
    assert server.daemon.engine.view().hop_totals == truth.view().hop_totals
    assert (
        sum(n for n in truth.view().hop_totals.values())
        == sum(
            len(part)
            for first in (0, 20, 30, 40)
            for part in traffic(first, first + (20 if first == 0 else 10)).values()
        )
        + 1
    )
    sdk_ingest = edges[("signup", "sdk->ingest", B0)][0]
    assert (sdk_ingest.expected, sdk_ingest.arrived, sdk_ingest.missing) == (43, 39, 4)
    assert sdk_ingest.duplicates == 2


def test_an_aggregate_naming_an_unknown_hop_is_refused_whole(tmp_path: Path) -> None:
    from monitor.testing import StaticRuntime, serve_in_thread

    runtime = StaticRuntime(_config(tmp_path))
    batch = AggregateBatch(
        "a1", "i1", 1, 1, (HopAggregate("signup", "sdk", 1), HopAggregate("signup", "nope", 1))
    )
    with serve_in_thread(create_app(runtime)) as url:
        response = httpx.post(
            f"{url}/v1/aggregates",
            content=msgspec.msgpack.encode(batch),
            headers={"content-type": "application/msgpack"},
        )
    assert response.status_code == 400
    assert response.json()["error"] == "batch 1 of agent 'a1' names unknown hop signup/nope"
    assert runtime.engine.view().agent_batches == {("unknown", "refused"): 1}, (
        "counted, not applied"
    )
