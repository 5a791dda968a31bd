"""Typed checkpoint records of the ``volume`` detector and its parts (``volume_model``,
``volume_precedent``, ``volume_calibration``, ``volume_variability``).

Why records and not the objects: a checkpoint outlives the code that wrote it. A record names
every learned number with an explicit type, so an upgrade that renames an attribute fails loudly
in a test instead of silently re-learning every series, and decoding a checkpoint runs no code.
Only *learned* state is recorded: everything derived from the check's parameters is rebuilt by the
detector's constructor on restore (the runner restores a series only when its check is unchanged).
Each part has ``state()`` / ``restore(state)`` beside its logic; these classes only hold data.
"""

from __future__ import annotations

import msgspec


class RollingSumState(msgspec.Struct, frozen=True):
    items: list[tuple[float, float]]
    a: float
    b: float
    since: int


class SortedWindowState(msgspec.Struct, frozen=True):
    order: list[float]
    """Arrival order (what leaves the window first)."""
    values: list[float]
    """The same values sorted, kept as they were (equal values of different sign stay put)."""


class SerialCorrelationState(msgspec.Struct, frozen=True):
    n: int
    cross: float
    square: float
    prev: float | None


class RobustLevelState(msgspec.Struct, frozen=True):
    level: float | None
    mse: float
    n: int


class SeasonalProfileState(msgspec.Struct, frozen=True):
    week: list[float]
    week_n: list[int]
    kind: list[list[float]]
    kind_n: list[list[int]]


class FitState(msgspec.Struct, frozen=True):
    square: RollingSumState
    moments: RollingSumState
    error: float
    seen: int


class RunsState(msgspec.Struct, frozen=True):
    open: bool
    top: float
    censored: bool


class ExcessTailState(msgspec.Struct, frozen=True):
    sum: float
    uncensored: float
    runs: RunsState


class RecordRateState(msgspec.Struct, frozen=True):
    exposure: float
    runs: float
    open: bool


class SlidingExtremesState(msgspec.Struct, frozen=True):
    max: list[tuple[int, float]]
    min: list[tuple[int, float]]
    count: int


class PrecedentFeatureState(msgspec.Struct, frozen=True):
    window: list[float]
    sum: float
    pending: list[tuple[int, float]]
    extremes: SlidingExtremesState
    tail: ExcessTailState
    adds: int


class VariabilityState(msgspec.Struct, frozen=True):
    features: list[PrecedentFeatureState]
    prev: float | None
    prev_normal: float | None
    last_step: float | None
    fill: float
    last_excluded: bool


class ResolutionState(msgspec.Struct, frozen=True):
    """``volume_resolution.Resolution``: the recent non-zero steps and the last value."""

    steps: list[float]
    prev: float | None


class PrecedentTestState(msgspec.Struct, frozen=True):
    values: list[PrecedentFeatureState]
    diffs: list[PrecedentFeatureState]
    variability: VariabilityState | None
    records: RecordRateState
    day_ago: list[float]
    ref: float | None
    i: int
    resolution: ResolutionState | None = None
    """None in checkpoints written before the resolution allowance: it is learned afresh."""


class TailThresholdState(msgspec.Struct, frozen=True):
    """``tail_threshold.TailThreshold``: the recent ratios and the fitted tail."""

    window: list[float]
    since_fit: int
    threshold: float
    u: float
    sigma: float
    xi: float
    peaks: int
    method: str


class AlarmGovernorState(msgspec.Struct, frozen=True):
    """``alarm_governor.AlarmGovernor``: decayed exposure, runs above r0 and their excesses."""

    exposure: float
    runs: float
    excess: float
    uncensored: float
    open: bool
    top: float


class SeasonalGainState(msgspec.Struct, frozen=True):
    """``volume_gain.SeasonalGain``: decayed observed and expected volume and their weight."""

    observed: float
    expected: float
    weight: float


class VolumeState(msgspec.Struct, frozen=True, tag="volume"):
    first_at: float | None
    holdoff_until: float
    flag_run_start: float | None
    is_count: bool
    trained: int
    run_alerted: bool
    fractional: bool
    lattice: int
    profile: SeasonalProfileState
    level: RobustLevelState
    abs_z: SortedWindowState
    serial: SerialCorrelationState
    smooth_fit: FitState
    slot_fit: FitState
    level_fit: FitState
    history: SortedWindowState
    bank_is_count: bool
    lo: list[float]
    hi: list[float]
    precedent: PrecedentTestState
    calibration: TailThresholdState | None = None
    """Added with per-series calibrated thresholds; a checkpoint written before has none, and the
    series re-learns its calibration (the model's own threshold meanwhile)."""
    governor: AlarmGovernorState | None = None
    """Added with the alarm-rate floor; a checkpoint written before has none, and the series
    starts from the model's prior (the model's own threshold)."""
    gain: SeasonalGainState | None = None
    """Added with the seasonal gain; a checkpoint written before has none (gain 1 until it has
    seen a few buckets)."""
