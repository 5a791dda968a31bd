"""The NAB scoring rule, as ``../shared/nab/README.md`` describes it (own implementation, no NAB code).

Use it to score any detector's per-row scores against NAB windows: ``window_rows`` turns labelled
windows into inclusive row ranges, ``row_values`` gives each scorable row its value if detected,
``file_score`` scores one file at one threshold, and ``corpus_score`` runs the exact threshold sweep
over a whole corpus (the oracle threshold) and normalises it. ``corpus_score_at`` scores a threshold
fixed in advance, which is what a deployed monitor gets. Everything works on row positions.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "PROFILES",
    "CorpusResult",
    "FileRows",
    "Profile",
    "corpus_score",
    "corpus_score_at",
    "file_score",
    "probation",
    "row_values",
    "sigma",
    "window_rows",
]


@dataclass(frozen=True)
class Profile:
    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


def sigma(y: float) -> float:
    """NAB's position function: ``2 / (1 + exp(5y)) - 1``, and ``-1`` beyond ``y = 3``."""
    if y > 3:
        return -1.0
    return -math.tanh(2.5 * y)


def probation(n_rows: int) -> int:
    """Rows ``0 … P-1`` are ignored by the score."""
    return min(math.floor(0.15 * n_rows), 750)


def window_rows(
    timestamps: Sequence[str], windows: Sequence[Sequence[str]]
) -> list[tuple[int, int]]:
    """Inclusive row ranges of windows given as ``[start, end]`` timestamps (``.ffffff`` ignored).

    Timestamps are non-decreasing strings ``YYYY-MM-DD HH:MM:SS``, so string order is time order; a
    repeated timestamp belongs wholly to the window that names it.
    """
    out: list[tuple[int, int]] = []
    for start, end in windows:
        lo = bisect_left(timestamps, start[:19])
        hi = bisect_right(timestamps, end[:19]) - 1
        if hi >= lo:
            out.append((lo, hi))
    return out


def row_values(n_rows: int, windows: Sequence[tuple[int, int]], profile: Profile) -> list[float]:
    """Value of each row if it is detected (rows before the probationary period are worth 0)."""
    values = [0.0] * n_rows
    p = probation(n_rows)
    ordered = sorted(windows)
    k = 0  # index of the next window not yet ended before i
    last: tuple[int, int] | None = None
    for i in range(p, n_rows):
        while k < len(ordered) and ordered[k][1] < i:
            last = ordered[k]
            k += 1
        inside = k < len(ordered) and ordered[k][0] <= i <= ordered[k][1]
        if inside:
            lo, hi = ordered[k]
            w = hi - lo + 1
            values[i] = profile.a_tp * sigma(-(hi - i + 1) / w) / sigma(-1.0)
        elif last is None:
            values[i] = -profile.a_fp
        else:
            lo, hi = last
            w = hi - lo + 1
            y = (i - hi) / (w - 1) if w > 1 else math.inf
            values[i] = profile.a_fp * sigma(y)
    return values


@dataclass(frozen=True)
class FileRows:
    """One file to score: its per-row detector scores and its windows as row ranges."""

    name: str
    scores: Sequence[float]
    windows: Sequence[tuple[int, int]]


def _window_of(n_rows: int, windows: Sequence[tuple[int, int]]) -> list[int]:
    owner = [-1] * n_rows
    for k, (lo, hi) in enumerate(windows):
        for i in range(lo, hi + 1):
            owner[i] = k
    return owner


def file_score(f: FileRows, threshold: float, profile: Profile) -> float:
    """``S_file(θ)``: best detection per window (or ``-A_FN``), plus every false detection."""
    n = len(f.scores)
    values = row_values(n, f.windows, profile)
    owner = _window_of(n, f.windows)
    best = [-profile.a_fn] * len(f.windows)
    hit = [False] * len(f.windows)
    fp = 0.0
    for i in range(probation(n), n):
        if f.scores[i] < threshold:
            continue
        k = owner[i]
        if k < 0:
            fp += values[i]
        elif not hit[k] or values[i] > best[k]:
            best[k], hit[k] = values[i], True
    return sum(best) + fp


@dataclass(frozen=True)
class CorpusResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float

    @property
    def normalised(self) -> float:
        return 100.0 * (self.raw - self.null) / (self.perfect - self.null)


def _bounds(files: Sequence[FileRows], profile: Profile) -> tuple[float, float]:
    k = sum(len(f.windows) for f in files)
    return -profile.a_fn * k, profile.a_tp * k


def corpus_score_at(files: Sequence[FileRows], threshold: float, profile: Profile) -> CorpusResult:
    """The normalised corpus score at a threshold fixed in advance."""
    raw = sum(file_score(f, threshold, profile) for f in files)
    null, perfect = _bounds(files, profile)
    return CorpusResult(profile.name, threshold, raw, null, perfect)


def corpus_score(files: Sequence[FileRows], profile: Profile) -> CorpusResult:
    """The exact sweep: the one threshold ``θ*`` that maximises ``Σ S_file(θ)`` over the corpus."""
    rows: list[tuple[float, float, int]] = []  # (score, value, global window id or -1)
    n_windows = 0
    for f in files:
        n = len(f.scores)
        values = row_values(n, f.windows, profile)
        owner = _window_of(n, f.windows)
        for i in range(probation(n), n):
            k = owner[i]
            rows.append((float(f.scores[i]), values[i], k + n_windows if k >= 0 else -1))
        n_windows += len(f.windows)
    rows.sort(key=lambda r: -r[0])
    null, perfect = _bounds(files, profile)
    best = [-profile.a_fn] * n_windows
    hit = [False] * n_windows
    total = null
    best_total, best_threshold = total, math.nextafter(1.0, 2.0)  # "no detections"
    for j, (score, value, k) in enumerate(rows):
        if k < 0:
            total += value
        elif not hit[k] or value > best[k]:
            total += value - best[k]
            best[k], hit[k] = value, True
        if (j + 1 == len(rows) or rows[j + 1][0] != score) and total > best_total:
            best_total, best_threshold = total, score
    return CorpusResult(profile.name, best_threshold, best_total, null, perfect)
