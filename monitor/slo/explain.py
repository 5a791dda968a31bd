"""``hopwatch slo explain NAME``: what each alerting tier of an SLO means, in plain language."""

from __future__ import annotations

from monitor.slo.model import (
    SLO,
    BlockedIndicator,
    CompletenessIndicator,
    LatencyIndicator,
    RatioIndicator,
    SampledIndicator,
    Tier,
)
from monitor.timeutil import format_duration

_NAMED = {3600.0: "an hour", 6 * 3600.0: "6 hours", 86400.0: "a day", 3 * 86400.0: "3 days"}
_LAST = {300.0: "the last 5 minutes", 3600.0: "the last hour"}


def _span(seconds: float) -> str:
    return _NAMED.get(seconds, format_duration(seconds))


def _last(seconds: float) -> str:
    return _LAST.get(seconds, f"the last {format_duration(seconds)}")


def _pct(x: float) -> str:
    return f"{x * 100:.3g}%"


def _matching(where_source: str) -> str:
    return f" matching `{where_source}`" if where_source else ""


def population(slo: SLO) -> tuple[str, str]:
    """(the events an SLO counts, what makes one bad), e.g. ("events at sdk …", "do not reach …")."""
    ind = slo.indicator
    if isinstance(ind, LatencyIndicator):
        return (
            f"events at {ind.from_hop}{_matching(ind.where.source)}",
            f"do not reach {ind.to_hop} within {format_duration(ind.threshold)}",
        )
    if isinstance(ind, RatioIndicator):
        who = f"events at {ind.hop}{_matching(ind.total.source)}"
        if ind.good is not None:
            return who, f"are not `{ind.good.source}`"
        return who, f"are `{ind.bad.source}`"  # type: ignore[union-attr]
    if isinstance(ind, CompletenessIndicator):
        return f"events expected on {ind.edge}", "never arrive"
    if isinstance(ind, BlockedIndicator):
        return f"restricted events on the forbidden edge {ind.edge}", "reach its to hop"
    if isinstance(ind, SampledIndicator):
        return (
            f"audited events at {ind.hop}{_matching(ind.where.source)}",
            f"are `{ind.bad.source}` (lower {ind.confidence:.0%} Wilson bound)",
        )
    raise TypeError(f"unknown indicator {ind!r}")


def explain_tier(slo: SLO, tier: Tier) -> str:
    period = slo.window.duration
    verb = "pages" if tier.severity == "page" else "opens a ticket"
    threshold = tier.burn_rate * slo.error_budget
    who, fail = population(slo)
    text = (
        f"{tier.name}: {verb} when more than {_pct(tier.budget_share(period))} of the "
        f"{format_duration(period)} budget is spent within {_span(tier.long_window)} "
        f"({tier.burn_rate:g}× the sustainable rate), i.e. when more than {_pct(threshold)} of "
        f"{who} {fail} over {_last(tier.long_window)} and {_last(tier.short_window)}"
    )
    if tier.for_:
        text += f", for at least {format_duration(tier.for_)}"
    if tier.keep_firing_for:
        text += f"; it keeps firing {format_duration(tier.keep_firing_for)} after that stops"
    if not tier.enabled:
        text += " (disabled)"
    return text + "."


def explain(slo: SLO) -> str:
    lines = [
        f"{slo.name} ({slo.service}): {_pct(slo.target)} over a {slo.window.kind} "
        f"{format_duration(slo.window.duration)} window; the error budget is "
        f"{_pct(slo.error_budget)} of {population(slo)[0]}.",
    ]
    lines += [f"  {explain_tier(slo, tier)}" for tier in slo.tiers]
    if slo.low_traffic.min_events:
        lines.append(
            f"  Low traffic: no alert with fewer than {slo.low_traffic.min_events} events in the long window."
        )
    if slo.low_traffic.binomial_alpha:
        lines.append(
            f"  Low traffic: the excess must be significant at α = {slo.low_traffic.binomial_alpha:g}."
        )
    if not slo.tiers:
        lines.append("  No alerting tiers: the SLO is scored but never alerts.")
    return "\n".join(lines)
