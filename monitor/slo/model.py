"""The SLO model the evaluator works on, compiled from ``slo_definitions/*.yaml`` (see ``spec.py``).

Layered like Sloth: YAML spec (versioned, strict) → this model (frozen, validated, defaults applied)
→ evaluation (``evaluate.py``) and Prometheus rules (``rules.py``). Nothing here knows about YAML.
Ratios are targets in (0, 1); times are seconds.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from monitor.config.model import MATCH_ALL, Where


class IndicatorKind(enum.StrEnum):
    LATENCY = "latency"
    RATIO = "ratio"
    COMPLETENESS = "completeness"
    SAMPLED = "sampled"
    BLOCKED = "blocked"


@dataclass(frozen=True)
class LatencyIndicator:
    """Events at ``from_hop`` passing ``where`` are good when ``to_hop`` sees them within
    ``threshold`` seconds of their ``event_time``, bad the moment the threshold passes without it."""

    pipeline: str
    from_hop: str
    to_hop: str
    threshold: float
    where: Where = MATCH_ALL
    kind: IndicatorKind = IndicatorKind.LATENCY


@dataclass(frozen=True)
class RatioIndicator:
    """At ``hop``, observations passing ``total`` count; those passing ``good`` (or not passing
    ``bad``) are good. Exactly one of ``good`` / ``bad`` is set."""

    pipeline: str
    hop: str
    total: Where = MATCH_ALL
    good: Where | None = None
    bad: Where | None = None
    kind: IndicatorKind = IndicatorKind.RATIO


@dataclass(frozen=True)
class CompletenessIndicator:
    """Edge conservation from the ledger: per closed, complete bucket, arrived are good, missing bad."""

    pipeline: str
    edge: str
    kind: IndicatorKind = IndicatorKind.COMPLETENESS


@dataclass(frozen=True)
class SampledIndicator:
    """Labelled observations at ``hop`` passing ``where`` (e.g. audit verdicts on identity merges)
    count once ``maturity`` seconds past their event time; those passing ``bad`` are bad. Labels
    come from a sample, so alert gating uses the Wilson bound at ``confidence``."""

    pipeline: str
    hop: str
    bad: Where
    where: Where = MATCH_ALL
    maturity: float = 0.0
    confidence: float = 0.95
    kind: IndicatorKind = IndicatorKind.SAMPLED


@dataclass(frozen=True)
class BlockedIndicator:
    """Enforcement of a forbidden edge (``expect: none``): per closed, complete bucket, the
    restricted upstream events that did not reach the ``to`` hop are good (blocked) and those that
    did are bad (leaked). "Consent enforcement hit rate: 100% of restricted events blocked" is
    this indicator; ``edge`` is the forbidden edge's name (``identity-/->activation``)."""

    pipeline: str
    edge: str
    kind: IndicatorKind = IndicatorKind.BLOCKED


Indicator = (
    LatencyIndicator | RatioIndicator | CompletenessIndicator | SampledIndicator | BlockedIndicator
)


class WindowKind(enum.StrEnum):
    ROLLING = "rolling"
    CALENDAR = "calendar"


@dataclass(frozen=True)
class TimeWindow:
    """The SLO period: rolling ``duration`` seconds, or a calendar period (``duration`` is its
    nominal length: 7d week or 30d month) aligned in ``timezone``."""

    duration: float = 28 * 86400.0
    kind: WindowKind = WindowKind.ROLLING
    timezone: str = "UTC"
    calendar_unit: str | None = None  # "week" | "month" for calendar windows


class BudgetingMethod(enum.StrEnum):
    OCCURRENCES = "occurrences"
    TIMESLICES = "timeslices"


class Severity(enum.StrEnum):
    PAGE = "page"
    TICKET = "ticket"


@dataclass(frozen=True)
class Tier:
    """One multi-window burn-rate condition: the error ratio over both ``long`` and ``short``
    windows exceeds ``burn_rate × (1 − target)``.

    ``for_`` and ``keep_firing_for`` are Prometheus's: the dataclass defaults are Prometheus's
    (0), but tiers from files and ``workbook_tiers()`` keep firing for their short window
    (``default_keep_firing_for``) unless the file says otherwise."""

    name: str
    severity: Severity
    burn_rate: float
    long_window: float
    short_window: float
    enabled: bool = True
    for_: float = 0.0
    keep_firing_for: float = 0.0

    def budget_share(self, period: float) -> float:
        """The share of the period's budget spent in ``long_window`` at this burn rate."""
        return self.burn_rate * self.long_window / period


@dataclass(frozen=True)
class LowTraffic:
    """Paging needs ``min_events`` in the long window, and (when ``binomial_alpha`` is set) a
    shortfall significant at that level under the objective."""

    min_events: int = 0
    binomial_alpha: float | None = None


@dataclass(frozen=True)
class Exclusion:
    """A period whose events do not count against the budget (planned backfill, a declared
    upstream incident). Unlike a silence it changes the score, not only the notification."""

    start: float
    end: float
    reason: str


@dataclass(frozen=True)
class SLO:
    name: str
    service: str
    target: float
    indicator: Indicator
    window: TimeWindow = TimeWindow()
    budgeting: BudgetingMethod = BudgetingMethod.OCCURRENCES
    timeslice: float = 60.0
    tiers: tuple[Tier, ...] = ()
    low_traffic: LowTraffic = LowTraffic()
    exclusions: tuple[Exclusion, ...] = ()
    owner: str = ""
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    segment_by: str | None = None
    runbook: str = ""

    @property
    def error_budget(self) -> float:
        """The allowed bad share, ``1 − target``."""
        return 1.0 - self.target

    @property
    def objective_percent(self) -> float:
        return self.target * 100.0


@dataclass(frozen=True)
class SLOGroup:
    service: str
    slos: tuple[SLO, ...]
    owner: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    source: str = ""


def default_keep_firing_for(short_window: float) -> float:
    """How long a tier keeps firing after its condition clears when its file does not say: its
    short window.

    A burn rate hovering at a tier's threshold makes the condition true at one evaluation and
    false at the next; with Prometheus's default (0) every dip resolves the page and the next
    evaluation pages again. The short window is the time scale on which the condition can
    change, so holding the alert that long makes one firing episode of a hovering burn, and a
    burn that really stopped resolves at most one short window later than it would otherwise
    (the workbook's short windows exist to bound that reset time). ``keep_firing_for: 0s``
    restores Prometheus's default.
    """
    return short_window


def workbook_tiers() -> tuple[Tier, ...]:
    """The SRE workbook's multi-window, multi-burn-rate tiers (the 28d and 30d presets share them).

    Page at 14.4× over 1h with 5m and at 6× over 6h with 30m; ticket at 3× over 1d with 2h and at
    1× over 3d with 6h. Over 30 days these spend 2%, 5%, 10% and 10% of the budget; over 28 days
    2.1%, 5.4%, 10.7% and 10.7% (``Tier.budget_share``). Each keeps firing for its short window
    (``default_keep_firing_for``).
    """
    h, m = 3600.0, 60.0
    windows = (
        ("page-1h", Severity.PAGE, 14.4, 1 * h, 5 * m),
        ("page-6h", Severity.PAGE, 6.0, 6 * h, 30 * m),
        ("ticket-1d", Severity.TICKET, 3.0, 24 * h, 2 * h),
        ("ticket-3d", Severity.TICKET, 1.0, 72 * h, 6 * h),
    )
    return tuple(
        Tier(name, severity, burn, long, short, keep_firing_for=default_keep_firing_for(short))
        for name, severity, burn, long, short in windows
    )
