"""Agent batches are held to the push API's rules before anything of them is applied.

The pure gate first, one case per rule (each refusal's message asserted exactly: it names the
batch, the field and what is wrong), then what the gate lets through (attributes off the
allow-list dropped and counted), then the server over HTTP: the reviewer's batch (a status outside
the closed set, a negative count, an e-mail attribute) is refused whole and leaves no trace but a
``refused`` count; the same e-mail key in an otherwise good batch is dropped and counted.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from monitor.agent.bucketer import Bucketer
from monitor.agent.daemon import Agent
from monitor.config import load_config
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.ledger.agents import AGENT_DOWN_CHECK
from monitor.ledger.aggregate import (
    MAX_ID_LENGTH,
    AggregateBatch,
    EdgeIds,
    HopAggregate,
    SeriesCount,
    Sighting,
)
from monitor.ledger.sketch import LatencySketch
from monitor.records import CountSample, Observation
from monitor.server.app import create_app
from monitor.sources.agent_batch import MAX_SIGHTINGS, Admitted, BatchGate, Refusal
from monitor.sources.sketch_check import KEY_RANGE, SketchBins, sketch_problem
from monitor.testing import FakeClock, StaticRuntime, serve_in_thread

B0 = 1_700_000_040.0  # a bucket start (divisible by 60)
NOW = B0 + 30.0
BUCKET = int(B0 // 60)

CONFIG = """\
apiVersion: hopwatch/v1
server:
  auth: {open: true}  # tests of agents' data, not of auth (test_auth.py)
pipelines:
  - name: signup
    attributes: [region]
    hops: [{name: sdk}, {name: ingest}, {name: crm}]
    edges:
      - {from: sdk, to: ingest}
      - {from: ingest, to: crm}
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    path = tmp_path_factory.mktemp("config") / "hopwatch.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(path)


def _sketch(*values: float) -> bytes:
    s = LatencySketch()
    s.add_many(list(values))
    return s.to_bytes()


def good_aggregate(**changes: object) -> HopAggregate:
    """What an agent next to ``ingest`` sends for three events, one of them seen twice."""
    agg = HopAggregate(
        "signup",
        "ingest",
        BUCKET,
        counts=(SeriesCount("ok", (("region", "eu"),), 2), SeriesCount("failed", (), 1)),
        latency=_sketch(0.5, 1.0, 2.0),
        exemplar=("a" * 32, 2.0, B0 + 12.0),
        edges=(
            EdgeIds("ingest->crm", 2, 2, (("e1", 1_700_000_050_500), ("e2", 1_700_000_051_000))),
        ),
        sightings=(Sighting(11, 1_700_000_050_500, 2), Sighting(12, 1_700_000_051_000, 1)),
        bucket_seconds=60.0,
    )
    return msgspec.structs.replace(agg, **changes)


def good_sample(**changes: object) -> CountSample:
    sample = CountSample("signup", "crm", B0, 60.0, 7, attributes=(("region", "us"),))
    return msgspec.structs.replace(sample, **changes)


def good_batch(**changes: object) -> AggregateBatch:
    batch = AggregateBatch(
        "a1",
        "0123456789abcdef0123456789abcdef",
        3,
        2,
        aggregates=(good_aggregate(),),
        samples=(good_sample(),),
        hops=(("signup", "ingest"), ("signup", "crm")),
    )
    return msgspec.structs.replace(batch, **changes)


def agg(**changes: object) -> AggregateBatch:
    return good_batch(aggregates=(good_aggregate(), good_aggregate(**changes)))


def sample(**changes: object) -> AggregateBatch:
    return good_batch(samples=(good_sample(**changes),))


def _bins(**changes: object) -> bytes:
    bins = msgspec.msgpack.decode(_sketch(0.5, 1.0, 2.0), type=SketchBins)
    return msgspec.msgpack.encode(msgspec.structs.replace(bins, **changes))


SAME = "the agent and the server must run the same hopwatch version and pipelines config"
B = "batch 3 of agent 'a1'"
A1 = f"{B}: aggregates[1]"

REFUSED: list[tuple[str, AggregateBatch, str]] = [
    (
        "an agent id that is no label value",
        good_batch(agent_id="a1 with spaces"),
        "batch 3 of agent 'a1 with spaces': agent_id: not a valid agent id: up to 63 letters, "
        "digits, '.', '_' or '-', starting with a letter or digit (it becomes a label value)",
    ),
    (
        "an agent id with a trailing newline",
        good_batch(agent_id="a1\n"),
        "batch 3 of agent 'a1\\n': agent_id: not a valid agent id: up to 63 letters, "
        "digits, '.', '_' or '-', starting with a letter or digit (it becomes a label value)",
    ),
    (
        "an empty spool instance",
        good_batch(instance=""),
        f"{B}: instance: 0 characters; a spool instance id has 1 to 64",
    ),
    (
        "a seq below 1",
        good_batch(seq=0, low_water=0),
        "batch 0 of agent 'a1': seq: 0 is not between 1 and 2**63-1",
    ),
    (
        "a low water above the batch's own seq",
        good_batch(low_water=2**62),
        f"{B}: low_water: {2**62} is not between 0 and the batch's seq 3: the batch itself "
        "is not acknowledged yet",
    ),
    (
        "an unknown hop",
        agg(hop="nope"),
        f"{B} names unknown hop signup/nope",
    ),
    (
        "buckets of another size",
        agg(bucket_seconds=300.0),
        f"{A1}.bucket_seconds: 300.0 is not the bucket size of pipeline 'signup' (1m, 60.0 s), "
        "so its bucket indexes mean other times",
    ),
    (
        "an absurd bucket index",
        agg(bucket=2**62),
        f"{A1}.bucket: bucket index {2**62} (start {2**62 * 60.0!r}) is 3202559734999343d9h46m40s "
        "ahead of hopwatch's clock (more than server.max_future_skew 5m)",
    ),
    (
        "a bucket too far in the future",
        agg(bucket=BUCKET + 6),
        f"{A1}.bucket: bucket index {BUCKET + 6} (start 2023-11-14T22:20:00Z) is 5m30s ahead "
        "of hopwatch's clock (more than server.max_future_skew 5m)",
    ),
    (
        "a bucket that ended before storage.retention",
        agg(bucket=BUCKET - 35 * 1440 - 1),
        f"{A1}.bucket: bucket index {BUCKET - 35 * 1440 - 1} (start 2023-10-10T22:13:00Z) ended "
        "more than storage.retention (35d) ago; it can no longer be counted",
    ),
    (
        "a status outside the closed set",
        agg(counts=(SeriesCount("bogus", (), 1),)),
        f"{A1}.counts[0].status: 'bogus' is not a hop status (ok, rejected, failed, dropped)",
    ),
    (
        "a negative count",
        agg(counts=(SeriesCount("ok", (), 5), SeriesCount("ok", (), -5))),
        f"{A1}.counts[1].n: -5 is negative; counts are of events, 0 to 2**53",
    ),
    (
        "a count past 2**53",
        agg(counts=(SeriesCount("ok", (), 2**53 + 1),)),
        f"{A1}.counts[0].n: {2**53 + 1} is larger than 2**53; counts are of events, 0 to 2**53",
    ),
    (
        "counts that add up past 2**53",
        agg(counts=(SeriesCount("ok", (), 2**53), SeriesCount("failed", (), 2**53))),
        f"{A1}.counts: {2**54} events in one bucket, more than 2**53",
    ),
    (
        "a negative late count",
        agg(late=-1),
        f"{A1}.late: -1 is negative; counts are of events, 0 to 2**53",
    ),
    (
        "a latency sketch that does not decode",
        agg(latency=b"\x00\xff\xfe garbage"),
        f"{A1}.latency: not a latency sketch (Expected `array`, got `int`)",
    ),
    (
        "a sketch bin far out of range",
        agg(latency=_bins(keys=[2**40, 1, 2])),
        f"{A1}.latency: bin key {2**40} is outside {KEY_RANGE[0]}..{KEY_RANGE[1]}, the keys of "
        "latencies up to 2147483648 s",
    ),
    (
        "a sketch whose count is not its bins'",
        agg(latency=_bins(count=-5.0)),
        f"{A1}.latency: count -5.0 and zero count 0.0 are not counts of latencies",
    ),
    (
        "a trace id too long",
        agg(exemplar=("a" * (MAX_ID_LENGTH + 1), 1.0, B0)),
        f"{A1}.exemplar: a trace id of 1025 characters (1 to 1024)",
    ),
    (
        "an exemplar latency that is not a number",
        agg(exemplar=("a" * 32, math.nan, B0)),
        f"{A1}.exemplar: latency nan s is not a plausible latency",
    ),
    (
        "an unknown edge",
        agg(edges=(EdgeIds("nope->x", 1, 1, (("a", 1),)),)),
        f"{A1}.edges[0].edge: 'nope->x' is not an edge leaving hop signup/ingest (edges "
        "leaving it: ingest->crm)",
    ),
    (
        "an edge that leaves another hop",
        agg(edges=(EdgeIds("sdk->ingest", 1, 0),)),
        f"{A1}.edges[0].edge: 'sdk->ingest' is not an edge leaving hop signup/ingest (edges "
        "leaving it: ingest->crm)",
    ),
    (
        "a negative expected count",
        agg(edges=(EdgeIds("ingest->crm", -1, 0),)),
        f"{A1}.edges[0].expected_count: -1 is negative; counts are of events, 0 to 2**53",
    ),
    (
        "more ids seen than expected",
        agg(edges=(EdgeIds("ingest->crm", 1, 2),)),
        f"{A1}.edges[0]: 0 ids, 2 ids_seen, 1 expected_count, 3 events at the hop: each must "
        "be at most the next",
    ),
    (
        "an event id too long",
        agg(edges=(EdgeIds("ingest->crm", 1, 1, (("e" * (MAX_ID_LENGTH + 1), 1),)),)),
        f"{A1}.edges[0].ids[0]: an event id of 1025 characters, more than 1024",
    ),
    (
        "a sighting time before the epoch",
        agg(edges=(EdgeIds("ingest->crm", 1, 1, (("e1", -1),)),)),
        f"{A1}.edges[0].ids[0]: sighting time -1 ms is not between the epoch and 5m ahead of "
        "hopwatch's clock",
    ),
    (
        "an id hash wider than 60 bits",
        agg(sightings=(Sighting(2**60, 1, 1),)),
        f"{A1}.sightings[0].h: {2**60} is not a 60-bit id hash",
    ),
    (
        "a negative number of sightings",
        agg(sightings=(Sighting(1, 1, -1),)),
        f"{A1}.sightings[0].n: -1 is negative; counts are of events, 0 to 2**53",
    ),
    (
        "more sightings than events at the hop",
        agg(sightings=(Sighting(1, 1, 4),)),
        f"{A1}.sightings: 4 sightings but 3 events counted at the hop: each sighting is one of "
        "its events",
    ),
    (
        "more sightings in a batch than the ledger replays",
        agg(
            counts=(SeriesCount("ok", (), MAX_SIGHTINGS + 1),),
            sightings=(Sighting(1, 1, MAX_SIGHTINGS),),
        ),
        f"{B}: aggregates[].sightings: {MAX_SIGHTINGS + 3} sightings in one batch, more than "
        f"{MAX_SIGHTINGS}",
    ),
    (
        "a count sample's status outside the closed set",
        sample(status="bogus"),
        f"{B}: samples[0].status: 'bogus' is not a hop status (ok, rejected, failed, dropped)",
    ),
    (
        "a negative count sample",
        sample(count=-5),
        f"{B}: samples[0].count: -5 is negative; counts are of events, 0 to 2**53",
    ),
    (
        "a count sample of another bucket size",
        sample(bucket_seconds=30.0),
        f"{B}: samples[0].bucket_seconds: 30.0 is not the bucket size of pipeline 'signup' "
        "(1m, 60.0 s)",
    ),
    (
        "a count sample older than storage.retention",
        sample(bucket_start=B0 - 40 * 86400),
        f"{B}: samples[0].bucket_start: bucket 2023-10-05T22:14:00Z ended more than "
        "storage.retention (35d) ago; it can no longer be counted",
    ),
    (
        "a count sample off the bucket grid",
        sample(bucket_start=B0 + 7),
        f"{B}: samples[0].bucket_start: 2023-11-14T22:14:07Z is not the start of a 1m bucket",
    ),
]


@pytest.mark.parametrize(("batch", "error"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_batch_breaking_a_rule_is_refused_whole_naming_the_field(
    config: Config, batch: AggregateBatch, error: str
) -> None:
    refusal = BatchGate(config).admit(batch, NOW)
    assert isinstance(refusal, Refusal)
    assert refusal.error == error
    assert refusal.hint  # every refusal says what to do


def test_a_good_batch_is_admitted_as_it_came(config: Config) -> None:
    batch = good_batch()
    admitted = BatchGate(config).admit(batch, NOW)
    assert admitted == Admitted(batch, {})
    assert isinstance(admitted, Admitted) and admitted.batch is batch


def test_attributes_off_the_allow_list_are_dropped_and_counted_like_push(config: Config) -> None:
    email = (("email", "x@y.z"), ("region", "eu"))
    batch = good_batch(
        aggregates=(
            good_aggregate(counts=(SeriesCount("ok", email, 2), SeriesCount("ok", (), 1))),
        ),
        samples=(good_sample(attributes=(("region", "us"), ("user", "u1"))),),
    )
    admitted = BatchGate(config).admit(batch, NOW)
    assert isinstance(admitted, Admitted)
    assert admitted.dropped_attributes == {"signup": 2}
    assert admitted.batch.aggregates[0].counts == (
        SeriesCount("ok", (("region", "eu"),), 2),
        SeriesCount("ok", (), 1),
    )
    assert admitted.batch.samples[0].attributes == (("region", "us"),)
    assert b"x@y.z" not in msgspec.msgpack.encode(admitted.batch)


def test_a_bucket_still_holding_events_the_push_api_takes_is_admitted(config: Config) -> None:
    """The oldest event push accepts is ``now - retention``: its bucket starts up to a bucket
    earlier, and must not be refused."""
    oldest = math.floor((NOW - 35 * 86400) / 60)
    assert isinstance(BatchGate(config).admit(agg(bucket=oldest), NOW), Admitted)


def test_sketch_bins_decode_what_latency_sketch_encodes() -> None:
    """The checked layout stays the one ``LatencySketch.to_bytes`` writes."""
    data = _sketch(0.0, 1e-9, 0.5, 3.5, 1e6)
    bins = msgspec.msgpack.decode(data, type=SketchBins)
    assert msgspec.msgpack.encode(bins) == data
    assert sketch_problem(data) is None
    assert sketch_problem(LatencySketch().to_bytes()) is None, "an empty sketch is fine"


def test_the_agent_leaves_ids_the_server_would_refuse_out_of_the_join(config: Config) -> None:
    bucketer = Bucketer(config)
    long_id, short_id = "e" * (MAX_ID_LENGTH + 1), "e1"
    bucketer.observe(
        Observation("signup", "ingest", "t", B0, B0 + 1, event_id=i) for i in (long_id, short_id)
    )
    (aggregate,) = bucketer.take(NOW)[0]
    assert aggregate.edges == (EdgeIds("ingest->crm", 2, 2, ((short_id, 1_700_000_041_000),)),)
    assert aggregate.bucket_seconds == 60.0
    assert isinstance(BatchGate(config).admit(good_batch(aggregates=(aggregate,)), NOW), Admitted)


# --- the engine's count of refusals -----------------------------------------------------------


def test_an_agent_with_an_id_the_server_refuses_does_not_start(
    config: Config, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=r"set agent\.id or --agent-id"):
        Agent(config, FakeClock(NOW), tmp_path, server_url="http://x", agent_id="h" * 64)


def test_refusals_of_unknown_agents_share_one_label(config: Config) -> None:
    engine = Engine(config)
    engine.refuse("made-up-1")
    engine.refuse(None)
    engine.absorb(good_batch(), NOW)
    engine.refuse("a1")
    assert engine.view().agent_batches == {
        ("unknown", "refused"): 2,
        ("a1", "applied"): 1,
        ("a1", "refused"): 1,
    }
    assert set(engine._agents.contacts) == {"a1"}


# --- over HTTP --------------------------------------------------------------------------------


@pytest.fixture
def runtime(config: Config) -> StaticRuntime:
    return StaticRuntime(config, clock=FakeClock(NOW))


@pytest.fixture
def post(runtime: StaticRuntime) -> Iterator[Callable[[object], httpx.Response]]:
    with serve_in_thread(create_app(runtime)) as url:

        def send(batch: object) -> httpx.Response:
            return httpx.post(
                f"{url}/v1/aggregates",
                content=msgspec.msgpack.encode(batch),
                headers={"content-type": "application/msgpack"},
            )

        send.url = url  # type: ignore[attr-defined]
        yield send


def test_the_reviewers_batch_is_refused_and_leaves_no_trace(
    runtime: StaticRuntime, post: Callable[[object], httpx.Response]
) -> None:
    engine = runtime.engine
    ledger, contacts = engine._ledgers["signup"].to_bytes(), engine._agents.to_bytes()
    body = {
        "agent_id": "fz",
        "instance": "i",
        "seq": 1,
        "low_water": 0,
        "aggregates": [
            {
                "pipeline": "signup",
                "hop": "crm",
                "bucket": BUCKET,
                "counts": [["bogus", [["email", "x@y.z"]], -5]],
            }
        ],
    }
    answer = post(body)
    assert answer.status_code == 400
    assert answer.json() == {
        "error": "batch 1 of agent 'fz': aggregates[0].counts[0].status: 'bogus' is not a hop "
        "status (ok, rejected, failed, dropped)",
        "hint": "agents send the statuses the push API accepts; " + SAME,
    }
    assert engine.view().hop_totals == {}
    assert engine.view().agents == {}
    assert engine.view().agent_batches == {("unknown", "refused"): 1}
    assert engine._ledgers["signup"].to_bytes() == ledger, "nothing applied"
    assert engine._agents.to_bytes() == contacts, "no agent registered"
    assert b"x@y.z" not in engine.checkpoint()
    later = engine.tick(NOW + 86400.0)
    assert AGENT_DOWN_CHECK not in {v.check for v in later.verdicts}, "no agent is watched"
    metrics = httpx.get(f"{post.url}/metrics").text  # type: ignore[attr-defined]
    assert 'hopwatch_agent_batches_total{agent="unknown",outcome="refused"} 1.0' in metrics
    assert "bogus" not in metrics and "hopwatch_agent_up" not in metrics


def test_a_garbage_sketch_is_a_400_naming_the_field_not_a_500(
    runtime: StaticRuntime, post: Callable[[object], httpx.Response]
) -> None:
    answer = post(good_batch(aggregates=(good_aggregate(latency=b"\x00\xff\xfe garbage"),)))
    assert answer.status_code == 400
    assert answer.json()["error"] == (
        "batch 3 of agent 'a1': aggregates[0].latency: not a latency sketch "
        "(Expected `array`, got `int`)"
    )
    assert runtime.engine._agents.contacts == {}


def test_a_disallowed_attribute_in_a_good_batch_is_dropped_and_counted(
    runtime: StaticRuntime, post: Callable[[object], httpx.Response]
) -> None:
    email = (("email", "x@y.z"), ("region", "eu"))
    batch = good_batch(aggregates=(good_aggregate(counts=(SeriesCount("ok", email, 3),)),))
    answer = post(batch)
    assert (answer.status_code, answer.json()) == (
        200,
        {"outcome": "applied", "seq": 3, "applied_through": 1},
    )
    engine = runtime.engine
    assert engine.view().ingest.dropped_attributes == {"signup": 1}
    assert b"x@y.z" not in engine.checkpoint()
    assert set(engine._agents.contacts) == {"a1"}
    assert post(batch).json()["outcome"] == "duplicate"
    assert engine.view().ingest.dropped_attributes == {"signup": 1}, "a resend is not counted twice"
    metrics = httpx.get(f"{post.url}/metrics").text  # type: ignore[attr-defined]
    assert 'hopwatch_ingest_dropped_attributes_total{pipeline="signup"} 1.0' in metrics
    assert 'hopwatch_hop_events_total{hop="ingest",pipeline="signup",status="ok"} 3.0' in metrics


def test_a_known_agents_refused_batch_is_counted_under_its_id(
    runtime: StaticRuntime, post: Callable[[object], httpx.Response]
) -> None:
    assert post(good_batch()).status_code == 200
    assert post(good_batch(seq=4, aggregates=(good_aggregate(late=-1),))).status_code == 400
    assert runtime.engine.view().agent_batches == {("a1", "applied"): 1, ("a1", "refused"): 1}
