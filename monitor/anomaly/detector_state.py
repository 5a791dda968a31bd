"""Typed checkpoint records of the small detectors (divergence, proportion, freshness, latency,
mix) and of a check's ``Segments``.

Why: see ``volume_state``. Each record is tagged (``type``), so a checkpoint decodes into the
union of them with ``msgspec.msgpack.decode(blob, type=...)`` and a series can never be restored
into the wrong kind of detector. Only learned state is recorded; parameters come from the check.
"""

from __future__ import annotations

import msgspec

from monitor.anomaly.volume_state import TailThresholdState


class BaselineState(msgspec.Struct, frozen=True):
    """``divergence_cusum.Baseline``, field for field."""

    ratio: float
    delivery: float
    learned: bool
    observed_ratio: float
    dispersion: float
    mean_expected: float
    events: int
    start: float
    end: float
    threshold: float
    late_discount: float = 0.0
    """Share of a promised edge's events learned to arrive after the allowed lateness (0 in
    checkpoints written before the late tail was learned: such a series re-learns it)."""


class DivergenceState(msgspec.Struct, frozen=True, tag="divergence"):
    baseline: BaselineState | None
    first_at: float | None
    learn_n: list[int]
    learn_x: list[int]
    w: list[float]
    run_n: list[int]
    run_x: list[int]
    a: list[float]
    """Log-likelihood-ratio coefficients as computed at the end of the warm-up (kept, not
    recomputed, so a restored detector scores bit for bit as the one that was saved)."""
    b: list[float]
    alarmed: bool
    fired_by: int
    late_events: float = 0.0
    """Decayed count of late arrivals amended into judged buckets (the late tail's numerator)."""
    late_exposure: float = 0.0
    """Decayed count of expected events in those buckets (its denominator)."""
    run_start: list[float] = msgspec.field(default_factory=list)
    """Bucket start of each CUSUM's current run (empty in old checkpoints: no run is amended)."""
    since_refresh: int = 0
    late_since_onset: int = 0
    learn_h: list[int] = msgspec.field(default_factory=list)
    """Hour of day of each warm-up bucket (empty in old checkpoints: such a warm-up learns a
    constant share)."""
    learn_slot: list[int] = msgspec.field(default_factory=list)
    """Quarter hour of the day (0–95) of each warm-up bucket; older checkpoints have ``learn_h``
    (hours) instead, read as the middle quarter of each hour."""
    profile_n: list[float] = msgspec.field(default_factory=list)
    """A seasonal share's 96 quarter-hour cells, decayed expected events (empty: constant share;
    24 hour-of-day cells in older checkpoints, split evenly on restore)."""
    profile_x: list[float] = msgspec.field(default_factory=list)
    """... and decayed arrivals."""
    profile_fit: list[float] = msgspec.field(default_factory=list)
    """The cells the daily share was last fitted to: [hour since the epoch, 24 expected, 24
    arrived] (empty: refit at the next bucket)."""
    step_origin: float | None = None
    """Onset of the current alarm, for the lasting-step test (None: none, or an old checkpoint)."""
    step_chunks: list[list[float]] = msgspec.field(default_factory=list)
    """The alarm's chunks: [index, arrived, expected arrivals, expected]."""
    refine: list[float] = msgspec.field(default_factory=list)
    """After a re-learn of a constant share: [expected, arrived] pooled so far."""
    refine_left: int = 0
    """Buckets judged OK still to pool before the re-learned share is refined (0: none)."""
    alarm_missing: float = 0.0
    """Events missing in the alarm's run at its onset plus its buckets since (0: no alarm)."""


class ProportionState(msgspec.Struct, frozen=True, tag="proportion"):
    hits: float
    total: float
    since: float | None
    calibration: TailThresholdState | None = None
    """The series' own threshold (``tail_threshold``); none in checkpoints written before it: the
    series re-learns it (the test's own threshold meanwhile)."""


class FreshnessState(msgspec.Struct, frozen=True, tag="freshness"):
    events: list[float]
    exposure: list[float]
    seen: int
    since: float | None
    last_event_end: float | None
    expected_in_gap: float
    silent_seconds: float


class LatencyState(msgspec.Struct, frozen=True, tag="latency"):
    history: list[float]
    """Log quantiles of the clean buckets, oldest first (the window's length is the check's)."""
    started: float | None
    calibration: TailThresholdState | None = None
    """As ``ProportionState.calibration``."""
    reference_zero: float = 0.0
    """The reference sketch of clean latencies (``latency.Reference``): its zero bin, ..."""
    reference_bins: list[list[float]] = msgspec.field(default_factory=list)
    """... its [key, weight] bins, and the origin of its decay (none in checkpoints written
    before it: the reference is learned again, and judges from its first bins)."""
    reference_origin: float | None = None


class MixState(msgspec.Struct, frozen=True, tag="mix"):
    counts: dict[str, float]
    """Decayed counts per category, in insertion order (their sum is order-sensitive)."""
    since: float | None
    calibration: TailThresholdState | None = None
    """As ``ProportionState.calibration``."""


class SegmentsState(msgspec.Struct, frozen=True):
    rollup_below: float
    span: float
    mean: dict[str, float]
    small: list[str]
