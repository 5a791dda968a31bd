"""Every metric hopwatch exports: name, type, help text and label names, in one place.

Like Sloth's conventions file, this is where a reader (or a dashboard / rule generator) finds what
``/metrics`` can contain, and where a rename happens once. Conventions (Prometheus naming rules,
checked by ``promtool check metrics`` in the tests):

- every name starts with ``hopwatch_``; units are base units spelled out (``_seconds``, ``_ratio``);
- counters end in ``_total``; gauges never do; ``_info`` gauges always have the value 1;
- quantiles of a latency sketch are summaries with a ``quantile`` label ("0.5", "0.9", "0.99")
  and **no** ``_sum`` / ``_count``: they describe the last closed bucket, and a bucket's count and
  sum are not the monotonic series Prometheus expects behind those suffixes (promtool refuses a
  ``quantile`` label on a gauge, so summary is the one honest type);
- the one histogram (``hopwatch_hop_event_latency_seconds``) is cumulative over every closed
  bucket, so it is monotonic, and it is where OpenMetrics exemplars (trace ids) go: OpenMetrics
  allows them only on histogram buckets and counters;
- labels are bounded: configured names (pipeline, hop, edge), closed sets (status, reason, kind,
  outcome, state, code) — never event ids or attribute values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

PREFIX: Final = "hopwatch_"

# --- label names --------------------------------------------------------------------------------

PIPELINE: Final = "pipeline"
HOP: Final = "hop"
EDGE: Final = "edge"
STATUS: Final = "status"
QUANTILE: Final = "quantile"
KIND: Final = "kind"
OUTCOME: Final = "outcome"
REASON: Final = "reason"
STATE: Final = "state"
VERSION: Final = "version"
CODE: Final = "code"
CHECK: Final = "check"
SEGMENT: Final = "segment"

# --- closed label values ------------------------------------------------------------------------

KIND_OBSERVATIONS: Final = "observations"
KIND_COUNTS: Final = "counts"
KIND_TRACES: Final = "traces"
INGEST_KINDS: Final = (KIND_OBSERVATIONS, KIND_COUNTS, KIND_TRACES)
"""Values of ``kind``: which push endpoint an item came through (``traces``: OTLP spans)."""

OUTCOME_ACCEPTED: Final = "accepted"
OUTCOME_REJECTED: Final = "rejected"
OUTCOME_SKIPPED: Final = "skipped"
"""OTLP spans that are no hop spans (no ``hopwatch.event_type``): received, not observations."""

QUANTILES: Final = (0.5, 0.9, 0.99)
"""Latency quantiles exported; label values are ``quantile_label(q)``."""


def quantile_label(q: float) -> str:
    """``0.5`` → ``"0.5"``: the spelling Prometheus summaries use, so queries look familiar."""
    return repr(float(q))


# --- metrics ------------------------------------------------------------------------------------

Kind = Literal["counter", "gauge", "summary", "histogram"]


@dataclass(frozen=True)
class Metric:
    """One exported metric family. ``name`` is the exposition name (counters include ``_total``)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()


HOP_EVENTS = Metric(
    "hopwatch_hop_events_total",
    "counter",
    "Events observed at a hop (pushed one by one or as counts), by the status the hop gave them.",
    (PIPELINE, HOP, STATUS),
)
HOP_LATENCY = Metric(
    "hopwatch_hop_latency_seconds",
    "summary",
    "Quantiles of observed_time - event_time at a hop in the last closed event-time bucket.",
    (PIPELINE, HOP, QUANTILE),
)

HOP_EVENT_LATENCY = Metric(
    "hopwatch_hop_event_latency_seconds",
    "histogram",
    "observed_time - event_time at a hop, over every closed event-time bucket; OpenMetrics "
    "exemplars carry the trace_id of a slow traced event.",
    (PIPELINE, HOP),
)
EDGE_EXPECTED = Metric(
    "hopwatch_edge_expected_events_total",
    "counter",
    "Events that left the edge's from hop through its filter, summed over closed buckets.",
    (PIPELINE, EDGE),
)
EDGE_ARRIVED = Metric(
    "hopwatch_edge_arrived_events_total",
    "counter",
    "Expected events seen at the edge's to hop, summed over closed buckets.",
    (PIPELINE, EDGE),
)
EDGE_MISSING = Metric(
    "hopwatch_edge_missing_events_total",
    "counter",
    "Expected events not seen at the edge's to hop when their bucket closed (or was amended).",
    (PIPELINE, EDGE),
)
EDGE_LATE = Metric(
    "hopwatch_edge_late_events_total",
    "counter",
    "Events that arrived at the edge's to hop after their bucket had closed.",
    (PIPELINE, EDGE),
)
EDGE_DUPLICATE = Metric(
    "hopwatch_edge_duplicate_events_total",
    "counter",
    "Extra sightings at the edge's to hop of events that had already arrived.",
    (PIPELINE, EDGE),
)
EDGE_INCOMPLETE = Metric(
    "hopwatch_edge_incomplete_buckets_total",
    "counter",
    "Closed buckets hopwatch could not fully observe (it was down): never counted as loss.",
    (PIPELINE, EDGE),
)
EDGE_LOSS_RATIO = Metric(
    "hopwatch_edge_loss_ratio",
    "gauge",
    "Missing / expected in the edge's last closed bucket (absent when nothing was expected).",
    (PIPELINE, EDGE),
)
EDGE_LATENCY = Metric(
    "hopwatch_edge_latency_seconds",
    "summary",
    "Quantiles of the from-hop to to-hop latency of events in the edge's last closed bucket.",
    (PIPELINE, EDGE, QUANTILE),
)
EDGE_FORBIDDEN = Metric(
    "hopwatch_edge_forbidden_events_total",
    "counter",
    "Restricted events seen at the to hop of a forbidden edge (expect: none): leaks, counted "
    "as they happen.",
    (PIPELINE, EDGE),
)

INGEST_ITEMS = Metric(
    "hopwatch_ingest_items_total",
    "counter",
    "Items received on the push API, by endpoint kind and whether they were accepted (skipped: "
    "OTLP spans that carry no hopwatch.event_type).",
    (KIND, OUTCOME),
)
INGEST_REJECTED = Metric(
    "hopwatch_ingest_rejected_items_total",
    "counter",
    "Items rejected by the push API, by endpoint kind and reason.",
    (KIND, REASON),
)
INGEST_DROPPED_ATTRIBUTES = Metric(
    "hopwatch_ingest_dropped_attributes_total",
    "counter",
    "Attribute keys dropped from pushed items because the pipeline does not allow-list them.",
    (PIPELINE,),
)
INGEST_REQUESTS = Metric(
    "hopwatch_ingest_requests_total",
    "counter",
    "Requests to the push API, by endpoint kind and HTTP status code.",
    (KIND, CODE),
)

LEDGER_PENDING_IDS = Metric(
    "hopwatch_ledger_pending_ids",
    "gauge",
    "Event ids seen at an edge's from hop and still waiting for the to hop.",
    (PIPELINE,),
)
LEDGER_OPEN_BUCKETS = Metric(
    "hopwatch_ledger_open_buckets",
    "gauge",
    "Event-time buckets whose watermark has not passed yet.",
    (PIPELINE,),
)
LEDGER_LATE_OBSERVATIONS = Metric(
    "hopwatch_ledger_late_observations_total",
    "counter",
    "Observations that arrived after their bucket closed (they amend it).",
    (PIPELINE,),
)
LEDGER_OVERFLOW_OBSERVATIONS = Metric(
    "hopwatch_ledger_overflow_observations_total",
    "counter",
    "Observations folded into the overflow attribute set because a hop hit max_attribute_sets.",
    (PIPELINE,),
)
LEDGER_PENDING_EVICTED = Metric(
    "hopwatch_ledger_pending_evicted_ids_total",
    "counter",
    "Pending ids given up because an edge's pending set hit max_pending_ids (no longer joined).",
    (PIPELINE,),
)
LEDGER_TOO_LATE = Metric(
    "hopwatch_ledger_too_late_for_edges_total",
    "counter",
    "Sightings after their bucket left memory: counted at the hop, too late to join on an edge.",
    (PIPELINE,),
)
DAEMON_TICKS = Metric(
    "hopwatch_daemon_ticks_total", "counter", "Evaluation ticks the daemon has run.", ()
)
DAEMON_TICK_ERRORS = Metric(
    "hopwatch_daemon_tick_errors_total",
    "counter",
    "Ticks that failed (logged; the daemon goes on at the next tick).",
    (),
)
DAEMON_TICK_DURATION = Metric(
    "hopwatch_daemon_last_tick_duration_seconds",
    "gauge",
    "Wall time the last tick took (closing buckets, judging, persisting).",
    (),
)
CONFIG_LAST_RELOAD_SUCCESSFUL = Metric(
    "hopwatch_config_last_reload_successful",
    "gauge",
    "1 if the last config reload (SIGHUP or POST /-/reload) succeeded, 0 if it was refused and "
    "the previous config still runs.",
    (),
)
CONFIG_LAST_RELOAD_SUCCESS = Metric(
    "hopwatch_config_last_reload_success_timestamp_seconds",
    "gauge",
    "Unix time the running config was loaded (at start, then at each successful reload).",
    (),
)
NOTIFICATIONS = Metric(
    "hopwatch_notifications_total",
    "counter",
    "Notification deliveries by receiver, integration (slack, pagerduty, webhook, console, "
    "forward) and outcome (sent, retry: gave up after retries, failed: not retryable).",
    ("receiver", "integration", "outcome"),
)
NOTIFICATION_FAILURES = Metric(
    "hopwatch_notification_failures_total",
    "counter",
    "Deliveries that did not go out, by receiver, integration and reason (http_429, http_500, "
    "timeout, connection, http_400, slack_<error>, secret).",
    ("receiver", "integration", REASON),
)
NOTIFY_ERRORS = Metric(
    "hopwatch_notify_errors_total",
    "counter",
    "Notification rounds or notification-log writes that failed (logged; retried next round).",
    (),
)

CHECK_STATE = Metric(
    "hopwatch_check_state",
    "gauge",
    "1 for the state each check's series is in (learning, ok, warn, firing), 0 for the others.",
    (CHECK, KIND, SEGMENT, STATE),
)
CHECK_SCORE = Metric(
    "hopwatch_check_score",
    "gauge",
    "Anomaly score in [0, 1] of each check's series for its last closed bucket.",
    (CHECK, KIND, SEGMENT),
)
CHECK_ERRORS = Metric(
    "hopwatch_check_errors_total",
    "counter",
    "Points a check could not judge (the series goes on with the next bucket), by error type.",
    (CHECK, REASON),
)

ALERTS = Metric(
    "hopwatch_alerts",
    "gauge",
    "Alerts currently known to hopwatch, by state.",
    (STATE,),
)
BUILD_INFO = Metric(
    "hopwatch_build_info",
    "gauge",
    "Always 1; the version label says which hopwatch is running.",
    (VERSION,),
)

ALL: Final = (
    HOP_EVENTS,
    HOP_LATENCY,
    HOP_EVENT_LATENCY,
    EDGE_EXPECTED,
    EDGE_ARRIVED,
    EDGE_MISSING,
    EDGE_LATE,
    EDGE_DUPLICATE,
    EDGE_INCOMPLETE,
    EDGE_LOSS_RATIO,
    EDGE_LATENCY,
    EDGE_FORBIDDEN,
    INGEST_ITEMS,
    INGEST_REJECTED,
    INGEST_DROPPED_ATTRIBUTES,
    INGEST_REQUESTS,
    LEDGER_PENDING_IDS,
    LEDGER_OPEN_BUCKETS,
    LEDGER_LATE_OBSERVATIONS,
    LEDGER_OVERFLOW_OBSERVATIONS,
    LEDGER_PENDING_EVICTED,
    LEDGER_TOO_LATE,
    DAEMON_TICKS,
    DAEMON_TICK_ERRORS,
    DAEMON_TICK_DURATION,
    CONFIG_LAST_RELOAD_SUCCESSFUL,
    CONFIG_LAST_RELOAD_SUCCESS,
    NOTIFICATIONS,
    NOTIFICATION_FAILURES,
    NOTIFY_ERRORS,
    CHECK_STATE,
    CHECK_SCORE,
    CHECK_ERRORS,
    ALERTS,
    BUILD_INFO,
)
"""Every family, in exposition order."""

# --- pulled sources (``monitor.export.source_metrics``, registered beside the main collector) ----

SOURCE: Final = "source"

SOURCE_UP = Metric(
    "hopwatch_source_up",
    "gauge",
    "1 when the last pull of a pulled source (prometheus, sql, http_json) succeeded, else 0.",
    (PIPELINE, HOP, SOURCE),
)
SOURCE_LAST_SUCCESS = Metric(
    "hopwatch_source_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the last successful pull of a pulled source; absent before the first one.",
    (PIPELINE, HOP, SOURCE),
)
SOURCE_ERRORS = Metric(
    "hopwatch_source_errors_total",
    "counter",
    "Failed pulls of a pulled source, by reason; their buckets are marked incomplete.",
    (PIPELINE, HOP, SOURCE, REASON),
)
SOURCE_CONSECUTIVE_FAILURES = Metric(
    "hopwatch_source_consecutive_failures",
    "gauge",
    "Failed pulls of a pulled source since its last success.",
    (PIPELINE, HOP, SOURCE),
)

PARTITION: Final = "partition"
SOURCE_KAFKA_LAG = Metric(
    "hopwatch_source_kafka_consumer_lag_records",
    "gauge",
    "Records between a kafka source's position and the partition's end offset.",
    (PIPELINE, HOP, SOURCE, PARTITION),
)
SOURCE_KAFKA_LAG_SECONDS = Metric(
    "hopwatch_source_kafka_consumer_lag_seconds",
    "gauge",
    "How long ago the oldest record a kafka source has not read was appended (0: caught up); past the allowed lateness its hop's buckets are incomplete.",
    (PIPELINE, HOP, SOURCE, PARTITION),
)
SOURCE_KAFKA_END_OFFSET = Metric(
    "hopwatch_source_kafka_partition_records_total",
    "counter",
    "A partition's end offset (records ever written) as a kafka source last read it; rate() is the write rate.",
    (PIPELINE, HOP, SOURCE, PARTITION),
)
SOURCE_KAFKA_BAD_RECORDS = Metric(
    "hopwatch_source_kafka_bad_records_total",
    "counter",
    "Records a kafka source could not map to an observation, by reason (skipped, never retried).",
    (PIPELINE, HOP, SOURCE, REASON),
)

SOURCE_ALL: Final = (SOURCE_UP, SOURCE_LAST_SUCCESS, SOURCE_ERRORS, SOURCE_CONSECUTIVE_FAILURES)
SOURCE_KAFKA_ALL: Final = (
    SOURCE_KAFKA_LAG,
    SOURCE_KAFKA_LAG_SECONDS,
    SOURCE_KAFKA_END_OFFSET,
    SOURCE_KAFKA_BAD_RECORDS,
)
"""Not in ``ALL``: ``SourceCollector`` describes them, so the registry sees each name once."""

# --- agents, on the server (``monitor.server.aggregates.AgentCollector``) ------------------------

AGENT: Final = "agent"

AGENT_BATCHES = Metric(
    "hopwatch_agent_batches_total",
    "counter",
    "Aggregate batches from agents, by agent id and outcome (applied; duplicate: a resend of a "
    "batch already applied, ignored; refused: invalid, nothing applied, agent 'unknown' until "
    "one of its batches was accepted). Idle agents send empty batches as heartbeats.",
    (AGENT, OUTCOME),
)
AGENT_UP = Metric(
    "hopwatch_agent_up",
    "gauge",
    "1 when the agent was heard from within 3 flush intervals, else 0 (its hops' buckets are "
    "then marked incomplete, not lost).",
    (AGENT,),
)
AGENT_LAST_CONTACT = Metric(
    "hopwatch_agent_last_contact_timestamp_seconds",
    "gauge",
    "Unix time (server clock) of the last request from the agent: batch, resend or heartbeat.",
    (AGENT,),
)

AGENT_ALL: Final = (AGENT_BATCHES, AGENT_UP, AGENT_LAST_CONTACT)
"""Not in ``ALL``: exported only once an agent has talked to the server, so a server without
agents exposes nothing new."""

# --- durability (``monitor.export.durability_metrics``, registered by the daemon) ----------------

WAL_APPENDED_BYTES = Metric(
    "hopwatch_wal_appended_bytes_total",
    "counter",
    "Bytes appended to the write-ahead log (storage.durability: wal) since start.",
    (),
)
WAL_SIZE_BYTES = Metric(
    "hopwatch_wal_size_bytes",
    "gauge",
    "Bytes in the write-ahead log's segments on disk (shrinks after each checkpoint).",
    (),
)
WAL_FSYNCS = Metric(
    "hopwatch_wal_fsyncs_total",
    "counter",
    "fsync rounds of the write-ahead log; concurrent push requests share one.",
    (),
)
WAL_FSYNC_SECONDS = Metric(
    "hopwatch_wal_fsync_seconds_total",
    "counter",
    "Time spent in fsync of the write-ahead log (off the event loop); divide by "
    "hopwatch_wal_fsyncs_total for the mean.",
    (),
)
WAL_REPLAYED_RECORDS = Metric(
    "hopwatch_wal_replayed_records_total",
    "counter",
    "Write-ahead log records replayed into the engine at start (newer than the checkpoint).",
    (),
)
WAL_CORRUPT_RECORDS = Metric(
    "hopwatch_wal_corrupt_records_total",
    "counter",
    "Damaged write-ahead log records found at start (replay stopped there; logged).",
    (),
)
CHECKPOINTS = Metric(
    "hopwatch_checkpoints_total",
    "counter",
    "Engine checkpoints written, by outcome (ok, failed).",
    (OUTCOME,),
)
CHECKPOINT_DURATION = Metric(
    "hopwatch_checkpoint_last_duration_seconds",
    "gauge",
    "Wall time of the last checkpoint (in a forked child while serving: not on the event loop).",
    (),
)
CHECKPOINT_SIZE = Metric(
    "hopwatch_checkpoint_size_bytes",
    "gauge",
    "Size of the last checkpoint file written.",
    (),
)

# --- leadership (``monitor.export.leader_metrics``, registered by the daemon) --------------------

LEADER = Metric(
    "hopwatch_leader",
    "gauge",
    "1 while this server judges and notifies (the leader, or a server alone), 0 on a standby of "
    "a shared PostgreSQL store.",
    (),
)
LEADER_TERM = Metric(
    "hopwatch_leader_term",
    "gauge",
    "The leadership term this server last took over in (0: never led on a shared store).",
    (),
)
LEADER_ALL: Final = (LEADER, LEADER_TERM)

DURABILITY_ALL: Final = (
    WAL_APPENDED_BYTES,
    WAL_SIZE_BYTES,
    WAL_FSYNCS,
    WAL_FSYNC_SECONDS,
    WAL_REPLAYED_RECORDS,
    WAL_CORRUPT_RECORDS,
    CHECKPOINTS,
    CHECKPOINT_DURATION,
    CHECKPOINT_SIZE,
)
"""Not in ``ALL``: a running daemon registers their collector (the golden exposition holds)."""
