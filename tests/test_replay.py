"""Replaying a detector over a NAB-format CSV: one output row per input row, scores in [0, 1],
alerts from the detector's own threshold, and window metrics against labels."""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import UTC, datetime, timedelta

import pytest

from monitor.anomaly.model import CheckState, Score
from monitor.replay.series import (
    parse_time,
    replay_command,
    replay_nab_csv,
    replay_series,
    window_metrics,
)

START = datetime(2014, 4, 1, tzinfo=UTC)


def stamp(i: int) -> str:
    return (START + timedelta(minutes=5 * i)).strftime("%Y-%m-%d %H:%M:%S")


class Threshold:
    """A fake detector: alerts when the value exceeds 10."""

    def update(self, at: float, point: float) -> Score:
        return Score(at, min(1.0, point / 20), CheckState.OK, point > 10)


def test_replay_series_keeps_every_row_and_the_detectors_own_alerts():
    rows = [(stamp(i), v) for i, v in enumerate([1.0, 12.0, 30.0])]
    assert replay_series(rows, Threshold()) == [
        (stamp(0), 1.0, 0.05, 0),
        (stamp(1), 12.0, 0.6, 1),
        (stamp(2), 30.0, 1.0, 1),
    ]


def test_window_metrics_count_hits_false_alarms_and_delays():
    alerts = {3, 12, 40}
    rows = [(stamp(i), 0.0, float(i in alerts), int(i in alerts)) for i in range(8640)]
    windows = [[stamp(10) + ".000000", stamp(20) + ".000000"], [stamp(100), stamp(110)]]
    m = window_metrics(rows, windows)
    assert (m.windows, m.detected, m.alerts, m.false_alarms) == (2, 1, 3, 2)
    assert m.delays_rows == (2,) and m.delays_seconds == (600.0,)
    assert m.precision == pytest.approx(1 / 3)
    assert m.recall == pytest.approx(0.5)
    assert m.false_alarms_per_30d == pytest.approx(2 * 30 * 86400 / (8639 * 300))


def test_replay_nab_csv_writes_one_row_per_input_row(tmp_path):
    src = tmp_path / "art_daily_drop.csv"
    n = 288 * 6
    drop = 288 * 5 + 100
    lines = ["timestamp,value"]
    for i in range(n):
        v = 100.0 + 50.0 * math.sin(2 * math.pi * i / 288)
        lines.append(f"{stamp(i)},{v * (0.3 if i >= drop else 1.0):.3f}")
    src.write_text("\n".join(lines) + "\n")
    labels = tmp_path / "windows.json"
    labels.write_text(
        json.dumps({"artificial/art_daily_drop.csv": [[stamp(drop), stamp(drop + 50)]]})
    )
    out = tmp_path / "out.csv"
    m = replay_nab_csv(src, out, labels=labels)
    with out.open() as f:
        got = list(csv.reader(f))
    assert got[0] == ["timestamp", "value", "score", "alert"]
    assert len(got) == n + 1
    assert [r[0] for r in got[1:]] == [stamp(i) for i in range(n)]
    assert all(0.0 <= float(r[2]) <= 1.0 and r[3] in ("0", "1") for r in got[1:])
    assert m is not None and m.detected == 1 and m.delays_rows[0] <= 1


def test_replay_command_reports_a_bad_header_and_returns_2(tmp_path):
    src = tmp_path / "bad.csv"
    src.write_text("time,v\n2014-04-01 00:00:00,1\n")
    buf = io.StringIO()
    assert replay_command(src, tmp_path / "o.csv", None, buf) == 2
    assert "bad.csv:1: header is ['time', 'v']; expected 'timestamp,value'" in buf.getvalue()


def test_parse_time_ignores_fractional_labels():
    assert parse_time("2014-04-01 00:05:00.000000") == parse_time("2014-04-01 00:05:00")
