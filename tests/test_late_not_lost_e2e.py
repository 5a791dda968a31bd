"""Late, not lost, end to end: the bundled pipeline (hopwatch.yaml, its checks) on the simulator.

A late tail on the warehouse (3% of its events observed 10 minutes after they would have been, for
half an hour) makes broker->warehouse look short when its buckets close; the loss alert fires, and
when the late events amend the buckets it already judged, it resolves saying "late, not lost"."""

from __future__ import annotations

import pytest

from monitor.replay.longrun import long_run
from monitor.sim import LateTail

EDGE_CHECK = "divergence:broker->warehouse"


@pytest.mark.slow
def test_a_loss_alert_whose_events_arrive_late_resolves_as_late_not_lost():
    tail = LateTail(start=3600.0, duration=1800.0, hop="warehouse", share=0.03, seconds=600.0)
    report = long_run(100.0, 1.6 / 24, seed=1, faults=(tail,), with_slos=False)
    assert report.loss_onsets() == {EDGE_CHECK: 1}
    assert report.late_resolved == {EDGE_CHECK: 1}
    assert report.late_summaries == (
        "loss on broker->warehouse: late, not lost: 5 of the missing events arrived after the "
        "allowed lateness",
    )
    assert report.firing_minutes[EDGE_CHECK] == 4
