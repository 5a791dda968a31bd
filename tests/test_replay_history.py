"""Replaying the configured checks over history: from the store and from CSVs of counts, with
labelled incidents. A shop pipeline (web -> api, 1-minute buckets, 2 minutes of lateness) loses
half its events for ten minutes at 03:00; the divergence check must alert at that bucket."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.anomaly.load import load_checks
from monitor.config import load_config
from monitor.ledger.records import Completeness, EdgeResult, HopBucket, JoinMode, SeriesKey
from monitor.records import Status
from monitor.replay.history import (
    HistoryReplay,
    ReplayedAlert,
    incident_metrics,
    replay_buckets,
    select,
)
from monitor.replay.history_cli import HistoryRequest, history_command
from monitor.replay.history_inputs import parse_counts, parse_incidents, parse_instant
from monitor.slo.load import load_slos
from monitor.store import StoreError, open_store

ROOT = Path(__file__).resolve().parents[1]
T0 = 1714521600.0  # 2024-05-01 00:00:00 UTC
MIN = 60.0
LOSS = range(180, 190)  # 03:00 to 03:10: half the events lost

CONFIG = """\
apiVersion: hopwatch/v1
storage: {data_dir: ./data, retention: 35d}
include: [checks.yaml, slos.yaml]
pipelines:
  - name: shop
    bucket: 60s
    allowed_lateness: 2m
    attributes: [region]
    hops: [{name: web}, {name: api}]
    edges: [{from: web, to: api}]
"""
CHECKS = """\
apiVersion: hopwatch/v1
kind: Checks
metadata: {owner: shop-team}
checks:
  - name: api-delivery
    kind: divergence
    target: {pipeline: shop, edge: web->api}
    warmup: 10m
  - name: api-rejections
    kind: rejections
    target: {pipeline: shop, hop: api}
    warmup: 1h
"""
SLOS = """\
apiVersion: hopwatch/v1
kind: SLOGroup
metadata: {service: shop, owner: shop-team}
slos:
  - name: api-completeness
    objective: 99
    indicator:
      completeness: {pipeline: shop, edge: web->api}
  - name: api-success
    objective: 99
    indicator:
      ratio: {pipeline: shop, hop: api, good: status == "ok"}
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    (tmp_path / "checks.yaml").write_text(CHECKS)
    (tmp_path / "slos.yaml").write_text(SLOS)
    path = tmp_path / "hopwatch.yaml"
    path.write_text(CONFIG)
    return path


def edge(minute: int, arrived: int = 100, **kw) -> EdgeResult:
    return EdgeResult(
        "shop", "web->api", "web", "api", T0 + minute * MIN, MIN, 100, arrived, 100 - arrived, **kw
    )


def history(minutes: int = 240, incomplete: tuple[int, ...] = ()) -> list[EdgeResult]:
    return [
        edge(
            m,
            50 if m in LOSS else 100,
            completeness=Completeness.INCOMPLETE if m in incomplete else Completeness.COMPLETE,
        )
        for m in range(minutes)
    ]


def fill_store(data_dir: Path, results: list[EdgeResult]) -> None:
    store = open_store(data_dir)
    store.save_edge_results(results)
    store.close()


def run(request: HistoryRequest, now: float = T0 + 86400) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = history_command(request, open_store, now, out, err, store_errors=(StoreError,))
    return code, out.getvalue(), err.getvalue()


DELIVERY_ALERT = (
    "  api-delivery  2024-05-01 03:00:00 → 2024-05-01 03:10:00  api-delivery: loss "
    "on web->api: 50 of 100 expected events missing (50.0%)"
)


# --- the pure replay --------------------------------------------------------------------------


def test_the_divergence_check_alerts_at_the_bucket_where_the_loss_starts(config_path):
    config = load_config(config_path)
    selection = select(config, load_checks(config), (), ["api-delivery"])
    replay = replay_buckets(config, selection, (), history(incomplete=(100,)))
    assert (replay.judged, replay.incomplete, replay.series) == (239, 1, 1)
    assert (replay.first, replay.last) == (T0, T0 + 239 * MIN)
    [alert] = replay.alerts
    assert (alert.check, alert.series, alert.buckets, alert.slo) == ("api-delivery", "", 10, False)
    assert (alert.start, alert.end) == (T0 + 180 * MIN, T0 + 190 * MIN)
    assert alert.fired_at == T0 + 183 * MIN  # bucket end + 2 minutes of allowed lateness
    assert not alert.open_at_end
    firing = [r for r in replay.rows if r.alert]
    assert [r.at for r in firing] == [T0 + m * MIN for m in LOSS]
    assert all(r.value == 50 and r.score == 1.0 for r in firing)
    assert len(replay.rows) == 239 and all(r.value == 0 for r in replay.rows if not r.alert)


def test_buckets_are_fed_in_close_order_whatever_order_they_come_in(config_path):
    config = load_config(config_path)
    selection = select(config, load_checks(config), (), ["api-delivery"])
    forward = replay_buckets(config, selection, (), history())
    backward = replay_buckets(config, selection, (), list(reversed(history())))
    assert forward == backward


def test_select_adds_default_divergence_checks_and_skips_slos_needing_observations(
    config_path,
):
    config = load_config(config_path)
    checks = load_checks(config)
    slos = [s for g in load_slos(config) for s in g.slos]
    assert [c.name for c in select(config, checks, slos).checks] == [
        "api-delivery",
        "api-rejections",
    ]
    # An edge without a configured divergence check gets the built-in one.
    selection = select(config, checks[1:], slos)
    assert [c.name for c in selection.checks] == ["api-rejections", "divergence:web->api"]
    assert [s.name for s in selection.slos] == ["api-completeness"]
    assert selection.skipped_slos == (
        ("api-success", "a ratio SLO needs raw observations, which the store does not keep"),
    )
    narrowed = select(config, checks, slos, ["nope", "api-completeness"])
    assert (narrowed.checks, narrowed.unknown) == ((), ("nope",))


def test_a_completeness_slo_pages_when_an_hour_burns_fast(config_path):
    config = load_config(config_path)
    slos = [s for g in load_slos(config) for s in g.slos]
    selection = select(config, (), slos, ["api-completeness"])
    results = [edge(m, 0 if m in LOSS else 100) for m in range(240)]
    replay = replay_buckets(config, selection, (), results)
    assert replay.rows == ()
    fired = {(a.series, a.start) for a in replay.alerts}
    # 100% loss from 03:00: the 5m and 1h windows pass 14.4× burn once 9 of the hour's 60
    # buckets are lost (864 of 6000 events), the close of bucket 03:08 at 03:11.
    assert ("page-1h", T0 + 191 * MIN) in fired
    assert all(a.slo for a in replay.alerts)


# --- from the store, through the command ------------------------------------------------------


def test_store_replay_prints_the_alert_and_writes_a_row_per_check_series_bucket(
    config_path, tmp_path
):
    fill_store(tmp_path / "data", history(incomplete=(100,)))
    out_csv = tmp_path / "out.csv"
    code, out, err = run(
        HistoryRequest(config_path, checks=("api-delivery",), out=out_csv), now=T0 + 86400
    )
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == (
        "replayed 239 buckets (1 check, 1 series) from 2024-05-01 00:00:00 to "
        "2024-05-01 03:59:00 UTC; 1 incomplete bucket not judged (hopwatch was not observing)"
    )
    assert lines[1] == "1 alert would have fired:"
    assert lines[2].startswith(DELIVERY_ALERT)
    assert lines[3] == f"wrote 239 rows to {out_csv}"
    with out_csv.open() as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["timestamp", "check", "series", "value", "score", "alert"]
    assert rows[1] == ["2024-05-01 00:00:00", "api-delivery", "", "0", "0.000000", "0"]
    assert rows[180] == ["2024-05-01 03:00:00", "api-delivery", "", "50", "1.000000", "1"]
    assert sum(r[5] == "1" for r in rows[1:]) == 10


def test_store_replay_honours_since_and_until(config_path, tmp_path):
    fill_store(tmp_path / "data", history())
    code, out, _ = run(
        HistoryRequest(
            config_path,
            checks=("api-delivery",),
            since="2024-05-01T01:00:00Z",
            until="2024-05-01 02:00",
        )
    )
    assert code == 0
    assert out.splitlines() == [
        "replayed 60 buckets (1 check, 1 series) from 2024-05-01 01:00:00 to "
        "2024-05-01 01:59:00 UTC",
        "no alerts would have fired",
    ]
    # A duration is "that long before now".
    code, out, _ = run(
        HistoryRequest(config_path, checks=("api-delivery",), since="1h"), now=T0 + 240 * MIN
    )
    assert out.splitlines()[0].startswith("replayed 60 buckets")


def test_store_replay_with_labelled_incidents_prints_precision_recall_delay(config_path, tmp_path):
    fill_store(tmp_path / "data", history())
    labels = tmp_path / "incidents.yaml"
    labels.write_text(
        "incidents:\n"
        "  - {start: 2024-05-01 02:58:00, end: 2024-05-01 03:15:00}\n"
        "  - {start: '2024-05-01T01:00:00Z', end: '2024-05-01T01:10:00Z'}\n"
    )
    code, out, _ = run(HistoryRequest(config_path, checks=("api-delivery",), labels=labels))
    assert code == 0
    assert out.splitlines()[-1] == (
        "incidents 2  detected 1  alerts 1  precision 1.00  recall 0.50  mean delay 5.0 min  "
        "false alarms/30d 0.0"
    )


def test_replay_exit_codes_and_messages(config_path, tmp_path):
    # No database in the data dir: say where it looked and what to do.
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", "--config", str(config_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    db = tmp_path / "data" / "hopwatch.db"
    assert proc.stderr == (
        f"replay: {db}: no hopwatch database; point --data-dir at the directory the daemon "
        "writes (storage.data_dir of its config)\n"
    )
    fill_store(tmp_path / "data", history())
    code, _, err = run(HistoryRequest(config_path, checks=("api-delivry",)))
    assert code == 2
    assert err == (
        "replay: no check or SLO named 'api-delivry'; known: api-completeness, api-delivery, "
        "api-rejections, api-success\n"
    )
    code, _, err = run(HistoryRequest(config_path, since="yesterday"))
    assert code == 2 and err.startswith("replay: --since/--until: 'yesterday' is not a time;")
    code, _, err = run(HistoryRequest(config_path, checks=("api-delivery",), since="2030-01-01"))
    assert (code, err) == (
        2,
        f"replay: no closed buckets in the store in {tmp_path / 'data'} for the selected checks "
        "in the --since/--until range; point --data-dir at the directory the daemon writes "
        "(storage.data_dir)\n",
    )
    (tmp_path / "checks.yaml").write_text(CHECKS.replace("kind: rejections", "kind: rejection"))
    code, _, err = run(HistoryRequest(config_path))
    assert code == 1 and "checks.yaml" in err and "rejection" in err


def test_cli_replays_the_store_end_to_end(config_path, tmp_path):
    fill_store(tmp_path / "data", history())
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "monitor",
            "replay",
            "--config",
            str(config_path),
            "--data-dir",
            str(tmp_path / "data"),
            "--check",
            "api-delivery",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.splitlines()[2].startswith(DELIVERY_ALERT)


def test_series_replay_refuses_store_options(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "replay", "--series", "x.csv", "--check", "a"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr == "hopwatch replay: --check does not apply with --series\n"


# --- from CSVs of counts ----------------------------------------------------------------------


def stamp(minute: int) -> str:
    return f"2024-05-01T{minute // 60:02d}:{minute % 60:02d}:00Z"


def test_counts_replay_keeps_good_rows_and_names_every_bad_one(config_path, tmp_path):
    lines = ["timestamp,pipeline,edge,expected,arrived"]
    lines += [f"{stamp(m)},shop,web->api,100,{50 if m in LOSS else 100}" for m in range(240)]
    lines[11] = f"{stamp(10)},shop,web-api,100,100"  # line 12
    lines[21] = f"{stamp(20)},shop,web->api,100"  # line 22
    lines[31] = "yesterday,shop,web->api,100,100"  # line 32
    lines[41] = f"{stamp(40)},shop,web->api,-3,100"  # line 42
    counts = tmp_path / "edges.csv"
    counts.write_text("\n".join(lines) + "\n")
    code, out, err = run(HistoryRequest(config_path, counts=(counts,), checks=("api-delivery",)))
    assert code == 0
    assert err.splitlines() == [
        f"{counts}:12: unknown edge 'web-api' in pipeline 'shop'; did you mean 'web->api'? "
        "known edges: web->api",
        f"{counts}:22: 4 cells for 5 columns (timestamp,pipeline,edge,expected,arrived); add or "
        "remove commas, quote a value that has one",
        f"{counts}:32: 'yesterday' is not a time; write an ISO 8601 time such as "
        "2024-05-01T12:00:00Z (no zone = UTC) or epoch seconds",
        f"{counts}:42: expected '-3' is not a whole number ≥ 0; write e.g. 100 (events that left "
        "the from hop)",
        "replay: skipped 4 of 240 rows (fix the lines above and run again); replaying the rest",
    ]
    assert out.splitlines()[0] == (
        "replayed 236 buckets (1 check, 1 series) from 2024-05-01 00:00:00 to "
        "2024-05-01 03:59:00 UTC"
    )
    assert out.splitlines()[2].startswith(DELIVERY_ALERT)


def test_hop_counts_rows_add_up_per_bucket_and_series(config_path):
    config = load_config(config_path)
    text = [
        "timestamp,pipeline,hop,count,status,region",
        "2024-05-01 00:00:00,shop,api,90,,eu",
        "2024-05-01 00:00:30,shop,api,5,ok,eu",  # same bucket, same series: adds up
        "1714521600,shop,api,7,rejected,",
        "2024-05-01 00:01:00,shop,api,0,ok,eu",
        "2024-05-01 00:02:00,shop,api,3,lost,eu",
        "2024-05-01 00:02:00,shop,apii,3,ok,eu",
        "2024-05-01 00:02:00,shup,api,3,ok,eu",
    ]
    parsed = parse_counts([("api.csv", text)], config)
    assert parsed.rows == 7 and parsed.skipped == 3
    assert parsed.problems == (
        "api.csv:6: status 'lost' is not one of ok, rejected, failed, dropped",
        "api.csv:7: unknown hop 'apii' in pipeline 'shop'; did you mean 'api'? known hops: web, "
        "api",
        "api.csv:8: unknown pipeline 'shup'; did you mean 'shop'? known pipelines: shop",
    )
    eu = SeriesKey(Status.OK, (("region", "eu"),))
    assert parsed.hop_buckets == (
        HopBucket("shop", "api", T0, MIN, ((eu, 95), (SeriesKey(Status.REJECTED), 7))),
        HopBucket("shop", "api", T0 + MIN, MIN, ((eu, 0),)),
    )
    assert parsed.edge_results == ()


def test_edge_counts_become_count_mode_edge_results(config_path):
    config = load_config(config_path)
    text = [
        "timestamp,pipeline,edge,expected,arrived,duplicates",
        "2024-05-01 00:00:10,shop,web->api,60,58,1",
        "2024-05-01 00:00:50,shop,web->api,40,40,",
    ]
    [result] = parse_counts([("e.csv", text)], config).edge_results
    assert result == EdgeResult(
        "shop",
        "web->api",
        "web",
        "api",
        T0,
        MIN,
        100,
        98,
        2,
        duplicates=1,
        mode=JoinMode.COUNTS,
        closed_at=T0 + 3 * MIN,
    )


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (
            "time,pipeline,hop,count",
            "c.csv:1: the header time,pipeline,hop,count lacks timestamp; write "
            "timestamp,pipeline,hop,count[,status][,<attribute>...] for hop counts or "
            "timestamp,pipeline,edge,expected,arrived[,duplicates,late] for edge counts",
        ),
        (
            "timestamp,pipeline,hop,count,regoin",
            "c.csv:1: column 'regoin' is neither a counts column nor an allow-listed attribute "
            "of any pipeline; did you mean 'region'? known attributes: region",
        ),
        (
            "timestamp,pipeline,edge,expected,arrived,lost",
            "c.csv:1: the edge counts header has unknown lost; an edge counts file has the "
            "columns timestamp,pipeline,edge,expected,arrived[,duplicates,late]",
        ),
        (
            "timestamp,pipeline,,count",
            "c.csv:1: the header has an empty column name; name every column once",
        ),
    ],
)
def test_a_bad_counts_header_stops_the_replay_with_the_fix(config_path, header, message):
    config = load_config(config_path)
    with pytest.raises(ValueError) as info:
        parse_counts([("c.csv", [header, "2024-05-01,shop,api,1"])], config)
    assert str(info.value) == message


def test_counts_replay_of_a_bad_header_exits_2(config_path, tmp_path):
    counts = tmp_path / "c.csv"
    counts.write_text("")
    code, out, err = run(HistoryRequest(config_path, counts=(counts,)))
    assert (code, out) == (2, "")
    assert err == (
        f"replay: {counts}:1: the file is empty; the first line is a header, "
        "timestamp,pipeline,hop,count or timestamp,pipeline,edge,expected,arrived\n"
    )


# --- incidents --------------------------------------------------------------------------------


def test_incidents_from_csv_and_yaml():
    csv_text = "name,start,end\nloss,2024-05-01 03:00,2024-05-01T03:15:00+00:00\n"
    assert parse_incidents("i.csv", csv_text) == [(T0 + 180 * MIN, T0 + 195 * MIN)]
    yaml_text = (
        "- [2024-05-01 03:00:00, 2024-05-01 03:15:00]\n- {start: 1714532400, end: 1714533300}\n"
    )
    assert parse_incidents("i.yml", yaml_text) == [
        (T0 + 180 * MIN, T0 + 195 * MIN),
        (T0 + 180 * MIN, T0 + 195 * MIN),
    ]


def test_bad_incidents_are_all_reported():
    with pytest.raises(ValueError) as info:
        parse_incidents("i.csv", "start,end\n2024-05-01 03:00,2024-05-01 02:00\nsoon,later\n")
    assert str(info.value).splitlines() == [
        "i.csv:2: the end is before the start; swap them",
        "i.csv:3: 'soon' is not a time; write an ISO 8601 time such as 2024-05-01T12:00:00Z "
        "(no zone = UTC) or epoch seconds",
    ]
    with pytest.raises(ValueError, match=r"i.yaml: incidents\[0\]: an incident needs a start"):
        parse_incidents("i.yaml", "- {start: 2024-05-01}\n")
    with pytest.raises(ValueError, match="a NAB windows JSON goes with --series"):
        parse_incidents("i.json", "{}")


def test_incident_metrics_count_alerts_where_they_start_and_delay_to_when_they_fire():
    def alert(start_min: int, fired_min: int) -> ReplayedAlert:
        return ReplayedAlert(
            "c", "", T0 + start_min * MIN, T0 + (start_min + 1) * MIN, "", 1, T0 + fired_min * MIN
        )

    replay = HistoryReplay(
        (), (alert(10, 13), alert(12, 15), alert(500, 503)), 1000, 0, T0, T0 + 999 * MIN
    )
    m = incident_metrics(replay, [(T0 + 5 * MIN, T0 + 20 * MIN), (T0 + 800 * MIN, T0 + 900 * MIN)])
    assert (m.windows, m.detected, m.alerts, m.false_alarms) == (2, 1, 3, 1)
    assert m.delays_seconds == (8 * MIN,)
    assert m.precision == pytest.approx(2 / 3)
    assert m.recall == pytest.approx(0.5)
    assert m.false_alarms_per_30d == pytest.approx(30 * 86400 / (999 * MIN))


def test_parse_instant_accepts_iso_zones_dates_and_epoch_seconds():
    assert parse_instant("2024-05-01T02:00:00+02:00") == T0
    assert parse_instant("2024-05-01") == T0
    assert parse_instant(" 1714521600 ") == T0
    with pytest.raises(ValueError, match="'nan' is not a time"):
        parse_instant("nan")


def test_hop_counts_replay_through_a_rejections_check(config_path, tmp_path):
    lines = ["timestamp,pipeline,hop,count,status"]
    for m in range(240):
        lines.append(f"{stamp(m)},shop,api,1000,ok")
        lines.append(f"{stamp(m)},shop,api,{200 if 150 <= m < 155 else 10},rejected")
    counts = tmp_path / "api.csv"
    counts.write_text("\n".join(lines) + "\n")
    out_csv = tmp_path / "rows.csv"
    code, out, err = run(
        HistoryRequest(config_path, counts=(counts,), checks=("api-rejections",), out=out_csv)
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[1] == "1 alert would have fired:"
    assert out.splitlines()[2].startswith(
        "  api-rejections  2024-05-01 02:30:00 → 2024-05-01 02:35:00  api-rejections: "
        "rejections anomaly on api: observed 200 vs expected 11.885"
    )
    rows = out_csv.read_text().splitlines()
    assert rows[150:152] == [
        "2024-05-01 02:29:00,api-rejections,,0.00990099,0.028596,0",
        "2024-05-01 02:30:00,api-rejections,,0.166667,1.000000,1",
    ]


def test_counts_and_data_dir_do_not_mix(config_path, tmp_path):
    code, _, err = run(
        HistoryRequest(config_path, counts=(tmp_path / "c.csv",), data_dir=tmp_path / "data")
    )
    assert (code, err) == (
        2,
        "replay: --data-dir does not apply with --counts (nothing is read from the store)\n",
    )


# --- --plot ------------------------------------------------------------------------------------


def test_plot_draws_the_series_its_threshold_and_one_marker_per_alerting_bucket(
    config_path, tmp_path
):
    """The SVG holds the alert markers' group with exactly the 10 alerting buckets, the value
    line over all 239 judged buckets, and the threshold; a PNG is a PNG."""
    import xml.etree.ElementTree as ET

    fill_store(tmp_path / "data", history(incomplete=(100,)))
    svg = tmp_path / "why.svg"
    code, out, err = run(HistoryRequest(config_path, checks=("api-delivery",), plot=svg))
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == f"drew 1 series to {svg}"
    ns = {"svg": "http://www.w3.org/2000/svg", "xlink": "http://www.w3.org/1999/xlink"}
    root = ET.parse(svg).getroot()
    [markers] = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("id") == "alerts-0"]
    assert len(markers.findall(".//svg:use", ns)) == 10
    text = svg.read_text()
    for label in ("api-delivery", "value", "baseline", "alerting bucket (10)", "threshold"):
        assert f"<!-- {label} -->" in text  # matplotlib names each text it draws

    png = tmp_path / "why.png"
    code, _, err = run(HistoryRequest(config_path, checks=("api-delivery",), plot=png))
    assert (code, err) == (0, "")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_refuses_other_formats_before_replaying(config_path, tmp_path):
    code, out, err = run(HistoryRequest(config_path, plot=tmp_path / "why.pdf"))
    assert (code, out) == (2, "")
    assert err == f"replay: --plot {tmp_path / 'why.pdf'}: use a .svg or .png file name\n"


def test_plot_baseline_and_statistic_read_the_kinds_evidence():
    from monitor.replay.history import HistoryRow
    from monitor.replay.plot import Baseline, baseline, statistic

    div = HistoryRow(
        0,
        "c",
        "",
        50,
        1.0,
        True,
        {"expected": 100, "baseline_ratio": 0.98, "statistic": 12.0, "threshold": 7.5},
    )
    assert baseline(div) == Baseline(pytest.approx(2.0))
    assert statistic(div) == ("statistic", 12.0, 7.5)
    vol = HistoryRow(
        0, "v", "", 80, 0.2, False, {"expected": 100, "sd": 5, "cusum": 1.0, "cusum_h": 4.0}
    )
    assert baseline(vol) == Baseline(100.0, 85.0, 115.0)
    assert statistic(vol) == ("cusum", 1.0, 4.0)
    assert baseline(HistoryRow(0, "x", "", None, 0.0, False)) is None
