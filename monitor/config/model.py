"""The runtime model the core works on, compiled from the YAML spec (``spec.py``).

Nothing here knows about YAML or files: the loader maps the validated spec into these frozen records,
so the ledger, checks and server depend only on this module.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from monitor.config.auth import AuthPolicy
from monitor.records import Observation


@dataclass(frozen=True)
class Where:
    """A compiled ``where`` filter. ``source`` is the text as written ("" means match everything)."""

    source: str
    predicate: Callable[[Observation], bool] = field(compare=False, repr=False)

    def __call__(self, obs: Observation) -> bool:
        return self.predicate(obs)

    @property
    def matches_all(self) -> bool:
        return self.source == ""


MATCH_ALL = Where("", lambda _obs: True)


class ExpectKind(enum.StrEnum):
    """What an edge promises: every matching event arrives, a stated share of them, or none
    (a forbidden flow: consent leaks, residency breaches)."""

    ALL = "all"
    RATIO = "ratio"
    NONE = "none"


@dataclass(frozen=True)
class Expectation:
    """``ratio`` is the share expected to arrive (1.0 for ``all``); ``tolerance`` the loss share
    below which a shortfall is not worth an alert however significant it is."""

    kind: ExpectKind = ExpectKind.ALL
    ratio: float = 1.0
    tolerance: float = 0.001


class SourceKind(enum.StrEnum):
    """Where a pulled source reads its counts."""

    PROMETHEUS = "prometheus"
    SQL = "sql"
    HTTP_JSON = "http_json"
    KAFKA = "kafka"


@dataclass(frozen=True)
class Schedule:
    """When a pulled source runs and how long its failures are tolerated before an alert."""

    interval: float = 30.0
    timeout: float = 10.0
    grace: float = 120.0


@dataclass(frozen=True)
class PrometheusSource:
    """A PromQL counter expression; ``labels`` maps attribute keys to Prometheus label names."""

    name: str
    url: str
    query: str
    step: float
    labels: tuple[tuple[str, str], ...] = ()
    status: str = "ok"
    schedule: Schedule = Schedule()
    bearer_token: str | None = field(default=None, repr=False)
    kind: SourceKind = SourceKind.PROMETHEUS


@dataclass(frozen=True)
class SqlSource:
    """A query over ``:start`` / ``:end`` returning ``bucket_start, count[, attributes…]``.

    ``url`` never holds the password (the spec refuses one); ``password`` comes from the
    environment or a file and is kept out of ``repr`` so it cannot reach a log line."""

    name: str
    url: str
    query: str
    attributes: tuple[str, ...] = ()
    time_params: str = "datetime"
    status: str = "ok"
    schedule: Schedule = Schedule()
    password: str | None = field(default=None, repr=False)
    kind: SourceKind = SourceKind.SQL


@dataclass(frozen=True)
class HttpJsonSource:
    """A JSON endpoint; ``*_field`` and ``attributes`` are dotted paths inside each item."""

    name: str
    url: str
    items: str = ""
    bucket_start_field: str = "bucket_start"
    count_field: str = "count"
    status_field: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    time_format: str = "epoch"
    status: str = "ok"
    schedule: Schedule = Schedule()
    bearer_token: str | None = field(default=None, repr=False)
    kind: SourceKind = SourceKind.HTTP_JSON


@dataclass(frozen=True)
class KafkaFields:
    """Where each observation field comes from in a record: a dotted path in the decoded payload,
    ``header:NAME`` for a record header, ``@key`` for the record key, ``@timestamp`` for the
    record's timestamp (event_time only). ``None`` (optional fields): the default applies."""

    event_id: str = "event_id"
    event_type: str | None = None
    event_time: str = "event_time"
    status: str | None = None
    reason: str | None = None
    observed_time: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class KafkaSource:
    """A Kafka topic consumed as one hop's observations, in a consumer group of hopwatch's.

    Not a counts puller: records become observations for the hop's ledger, the consumed offsets
    are saved with the checkpoint (``monitor.sources.kafka``). ``schedule.interval`` is how often
    lag is measured and health judged; ``max_lag`` (None: the pipeline's allowed lateness) is how
    far behind the newest record the source may fall before its buckets come out incomplete."""

    name: str
    bootstrap_servers: str
    topic: str
    group_id: str
    format: str = "json"
    fields: KafkaFields = KafkaFields()
    event_type: str = "event"
    max_lag: float | None = None
    status: str = "ok"
    schedule: Schedule = Schedule()
    consumer: tuple[tuple[str, str], ...] = ()
    """Extra librdkafka consumer settings, as (name, value) strings."""
    kind: SourceKind = SourceKind.KAFKA


PullSourceDef = PrometheusSource | SqlSource | HttpJsonSource | KafkaSource


@dataclass(frozen=True)
class Hop:
    name: str
    description: str = ""
    sources: tuple[PullSourceDef, ...] = ()


FORBIDDEN_ARROW = "-/->"
"""How a forbidden edge is named (``identity-/->activation``), so it can sit beside the ordinary
edge between the same two hops without sharing its totals, checks or alerts."""
DEFAULT_LEAK_WINDOW = 86400.0
"""How long a forbidden-flow alert keeps firing after the last leak unless the edge says."""


@dataclass(frozen=True)
class Edge:
    """``from_hop`` → ``to_hop``: events leaving ``from_hop`` that pass ``where`` should reach ``to_hop``.

    With ``expect.kind == NONE`` the promise is reversed: those events must never reach ``to_hop``,
    and each that does is a leak (``monitor.ledger.forbidden``); ``keep_firing_for`` is how long
    its alert stays firing after the last leak, since a leak does not resolve by itself."""

    from_hop: str
    to_hop: str
    where: Where = MATCH_ALL
    expect: Expectation = Expectation()
    keep_firing_for: float = DEFAULT_LEAK_WINDOW

    @property
    def forbidden(self) -> bool:
        return self.expect.kind is ExpectKind.NONE

    @property
    def name(self) -> str:
        arrow = FORBIDDEN_ARROW if self.forbidden else "->"
        return f"{self.from_hop}{arrow}{self.to_hop}"


@dataclass(frozen=True)
class Pipeline:
    name: str
    hops: tuple[Hop, ...]
    edges: tuple[Edge, ...] = ()
    attributes: frozenset[str] = frozenset()
    bucket_seconds: float = 60.0
    allowed_lateness: float = 300.0
    id_sampling: float = 1.0
    max_attribute_sets: int = 1000
    max_pending_ids: int = 1_000_000
    description: str = ""

    @property
    def hop_names(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hops)

    def edges_from(self, hop: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.from_hop == hop)

    def edges_to(self, hop: str) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.to_hop == hop)

    @property
    def forbidden_edges(self) -> tuple[Edge, ...]:
        return tuple(e for e in self.edges if e.forbidden)


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 9464
    auth: AuthPolicy = field(default_factory=AuthPolicy)
    """Who may write (``monitor.config.auth``); the default lets no one write."""
    max_body_bytes: int = 10 * 1024 * 1024
    max_future_skew: float = 300.0

    @property
    def listen(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class PostgresConfig:
    """``storage.postgres``: where a leader and its standbys keep the judge's state."""

    url: str
    password: str | None = field(default=None, repr=False)
    """From ``password_env`` / ``password_file``; never in the URL, never logged."""
    lease: float = 10.0
    """A leader that cannot confirm its lock for half of this steps down; PostgreSQL ends a
    silent leader's session (and frees the lock) after all of it."""
    advertise: str | None = None
    """This server's URL for the others (a standby's 503 names the leader by it)."""


@dataclass(frozen=True)
class StorageConfig:
    data_dir: Path = Path("data")
    retention: float = 35 * 86400.0
    durability: str = "wal"
    """``wal``: a 202 means on disk (write-ahead log); ``checkpoint``: a crash may lose up to one
    checkpoint interval (``monitor.durability``)."""
    postgres: PostgresConfig | None = None
    """None: SQLite in ``data_dir`` (one process); set: PostgreSQL, one leader (``docs/scaling.md``)."""


@dataclass(frozen=True)
class AgentConfig:
    """Agent mode (``monitor.agent``): the server to forward to, this agent's id, its spool."""

    server_url: str | None = None
    agent_id: str | None = None
    bearer_token: str | None = field(default=None, repr=False)
    spool_limit_bytes: int = 256 * 1024 * 1024
    flush_interval: float = 5.0
    id_hash_key: bytes | None = field(default=None, repr=False)
    """The key for hashing event ids before they are bucketed and shipped (None: raw ids)."""


@dataclass(frozen=True)
class Config:
    """The whole configuration. ``includes`` are the resolved files of ``include:`` entries."""

    server: ServerConfig = ServerConfig()
    storage: StorageConfig = StorageConfig()
    pipelines: tuple[Pipeline, ...] = ()
    agent: AgentConfig = AgentConfig()
    includes: tuple[Path, ...] = ()
    source: Path | None = None

    def pipeline(self, name: str) -> Pipeline | None:
        for p in self.pipelines:
            if p.name == name:
                return p
        return None
