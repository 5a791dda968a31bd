"""Where an end-to-end delay sits: a baseline of every hop's latency on the path to a latency
check's hop, so its alert can say "of the 18 s, 15 s are at identity".

A hop's latency is cumulative from the event's creation (seen − event time), so the shift of the
checked hop splits into each upstream hop's own share (``latency.attribute``). The baselines are
learned here, beside the checks, with the same quantile, warm-up and rule as the check itself
(a ``LatencyDetector`` per path hop, whose own alarms are ignored): attribution needs no latency
check on every hop. Pure: hop buckets in, an ``Attribution`` out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from monitor.anomaly.latency import Attribution, LatencyDetector, attribute
from monitor.anomaly.model import CheckDef, CheckKind
from monitor.config.model import Config, Pipeline
from monitor.ledger.records import Completeness, HopBucket


def path_to(pipeline: Pipeline, hop: str) -> tuple[str, ...]:
    """The hops from the pipeline's source down to ``hop`` (first parent wins in a DAG)."""
    path = [hop]
    seen = {hop}
    while True:
        parents = [e.from_hop for e in pipeline.edges_to(path[-1]) if e.from_hop not in seen]
        if not parents:
            return tuple(reversed(path))
        path.append(parents[0])
        seen.add(parents[0])


class PathLatency:
    """Per-hop latency baselines for the latency checks that ask for ``attribution``."""

    def __init__(self, checks: Iterable[CheckDef], config: Config) -> None:
        self._paths: dict[str, tuple[str, ...]] = {}
        self._wanted: dict[tuple[str, str], list[CheckDef]] = {}
        for check in checks:
            t = check.target
            pipeline = config.pipeline(t.pipeline)
            if (
                check.kind is not CheckKind.LATENCY
                or t.hop is None
                or pipeline is None
                or not check.params.get("attribution", False)
            ):
                continue
            self._paths[check.name] = path_to(pipeline, t.hop)
            for hop in self._paths[check.name]:
                self._wanted.setdefault((t.pipeline, hop), []).append(check)
        self._baselines: dict[tuple[str, str], LatencyDetector] = {}
        self._current: dict[tuple[str, str], dict[str, float]] = {}

    def feed(self, buckets: Iterable[HopBucket]) -> None:
        """Learn from (and remember the latest quantile of) each hop on a watched path."""
        for bucket in buckets:
            if bucket.completeness is Completeness.INCOMPLETE:
                continue
            for check in self._wanted.get((bucket.pipeline, bucket.hop), ()):
                key = (check.name, bucket.hop)
                detector = self._baselines.get(key)
                if detector is None:
                    shadow = dataclasses.replace(check, name=f"{check.name}:{bucket.hop}")
                    detector = self._baselines[key] = LatencyDetector(shadow, bucket.bucket_seconds)
                if bucket.latency.count >= check.min_events:
                    quantile = bucket.latency.quantile(detector.quantile)
                    if quantile is not None:
                        self._current.setdefault((check.name, ""), {})[bucket.hop] = quantile
                detector.update(bucket.bucket_start, bucket.latency)

    def explain(self, check: CheckDef) -> Attribution | None:
        """The split of ``check``'s latest shift along its path, or None without baselines."""
        path = self._paths.get(check.name)
        if path is None:
            return None
        baseline: dict[str, float] = {}
        for hop in path:
            detector = self._baselines.get((check.name, hop))
            learned = detector.baseline() if detector is not None else None
            if learned is not None:
                baseline[hop] = learned
        current = self._current.get((check.name, ""), {})
        if check.target.hop not in baseline or check.target.hop not in current:
            return None
        return attribute(path, baseline, current)
