"""The *hopwatch itself* dashboard: is the monitor healthy enough to trust its silence?

Ingest (accepted items, rejections by reason, response codes), the evaluation loop, pulled
sources and agents, notifications that did not go out, the write-ahead log and checkpoints, and
the process's memory. Families that exist only once a feature is used (pulled sources, agents)
are summarised as counts with an explicit 0 (``or vector(0)``): "0 sources down" is a reading,
an empty panel is a question.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash_b

from monitor import names
from monitor.export.grafana import panels as p

R = p.RATE_INTERVAL


def itself_dashboard() -> dash_b.Dashboard:
    d = p.dashboard(
        "hopwatch / itself",
        "hopwatch-itself",
        "The monitor's own health: ingest, evaluation, sources, agents, "
        "notifications, durability and memory.",
        ["hopwatch", "meta"],
        "now-6h",
        "30s",
    )
    d = d.with_row(dash_b.Row("Ingest"))
    d = d.with_panel(
        p.timeseries(
            "Items per second by endpoint and outcome",
            f"Items received on the push API ({names.INGEST_ITEMS.name}).",
            [
                p.query(
                    f"sum by ({names.KIND}, {names.OUTCOME}) (rate({names.INGEST_ITEMS.name}[{R}]))",
                    "{{kind}} {{outcome}}",
                )
            ],
            "ops",
            min_value=0,
            width=8,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Rejected items per second by reason",
            f"Items the push API refused, by endpoint and reason ({names.INGEST_REJECTED.name}); "
            "each 4xx names the field.",
            [
                p.query(
                    f"sum by ({names.KIND}, {names.REASON}) "
                    f"(rate({names.INGEST_REJECTED.name}[{R}]))",
                    "{{kind}} {{reason}}",
                )
            ],
            "ops",
            steps=((None, "green"), (0.001, "red")),
            min_value=0,
            width=8,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Requests per second by status code",
            f"Push API requests by endpoint and HTTP code ({names.INGEST_REQUESTS.name}).",
            [
                p.query(
                    f"sum by ({names.KIND}, {names.CODE}) (rate({names.INGEST_REQUESTS.name}[{R}]))",
                    "{{kind}} {{code}}",
                )
            ],
            "reqps",
            min_value=0,
            width=8,
        )
    )
    d = d.with_row(dash_b.Row("Evaluation"))
    d = d.with_panel(
        p.timeseries(
            "Tick duration",
            f"Wall time of the last evaluation tick ({names.DAEMON_TICK_DURATION.name}).",
            [p.query(names.DAEMON_TICK_DURATION.name, "tick")],
            "s",
            min_value=0,
            width=8,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Tick errors and check errors per second",
            "Ticks that failed and points checks could not judge "
            f"({names.DAEMON_TICK_ERRORS.name}, {names.CHECK_ERRORS.name}).",
            [
                p.query(f"sum(rate({names.DAEMON_TICK_ERRORS.name}[{R}]))", "tick errors"),
                p.query(
                    f"sum(rate({names.CHECK_ERRORS.name}[{R}])) or vector(0)", "check errors", "B"
                ),
            ],
            "ops",
            steps=((None, "green"), (0.001, "red")),
            min_value=0,
            width=8,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Pending ids and open buckets",
            f"Ids waiting for their edge's to hop and buckets not yet closed "
            f"({names.LEDGER_PENDING_IDS.name}, {names.LEDGER_OPEN_BUCKETS.name}).",
            [
                p.query(
                    f"sum by ({names.PIPELINE}) ({names.LEDGER_PENDING_IDS.name})",
                    "{{pipeline}} pending ids",
                ),
                p.query(
                    f"sum by ({names.PIPELINE}) ({names.LEDGER_OPEN_BUCKETS.name})",
                    "{{pipeline}} open buckets",
                    "B",
                ),
            ],
            "short",
            min_value=0,
            width=8,
        )
    )
    d = d.with_row(dash_b.Row("Sources and agents"))
    for title, expr, bad, desc in (
        (
            "Pulled sources up",
            f"count({names.SOURCE_UP.name} == 1) or vector(0)",
            False,
            f"Pulled sources whose last pull succeeded ({names.SOURCE_UP.name}).",
        ),
        (
            "Pulled sources down",
            f"count({names.SOURCE_UP.name} == 0) or vector(0)",
            True,
            f"Pulled sources whose last pull failed; their buckets are marked incomplete "
            f"({names.SOURCE_UP.name}, per source: {names.SOURCE_CONSECUTIVE_FAILURES.name}).",
        ),
        (
            "Agents up",
            f"count({names.AGENT_UP.name} == 1) or vector(0)",
            False,
            f"Agents heard from within 3 flush intervals ({names.AGENT_UP.name}).",
        ),
        (
            "Agents down",
            f"count({names.AGENT_UP.name} == 0) or vector(0)",
            True,
            f"Agents silent for 3 flush intervals; their hops' buckets are incomplete, not lost "
            f"({names.AGENT_UP.name}).",
        ),
    ):
        d = d.with_panel(
            p.stat(
                title,
                desc,
                [p.query(expr, title)],
                "short",
                steps=((None, "green"), (1, "red")) if bad else ((None, "blue"),),
                decimals=0,
            )
        )
    d = d.with_panel(
        p.timeseries(
            "Source pull failures per second",
            f"Failed pulls of pulled sources ({names.SOURCE_ERRORS.name}).",
            [p.query(f"sum(rate({names.SOURCE_ERRORS.name}[{R}])) or vector(0)", "failures")],
            "ops",
            steps=((None, "green"), (0.001, "red")),
            min_value=0,
            width=24,
            height=6,
        )
    )
    d = d.with_row(dash_b.Row("Notifications"))
    d = d.with_panel(
        p.timeseries(
            "Notifications by integration and outcome",
            f"Deliveries to Slack, PagerDuty, webhooks, Alertmanager and the log "
            f"({names.NOTIFICATIONS.name}).",
            [
                p.query(
                    f"sum by (integration, {names.OUTCOME}) "
                    f"(increase({names.NOTIFICATIONS.name}[{R}])) or vector(0)",
                    "{{integration}} {{outcome}}",
                )
            ],
            "short",
            min_value=0,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Notification failures",
            f"Deliveries that did not go out ({names.NOTIFICATION_FAILURES.name}: by reason, "
            f"e.g. http_429, timeout, secret) and failed notification rounds "
            f"({names.NOTIFY_ERRORS.name}).",
            [
                p.query(
                    f"sum(increase({names.NOTIFICATION_FAILURES.name}[{R}])) or vector(0)",
                    "failed deliveries",
                ),
                p.query(f"sum(increase({names.NOTIFY_ERRORS.name}[{R}]))", "failed rounds", "B"),
            ],
            "short",
            steps=((None, "green"), (1, "red")),
            min_value=0,
        )
    )
    d = d.with_row(dash_b.Row("Durability"))
    d = d.with_panel(
        p.timeseries(
            "Write-ahead log",
            f"Bytes appended per second and on disk ({names.WAL_APPENDED_BYTES.name}, "
            f"{names.WAL_SIZE_BYTES.name}); the size drops after each checkpoint.",
            [
                p.query(f"rate({names.WAL_APPENDED_BYTES.name}[{R}])", "appended / s"),
                p.query(names.WAL_SIZE_BYTES.name, "size", "B"),
            ],
            "bytes",
            min_value=0,
            width=8,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "WAL fsync time",
            f"Mean fsync time ({names.WAL_FSYNC_SECONDS.name} / {names.WAL_FSYNCS.name}) and "
            "fsync rounds per second (concurrent pushes share one).",
            [
                p.query(
                    f"rate({names.WAL_FSYNC_SECONDS.name}[{R}]) / "
                    f"rate({names.WAL_FSYNCS.name}[{R}])",
                    "mean fsync",
                ),
                p.query(f"rate({names.WAL_FSYNCS.name}[{R}])", "fsyncs / s", "B"),
            ],
            "s",
            min_value=0,
            width=8,
        )
    )
    d = d.with_panel(
        p.timeseries(
            "Checkpoints",
            f"Duration and size of the last checkpoint ({names.CHECKPOINT_DURATION.name}, "
            f"{names.CHECKPOINT_SIZE.name}); failed checkpoints ({names.CHECKPOINTS.name}).",
            [
                p.query(names.CHECKPOINT_DURATION.name, "last duration"),
                p.query(
                    f'sum(increase({names.CHECKPOINTS.name}{{{names.OUTCOME}="failed"}}[{R}]))'
                    " or vector(0)",
                    "failed",
                    "B",
                ),
            ],
            "s",
            min_value=0,
            width=8,
        )
    )
    d = d.with_row(dash_b.Row("Process"))
    d = d.with_panel(
        p.timeseries(
            "Memory",
            "Resident and virtual memory of the hopwatch process (prometheus_client's process "
            "collector, Linux).",
            [
                p.query("process_resident_memory_bytes", "resident"),
                p.query("process_virtual_memory_bytes", "virtual", "B"),
            ],
            "bytes",
            min_value=0,
        )
    )
    return d.with_panel(
        p.timeseries(
            "CPU",
            "CPU seconds per second used by the hopwatch process.",
            [p.query(f"rate(process_cpu_seconds_total[{R}])", "cpu")],
            "percentunit",
            min_value=0,
        )
    )
