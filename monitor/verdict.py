"""What every check returns for one series at one moment; the alert book turns verdicts into alerts.

A check is a pure function of what the ledger closed (and its own history): it never raises an alert
itself, so it can be replayed over history and tested with exact numbers.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from monitor.labels import Labels


class Judgement(enum.StrEnum):
    OK = "ok"
    FIRING = "firing"
    NO_DATA = "no_data"
    INCOMPLETE = "incomplete"
    LEARNING = "learning"


@dataclass(frozen=True)
class Verdict:
    """One check's judgement of one series (``labels`` name it) for one closed bucket."""

    check: str
    labels: Labels
    judgement: Judgement
    at: float
    score: float = 0.0
    summary: str = ""
    bucket_start: float | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict, compare=False)
    links: Labels = ()
    """Annotations beside the summary (``runbook_url``, ``dashboard_url``), from the check's or the
    SLO's definition: notifications show them as buttons."""
