"""The versioned YAML schema (``apiVersion: hopwatch/v1``) as strict pydantic models.

This is the edge where raw YAML is checked key by key; the loader then maps a valid spec into the
runtime model (``model.py``), so nothing past the loader depends on this module. Models forbid
unknown keys (a typo such as ``alowed_lateness`` must not silently fall back to a default) and are
strict (``"60"`` is not a number, ``1`` is not a name). Validators raise ``invalid(...)`` so the
loader can print the message and the fix separately.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from monitor.timeutil import format_duration, parse_duration

API_VERSION = "hopwatch/v1"
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
NAME_HINT = (
    "names become Prometheus label values and file names: use lowercase letters, digits and _, "
    "starting with a letter"
)
ATTRIBUTE_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OVERFLOW_ATTRIBUTE = "__other__"
"""Key and value of the attribute set that collects events past ``max_attribute_sets``
(``monitor.ledger.bucket.OVERFLOW``); a real attribute of that name would be counted with it."""

DAY = 86400
MAX_ATTRIBUTE_SETS = 100_000

CUSTOM_ERROR = "hopwatch"
"""pydantic error type of ``invalid``; its ``ctx`` carries ``message`` and ``hint``."""


OBJECT_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]*$")
"""Names of SLOs and checks: label values, so lowercase, digits, ``_`` and ``-``."""
LABEL_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def object_name(value: str) -> str:
    """Validator for the name of an SLO or a check."""
    if not OBJECT_NAME_PATTERN.match(value):
        raise invalid(
            f"{value!r} is not a valid name",
            "names become label values: lowercase letters, digits, _ and -, starting with a letter",
        )
    return value


def label_names(value: dict[str, str]) -> dict[str, str]:
    """Validator for user labels, which become Prometheus labels."""
    for key in value:
        if not LABEL_PATTERN.match(key):
            raise invalid(
                f"{key!r} is not a valid label name",
                "labels become Prometheus labels: letters, digits and _, not starting with a digit",
            )
    return value


def edge_name(value: str) -> str:
    """Validator for an edge written ``from->to`` (spaces around the arrow are dropped)."""
    ends = [part.strip() for part in value.split("->")]
    if len(ends) != 2 or not all(ends):
        raise invalid(f"{value!r} is not an edge", "write from->to, e.g. identity->activation")
    return f"{ends[0]}->{ends[1]}"


def attribute_key(value: str) -> str:
    """Validator for an attribute key named outside a filter (``region``, not ``attributes.region``)."""
    if value.startswith("attributes."):
        raise invalid(f"{value!r} names a filter field", f"write the key alone: {value[11:]}")
    if not ATTRIBUTE_PATTERN.match(value):
        raise invalid(f"{value!r} is not a valid attribute key", "letters, digits and _")
    return value


def invalid(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error whose message and fix the loader prints verbatim."""
    return PydanticCustomError(CUSTOM_ERROR, "{message}", {"message": message, "hint": hint})


def _type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if value is None:
        return "nothing"
    return type(value).__name__


def _api_version(value: Any) -> str:
    if value != API_VERSION:
        raise invalid(f"unsupported apiVersion {value!r}", f"hopwatch accepts {API_VERSION!r}")
    return API_VERSION


def _name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise invalid(f"{value!r} is not a valid name", NAME_HINT)
    return value


def _attribute(value: str) -> str:
    if not ATTRIBUTE_PATTERN.match(value):
        raise invalid(
            f"{value!r} is not a valid attribute key",
            "attribute keys become Prometheus label names: letters, digits and _",
        )
    if value == OVERFLOW_ATTRIBUTE:
        raise invalid(
            f"attribute key {value!r} is reserved",
            "hopwatch counts events past max_attribute_sets under it; rename the attribute",
        )
    return value


def _duration(value: Any, *, allow_zero: bool = False) -> float:
    if not isinstance(value, str):
        raise invalid(
            f"expected a duration, got {_type_name(value)}",
            f"write a number and a unit, e.g. {value}s" if isinstance(value, int) else None,
        )
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise invalid(
            f"{value!r} is not a duration",
            "use a number and a unit: ms, s, m, h, d, w or y, e.g. 90s",
        ) from None
    if seconds <= 0 and not allow_zero:
        raise invalid(f"{value!r} must be longer than zero")
    return seconds


def _duration_or_zero(value: Any) -> float:
    return _duration(value, allow_zero=True)


def _bucket(value: Any) -> float:
    """A bucket width: 1s to 1d, and a whole number of buckets per day, since buckets start at
    midnight UTC and must tile the day without a short last one."""
    seconds = _duration(value)
    if seconds < 1:
        raise invalid(f"{value!r} is shorter than 1s: {seconds:g}s < 1s", "buckets are 1s to 1d")
    if seconds > DAY:
        raise invalid(
            f"{value!r} is longer than 1d: {seconds:g}s > {DAY}s",
            "buckets are 1s to 1d",
        )
    if DAY % seconds:
        raise invalid(
            f"{value!r} does not divide a day evenly: {DAY}s / {seconds:g}s = {DAY / seconds:.2f}",
            "buckets align to midnight UTC; use e.g. 10s, 1m, 5m, 15m, 1h or 1d",
        )
    return seconds


MAX_LATENESS = 30 * DAY
"""Buckets stay open at most 30 days after they end: long enough for deletion requests that sinks
complete within days (``docs/privacy.md``), short of the default 35-day retention."""


def _lateness(value: Any) -> float:
    seconds = _duration(value, allow_zero=True)
    if seconds > MAX_LATENESS:
        raise invalid(
            f"{value!r} is longer than 30d: {seconds:.0f}s > {MAX_LATENESS}s",
            "hopwatch keeps a bucket open at most 30 days after it ends",
        )
    return seconds


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$")
_SIZE_UNITS = {
    None: 1,
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "KiB": 1024,
    "MiB": 1024**2,
    "GiB": 1024**3,
}


def _byte_size(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        size = value
    elif isinstance(value, str) and (m := _SIZE.match(value)):
        size = int(m.group(1)) * _SIZE_UNITS[m.group(2)]
    else:
        raise invalid(
            f"{value!r} is not a size",
            "write a number of bytes, optionally with a unit: B, KB, MB, GB, KiB, MiB or GiB",
        )
    if size < 1:
        raise invalid(f"{value!r} must be at least 1 byte")
    return size


def split_listen(text: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6) → (host, port); ValueError says what is wrong."""
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ValueError(f"{text!r} is not host:port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is outside 1-65535")
    return host, port


def _listen(value: str) -> str:
    try:
        split_listen(value)
    except ValueError as exc:
        raise invalid(str(exc), "write host:port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464") from None
    return value


EXPECT_NONE = "none"
"""``expect: none``: a forbidden flow; the events passing ``where`` must never reach ``to``."""


def _expect(value: Any) -> Any:
    if value == "all" or value is None:
        return None
    if value == EXPECT_NONE or isinstance(value, dict):
        return value
    raise invalid(
        f"expect must be 'all', 'none' or a mapping, got {value!r}",
        "write expect: all, expect: none (with a where: what must never arrive), "
        "or expect: {ratio: 0.98, tolerance: 0.005}",
    )


Name = Annotated[str, AfterValidator(_name)]
Duration = Annotated[float, BeforeValidator(_duration)]
DurationOrZero = Annotated[float, BeforeValidator(_duration_or_zero)]
BucketWidth = Annotated[float, BeforeValidator(_bucket)]
Lateness = Annotated[float, BeforeValidator(_lateness)]
ByteSize = Annotated[int, BeforeValidator(_byte_size)]
ApiVersion = Annotated[str, BeforeValidator(_api_version)]


class Spec(BaseModel):
    """Base of every YAML model: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class AuthSpec(Spec):
    bearer_token_env: str | None = None
    bearer_token_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> AuthSpec:
        if self.bearer_token_env is not None and self.bearer_token_file is not None:
            raise invalid(
                "set bearer_token_env or bearer_token_file, not both",
                "keep the one your deployment provides",
            )
        if self.bearer_token_env is None and self.bearer_token_file is None:
            raise invalid(
                "auth needs bearer_token_env or bearer_token_file", "or remove auth to disable it"
            )
        return self


AGENT_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def _agent_id(value: str) -> str:
    if not AGENT_ID_PATTERN.match(value):
        raise invalid(
            f"{value!r} is not a valid agent id",
            "it becomes a label value: up to 63 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit; a host name fits",
        )
    return value


ScopeName = Literal["read", "push", "agent", "admin"]


def _one_token_source(env: str | None, file: str | None) -> None:
    if env is not None and file is not None:
        raise invalid(
            "set token_env or token_file, not both", "keep the one your deployment provides"
        )
    if env is None and file is None:
        raise invalid(
            "needs token_env or token_file",
            "name the environment variable or file holding the token; never the token itself",
        )


class TokenSpec(Spec):
    """``server.auth.tokens[]``: a named bearer token and the scopes it grants."""

    name: Annotated[str, AfterValidator(object_name)]
    scopes: list[ScopeName] = Field(min_length=1)
    token_env: str | None = None
    token_file: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> TokenSpec:
        _one_token_source(self.token_env, self.token_file)
        return self


class AgentAuthSpec(Spec):
    """``server.auth.agents[]``: an agent the server accepts batches from, and its hops."""

    id: Annotated[str, AfterValidator(_agent_id)]
    token_env: str | None = None
    token_file: str | None = None
    hops: dict[str, list[str]] = Field(min_length=1)
    """pipeline -> the hops this agent may declare and ship."""

    @model_validator(mode="after")
    def _one_source(self) -> AgentAuthSpec:
        _one_token_source(self.token_env, self.token_file)
        return self


class ServerAuthSpec(Spec):
    """``server.auth`` (``monitor.config.auth``): tokens with scopes, agents, the open mode.

    ``bearer_token_env`` / ``bearer_token_file`` is the old single-token form, still accepted:
    one token with the push, agent and admin scopes."""

    bearer_token_env: str | None = None
    bearer_token_file: str | None = None
    tokens: list[TokenSpec] = []
    agents: list[AgentAuthSpec] = []
    open: bool = False
    read_requires_token: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> ServerAuthSpec:
        if self.bearer_token_env is not None and self.bearer_token_file is not None:
            raise invalid(
                "set bearer_token_env or bearer_token_file, not both",
                "keep the one your deployment provides",
            )
        legacy = self.bearer_token_env is not None or self.bearer_token_file is not None
        if not (legacy or self.tokens or self.agents or self.open):
            raise invalid(
                "auth grants nothing: no tokens, no agents, not open",
                "add tokens: [{name, scopes, token_env}], or remove auth (writes then need a "
                "token and get 401), or set open: true on a loopback listen",
            )
        return self


class ServerSpec(Spec):
    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:9464"
    auth: ServerAuthSpec | None = None
    max_body_size: ByteSize = 10 * 1024 * 1024


def _durability(value: str) -> str:
    if value not in ("wal", "checkpoint"):
        raise invalid(
            f"{value!r} is not a durability mode",
            "write wal (a 202 is on disk before it is answered) or checkpoint (faster, but a "
            "crash loses up to one checkpoint interval)",
        )
    return value


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise invalid(f"{value!r} is not an HTTP URL", "write http://host:port/... or https://...")
    return value


def _postgres_url(value: str) -> str:
    """A libpq URL without a password: one written here would end up in the config repository
    and in logs."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    if not value.startswith(("postgresql://", "postgres://")):
        raise invalid(
            "not a PostgreSQL URL (it must start with postgresql://)",
            "write postgresql://user@host:port/database, e.g. postgresql://hopwatch@db:5432/hopwatch",
        )
    try:
        params = conninfo_to_dict(value)
    except ProgrammingError:
        raise invalid(
            "not a valid PostgreSQL URL",
            "write postgresql://user@host:port/database, e.g. postgresql://hopwatch@db:5432/hopwatch",
        ) from None
    if params.get("password") is not None:
        raise invalid(
            "the URL holds a password",
            "remove it from the URL and set password_env or password_file",
        )
    return value


MIN_LEASE = 2.0


def _lease(value: float) -> float:
    if value < MIN_LEASE:
        raise invalid(
            f"a lease of {format_duration(value)} is shorter than {format_duration(MIN_LEASE)}",
            "the leader confirms its lock every second and steps down after half the lease "
            "without an answer; use 10s (the default) or more",
        )
    return value


class PostgresSpec(Spec):
    """``storage.postgres``: the judge's state in PostgreSQL, one leader and standbys
    (``monitor.store.postgres``, ``docs/scaling.md``)."""

    url: Annotated[str, AfterValidator(_postgres_url)]
    password_env: str | None = None
    password_file: str | None = None
    lease: Annotated[float, BeforeValidator(_duration), AfterValidator(_lease)] = 10.0
    advertise: Annotated[str, AfterValidator(_http_url)] | None = None
    """This server's URL as the others reach it: a standby's 503 names the leader by it
    (default: ``http://`` + ``server.listen``)."""

    @model_validator(mode="after")
    def _one_password_source(self) -> PostgresSpec:
        if self.password_env is not None and self.password_file is not None:
            raise invalid(
                "set password_env or password_file, not both",
                "keep the one your deployment provides",
            )
        return self


class StorageSpec(Spec):
    data_dir: str = "data"
    retention: Duration = 35 * 86400.0
    durability: Annotated[str, AfterValidator(_durability)] = "wal"
    postgres: PostgresSpec | None = None


def _not_blank(value: str) -> str:
    if not value.strip():
        raise invalid("must not be empty")
    return value


def _sqlalchemy_url(value: str) -> str:
    """A password written into the URL would end up in the config repository and in logs."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(value)
    except ArgumentError:
        raise invalid(
            "not a SQLAlchemy URL",
            "write dialect+driver://user@host:port/database, e.g. postgresql+psycopg://hopwatch@db/sink",
        ) from None
    if url.password is not None:
        raise invalid(
            "the URL holds a password",
            "remove it from the URL and set password_env or password_file",
        )
    return value


_KAFKA_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}")
_SPECIAL_PATHS = ("@key", "@timestamp")


def _kafka_topic(value: str) -> str:
    if not _KAFKA_NAME.fullmatch(value) or value in (".", ".."):
        raise invalid(
            f"{value!r} is not a valid Kafka topic or group name",
            "use up to 249 letters, digits, '.', '_' or '-'",
        )
    return value


def _bootstrap_servers(value: str) -> str:
    parts = [p.strip() for p in value.split(",")]
    if not parts or not all(_HOST_PORT.fullmatch(p) for p in parts):
        raise invalid(
            f"{value!r} is not a list of host:port",
            "write bootstrap servers as host:port[,host:port…], e.g. kafka-1:9092,kafka-2:9092",
        )
    return ",".join(parts)


def _format_name(value: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]*", value):
        raise invalid(f"{value!r} is not a decoder name", "use json, or a registered decoder")
    return value


def _field_path(value: str) -> str:
    if value in _SPECIAL_PATHS:
        return value
    if value.startswith("header:"):
        if not value[len("header:") :]:
            raise invalid("an empty header name", "write header:NAME")
        return value
    if not value or any(not part for part in value.split(".")):
        raise invalid(
            f"{value!r} is not a field path",
            "write a dotted path into the payload (a.b.c), header:NAME, @key or @timestamp",
        )
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
Text = Annotated[str, AfterValidator(_not_blank)]
AttributeKey = Annotated[str, AfterValidator(_attribute)]


class _PullSourceSpec(Spec):
    """What every pulled source has: a name (default: its kind), a schedule and a grace period."""

    name: Name | None = None
    interval: Duration = 30.0
    timeout: Duration = 10.0
    grace: DurationOrZero = 120.0
    status: Literal["ok", "rejected", "failed", "dropped"] = "ok"

    @model_validator(mode="after")
    def _timeout_within_interval(self) -> _PullSourceSpec:
        if self.timeout > self.interval:
            raise invalid(
                f"timeout {format_duration(self.timeout)} is longer than interval "
                f"{format_duration(self.interval)}",
                "a pull must end before the next one starts; shorten timeout or raise interval",
            )
        return self


class PrometheusSourceSpec(_PullSourceSpec):
    kind: Literal["prometheus"]
    url: HttpUrl
    query: Text
    step: Duration | None = None
    labels: dict[AttributeKey, str] = {}
    """attribute key -> Prometheus label whose value it takes."""
    auth: AuthSpec | None = None


class SqlSourceSpec(_PullSourceSpec):
    kind: Literal["sql"]
    url: Annotated[str, AfterValidator(_sqlalchemy_url)]
    query: Text
    password_env: str | None = None
    password_file: str | None = None
    attributes: list[AttributeKey] = []
    """Result columns, after bucket_start and count, that are attributes (in this order)."""
    time_params: Literal["datetime", "epoch"] = "datetime"

    @model_validator(mode="after")
    def _one_password_source(self) -> SqlSourceSpec:
        if self.password_env is not None and self.password_file is not None:
            raise invalid(
                "set password_env or password_file, not both",
                "keep the one your deployment provides",
            )
        return self


class HttpJsonFieldsSpec(Spec):
    bucket_start: Text = "bucket_start"
    count: Text = "count"
    status: str | None = None
    attributes: dict[AttributeKey, str] = {}


class HttpJsonSourceSpec(_PullSourceSpec):
    kind: Literal["http_json"]
    url: HttpUrl
    auth: AuthSpec | None = None
    items: str = ""
    """Dotted path to the list of items in the response; empty: the response is the list."""
    fields: HttpJsonFieldsSpec = HttpJsonFieldsSpec()
    time_format: Literal["epoch", "rfc3339"] = "epoch"


FieldPath = Annotated[str, AfterValidator(_field_path)]


KAFKA_OWNED = frozenset(
    {
        "bootstrap.servers",
        "group.id",
        "enable.auto.commit",
        "enable.auto.offset.store",
        "auto.offset.reset",
    }
)
"""Consumer settings hopwatch sets itself: its exactly-once offsets depend on them."""


def _consumer_properties(
    value: dict[str, str | int | float | bool],
) -> dict[str, str | int | float | bool]:
    owned = sorted(KAFKA_OWNED.intersection(value))
    if owned:
        raise invalid(
            f"{', '.join(owned)} is set by hopwatch (it commits offsets only after a checkpoint)",
            "remove it; the source's own bootstrap_servers and group_id keys set those two",
        )
    return value


class KafkaFieldsSpec(Spec):
    """Paths into a record: dotted payload paths, ``header:NAME``, ``@key``, ``@timestamp``."""

    event_id: FieldPath = "event_id"
    event_type: FieldPath | None = None
    event_time: FieldPath = "event_time"
    status: FieldPath | None = None
    reason: FieldPath | None = None
    observed_time: FieldPath | None = None
    """Unset: when hopwatch consumed the record (its latency then includes the consumer lag)."""
    attributes: dict[AttributeKey, FieldPath] = {}


class KafkaSourceSpec(_PullSourceSpec):
    kind: Literal["kafka"]
    bootstrap_servers: Annotated[str, AfterValidator(_bootstrap_servers)]
    topic: Annotated[str, AfterValidator(_kafka_topic)]
    group_id: Annotated[str, AfterValidator(_kafka_topic)] | None = None
    """Default ``hopwatch-<pipeline>-<hop>``: a group of hopwatch's own, never the pipeline's."""
    format: Annotated[str, AfterValidator(_format_name)] = "json"
    """A decoder of ``monitor.sources.kafka_decode`` (``json`` built in; Avro/Protobuf register)."""
    fields: KafkaFieldsSpec = KafkaFieldsSpec()
    event_type: Text = "event"
    """The event type when ``fields.event_type`` is unset or absent in a record."""
    max_lag: Duration | None = None
    interval: Duration = 5.0
    timeout: Duration = 5.0
    consumer: Annotated[
        dict[str, str | int | float | bool], AfterValidator(_consumer_properties)
    ] = Field(default_factory=dict)
    """Extra librdkafka consumer settings (TLS, SASL, ``session.timeout.ms`` ...)."""


SourceSpec = Annotated[
    PrometheusSourceSpec | SqlSourceSpec | HttpJsonSourceSpec | KafkaSourceSpec,
    Field(discriminator="kind"),
]


class HopSpec(Spec):
    name: Name
    description: str = ""
    sources: list[SourceSpec] = []


class ExpectRatioSpec(Spec):
    ratio: float = Field(gt=0, le=1)
    tolerance: float = Field(default=0.001, ge=0, lt=1)


class EdgeSpec(Spec):
    from_: str = Field(alias="from")
    to: str
    where: str | None = None
    expect: Annotated[ExpectRatioSpec | Literal["none"] | None, BeforeValidator(_expect)] = None
    keep_firing_for: Duration | None = None
    """Forbidden edges only: how long a leak alert keeps firing after the last leak (24h)."""

    @property
    def forbidden(self) -> bool:
        return self.expect == EXPECT_NONE

    @model_validator(mode="after")
    def _forbidden_needs_where(self) -> EdgeSpec:
        if self.forbidden and (self.where is None or not self.where.strip()):
            raise invalid(
                "expect: none needs a where filter",
                "say which upstream events must never reach "
                f'{self.to!r}, e.g. where: attributes.consent != "granted"; without one '
                "every event would be forbidden",
            )
        if self.keep_firing_for is not None and not self.forbidden:
            raise invalid(
                "keep_firing_for applies only to an edge with expect: none",
                "remove it, or set expect: none to make this edge a forbidden flow",
            )
        return self


class PipelineSpec(Spec):
    name: Name
    description: str = ""
    bucket: BucketWidth = 60.0
    allowed_lateness: Lateness = 300.0
    id_sampling: float = Field(default=1.0, gt=0, le=1)
    max_attribute_sets: int = Field(default=1000, ge=1, le=MAX_ATTRIBUTE_SETS)
    max_pending_ids: int = Field(default=1_000_000, ge=1)
    attributes: list[Annotated[str, AfterValidator(_attribute)]] = []
    hops: list[HopSpec] = Field(min_length=1)
    edges: list[EdgeSpec] = []


ID_KEY_ENV = "HOPWATCH_ID_KEY"
MIN_ID_KEY_BYTES = 16
"""The id hashing key's default variable and least length, as in ``monitor.client.idhash``: copied,
not imported, because config sits below the client's layer and the client imports no daemon code
(``tests/test_idhash.py`` keeps the two equal)."""


class AgentSpec(Spec):
    """``hopwatch run --mode agent``: where to ship aggregates and how much to hold meanwhile."""

    server: HttpUrl | None = None
    id: Annotated[str, AfterValidator(_agent_id)] | None = None
    auth: AuthSpec | None = None
    spool_limit: ByteSize = 256 * 1024 * 1024
    flush_interval: Duration = 5.0
    id_hash_key_env: str | None = None
    id_hash_key_file: str | None = None
    """Keyed hashing of event ids (``monitor.client.idhash``): the secret key's environment
    variable or file; with neither, ``$HOPWATCH_ID_KEY`` when set. Same key at every hop."""

    @model_validator(mode="after")
    def _one_key_source(self) -> AgentSpec:
        if self.id_hash_key_env is not None and self.id_hash_key_file is not None:
            raise invalid(
                "set id_hash_key_env or id_hash_key_file, not both",
                "keep the one your deployment provides",
            )
        return self


class ConfigSpec(Spec):
    """The main file (``hopwatch.yaml``)."""

    api_version: ApiVersion = Field(alias="apiVersion")
    server: ServerSpec = ServerSpec()
    storage: StorageSpec = StorageSpec()
    agent: AgentSpec = AgentSpec()
    include: list[str] = []
    pipelines: list[PipelineSpec] = []


class DocumentSpec(Spec):
    """Base for the other kinds of file (SLOGroup, Checks, Routing, scenarios): subclass it and
    pass the subclass to ``load_document`` / ``validate_data``."""

    api_version: ApiVersion = Field(alias="apiVersion")
    kind: str
