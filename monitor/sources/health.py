"""The health of one pulled source: up or down, since when, and why it failed.

Adapters raise ``SourceError`` with a ``FailureReason``; the runner (``monitor.sources.pull``)
records the outcome here. What is kept is what the exporters and the alert need: the
``hopwatch_source_*`` metrics read it at scrape time, and ``down_verdict`` turns a source that has
failed for longer than its grace period into a ``HopwatchSourceDown`` verdict for the alert book.
Pure: every method takes ``now``.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass, field

from monitor.labels import labels_of
from monitor.timeutil import format_duration
from monitor.verdict import Judgement, Verdict

__all__ = ["SOURCE_DOWN_CHECK", "FailureReason", "SourceError", "SourceHealth", "SourceKey"]

SOURCE_DOWN_CHECK = "source_down"
"""The ``check`` of source-down verdicts; the alert book names the alert ``HopwatchSourceDown``."""


class FailureReason(enum.StrEnum):
    """Why a pull failed; the ``reason`` label of ``hopwatch_source_errors_total`` (a closed set)."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    HTTP_STATUS = "http_status"
    QUERY = "query"
    BAD_RESPONSE = "bad_response"
    INTERNAL = "internal"
    LAG = "lag"
    """A stream source (kafka) fell further behind its topic than the pipeline's watermark."""


class SourceError(Exception):
    """A classified pull failure. ``str`` must never hold a secret: adapters build it themselves."""

    def __init__(self, reason: FailureReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, order=True)
class SourceKey:
    """One source: the labels of its metrics and of its alert."""

    pipeline: str
    hop: str
    source: str

    def __str__(self) -> str:
        return f"{self.pipeline}/{self.hop}/{self.source}"


@dataclass
class SourceHealth:
    """Running state of one source (mutable, owned by the runner; read by the exporters)."""

    key: SourceKey
    grace: float
    up: bool = False
    last_success: float | None = None
    down_since: float | None = None
    consecutive_failures: int = 0
    last_error: str = ""
    errors: Counter[FailureReason] = field(default_factory=Counter)
    pulls: int = 0

    def succeeded(self, now: float) -> float | None:
        """Record a good pull; returns when the outage it ends began, if it ends one."""
        ended = self.down_since
        self.up, self.last_success, self.down_since = True, now, None
        self.consecutive_failures = 0
        self.pulls += 1
        return ended

    def failed(self, now: float, error: SourceError) -> None:
        self.up = False
        if self.down_since is None:
            self.down_since = now
        self.consecutive_failures += 1
        self.errors[error.reason] += 1
        self.last_error = f"{error.reason}: {error.message}"
        self.pulls += 1

    def down_verdict(self, now: float) -> Verdict:
        """FIRING once the source has been failing for ``grace``; OK otherwise (which resolves)."""
        labels = labels_of(
            {
                "pipeline": self.key.pipeline,
                "hop": self.key.hop,
                "source": self.key.source,
                "severity": "ticket",
            }
        )
        down_for = None if self.down_since is None else now - self.down_since
        if down_for is None or down_for < self.grace:
            return Verdict(SOURCE_DOWN_CHECK, labels, Judgement.OK, now)
        summary = (
            f"source {self.key} has failed for {format_duration(down_for)} "
            f"({self.consecutive_failures} pulls; last: {self.last_error}); "
            f"buckets of hop {self.key.hop} are marked incomplete, not lost"
        )
        evidence = {
            "down_since": self.down_since,
            "consecutive_failures": self.consecutive_failures,
            "last_error": self.last_error,
            "last_success": self.last_success,
        }
        return Verdict(
            SOURCE_DOWN_CHECK,
            labels,
            Judgement.FIRING,
            now,
            score=down_for,
            summary=summary,
            evidence=evidence,
        )
