"""Consumer lag as time, and what it does to a kafka hop's buckets: exact numbers, explicit clock.

The lag in seconds is how long ago the oldest unread record was appended, read off the end
offsets measured over time. Past the watermark (the allowed lateness, less one measuring interval
of growth) the source fails with ``lag``, and its hop is not observed from the instant it has read
the topic through: the buckets still missing records come out ``incomplete``, never loss.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kafka_support import START, config_text

from monitor.config import load_config
from monitor.config.model import Config
from monitor.engine import Engine
from monitor.ledger.records import Completeness
from monitor.ledger.watermark import Gap
from monitor.records import Observation
from monitor.sources.kafka import KafkaHopSource, KafkaRunner
from monitor.sources.kafka_lag import HISTORY, EndOffsets, HopLag, hop_lag


@pytest.mark.parametrize(
    ("position", "seconds", "records"),
    [(300, 0.0, 0), (150, 14.9, 150), (100, 19.9, 200), (250, 4.9, 50), (50, 20.0, 250)],
    ids=[
        "a consumer at the end is not behind",
        "the oldest unread record is interpolated between the samples around it",
        "the first record after a sample was appended just after it",
        "a record of the last interval is as old as its share of it",
        "a backlog older than every sample is at least as old as the oldest",
    ],
)
def test_lag_in_seconds_is_read_off_the_end_offsets(
    position: int, seconds: float, records: int
) -> None:
    ends = EndOffsets([(0.0, 100), (10.0, 200), (20.0, 300)])
    lag = hop_lag([(position, ends)], now=20.0)
    assert (lag.records, round(lag.seconds, 9), round(lag.read_through, 9)) == (
        records,
        seconds,
        round(20.0 - seconds, 9),
    )
    assert ends.rate() == 10.0


def test_the_hop_is_as_far_behind_as_its_worst_partition() -> None:
    fresh = EndOffsets([(0.0, 0), (60.0, 600)])
    stuck = EndOffsets([(0.0, 0), (60.0, 60)])
    assert hop_lag([(600, fresh), (10, stuck)], now=60.0) == HopLag(50, 49.0, 11.0)


def test_samples_are_spaced_and_bounded_and_the_latest_measurement_always_counts() -> None:
    ends = EndOffsets(spacing=5.0)
    for second in range(0, 1000):
        ends.add(float(second), second * 2)
    assert len(ends.samples) == HISTORY
    assert ends.samples[0] == (400.0, 800) and ends.samples[-1] == (995.0, 1990)
    assert ends.current == (999.0, 1998)
    assert hop_lag([(1996, ends)], now=999.0) == HopLag(2, 0.5, 998.5)  # end = 2 × second


def _runner(tmp_path: Path) -> tuple[Config, KafkaRunner, KafkaHopSource]:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(config_text("127.0.0.1:9"))
    config = load_config(path)
    runner = KafkaRunner(config)
    ingest = next(s for s in runner.sources if s.key.hop == "ingest")
    return config, runner, ingest


class GapSink:
    def __init__(self, engine: Engine | None = None) -> None:
        self.engine = engine
        self.gaps: list[Gap] = []

    def observe(self, observations: Any) -> None:
        if self.engine is not None:
            self.engine.observe(observations)

    def set_gap(self, pipeline: str, gap: Gap, replaces: Gap | None = None) -> None:
        self.gaps = [g for g in self.gaps if g != replaces] + [gap]
        if self.engine is not None:
            self.engine.set_gap(pipeline, gap, replaces)


def test_one_stuck_partition_makes_the_hop_stale_from_where_it_stopped(tmp_path: Path) -> None:
    """Partition 0 keeps up; partition 1 stopped at offset 10 while the topic grew by 1 record a
    second. At 307 s its oldest unread record (appended at 11 s) is 296 s old: with the next
    measurement 5 s away, past the 300 s allowed lateness, so the hop is not observed from 11 s."""
    _config, runner, ingest = _runner(tmp_path)
    sink = GapSink()
    for now in (0.0, 100.0, 200.0, 300.0):
        ingest.record([(0, int(now), int(now)), (1, 10, int(now))], now)
        assert runner.poll(ingest, [], sink, now, measure=False)
    assert ingest.lag == HopLag(290, 289.0, 11.0)
    ingest.record([(0, 307, 307), (1, 10, 307)], 307.0)
    assert ingest.lag == HopLag(297, 296.0, 11.0)
    assert not runner.poll(ingest, [], sink, 307.0, measure=False)
    assert runner.health[ingest.key].last_error == (
        "lag: 297 records behind, the oldest unread appended 296s ago: within 5s of max_lag 300s"
    )
    assert sink.gaps == [
        Gap(11.0, 317.0, "source kafka of hop ingest down (lag)", frozenset({"ingest"}))
    ]
    # Still behind five seconds later: the same outage, one gap, extended.
    ingest.record([(0, 312, 312), (1, 12, 312)], 312.0)
    assert not runner.poll(ingest, [], sink, 312.0, measure=False)
    assert [(g.start, g.end) for g in sink.gaps] == [(11.0, 322.0)]
    # Caught up: the gap ends now.
    ingest.record([(0, 317, 317), (1, 317, 317)], 317.0)
    assert runner.poll(ingest, [], sink, 317.0, measure=False)
    assert [(g.start, g.end) for g in sink.gaps] == [(11.0, 317.0)]
    assert ingest.partitions[1].lag == 0 and ingest.partitions[1].lag_seconds == 0.0


def test_a_consumer_that_never_read_anything_is_still_seen_lagging(tmp_path: Path) -> None:
    _config, runner, ingest = _runner(tmp_path)
    sink = GapSink()
    ingest.record([(0, 0, 0)], 0.0)
    ingest.record([(0, 0, 50)], 100.0)
    assert runner.poll(ingest, [], sink, 100.0, measure=False)  # 98 s behind: fine
    ingest.record([(0, 0, 51)], 298.0)
    assert ingest.lag == HopLag(51, 296.0, 2.0)
    assert not runner.poll(ingest, [], sink, 298.0, measure=False)
    assert [g.start for g in sink.gaps] == [2.0]


def _seen(hop: str, i: int, at: float) -> Observation:
    return Observation(
        "signup", hop, "signup", at, at + 1, event_id=f"e{i}", attributes=(("region", "eu"),)
    )


def test_a_lagging_hop_s_bucket_is_incomplete_not_loss(tmp_path: Path) -> None:
    """sdk saw 10 events in the minute at START; ingest's consumer read 6 of them and then stuck
    (its other partition kept up). At the bucket's watermark the edge is incomplete with the 4
    unread events not counted as missing; without the lag the same bucket is 4 events of loss."""
    config, runner, ingest = _runner(tmp_path)
    results = {}
    for lagging in (True, False):
        engine = Engine(config)
        sink = GapSink(engine)
        engine.observe([_seen("sdk", i, START + 5 * i) for i in range(10)])
        engine.observe([_seen("ingest", i, START + 5 * i) for i in range(6)])
        runner = KafkaRunner(config)
        ingest = next(s for s in runner.sources if s.key.hop == "ingest")
        if lagging:  # partition 1 stopped at offset 6; its end reached 10 at START + 45 s
            for at, end in ((START, 0), (START + 45, 10), (START + 355, 10)):
                ingest.record([(0, 500, 500), (1, 6, end)], at)
                runner.poll(ingest, [], sink, at, measure=False)
        closed = engine.tick(START + 60 + 300 + 1).closed["signup"]
        (edge,) = [e for e in closed.edge_results if e.edge == "sdk->ingest"]
        results[lagging] = (edge.completeness, edge.expected, edge.arrived, edge.missing)
    assert results == {
        True: (Completeness.INCOMPLETE, 10, 6, 4),
        False: (Completeness.COMPLETE, 10, 6, 4),
    }
    totals = engine.view().edge_totals[("signup", "sdk->ingest")]
    assert totals.missing == 4
