"""From a main config file to the runtime ``Config``, collecting every problem before giving up.

Three passes, each reporting ``ConfigIssue`` values with file:line:col:
1. YAML with positions (``yamlpos``): syntax errors, duplicate keys.
2. The strict schema (``spec`` via ``document``): pydantic errors mapped back to the offending key.
3. Whole-file checks (``semantics``): names, the edge graph, ``where`` filters, secrets, includes.
Only when nothing is an error is the spec mapped into ``model.Config``, so nothing past this
module sees raw YAML or the spec.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from monitor.config.auth import LEGACY_NAME, LEGACY_SCOPES, AuthPolicy, Credential, Scope
from monitor.config.document import validate_data
from monitor.config.errors import ConfigError, ConfigIssue
from monitor.config.includes import KindValidator
from monitor.config.model import (
    DEFAULT_LEAK_WINDOW,
    AgentConfig,
    Config,
    Edge,
    Expectation,
    ExpectKind,
    Hop,
    HttpJsonSource,
    KafkaFields,
    KafkaSource,
    Pipeline,
    PostgresConfig,
    PrometheusSource,
    PullSourceDef,
    Schedule,
    ServerConfig,
    SqlSource,
    StorageConfig,
)
from monitor.config.semantics import ConfigChecker
from monitor.config.spec import (
    ID_KEY_ENV,
    AgentSpec,
    AuthSpec,
    ConfigSpec,
    EdgeSpec,
    HopSpec,
    HttpJsonSourceSpec,
    KafkaSourceSpec,
    PipelineSpec,
    PostgresSpec,
    PrometheusSourceSpec,
    ServerAuthSpec,
    SourceSpec,
    SqlSourceSpec,
    split_listen,
)
from monitor.config.where import compile_where
from monitor.config.yamlpos import load_yaml


def _read_secret(
    env: str | None, file: str | None, base: Path, environ: Mapping[str, str]
) -> str | None:
    """The secret named by an ``*_env`` / ``*_file`` pair (the checker has proven it readable)."""
    if env is not None:
        return environ[env].strip()
    if file is not None:
        return (base / file).read_text(encoding="utf-8").strip()
    return None


def _postgres(
    spec: PostgresSpec | None, base: Path, environ: Mapping[str, str]
) -> PostgresConfig | None:
    if spec is None:
        return None
    return PostgresConfig(
        url=spec.url,
        password=_read_secret(spec.password_env, spec.password_file, base, environ),
        lease=spec.lease,
        advertise=spec.advertise,
    )


def _read_token(auth: AuthSpec | None, base: Path, environ: Mapping[str, str]) -> str | None:
    if auth is None:
        return None
    return _read_secret(auth.bearer_token_env, auth.bearer_token_file, base, environ)


def _id_hash_key(agent: AgentSpec, base: Path, environ: Mapping[str, str]) -> bytes | None:
    """The agent's id hashing key: its ``id_hash_key_env`` / ``_file``, else ``$HOPWATCH_ID_KEY``
    (the variable the client reads too, so one secret can serve both)."""
    key = _read_secret(agent.id_hash_key_env, agent.id_hash_key_file, base, environ)
    if key is None:
        key = environ.get(ID_KEY_ENV, "").strip() or None
    return None if key is None else key.encode("utf-8")


def build_auth(spec: ServerAuthSpec | None, base: Path, environ: Mapping[str, str]) -> AuthPolicy:
    """``server.auth`` with its tokens read (the checker has proven them readable)."""
    if spec is None:
        return AuthPolicy()
    credentials: list[Credential] = []
    legacy = _read_secret(spec.bearer_token_env, spec.bearer_token_file, base, environ)
    if legacy is not None:
        credentials.append(Credential(LEGACY_NAME, LEGACY_SCOPES, legacy))
    for token in spec.tokens:
        secret = _read_secret(token.token_env, token.token_file, base, environ)
        assert secret is not None
        scopes = frozenset(Scope(s) for s in token.scopes)
        credentials.append(Credential(token.name, scopes, secret))
    for agent in spec.agents:
        secret = _read_secret(agent.token_env, agent.token_file, base, environ)
        assert secret is not None
        hops = frozenset((p, h) for p, names in agent.hops.items() for h in names)
        credentials.append(
            Credential(f"agent {agent.id}", frozenset({Scope.AGENT}), secret, agent.id, hops)
        )
    return AuthPolicy(tuple(credentials), spec.open, spec.read_requires_token)


def default_step(bucket: float) -> float:
    """The coarsest of 15s, 10s, 5s … 1s that tiles the bucket, so query_range points fall on
    bucket boundaries (a bucket that no whole second divides is its own step)."""
    return next((float(d) for d in (15, 10, 5, 3, 2, 1) if bucket % d == 0), bucket)


def _source(
    spec: SourceSpec, pipeline: PipelineSpec, base: Path, environ: Mapping[str, str], hop: str
) -> PullSourceDef:
    common = {
        "name": spec.name or spec.kind,
        "status": spec.status,
        "schedule": Schedule(spec.interval, spec.timeout, spec.grace),
    }
    if isinstance(spec, PrometheusSourceSpec):
        return PrometheusSource(
            url=spec.url,
            query=spec.query,
            step=spec.step or default_step(pipeline.bucket),
            labels=tuple(sorted(spec.labels.items())),
            bearer_token=_read_token(spec.auth, base, environ),
            **common,  # type: ignore[arg-type]
        )
    if isinstance(spec, SqlSourceSpec):
        return SqlSource(
            url=spec.url,
            query=spec.query,
            attributes=tuple(spec.attributes),
            time_params=spec.time_params,
            password=_read_secret(spec.password_env, spec.password_file, base, environ),
            **common,  # type: ignore[arg-type]
        )
    if isinstance(spec, KafkaSourceSpec):
        f = spec.fields
        return KafkaSource(
            bootstrap_servers=spec.bootstrap_servers,
            topic=spec.topic,
            group_id=spec.group_id or f"hopwatch-{pipeline.name}-{hop}",
            format=spec.format,
            fields=KafkaFields(
                event_id=f.event_id,
                event_type=f.event_type,
                event_time=f.event_time,
                status=f.status,
                reason=f.reason,
                observed_time=f.observed_time,
                attributes=tuple(sorted(f.attributes.items())),
            ),
            event_type=spec.event_type,
            max_lag=spec.max_lag,
            consumer=tuple(
                sorted(
                    (k, str(v).lower() if isinstance(v, bool) else str(v))
                    for k, v in spec.consumer.items()
                )
            ),
            **common,  # type: ignore[arg-type]
        )
    assert isinstance(spec, HttpJsonSourceSpec)
    return HttpJsonSource(
        url=spec.url,
        items=spec.items,
        bucket_start_field=spec.fields.bucket_start,
        count_field=spec.fields.count,
        status_field=spec.fields.status,
        attributes=tuple(sorted(spec.fields.attributes.items())),
        time_format=spec.time_format,
        bearer_token=_read_token(spec.auth, base, environ),
        **common,  # type: ignore[arg-type]
    )


def _hop(spec: HopSpec, pipeline: PipelineSpec, base: Path, environ: Mapping[str, str]) -> Hop:
    sources = tuple(_source(s, pipeline, base, environ, spec.name) for s in spec.sources)
    return Hop(spec.name, spec.description, sources)


def _edge(spec: EdgeSpec) -> Edge:
    where = compile_where(spec.where)
    if spec.expect is None:
        return Edge(spec.from_, spec.to, where, Expectation())
    if isinstance(spec.expect, str):  # expect: none, a forbidden flow
        window = spec.keep_firing_for or DEFAULT_LEAK_WINDOW
        return Edge(spec.from_, spec.to, where, Expectation(ExpectKind.NONE, 0.0, 0.0), window)
    expect = Expectation(ExpectKind.RATIO, spec.expect.ratio, spec.expect.tolerance)
    return Edge(spec.from_, spec.to, where, expect)


def _pipeline(spec: PipelineSpec, base: Path, environ: Mapping[str, str]) -> Pipeline:
    return Pipeline(
        name=spec.name,
        hops=tuple(_hop(h, spec, base, environ) for h in spec.hops),
        edges=tuple(_edge(e) for e in spec.edges),
        attributes=frozenset(spec.attributes),
        bucket_seconds=spec.bucket,
        allowed_lateness=spec.allowed_lateness,
        id_sampling=spec.id_sampling,
        max_attribute_sets=spec.max_attribute_sets,
        max_pending_ids=spec.max_pending_ids,
        description=spec.description,
    )


def _build(
    spec: ConfigSpec, path: Path, includes: list[Path], environ: Mapping[str, str]
) -> Config:
    host, port = split_listen(spec.server.listen)
    data_dir = Path(spec.storage.data_dir)
    return Config(
        server=ServerConfig(
            host=host,
            port=port,
            auth=build_auth(spec.server.auth, path.parent, environ),
            max_body_bytes=spec.server.max_body_size,
        ),
        storage=StorageConfig(
            data_dir=data_dir if data_dir.is_absolute() else path.parent / data_dir,
            retention=spec.storage.retention,
            durability=spec.storage.durability,
            postgres=_postgres(spec.storage.postgres, path.parent, environ),
        ),
        pipelines=tuple(_pipeline(p, path.parent, environ) for p in spec.pipelines),
        agent=AgentConfig(
            server_url=spec.agent.server,
            agent_id=spec.agent.id,
            bearer_token=_read_token(spec.agent.auth, path.parent, environ),
            spool_limit_bytes=spec.agent.spool_limit,
            flush_interval=spec.agent.flush_interval,
            id_hash_key=_id_hash_key(spec.agent, path.parent, environ),
        ),
        includes=tuple(includes),
        source=path,
    )


# --- entry points ----------------------------------------------------------------------------


def check_config(
    path: Path | str,
    environ: Mapping[str, str] | None = None,
    kinds: Mapping[str, KindValidator] | None = None,
) -> tuple[Config | None, list[ConfigIssue]]:
    """Every issue of a main config file and its includes, and the ``Config`` when there is no
    error (warnings do not block). ``environ`` defaults to ``os.environ``; tests pass their own.
    ``kinds`` validates included files by kind (``monitor.validate.KINDS``, which the daemon and
    ``hopwatch validate`` use); without it only their structure is checked here."""
    path = Path(path)
    env = os.environ if environ is None else environ
    doc = load_yaml(path)
    issues = list(doc.issues)
    if not doc.readable:
        return None, issues
    spec, schema_issues = validate_data(path, doc.data, doc.positions, ConfigSpec)
    issues.extend(schema_issues)
    data = doc.data if isinstance(doc.data, dict) else {}
    checker = ConfigChecker(path, data, doc.positions, kinds)
    if isinstance(doc.data, dict):
        checker.run(env)
    issues.extend(checker.issues)
    if spec is None or any(i.is_error for i in issues):
        return None, issues
    return _build(spec, path, checker.included, env), issues


def load_config(
    path: Path | str,
    environ: Mapping[str, str] | None = None,
    kinds: Mapping[str, KindValidator] | None = None,
) -> Config:
    """The runtime config, or ``ConfigError`` carrying every error and warning found."""
    config, issues = check_config(path, environ, kinds)
    if config is None:
        raise ConfigError(sorted(issues, key=ConfigIssue.sort_key))
    return config


__all__ = ["check_config", "load_config"]
