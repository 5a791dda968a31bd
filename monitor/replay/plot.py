"""``hopwatch replay ... --plot FILE.svg|png``: why a check fires, drawn.

An owner tuning a check reads numbers badly and pictures well: per replayed series, the top panel
draws the value a person reads for the kind (``HistoryRow.value``: missing events, counts, a latency
quantile), the detector's baseline as a line with a band where the evidence gives a spread, and a
red marker on every alerting bucket with the replayed alerts shaded; the bottom panel draws the
detector's own statistic against the threshold it fires at (the CUSUM against ``h``, the z-score
against its limit), so the distance to firing is visible, not just the fact.

matplotlib with the Agg backend (no display needed); imported only when a plot is asked for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from monitor.replay.history import HistoryReplay, HistoryRow, ReplayedAlert

__all__ = ["FORMATS", "MAX_SERIES", "Baseline", "baseline", "plot_replay", "statistic"]

FORMATS: Final = (".svg", ".png")
MAX_SERIES: Final = 8
"""Series drawn at most (those with alerts first): a figure of 200 panels helps no one."""

ALERT_GID: Final = "alerts"
"""The SVG id prefix of each series' alert markers (``alerts-0``, ...); tests count them."""


@dataclass(frozen=True)
class Baseline:
    """What the detector expected, in the units of the row's value; ``low``/``high`` the band."""

    center: float
    low: float | None = None
    high: float | None = None


def _num(ev: Mapping[str, Any], key: str) -> float | None:
    value = ev.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def baseline(row: HistoryRow) -> Baseline | None:
    """The expectation in the value's units, from the kinds' evidence: ``expected`` ± the
    threshold's z times ``sd`` (volume), ``expected_seconds`` (latency), the missing events the
    learned delivery ratio allows (divergence); None when the kind says nothing comparable."""
    ev = row.evidence
    expected, sd = _num(ev, "expected"), _num(ev, "sd")
    ratio = _num(ev, "baseline_ratio")
    if ratio is not None and expected is not None:  # divergence: the value is missing events
        return Baseline(expected * (1.0 - ratio))
    seconds = _num(ev, "expected_seconds")
    if seconds is not None:
        return Baseline(seconds)
    if expected is not None:
        if sd is not None:
            z = _num(ev, "threshold_z") or 3.0
            return Baseline(expected, max(0.0, expected - z * sd), expected + z * sd)
        return Baseline(expected)
    return None


STATISTICS: Final = (("statistic", "threshold"), ("cusum", "cusum_h"), ("z", "threshold_z"))
"""(statistic, threshold) evidence pairs, first present wins: what the detector compares."""


def statistic(row: HistoryRow) -> tuple[str, float, float | None] | None:
    """The detector's statistic for the bucket, its name and the threshold it fires at (if any)."""
    for stat, limit in STATISTICS:
        value = _num(row.evidence, stat)
        if value is not None:
            return stat, value, _num(row.evidence, limit)
    return None


def _series(replay: HistoryReplay) -> list[tuple[tuple[str, str], list[HistoryRow]]]:
    groups: dict[tuple[str, str], list[HistoryRow]] = {}
    for row in replay.rows:
        groups.setdefault((row.check, row.series), []).append(row)
    ordered = sorted(groups.items(), key=lambda kv: (not any(r.alert for r in kv[1]), kv[0]))
    return ordered[:MAX_SERIES]


def plot_replay(replay: HistoryReplay, path: Path) -> int:
    """Write the figure to ``path`` (SVG or PNG by its suffix); returns the series drawn."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot
    import matplotlib.pyplot as plt

    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"--plot: {path.name}: use a .svg or .png file name")
    series = _series(replay)
    if not series:
        raise ValueError("--plot: nothing was judged, so there is nothing to draw")
    fig, axes = plt.subplots(
        2 * len(series),
        1,
        figsize=(11, 3.6 * len(series)),
        sharex=True,
        gridspec_kw={"height_ratios": [2, 1] * len(series)},
        squeeze=False,
    )
    spans: dict[tuple[str, str], list[ReplayedAlert]] = {}
    for a in replay.alerts:
        spans.setdefault((a.check, a.series), []).append(a)
    for i, ((check, name), rows) in enumerate(series):
        top, bottom = axes[2 * i][0], axes[2 * i + 1][0]
        times = [datetime.fromtimestamp(r.at, UTC) for r in rows]
        values = [math.nan if r.value is None else r.value for r in rows]
        top.plot(times, values, color="#1f77b4", linewidth=1.2, label="value")
        bases = [baseline(r) for r in rows]
        center = [math.nan if b is None else b.center for b in bases]
        if any(not math.isnan(c) for c in center):
            top.plot(times, center, color="#555", linestyle="--", linewidth=1, label="baseline")
        low = [math.nan if b is None or b.low is None else b.low for b in bases]
        high = [math.nan if b is None or b.high is None else b.high for b in bases]
        if any(not math.isnan(x) for x in low):
            top.fill_between(times, low, high, color="#999", alpha=0.25, label="baseline band")
        alerting = [(t, v) for t, v, r in zip(times, values, rows, strict=True) if r.alert]
        marks = top.scatter(
            [t for t, _ in alerting],
            [0.0 if math.isnan(v) else v for _, v in alerting],
            color="#c62828",
            marker="v",
            s=28,
            zorder=3,
            label=f"alerting bucket ({len(alerting)})",
        )
        marks.set_gid(f"{ALERT_GID}-{i}")
        for a in spans.get((check, name), []):
            for ax in (top, bottom):
                ax.axvspan(
                    datetime.fromtimestamp(a.start, UTC),
                    datetime.fromtimestamp(a.end, UTC),
                    color="#c62828",
                    alpha=0.08,
                )
        top.set_title(f"{check}" + (f" [{name}]" if name else ""), loc="left", fontsize=10)
        top.set_ylabel("value")
        top.legend(loc="upper left", fontsize=8)
        stats = [statistic(r) for r in rows]
        label = next((s[0] for s in stats if s is not None), "score")
        if any(s is not None for s in stats):
            bottom.plot(
                times,
                [math.nan if s is None else s[1] for s in stats],
                color="#6a1b9a",
                linewidth=1,
                label=label,
            )
            limits = [math.nan if s is None or s[2] is None else s[2] for s in stats]
            if any(not math.isnan(x) for x in limits):
                bottom.plot(times, limits, color="#c62828", linestyle=":", label="threshold")
        else:
            bottom.plot(times, [r.score for r in rows], color="#6a1b9a", label="score")
        bottom.set_ylabel(label)
        bottom.legend(loc="upper left", fontsize=8)
    axes[-1][0].set_xlabel("bucket start (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, format=path.suffix.lower().lstrip("."))
    plt.close(fig)
    return len(series)
