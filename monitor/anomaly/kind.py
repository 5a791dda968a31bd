"""What a kind of statistical check is, as one value: ``CheckKindPlugin`` and ``KindRegistry``.

Everything that differs between ``divergence``, ``volume``, ``mix`` ... lives in one plug-in per
kind (``monitor/anomaly/kinds/<kind>.py``): its YAML spec, its detector, the series points a closed
bucket gives it, how a summary reads, extra evidence, and the number replay shows. The loader
(``load.py``), the runner (``runner.py``) and replay (``monitor.replay.history``) only ever ask a
``KindRegistry``, so a new kind is one new file, never an edit to their if-chains.

Use ``monitor.anomaly.kinds.BUILTIN_KINDS`` (every module of that package) unless a test or an
embedding program passes its own registry (``BUILTIN_KINDS.with_kind(my_plugin)``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from monitor.anomaly.model import CheckDef, Detector, Score
from monitor.anomaly.spec import CheckSpec
from monitor.config.model import Config
from monitor.ledger.records import EdgeResult, HopBucket

Bucket = HopBucket | EdgeResult
Points = list[tuple[str, Any]]
"""(series, point) pairs: ``""`` is the check's only series; a point is the detector's input."""


class Targets(enum.StrEnum):
    """What a kind watches; ``load.py`` reports a check whose ``target`` names the other one."""

    HOP = "hop"
    EDGE = "edge"
    EITHER = "hop or edge"


def observed_vs_expected(bucket: Bucket, score: Score) -> str:
    """The default detail line: the detector's ``observed`` / ``expected`` evidence, if any."""
    ev = score.evidence
    observed = ev.get("observed", ev.get("observed_seconds"))
    expected = ev.get("expected", ev.get("expected_seconds"))
    if observed is not None and expected is not None:
        return f"observed {observed} vs expected {expected}"
    return ""


def anomaly_on_target(check: CheckDef) -> str:
    """The default summary subject: ``<kind> anomaly on <hop or edge>``."""
    return f"{check.kind} anomaly on {check.target.edge or check.target.hop}"


def no_evidence(bucket: Bucket) -> dict[str, Any]:
    """The default extra evidence: none beyond the detector's own."""
    return {}


def no_value(check: CheckDef, bucket: Bucket, series: str) -> float | None:
    """The default replay value: nothing a person would read for this kind."""
    return None


@dataclass(frozen=True)
class CheckKindPlugin:
    """One kind of statistical check, complete.

    ``name`` is the ``kind:`` of ``checks/*.yaml`` and the ``kind`` label of its alerts. ``spec``
    is the strict pydantic model of one check of the kind (a ``CheckSpec`` subclass, whose
    ``params()`` become ``CheckDef.params``). ``detector(check, bucket_seconds, config)`` builds
    the detector of one series. ``points(check, bucket)`` turns one closed hop bucket or edge
    result into (series, point) pairs (none: the bucket means nothing to the kind). With
    ``segmented`` the kind's points are one ``Counter`` of events per ``segment_by`` value, which
    the runner splits into series, rolling rare segments up (``Segments``). ``detail``, ``subject``
    and ``evidence`` shape the verdict a person reads; ``value`` is the number a replay row shows
    for a series in a bucket.
    """

    name: str
    spec: type[CheckSpec]
    detector: Callable[[CheckDef, float, Config], Detector]
    points: Callable[[CheckDef, Bucket], Points]
    targets: Targets = Targets.HOP
    segmented: bool = False
    detail: Callable[[Bucket, Score], str] = observed_vs_expected
    subject: Callable[[CheckDef], str] = anomaly_on_target
    evidence: Callable[[Bucket], dict[str, Any]] = no_evidence
    value: Callable[[CheckDef, Bucket, str], float | None] = no_value


@dataclass(frozen=True)
class KindRegistry:
    """The kinds one loader, runner and replay know, in the order error messages list them.

    Immutable and passed in (never a global to mutate), so a test can add a kind for itself
    without touching what the daemon runs."""

    plugins: tuple[CheckKindPlugin, ...]
    _by_name: dict[str, CheckKindPlugin] = field(
        init=False, repr=False, compare=False, hash=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for plugin in self.plugins:
            if plugin.name in self._by_name:
                raise ValueError(f"check kind {str(plugin.name)!r} is registered twice")
            self._by_name[plugin.name] = plugin

    def __getitem__(self, name: str) -> CheckKindPlugin:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"no check kind {str(name)!r}; known kinds: {', '.join(self.names)}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[CheckKindPlugin]:
        return iter(self.plugins)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(str(p.name) for p in self.plugins)

    def with_kind(self, plugin: CheckKindPlugin) -> KindRegistry:
        """This registry plus ``plugin``, listed last."""
        return KindRegistry((*self.plugins, plugin))

    def detector_for(self, check: CheckDef, bucket_seconds: float, config: Config) -> Detector:
        """The ``CheckRunner`` factory: the detector of one series of ``check``."""
        return self[check.kind].detector(check, bucket_seconds, config)


__all__ = [
    "Bucket",
    "CheckKindPlugin",
    "KindRegistry",
    "Points",
    "Targets",
    "anomaly_on_target",
    "no_evidence",
    "no_value",
    "observed_vs_expected",
]
