"""One simulated day with three labelled faults, replayed through the engine (deterministic)."""

from __future__ import annotations

import dataclasses

import pytest

from monitor.replay.simreplay import replay_simulated_day


@pytest.mark.slow
def test_simulated_day_finds_every_fault_in_its_first_closed_bucket() -> None:
    report = replay_simulated_day(1)
    assert report.recall == 1.0
    assert report.precision >= 1.0  # measured: 3 onsets, all matching
    assert report.alerts == report.matched_alerts == 3
    # Measured with seed 1: the first faulted bucket is judged once the ledger closes it (the
    # minute itself plus allowed_lateness 5m), so every delay is 6 minutes.
    assert report.delays == {"replay-loss": 6.0, "replay-volume": 6.0, "replay-rejections": 6.0}
    text = report.text()
    assert "precision 1.00  recall 1.00" in text
    assert text.count("delay 6 min") == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.alerts = 0  # type: ignore[misc]
