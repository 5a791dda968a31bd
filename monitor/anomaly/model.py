"""The statistical checks' model: definitions compiled from ``checks/*.yaml`` and what a detector
returns for each point it sees. Every detector is pure and streaming: ``update`` takes one closed
bucket of its series (with its time) and returns a ``Score``; it can be replayed over history.

Sensitivity is stated as false alarms per 30 days per series, never as a raw z-score: each detector
turns it into its own threshold (a CUSUM ``h``, a per-bucket significance level) given its bucket size.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

THIRTY_DAYS = 30 * 86400.0


class CheckKind(enum.StrEnum):
    """The seven original kinds, kept for callers that name one and for saved checkpoints (which
    hold these members). Which kinds exist is the registry's to say (``monitor.anomaly.kinds``,
    one plug-in per kind; a test asserts it agrees with this enum): a newer kind has no member
    here, and its ``CheckDef.kind`` is its plain name."""

    DIVERGENCE = "divergence"
    VOLUME = "volume"
    REJECTIONS = "rejections"
    FRESHNESS = "freshness"
    LATENCY = "latency"
    MIX = "mix"
    IDENTITY = "identity"


class CheckState(enum.StrEnum):
    """``learning`` until the warm-up is over: a check never alerts on a guess."""

    LEARNING = "learning"
    OK = "ok"
    WARN = "warn"
    FIRING = "firing"


@dataclass(frozen=True)
class Target:
    """What a check watches: a hop or an edge of a pipeline, optionally split by an attribute."""

    pipeline: str
    hop: str | None = None
    edge: str | None = None
    segment_by: str | None = None


@dataclass(frozen=True)
class CheckDef:
    name: str
    kind: str
    """A registered kind's name: a ``CheckKind`` member for the original seven."""
    target: Target
    false_alarms_per_30d: float = 1.0
    min_events: int = 20
    warmup: float = 86400.0
    owner: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    """Kind-specific settings (documented per kind in docs/checks.md)."""
    for_: float = 0.0
    """Seconds the condition must hold before the alert fires (pending until then)."""
    keep_firing_for: float = 0.0
    """Seconds the alert keeps firing after its condition clears (against flapping)."""
    runbook_url: str = ""
    dashboard_url: str = ""

    def arl0_buckets(self, bucket_seconds: float) -> float:
        """The tolerated mean run length to a false alarm, in buckets of one series."""
        return THIRTY_DAYS / bucket_seconds / self.false_alarms_per_30d

    def alpha(self, bucket_seconds: float) -> float:
        """Per-bucket significance that spends the false-alarm budget over 30 days."""
        return min(1.0, self.false_alarms_per_30d * bucket_seconds / THIRTY_DAYS)


@dataclass(frozen=True)
class Score:
    """One detector's judgement of one bucket. ``score`` in [0, 1] (1 = certainly anomalous);
    ``alert`` is the detector's own threshold decision; ``evidence`` holds the numbers behind it:
    observed vs expected, the statistic, the baseline period."""

    at: float
    score: float
    state: CheckState
    alert: bool = False
    evidence: Mapping[str, Any] = field(default_factory=dict)


class Detector(Protocol):
    """One series of one check. Inputs differ per kind (a count, expected/arrived, category
    counts, a latency sketch), so ``update`` takes the bucket start and the kind's input record."""

    def update(self, at: float, point: Any) -> Score: ...


def clamp01(x: float) -> float:
    return 0.0 if not math.isfinite(x) or x < 0 else 1.0 if x > 1 else x
