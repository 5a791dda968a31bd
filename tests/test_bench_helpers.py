"""The soak and ingest benches' helpers compute what they say (no timing asserted here)."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import ingest
import soak

from monitor.config import load_config
from monitor.ledger.join import EdgeJoin, fitted

STATUS = """Name:\tpython
State:\tS (sleeping)
VmPeak:\t  812344 kB
VmRSS:\t  153600 kB
RssAnon:\t  140000 kB
"""


def test_rss_is_read_from_the_vmrss_line_in_bytes() -> None:
    assert ingest.rss_from_status(STATUS) == 153600 * 1024
    assert ingest.rss_from_status("Name:\tzombie\nState:\tZ\n") == 0
    with pytest.raises(ValueError):
        ingest.rss_from_status("VmRSS:\t 12 MB\n")


def test_rss_of_this_process_matches_proc() -> None:
    rss = ingest.read_rss()
    assert rss == ingest.read_rss(os.getpid()) or abs(rss - ingest.read_rss(os.getpid())) < 50e6
    assert rss > 1e6


@pytest.mark.parametrize("q", [0, 1, 50, 90, 99, 99.9, 100])
def test_percentile_matches_numpy_linear(q: float) -> None:
    values = [((i * 7919) % 1013) / 7.0 for i in range(1013)]
    assert soak.percentile(values, q) == pytest.approx(float(np.percentile(values, q)))


def test_percentile_small_and_empty() -> None:
    assert soak.percentile([3.0], 99) == 3.0
    assert soak.percentile([1.0, 2.0], 50) == 1.5
    assert soak.percentile([2.0, 1.0, 4.0, 3.0], 100) == 4.0
    assert math.isnan(soak.percentile([], 50))


EXPOSITION = """# HELP hopwatch_checkpoints_total Engine checkpoints written, by outcome (ok, failed).
# TYPE hopwatch_checkpoints_total counter
hopwatch_checkpoints_total{outcome="ok"} 12.0
hopwatch_checkpoints_total{outcome="failed"} 1.0
hopwatch_checkpoint_last_duration_seconds 0.25
hopwatch_ledger_pending_ids{pipeline="other"} 5.0
hopwatch_ledger_pending_ids{pipeline="signup"} 1e+06
"""


def test_metric_value_by_name_and_labels() -> None:
    assert soak.metric_value(EXPOSITION, "hopwatch_checkpoints_total", {"outcome": "ok"}) == 12.0
    assert soak.metric_value(EXPOSITION, "hopwatch_checkpoints_total", {"outcome": "failed"}) == 1
    assert soak.metric_value(EXPOSITION, "hopwatch_checkpoint_last_duration_seconds") == 0.25
    assert (
        soak.metric_value(EXPOSITION, "hopwatch_ledger_pending_ids", {"pipeline": "signup"})
        == 1_000_000
    )
    assert soak.metric_value(EXPOSITION, "hopwatch_checkpoint") is None
    assert soak.metric_value(EXPOSITION, "hopwatch_checkpoints_total", {"outcome": "x"}) is None


def test_summarise_throughput_and_latency_of_an_interval() -> None:
    samples = [soak.Sample(0.0, s, 1000, True) for s in (0.1, 0.2, 0.3)]
    samples.append(soak.Sample(0.0, 9.0, 0, False))  # a failed request: no latency, no items
    out = soak.summarise(3, samples, 60.0)
    assert out["obs_per_s"] == pytest.approx(3000 / 60)
    assert (out["requests"], out["errors"]) == (4, 1)
    assert out["p50"] == pytest.approx(0.2)
    assert out["worst"] == pytest.approx(0.3)


def test_soak_events_are_whole_batches_through_the_bundled_pipeline() -> None:
    import msgspec

    body = soak.Events(1).batch(1000)
    lines = [msgspec.json.decode(line) for line in body.split(b"\n")]
    assert len(lines) == 1000
    assert {o["hop"] for o in lines} >= {"sdk", "ingest", "broker", "identity", "warehouse"}
    sdk = {o["event_id"] for o in lines if o["hop"] == "sdk"}
    assert {o["event_id"] for o in lines} == sdk  # every event starts at the first hop


def test_soak_config_has_a_push_token_and_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hopwatch.yaml"
    path.write_text(soak.config_text())
    assert yaml.safe_load(path.read_text())["server"]["auth"]["tokens"][0]["scopes"] == ["push"]
    monkeypatch.setenv(ingest.TOKEN_ENV, "t" * 32)
    assert load_config(path).pipeline("signup") is not None


def test_flatness_starts_at_the_first_minute_after_the_window() -> None:
    per_minute = [100, 200, 300, 400, 400, 440]
    assert ingest.flatness(per_minute, 3.5) == (400, 440, 1.1)
    assert ingest.flatness(per_minute, 0.0) == (100, 440, 4.4)
    assert math.isnan(ingest.flatness([], 3)[2])


def test_pending_phase_one_keeps_every_id_pending_in_open_buckets() -> None:
    phases = ingest.PendingPhases(n=20_000, fill_rate=10_000)
    phases.fill()
    assert phases.ledger.pending_ids == 20_000
    assert phases.ledger.stats.pending_evicted == 0


def test_fitted_dict_keeps_items_and_order_and_gives_back_slots() -> None:
    held = {i << 40: i for i in range(100_000)}
    for _ in range(99_000):
        held.popitem()
    small = fitted(held)
    assert list(small.items()) == list(held.items())
    assert sys.getsizeof(small) < sys.getsizeof(held) / 10
    fresh = {1: 2}
    assert fitted(fresh) is fresh


def test_closed_join_keeps_pending_ids_after_refitting() -> None:
    join = EdgeJoin()
    for h in range(50_000):
        join.seen_at_from(h, f"e{h}", 1000)
    for h in range(1, 50_000):
        join.seen_at_to(h, 1500)
    join.close()
    assert join.missing == 1 and join.pending == {0: 1000}
    assert join.missing_ids() == ("e0",)
    assert sys.getsizeof(join.pending) < 1000
