"""Keyed hashing of event ids (``monitor.client.idhash``) in the client and the agent.

hopwatch only compares ids, so hashing every hop's ids with one key must change nothing it
computes: the same seeded simulated stream, once with raw ids and once with hashed ids, gives the
same edge results bucket by bucket (expected, arrived, missing, duplicates, late) and the same
forbidden-flow leaks, whose ids are then the tokens of the leaked raw ids.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from monitor.agent.daemon import AgentSink
from monitor.client import HopReporter
from monitor.client.idhash import ID_KEY_ENV, IdHasher, is_hashed, resolve_id_key
from monitor.client.wire import encode
from monitor.config.loader import check_config, load_config
from monitor.config.model import AgentConfig, Config
from monitor.engine import Engine
from monitor.ledger.records import EdgeResult
from monitor.records import Observation
from monitor.sim import Bypass, Duplicates, Latency, Loss, Scenario, Simulator
from monitor.sim.example import example_pipeline
from monitor.sim.traffic import TrafficModel

MINUTES = 100
KEY = b"0123456789abcdef0123456789abcdef"
CONSENT = "identity-/->activation"


def test_the_token_is_keyed_stable_and_idempotent() -> None:
    h = IdHasher(KEY)
    token = h("user-42")
    assert token == h("user-42") and is_hashed(token) and len(token) == 34
    assert token.startswith("k:") and "user-42" not in token
    assert h(token) == token  # a client-hashed id passes an agent that hashes unchanged
    assert IdHasher(b"another key of 32 bytes, really!")("user-42") != token
    assert "0123" not in repr(h)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        IdHasher(b"short")


def test_the_key_comes_from_the_argument_a_file_or_the_environment(tmp_path: Path) -> None:
    key_file = tmp_path / "id.key"
    key_file.write_text(KEY.decode() + "\n")
    expected = IdHasher(KEY)("e1")
    by_file = resolve_id_key(None, key_file, {})
    by_env = resolve_id_key(None, None, {ID_KEY_ENV: KEY.decode()})
    assert by_file is not None and by_file("e1") == expected
    assert by_env is not None and by_env("e1") == expected
    assert resolve_id_key(None, None, {}) is None
    (tmp_path / "empty.key").write_text("\n")
    with pytest.raises(ValueError, match="empty"):
        resolve_id_key(None, tmp_path / "empty.key", {})


def _stream() -> list[Observation]:
    """100 simulated minutes of the example pipeline with loss, duplicates, lateness beyond the
    bucket and a consent filter bypass: every number an edge reports is exercised."""
    scenario = Scenario(
        seed=5,
        traffic=TrafficModel(rate_per_minute=40),
        faults=(
            Loss(edge="broker->identity", share=0.05, start=600.0, duration=1200.0),
            Duplicates(hop="warehouse", share=0.02, start=0.0),
            Latency(hop="crm", seconds=420.0, start=2400.0, duration=600.0),
            Bypass(edge=CONSENT, share=0.05, start=0.0, label="consent_filter_bypass"),
        ),
    )
    sim = Simulator(example_pipeline(), scenario)
    out: list[Observation] = []
    t = scenario.start
    for _ in range(MINUTES):
        out += sim.observations(t, t + 60)
        t += 60
    return out


def _run(minutes: Sequence[list[Observation]], start: float) -> tuple[list[EdgeResult], Engine]:
    engine = Engine(Config(pipelines=(example_pipeline(),)))
    results: list[EdgeResult] = []
    t = start
    for chunk in minutes:
        engine.observe(chunk)
        t += 60
        results += engine.tick(t).edge_results
    results += engine.tick(t + 3600).edge_results
    return results, engine


def _by_minute(observations: Iterable[Observation], start: float) -> list[list[Observation]]:
    minutes: list[list[Observation]] = [[] for _ in range(MINUTES)]
    for o in observations:
        minutes[min(int((o.observed_time - start) // 60), MINUTES - 1)].append(o)
    return minutes


def _numbers(results: list[EdgeResult]) -> list[tuple[Any, ...]]:
    return [
        (r.edge, r.bucket_start, r.expected, r.arrived, r.missing, r.duplicates, r.late)
        for r in results
    ]


def test_edge_joins_are_identical_with_hashed_and_raw_ids_on_the_same_stream() -> None:
    raw = _stream()
    start = min(o.observed_time for o in raw) // 60 * 60
    h = IdHasher(KEY)
    hashed = [
        msgspec.structs.replace(o, event_id=None if o.event_id is None else h(o.event_id))
        for o in raw
    ]
    assert not any(o.event_id and not is_hashed(o.event_id) for o in hashed)
    raw_results, raw_engine = _run(_by_minute(raw, start), start)
    hashed_results, hashed_engine = _run(_by_minute(hashed, start), start)

    assert _numbers(hashed_results) == _numbers(raw_results)
    totals = raw_engine.view().edge_totals
    assert totals == hashed_engine.view().edge_totals
    # The faults did show: this is not a comparison of two empty reports.
    assert sum(r.missing for r in raw_results) > 0
    assert sum(r.duplicates for r in raw_results) > 0
    assert sum(r.late for r in raw_results) > 0
    leaks = raw_engine.view().ledgers["signup"].forbidden
    assert leaks == hashed_engine.view().ledgers["signup"].forbidden and leaks[CONSENT] > 0
    # Missing ids are the tokens of the raw missing ids, so an operator holding the key can look
    # an event up; hopwatch itself never saw the raw one.
    raw_missing = sorted(h(i) for r in raw_results for i in r.missing_ids)
    assert raw_missing == sorted(i for r in hashed_results for i in r.missing_ids)


def test_the_reporter_sends_only_hashed_ids(tmp_path: Path) -> None:
    bodies: list[list[dict[str, Any]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        lines = gzip.decompress(request.content).splitlines()
        bodies.append([json.loads(line) for line in lines])
        return httpx.Response(200, json={"accepted": len(lines), "rejected": []})

    key_file = tmp_path / "id.key"
    key_file.write_text(KEY.decode())
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        reporter = HopReporter(
            "http://hopwatch.test:9464",
            "signup",
            "sdk",
            token="t",
            id_hash_key_file=key_file,
            client=client,
        )
        for i in range(5):
            assert reporter.observe(f"user-{i}", "user_signed_up", 1_700_000_000.0 + i)
        assert reporter.flush(10.0)
        reporter.close()
    sent = [item["event_id"] for body in bodies for item in body]
    assert sent == [IdHasher(KEY)(f"user-{i}") for i in range(5)]


def test_the_wire_encoding_hashes_exactly_what_the_hasher_does() -> None:
    item = ("signup", "sdk", "e-1", "user_signed_up", 1.0, "ok", None, None, 2.0)
    (line,) = encode([item], IdHasher(KEY)).lines
    assert json.loads(line)["event_id"] == IdHasher(KEY)("e-1")
    (plain,) = encode([item]).lines
    assert json.loads(plain)["event_id"] == "e-1"


def test_the_agent_buckets_hashed_ids_with_a_key_from_its_config(tmp_path: Path) -> None:
    (tmp_path / "id.key").write_text(KEY.decode() + "\n")
    path = tmp_path / "hopwatch.yaml"
    path.write_text(
        "apiVersion: hopwatch/v1\n"
        "agent: {server: 'http://127.0.0.1:9464', id: a1, id_hash_key_file: id.key}\n"
        "pipelines:\n"
        "  - name: shop\n"
        "    hops: [{name: web}, {name: sink}]\n"
        "    edges: [{from: web, to: sink}]\n"
    )
    config = load_config(path, environ={})
    assert config.agent.id_hash_key == KEY
    sink = AgentSink(config)
    obs = Observation("shop", "web", "order_placed", 1_700_000_000.0, 1_700_000_001.0)
    sink.observe([msgspec.structs.replace(obs, event_id="order-7")])
    deltas = sink.bucketer._pipelines["shop"].deltas.values()
    stored = {i for delta in deltas for edge in delta.edges.values() for i in edge.ids}
    assert stored == {IdHasher(KEY)("order-7")}


def test_validate_refuses_a_short_agent_key(tmp_path: Path) -> None:
    path = tmp_path / "hopwatch.yaml"
    path.write_text("apiVersion: hopwatch/v1\nagent: {id_hash_key_env: IDKEY}\npipelines: []\n")
    _, issues = check_config(path, environ={"IDKEY": "short"})
    assert [i.message for i in issues] == ["the id hash key is 5 bytes, at least 16 are needed"]
    assert AgentConfig().id_hash_key is None


def test_the_config_copies_of_the_key_constants_match_the_client() -> None:
    from monitor.client import idhash
    from monitor.config import spec

    assert (spec.ID_KEY_ENV, spec.MIN_ID_KEY_BYTES) == (idhash.ID_KEY_ENV, idhash.MIN_KEY_BYTES)
