"""Checks that need the whole main file: unique names, a sound edge graph, ``where`` filters,
readable secrets, existing includes, and a retention that outlasts every pipeline's buckets.

They read the raw YAML data defensively (anything of the wrong shape is skipped, the schema pass
has already reported it), so one typo does not hide a cycle three pipelines further down.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.config.auth_checks import check_server_auth
from monitor.config.errors import ConfigIssue, IssueCollector, KeyPath, format_key_path
from monitor.config.includes import KindValidator, check_included_file, include_files
from monitor.config.spec import MIN_ID_KEY_BYTES, AgentSpec, PipelineSpec, Spec, StorageSpec
from monitor.config.where import ATTRIBUTE_PREFIX, WhereSyntaxError, parse_where, referenced_fields
from monitor.config.yamlpos import Positions
from monitor.timeutil import format_duration, parse_duration


class ConfigChecker(IssueCollector):
    """Semantic checks over the raw (possibly schema-invalid) data of the main file."""

    def __init__(
        self,
        path: Path,
        data: dict[str, Any],
        positions: Positions,
        kinds: Mapping[str, KindValidator] | None = None,
    ) -> None:
        self.kinds = kinds
        super().__init__(str(path), positions)
        self.path = path
        self.base = path.parent
        self.data = data
        self.included: list[Path] = []
        self._environ: Mapping[str, str] = {}

    @property
    def issues(self) -> list[ConfigIssue]:
        return self.items

    def run(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.check_auth(environ)
        self.check_includes()
        seen: dict[str, int] = {}
        retention = _seconds(_dict(self.data.get("storage")), StorageSpec, "retention")
        for i, pipeline in enumerate(_list(self.data.get("pipelines"))):
            name = _dict(pipeline).get("name")
            if isinstance(name, str):
                if name in seen:
                    self.add(
                        ("pipelines", i, "name"),
                        f"duplicate pipeline name {name!r}; first used by pipelines[{seen[name]}]",
                        "pipeline names must be unique",
                    )
                else:
                    seen[name] = i
            self.check_pipeline(("pipelines", i), _dict(pipeline))
            self.check_retention(("pipelines", i), _dict(pipeline), retention)
            self.check_agent_flush(("pipelines", i), _dict(pipeline))

    def check_auth(self, environ: Mapping[str, str]) -> None:
        auth = _dict(_dict(self.data.get("server")).get("auth"))
        self.check_secret(("server", "auth"), auth, "bearer_token", "bearer token", environ)
        check_server_auth(self, _dict(self.data.get("server")), self.data, environ)
        agent_auth = _dict(_dict(self.data.get("agent")).get("auth"))
        self.check_secret(("agent", "auth"), agent_auth, "bearer_token", "bearer token", environ)
        agent = _dict(self.data.get("agent"))
        self.check_secret(("agent",), agent, "id_hash_key", "id hash key", environ)
        self.check_id_key(agent, environ)
        postgres = _dict(_dict(self.data.get("storage")).get("postgres"))
        self.check_secret(("storage", "postgres"), postgres, "password", "password", environ)

    def check_id_key(self, agent: dict[str, Any], environ: Mapping[str, str]) -> None:
        """A key shorter than ``MIN_ID_KEY_BYTES`` can be brute-forced; ``validate`` says so before
        the agent refuses to start with it."""
        env, file = agent.get("id_hash_key_env"), agent.get("id_hash_key_file")
        if isinstance(file, str):
            try:
                key = (self.base / file).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError):
                return  # check_secret reported it
            at = ("agent", "id_hash_key_file")
        elif isinstance(env, str):
            key = environ.get(env, "").strip()
            at = ("agent", "id_hash_key_env")
        else:
            return  # $HOPWATCH_ID_KEY alone: only an agent reads it, and refuses a short one
        if key and len(key.encode("utf-8")) < MIN_ID_KEY_BYTES:
            self.add(
                at,
                f"the id hash key is {len(key.encode('utf-8'))} bytes, at least {MIN_ID_KEY_BYTES} "
                "are needed",
                "generate one with `openssl rand -hex 32`",
            )

    def check_secret(
        self, at: KeyPath, holder: dict[str, Any], key: str, what: str, environ: Mapping[str, str]
    ) -> None:
        """The secret named by ``{key}_env`` or ``{key}_file`` in ``holder`` exists and is not blank,
        so a missing secret stops ``validate`` in CI instead of the daemon at 3 a.m."""
        env, file = holder.get(f"{key}_env"), holder.get(f"{key}_file")
        if isinstance(env, str) and file is None:
            value = environ.get(env)
            if value is None:
                self.add(
                    (*at, f"{key}_env"),
                    f"environment variable {env} is not set",
                    f"set it where hopwatch runs, or use {key}_file",
                )
            elif not value.strip():
                self.add((*at, f"{key}_env"), f"environment variable {env} is empty")
        if isinstance(file, str) and env is None:
            target = self.base / file
            try:
                secret = target.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
                self.add(
                    (*at, f"{key}_file"),
                    f"cannot read {what} file {target}: {reason}",
                    "relative paths start at the config file's directory",
                )
            else:
                if not secret.strip():
                    self.add((*at, f"{key}_file"), f"{what} file {target} is empty")

    def check_includes(self) -> None:
        for i, entry in enumerate(_list(self.data.get("include"))):
            if not isinstance(entry, str):
                continue
            target = self.base / entry
            if not target.exists():
                self.add(
                    ("include", i),
                    f"{target} does not exist",
                    "include paths are relative to the config file's directory",
                )
                continue
            for file in include_files(target):
                if file not in self.included:
                    self.included.append(file)
        for file in self.included:
            self.issues.extend(check_included_file(file, self.kinds))

    def check_retention(
        self, at: KeyPath, pipeline: dict[str, Any], retention: float | None
    ) -> None:
        """A bucket stays open ``bucket + allowed_lateness`` after it starts; a retention shorter
        than that purges what the pipeline is still counting, so events are refused as too old."""
        bucket = _seconds(pipeline, PipelineSpec, "bucket")
        lateness = _seconds(pipeline, PipelineSpec, "allowed_lateness")
        if retention is None or bucket is None or lateness is None or min(retention, bucket) <= 0:
            return  # the schema pass reports the bad value
        if retention >= bucket + lateness:
            return
        keys = [k for k in ("allowed_lateness", "bucket") if k in pipeline]
        needed = format_duration(bucket + lateness)
        self.add(
            (*at, keys[0]) if keys else at,
            f"storage.retention {format_duration(retention)} is shorter than bucket "
            f"{format_duration(bucket)} + allowed_lateness {format_duration(lateness)} = "
            f"{needed}, so every event would be rejected as too old",
            f"raise storage.retention to at least {needed}, or shorten bucket or allowed_lateness",
        )

    def check_agent_flush(self, at: KeyPath, pipeline: dict[str, Any]) -> None:
        """An agent flushes every ``flush_interval``; the server closes a bucket
        ``allowed_lateness`` after it ends. A flush slower than that lands after the close, so
        the server would first report the agent's events as missing, then as late."""
        agent = _dict(self.data.get("agent"))
        if "flush_interval" not in agent:
            return
        flush = _seconds(agent, AgentSpec, "flush_interval")
        lateness = _seconds(pipeline, PipelineSpec, "allowed_lateness")
        if flush is None or lateness is None or flush < lateness:
            return
        name = pipeline.get("name", at[-1])
        self.add(
            ("agent", "flush_interval"),
            f"flush_interval {format_duration(flush)} is not shorter than allowed_lateness "
            f"{format_duration(lateness)} of pipeline {name!r}, so agents' counts would reach "
            "the server after it closed their buckets and look like loss",
            "flush more often (e.g. 5s), or raise that pipeline's allowed_lateness",
        )

    def check_pipeline(self, at: KeyPath, pipeline: dict[str, Any]) -> None:
        hops: dict[str, int] = {}
        for j, hop in enumerate(_list(pipeline.get("hops"))):
            self.check_sources((*at, "hops", j), _dict(hop), pipeline, at)
            # A bare name (``hops: [web, queue]``) is already reported by the schema pass with
            # its fix; it still names the hop, so edges that use it draw no follow-on errors.
            name = hop if isinstance(hop, str) else _dict(hop).get("name")
            if not isinstance(name, str):
                continue
            if name in hops:
                self.add(
                    (*at, "hops", j, "name"),
                    f"duplicate hop name {name!r}; first used by hops[{hops[name]}]",
                    "hop names must be unique within a pipeline",
                )
            else:
                hops[name] = j
        attributes = {a for a in _list(pipeline.get("attributes")) if isinstance(a, str)}
        graph: dict[str, list[tuple[str, int]]] = {}
        edges_seen: dict[tuple[str, str, bool], int] = {}
        for k, raw in enumerate(_list(pipeline.get("edges"))):
            edge = _dict(raw)
            here = (*at, "edges", k)
            ends = [edge.get("from"), edge.get("to")]
            known = True
            for key, hop in zip(("from", "to"), ends, strict=True):
                if isinstance(hop, str) and hop not in hops:
                    self.add(
                        (*here, key),
                        f"unknown hop {hop!r}",
                        f"known hops: {', '.join(hops) or 'none'}",
                    )
                known = known and isinstance(hop, str) and hop in hops
            self.check_where(here, edge.get("where"), attributes, at)
            if not known:
                continue
            src, dst = str(ends[0]), str(ends[1])
            # An ordinary edge and a forbidden one (expect: none) may join the same two hops.
            pair = (src, dst, edge.get("expect") == "none")
            if src == dst:
                self.add(
                    here,
                    f"edge from {src!r} to itself",
                    "an edge joins two different hops",
                )
            elif pair in edges_seen:
                self.add(
                    here,
                    f"duplicate {'forbidden ' if pair[2] else ''}edge {src} -> {dst}; "
                    f"first at edges[{edges_seen[pair]}]",
                    "merge their where filters with 'or'",
                )
            else:
                edges_seen[pair] = k
                if not pair[2] or (src, dst, False) not in edges_seen:
                    graph.setdefault(src, []).append((dst, k))
        self.check_cycles(at, list(hops), graph)

    def check_sources(
        self, hop_at: KeyPath, hop: dict[str, Any], pipeline: dict[str, Any], pipeline_at: KeyPath
    ) -> None:
        """Names unique within the hop, attributes allow-listed, steps that tile the bucket, and
        secrets that exist (see ``monitor.sources``)."""
        names: dict[str, int] = {}
        allowed = {a for a in _list(pipeline.get("attributes")) if isinstance(a, str)}
        bucket = _seconds(pipeline, PipelineSpec, "bucket")
        for k, raw in enumerate(_list(hop.get("sources"))):
            source, here = _dict(raw), (*hop_at, "sources", k)
            name = source.get("name", source.get("kind"))
            if isinstance(name, str):
                if name in names:
                    self.add(
                        (*here, "name") if "name" in source else here,
                        f"duplicate source name {name!r}; first used by sources[{names[name]}]",
                        "give each source of a hop its own name; it becomes the source label",
                    )
                else:
                    names[name] = k
            for key_at, attribute in _source_attributes(source):
                if isinstance(attribute, str) and attribute not in allowed:
                    self.add(
                        (*here, *key_at),
                        f"attribute {attribute!r} is not in this pipeline's attributes",
                        f"add it to {format_key_path((*pipeline_at, 'attributes'))}, "
                        "or leave it out: counts keep only allow-listed attributes",
                    )
            self.check_step(here, source, bucket)
            self.check_secret(here, source, "password", "password", self._environ)
            self.check_secret(
                (*here, "auth"),
                _dict(source.get("auth")),
                "bearer_token",
                "bearer token",
                self._environ,
            )

    def check_step(self, at: KeyPath, source: dict[str, Any], bucket: float | None) -> None:
        """Prometheus points must fall on bucket boundaries, or increases straddle two buckets."""
        step = source.get("step")
        if not isinstance(step, str) or bucket is None:
            return
        try:
            seconds = parse_duration(step)
        except ValueError:
            return  # the schema pass reports it
        if seconds > 0 and (bucket % seconds or seconds > bucket):
            self.add(
                (*at, "step"),
                f"step {step} does not divide the pipeline's bucket {format_duration(bucket)}",
                "query_range points must fall on bucket boundaries; use e.g. 15s for 1m buckets",
            )

    def check_where(
        self, edge_at: KeyPath, text: Any, attributes: set[str], pipeline_at: KeyPath
    ) -> None:
        if not isinstance(text, str) or not text.strip():
            return
        key = (*edge_at, "where")
        scalar = self.pos.value_of(key)
        try:
            node = parse_where(text)
        except WhereSyntaxError as exc:
            where_at = scalar.column_of(exc.column - 1) if scalar else None
            self.add(key, exc.message, exc.hint, at=where_at)
            return
        for name in sorted(referenced_fields(node)):
            attr = name[len(ATTRIBUTE_PREFIX) :] if name.startswith(ATTRIBUTE_PREFIX) else None
            if attr is not None and attr not in attributes:
                column = text.find(name)
                where_at = scalar.column_of(column) if scalar and column >= 0 else None
                self.add(
                    key,
                    f"attribute {attr!r} is not in this pipeline's attributes, "
                    "so it is always null here",
                    f"add it to {format_key_path((*pipeline_at, 'attributes'))}",
                    at=where_at,
                    severity="warning",
                )

    def check_cycles(
        self, at: KeyPath, hops: list[str], graph: dict[str, list[tuple[str, int]]]
    ) -> None:
        """Report each back edge of a depth-first walk, naming the cycle it closes."""
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        stack: list[str] = []

        def visit(hop: str) -> None:
            state[hop] = 1
            stack.append(hop)
            for nxt, k in graph.get(hop, []):
                if state.get(nxt) == 1:
                    cycle = [*stack[stack.index(nxt) :], nxt]
                    self.add(
                        (*at, "edges", k),
                        f"edges form a cycle: {' -> '.join(cycle)}",
                        "events flow one way from sources to sinks; remove one of these edges",
                    )
                elif nxt not in state:
                    visit(nxt)
            stack.pop()
            state[hop] = 2

        for hop in hops:
            if hop not in state:
                visit(hop)


def _seconds(data: dict[str, Any], spec: type[Spec], key: str) -> float | None:
    """``data[key]`` (or the spec's default) as seconds, or None when it is not a duration."""
    if key not in data:
        return float(spec.model_fields[key].default)
    value = data[key]
    if not isinstance(value, str):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _source_attributes(source: dict[str, Any]) -> list[tuple[KeyPath, Any]]:
    """Where a source names attribute keys: (key path inside the source, attribute)."""
    out: list[tuple[KeyPath, Any]] = [(("labels", a), a) for a in _dict(source.get("labels"))]
    out += [(("attributes", i), a) for i, a in enumerate(_list(source.get("attributes")))]
    fields = _dict(source.get("fields"))
    out += [(("fields", "attributes", a), a) for a in _dict(fields.get("attributes"))]
    return out


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
