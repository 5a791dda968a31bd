"""Judges every SLO's burn-rate tiers at one moment, vectorised across SLOs.

``SLOEvaluator`` owns the ``OutcomeLedger`` the indicators record into and the state of each
(SLO, tier) for ``for`` / ``keep_firing_for`` (Prometheus semantics: a true condition is pending
until it has held for ``for``; a firing tier keeps firing until ``keep_firing_for`` has passed
since the first evaluation that found its condition false). That is the only hysteresis of a
burn-rate alert: the alert book resolves an SLO verdict at the first clean one, so a tier with
``keep_firing_for: 0s`` whose burn rate hovers at its threshold flaps with every evaluation;
tiers from files keep firing for their short window unless told otherwise
(``model.default_keep_firing_for``). ``evaluate(now)`` returns one frozen ``SLOStatus`` per SLO,
and ``verdicts`` turns statuses into the ``Verdict`` the alert book consumes, one per enabled tier.

A tier's condition: the error ratio over its long window and over its short window both exceed
``burn_rate × (1 − target)``. For ``sampled`` indicators the Wilson lower bound of the bad ratio
stands in for the point estimate. Low traffic: the long window needs ``min_events``, and when
``binomial_alpha`` is set the bad count there must be a significant excess over ``1 − target``.

The tiers read event counts in every budgeting method; with ``timeslices`` budgeting the budget
(remaining, time to exhaustion) counts 1-minute slices over the period instead, as the SLI does.
Pure: ``now`` is passed in; no clock, no I/O.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec
import numpy as np

from monitor.labels import labels_of
from monitor.slo import burn
from monitor.slo.model import (
    SLO,
    BudgetingMethod,
    IndicatorKind,
    SampledIndicator,
    Severity,
    WindowKind,
)
from monitor.slo.outcomes import EPS, OutcomeLedger, period_start
from monitor.timeutil import format_duration
from monitor.verdict import Judgement, Verdict

CHECK = "slo"


class TierPhase(enum.StrEnum):
    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"


_PHASES = (TierPhase.INACTIVE, TierPhase.PENDING, TierPhase.FIRING)
_INACTIVE, _PENDING, _FIRING = 0, 1, 2


class Gate(enum.StrEnum):
    """Why a tier's burn condition was held back (``NONE`` when it was not)."""

    NONE = ""
    NO_DATA = "no_data"
    MIN_EVENTS = "min_events"
    NOT_SIGNIFICANT = "not_significant"


@dataclass(frozen=True, slots=True)
class WindowStats:
    """Counts and ratios of one SLO over one window (``window`` seconds; the period's elapsed
    part for ``SLOStatus.period``). ``sli`` and the ratios are ``None`` when there are no events."""

    window: float
    good: int
    bad: int
    pending: int
    sli: float | None
    error_ratio: float | None
    burn_rate: float | None

    @property
    def total(self) -> int:
        return self.good + self.bad


@dataclass(frozen=True, slots=True)
class TierState:
    """One tier of one SLO at one moment: whether its condition holds and the alert phase."""

    tier: str
    severity: Severity
    burn_threshold: float
    long_window: float
    short_window: float
    condition: bool
    state: TierPhase
    since: float | None
    long_ratio: float | None  # the ratio compared (the Wilson lower bound for sampled SLIs)
    short_ratio: float | None
    gate: Gate = Gate.NONE
    keep_until: float | None = None  # firing only by keep_firing_for: resolves then unless true


@dataclass(frozen=True, slots=True)
class SLOStatus:
    """Everything known about one SLO at ``at``: windows used by its tiers, the period, the
    budget, and each enabled tier's state."""

    slo: str
    service: str
    at: float
    target: float
    windows: tuple[WindowStats, ...]
    period: WindowStats
    period_slices: WindowStats | None  # timeslices budgeting only
    budget_remaining: float | None
    exhaustion_window: float  # the window whose burn rate ``time_to_exhaustion`` assumes
    time_to_exhaustion: float | None
    tiers: tuple[TierState, ...]
    excluded: int = 0

    def window(self, seconds: float) -> WindowStats:
        for stats in self.windows:
            if stats.window == seconds:
                return stats
        raise KeyError(f"{self.slo}: no window of {format_duration(seconds)}")

    def tier(self, name: str) -> TierState:
        for state in self.tiers:
            if state.tier == name:
                return state
        raise KeyError(f"{self.slo}: no enabled tier named {name!r}")


class SLOEvaluator:
    """Evaluates all SLOs each tick; the shell records outcomes into ``ledger`` and calls
    ``evaluate(now)`` then ``verdicts(statuses, now)``."""

    def __init__(self, slos: Sequence[SLO]) -> None:
        self.slos: tuple[SLO, ...] = tuple(slos)
        self.ledger = OutcomeLedger(self.slos)
        self._by_name = {s.name: s for s in self.slos}
        self._budget = np.array([s.error_budget for s in self.slos], dtype=np.float64)
        self._target = np.array([s.target for s in self.slos], dtype=np.float64)
        self._timeslices = np.array(
            [s.budgeting is BudgetingMethod.TIMESLICES for s in self.slos], dtype=bool
        )
        windows: dict[float, None] = {}
        per_slo: list[tuple[int, ...]] = []
        rows: list[tuple[int, int]] = []  # (slo row, tier position)
        for i, slo in enumerate(self.slos):
            for j, tier in enumerate(slo.tiers):
                if tier.enabled:
                    windows.setdefault(tier.long_window)
                    windows.setdefault(tier.short_window)
                    rows.append((i, j))
        self.windows: tuple[float, ...] = tuple(sorted(windows))
        col = {w: k for k, w in enumerate(self.windows)}
        for slo in self.slos:
            used = {t.long_window for t in slo.tiers if t.enabled}
            used |= {t.short_window for t in slo.tiers if t.enabled}
            per_slo.append(tuple(col[w] for w in sorted(used)))
        self._slo_windows = per_slo
        # The most recent rate a tier watches: the shortest long window of the SLO's tiers.
        self._exhaustion_window = [
            min((t.long_window for t in s.tiers if t.enabled), default=math.nan) for s in self.slos
        ]

        tiers = [self.slos[i].tiers[j] for i, j in rows]
        self._pair_slo = np.array([i for i, _ in rows], dtype=np.int64)
        self._pair_tier = [j for _, j in rows]
        self._pair_long = np.array([col[t.long_window] for t in tiers], dtype=np.int64)
        self._pair_short = np.array([col[t.short_window] for t in tiers], dtype=np.int64)
        self._threshold = np.array(
            [t.burn_rate * self.slos[i].error_budget for (i, _), t in zip(rows, tiers, strict=True)]
        )
        self._for = np.array([t.for_ for t in tiers], dtype=np.float64)
        self._keep = np.array([t.keep_firing_for for t in tiers], dtype=np.float64)
        self._min_events = np.array(
            [self.slos[i].low_traffic.min_events for i, _ in rows], dtype=np.int64
        )
        alphas = [self.slos[i].low_traffic.binomial_alpha for i, _ in rows]
        self._binomial = np.array([a is not None for a in alphas], dtype=bool)
        self._alpha = np.array([math.nan if a is None else a for a in alphas], dtype=np.float64)
        # z = 0 makes the Wilson lower bound the point estimate, so one formula serves all SLIs.
        self._z = np.array(
            [
                burn.z_score(s.indicator.confidence)
                if isinstance(s.indicator, SampledIndicator)
                else 0.0
                for s in (self.slos[i] for i, _ in rows)
            ],
            dtype=np.float64,
        )
        n_pairs = len(rows)
        self._pair_keys = [f"{self.slos[i].name}/{self.slos[i].tiers[j].name}" for i, j in rows]
        self._state = np.zeros(n_pairs, dtype=np.int8)
        self._since = np.full(n_pairs, math.nan)
        self._active_at = np.full(n_pairs, math.nan)
        self._keep_since = np.full(n_pairs, math.nan)  # first false evaluation while firing

    def phases_to_bytes(self) -> bytes:
        """Each tier's alert phase (pending / firing, since when, its ``keep_firing_for`` clock),
        for the engine's checkpoint: without it a restart would resolve a tier that is only
        firing by ``keep_firing_for`` and restart a pending tier's ``for``."""
        return msgspec.msgpack.encode(
            {
                key: [
                    int(self._state[k]),
                    _or_none(self._since[k]),
                    _or_none(self._active_at[k]),
                    _or_none(self._keep_since[k]),
                ]
                for k, key in enumerate(self._pair_keys)
            }
        )

    def restore_phases(self, data: bytes) -> None:
        """Resume from ``phases_to_bytes``; tiers that are gone or new start inactive."""
        saved = msgspec.msgpack.decode(data)
        for k, key in enumerate(self._pair_keys):
            if key in saved:
                state, since, active_at, keep_since = saved[key]
                self._state[k] = state
                self._since[k] = math.nan if since is None else since
                self._active_at[k] = math.nan if active_at is None else active_at
                self._keep_since[k] = math.nan if keep_since is None else keep_since

    def evaluate(self, now: float) -> list[SLOStatus]:
        """Judge every enabled tier of every SLO at ``now`` and advance their alert phases."""
        n = len(self.slos)
        sums = self.ledger.sums_many(now, self.windows)
        if self.windows:
            good = np.stack([sums[w][0] for w in self.windows])
            bad = np.stack([sums[w][1] for w in self.windows])
        else:
            good = bad = np.zeros((0, n), dtype=np.int64)
        ratio, has_data = burn.error_ratios(good, bad)
        burn_rates = ratio / self._budget

        condition, gate, long_gauge, short_gauge = self._conditions(good, bad)
        self._advance(condition, now)

        table = self.ledger.period_table(now)
        p_ratio, p_has = burn.error_ratios(table[0], table[1])
        s_ratio, s_has = burn.error_ratios(table[2], table[3])
        budget_ratio = np.where(self._timeslices, s_ratio, p_ratio)
        budget_has = np.where(self._timeslices, s_has, p_has)
        remaining = 1.0 - budget_ratio / self._budget
        pending = self.ledger.pending.tolist()
        _, _, excluded = self.ledger.totals()
        return self._statuses(
            now,
            good.tolist(),
            bad.tolist(),
            ratio.tolist(),
            has_data.tolist(),
            burn_rates.tolist(),
            table.tolist(),
            remaining.tolist(),
            budget_has.tolist(),
            pending,
            excluded.tolist(),
            condition.tolist(),
            gate,
            long_gauge.tolist(),
            short_gauge.tolist(),
        )

    def _conditions(
        self, good: np.ndarray, bad: np.ndarray
    ) -> tuple[np.ndarray, list[Gate], np.ndarray, np.ndarray]:
        slo = self._pair_slo
        long_good, long_bad = good[self._pair_long, slo], bad[self._pair_long, slo]
        short_good, short_bad = good[self._pair_short, slo], bad[self._pair_short, slo]
        long_n, short_n = long_good + long_bad, short_good + short_bad
        long_gauge = burn.wilson_lower(long_bad, long_n, self._z)
        short_gauge = burn.wilson_lower(short_bad, short_n, self._z)
        limit = self._threshold * (1.0 + EPS)
        burning = (long_n > 0) & (short_n > 0) & (long_gauge > limit) & (short_gauge > limit)
        enough = long_n >= self._min_events
        significant = np.ones_like(burning)
        test = burning & enough & self._binomial
        if test.any():
            significant[test] = burn.binomial_significant(
                long_bad[test], long_n[test], self._target[slo[test]], self._alpha[test]
            )
        condition = burning & enough & significant
        gate = [
            Gate.NO_DATA
            if not has
            else Gate.MIN_EVENTS
            if b and not e
            else Gate.NOT_SIGNIFICANT
            if b and not s
            else Gate.NONE
            for has, b, e, s in zip(
                (long_n > 0).tolist(),
                burning.tolist(),
                enough.tolist(),
                significant.tolist(),
                strict=True,
            )
        ]
        long_gauge = np.where(long_n > 0, long_gauge, math.nan)
        short_gauge = np.where(short_n > 0, short_gauge, math.nan)
        return condition, gate, long_gauge, short_gauge

    def _advance(self, condition: np.ndarray, now: float) -> None:
        """Prometheus alert phases: inactive → pending → firing, and back after ``keep``."""
        state = self._state
        inactive, pending, firing = state == _INACTIVE, state == _PENDING, state == _FIRING
        starts = inactive & condition
        self._active_at[starts] = now
        held = (pending | starts) & condition & (now - self._active_at >= self._for)
        to_pending = starts & ~held
        drops = pending & ~condition
        self._keep_since[condition] = math.nan
        self._keep_since[firing & ~condition & np.isnan(self._keep_since)] = now
        ends = firing & ~condition & (now - self._keep_since >= self._keep)
        state[held] = _FIRING
        state[to_pending] = _PENDING
        state[drops | ends] = _INACTIVE
        self._since[held | to_pending | drops | ends] = now
        self._active_at[drops | ends] = math.nan
        self._keep_since[ends] = math.nan

    def _statuses(
        self,
        now: float,
        good: list[list[int]],
        bad: list[list[int]],
        ratio: list[list[float]],
        has_data: list[list[bool]],
        burn_rates: list[list[float]],
        table: list[list[int]],
        remaining: list[float],
        budget_has: list[bool],
        pending: list[int],
        excluded: list[int],
        condition: list[bool],
        gate: list[Gate],
        long_gauge: list[float],
        short_gauge: list[float],
    ) -> list[SLOStatus]:
        states = self._state.tolist()
        since = self._since.tolist()
        keep_until = (self._keep_since + self._keep).tolist()
        pairs_of: list[list[int]] = [[] for _ in self.slos]
        for p, i in enumerate(self._pair_slo.tolist()):
            pairs_of[i].append(p)
        out: list[SLOStatus] = []
        for i, slo in enumerate(self.slos):
            windows = tuple(
                WindowStats(
                    window=self.windows[k],
                    good=good[k][i],
                    bad=bad[k][i],
                    pending=pending[i],
                    sli=1.0 - ratio[k][i] if has_data[k][i] else None,
                    error_ratio=ratio[k][i] if has_data[k][i] else None,
                    burn_rate=burn_rates[k][i] if has_data[k][i] else None,
                )
                for k in self._slo_windows[i]
            )
            elapsed = now - period_start(now, slo.window)
            period = _stats(elapsed, table[0][i], table[1][i], pending[i], slo.target)
            slices = (
                _stats(elapsed, table[2][i], table[3][i], 0, slo.target)
                if self._timeslices[i]
                else None
            )
            left = remaining[i] if budget_has[i] else None
            horizon = self._exhaustion_window[i]
            if math.isnan(horizon):
                horizon = elapsed
                rate = (slices or period).burn_rate
            else:
                rate = windows[[w.window for w in windows].index(horizon)].burn_rate
            tiers = []
            for p in pairs_of[i]:
                tier = slo.tiers[self._pair_tier[p]]
                tiers.append(
                    TierState(
                        tier=tier.name,
                        severity=tier.severity,
                        burn_threshold=tier.burn_rate,
                        long_window=tier.long_window,
                        short_window=tier.short_window,
                        condition=condition[p],
                        state=_PHASES[states[p]],
                        since=None if math.isnan(since[p]) else since[p],
                        long_ratio=None if math.isnan(long_gauge[p]) else long_gauge[p],
                        short_ratio=None if math.isnan(short_gauge[p]) else short_gauge[p],
                        gate=gate[p],
                        keep_until=None if math.isnan(keep_until[p]) else keep_until[p],
                    )
                )
            out.append(
                SLOStatus(
                    slo=slo.name,
                    service=slo.service,
                    at=now,
                    target=slo.target,
                    windows=windows,
                    period=period,
                    period_slices=slices,
                    budget_remaining=left,
                    exhaustion_window=horizon,
                    time_to_exhaustion=burn.time_to_exhaustion(left, rate, slo.window.duration),
                    tiers=tuple(tiers),
                    excluded=excluded[i],
                )
            )
        return out

    def verdicts(self, statuses: Sequence[SLOStatus], now: float) -> list[Verdict]:
        """One verdict per (SLO, enabled tier): FIRING while the tier fires, NO_DATA when its
        long window has no events, else OK."""
        out: list[Verdict] = []
        for status in statuses:
            slo = self._by_name[status.slo]
            for tier in status.tiers:
                out.append(_verdict(slo, status, tier, now))
        return out


def _stats(window: float, good: int, bad: int, pending: int, target: float) -> WindowStats:
    ratio = burn.error_ratio(good, bad)
    return WindowStats(
        window=window,
        good=good,
        bad=bad,
        pending=pending,
        sli=None if ratio is None else 1.0 - ratio,
        error_ratio=ratio,
        burn_rate=burn.burn_rate(ratio, target),
    )


def period_label(slo: SLO) -> str:
    """``28d`` for a rolling period, ``calendar month (Europe/Berlin)`` for a calendar one."""
    window = slo.window
    if window.kind is WindowKind.CALENDAR:
        unit = window.calendar_unit or ("week" if window.duration <= 7 * 86400 else "month")
        return f"calendar {unit} ({window.timezone})"
    return format_duration(window.duration)


def _verdict(slo: SLO, status: SLOStatus, tier: TierState, now: float) -> Verdict:
    long, short = status.window(tier.long_window), status.window(tier.short_window)
    long_label, short_label = format_duration(tier.long_window), format_duration(tier.short_window)
    labels = labels_of(
        {
            "slo": slo.name,
            "service": slo.service,
            "tier": tier.tier,
            "long": long_label,
            "short": short_label,
            "severity": str(tier.severity),
        }
    )
    if tier.state is TierPhase.FIRING:
        judgement = Judgement.FIRING
    elif long.total == 0:
        judgement = Judgement.NO_DATA
    else:
        judgement = Judgement.OK
    evidence = {
        "state": str(tier.state),
        "since": tier.since,
        "condition": tier.condition,
        "gate": str(tier.gate),
        "keep_firing_until": tier.keep_until,
        "burn_threshold": tier.burn_threshold,
        "error_ratio_threshold": tier.burn_threshold * slo.error_budget,
        "burn_rate_long": long.burn_rate,
        "burn_rate_short": short.burn_rate,
        "error_ratio_long": long.error_ratio,
        "error_ratio_short": short.error_ratio,
        "compared_ratio_long": tier.long_ratio,
        "compared_ratio_short": tier.short_ratio,
        "good_long": long.good,
        "bad_long": long.bad,
        "good_short": short.good,
        "bad_short": short.bad,
        "pending": long.pending,
        "budget_remaining": status.budget_remaining,
        "time_to_exhaustion": status.time_to_exhaustion,
        "period": period_label(slo),
    }
    return Verdict(
        check=CHECK,
        labels=labels,
        judgement=judgement,
        at=now,
        score=long.burn_rate or 0.0,
        summary=summary(slo, status, tier),
        evidence=evidence,
        links=(("runbook_url", slo.runbook),) if slo.runbook else (),
    )


def summary(slo: SLO, status: SLOStatus, tier: TierState) -> str:
    """``signup-latency: 14.4× burn over 1h (14.4%) and 30.2× over 5m (30.2%), pages above 14.4×;
    71% of the 28d budget left, exhausted in 1h20m at this rate``."""
    long, short = status.window(tier.long_window), status.window(tier.short_window)
    long_label, short_label = format_duration(tier.long_window), format_duration(tier.short_window)
    if long.total == 0:
        head = f"{slo.name}: no events over {long_label}"
    else:
        head = (
            f"{slo.name}: {_times(long.burn_rate)} burn over {long_label} "
            f"({_percent(long.error_ratio)}) and {_times(short.burn_rate)} over {short_label} "
            f"({_percent(short.error_ratio)}), {tier.severity}s above {tier.burn_threshold:g}×"
        )
    if slo.indicator.kind is IndicatorKind.SAMPLED and tier.long_ratio is not None:
        head += f" (Wilson lower bound {_percent(tier.long_ratio)} over {long_label})"
    if tier.gate in (Gate.MIN_EVENTS, Gate.NOT_SIGNIFICANT):
        head += (
            f"; held back: {long.total} events over {long_label}, fewer than "
            f"{slo.low_traffic.min_events}"
            if tier.gate is Gate.MIN_EVENTS
            else f"; held back: {long.bad} bad of {long.total} is not a significant excess "
            f"at alpha {slo.low_traffic.binomial_alpha:g}"
        )
    if tier.keep_until is not None:
        head += (
            f"; condition clear, keeps firing {format_duration(tier.keep_until - status.at)} "
            "more unless it returns (keep_firing_for)"
        )
    return f"{head}; {_budget(slo, status)}"


def _budget(slo: SLO, status: SLOStatus) -> str:
    left = status.budget_remaining
    period = period_label(slo)
    if left is None:
        return f"no events yet in the {period} period"
    if left <= 0.0:
        return f"the {period} budget is exhausted ({_percent(-left)} overspent)"
    text = f"{left:.0%} of the {period} budget left"
    ttx = status.time_to_exhaustion
    if ttx is None:
        return f"{text}, not being spent at the {format_duration(status.exhaustion_window)} rate"
    # Whole minutes: seconds are noise at the scale of a budget.
    return (
        f"{text}, exhausted in {format_duration(max(60.0, round(ttx / 60.0) * 60.0))} at this rate"
    )


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}×"


def _or_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
