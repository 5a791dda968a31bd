"""Reads the checks section of checkpoints written before typed records (``version`` 0: a pickle
of ``(check, series, identity, _Series | Segments)`` tuples) and turns it into a ``ChecksRecord``.

Why it exists: an upgrade must resume every series where the old version left it, not re-learn
days of baselines. Why it is restricted: unpickling runs whatever callables the file names, so
``_V0Unpickler.find_class`` allows only hopwatch's own detector classes (mapped to where they live
now), two enums and ``collections.deque``; everything else the old objects carried (the check's
definition, its quiet schedule, the last score) becomes an inert attribute bag, and anything not
listed is refused. The objects it builds are never used: each detector's ``state()`` turns it
into its typed record at once, so only the records reach the runner.

This is the only module that imports ``pickle``. Nothing writes version 0 any more.

If a detector attribute is renamed after this, the v0 objects keep the old name: map it in
``_V0_RENAMES`` (class name -> {old attribute: new attribute}) so ``state()`` finds it.
"""

from __future__ import annotations

import io
import pickle
from collections import deque
from typing import Any

from monitor.anomaly.divergence_cusum import Baseline, DivergenceDetector
from monitor.anomaly.freshness import FreshnessDetector
from monitor.anomaly.latency import LatencyDetector
from monitor.anomaly.mix import MixDetector
from monitor.anomaly.model import CheckKind, CheckState
from monitor.anomaly.proportion import ProportionDetector
from monitor.anomaly.segments import Segments
from monitor.anomaly.state import (
    CHECKS_VERSION,
    CheckpointError,
    ChecksRecord,
    ScoreRecord,
    SegmentsRecord,
    SeriesRecord,
)
from monitor.anomaly.volume import VolumeDetector, _Fit
from monitor.anomaly.volume_calibration import ExcessTail, RecordRate, _Runs
from monitor.anomaly.volume_model import (
    RobustLevel,
    RollingSum,
    SeasonalProfile,
    SerialCorrelation,
    SortedWindow,
)
from monitor.anomaly.volume_precedent import PrecedentFeature, PrecedentTest, SlidingExtremes
from monitor.anomaly.volume_variability import Variability

_A = "monitor.anomaly"

_CLASSES: dict[tuple[str, str], type] = {
    (f"{_A}.divergence_cusum", "DivergenceDetector"): DivergenceDetector,
    (f"{_A}.divergence_cusum", "Baseline"): Baseline,
    (f"{_A}.volume", "VolumeDetector"): VolumeDetector,
    (f"{_A}.volume", "_Fit"): _Fit,
    (f"{_A}.volume_model", "SeasonalProfile"): SeasonalProfile,
    (f"{_A}.volume_model", "RobustLevel"): RobustLevel,
    (f"{_A}.volume_model", "RollingSum"): RollingSum,
    (f"{_A}.volume_model", "SortedWindow"): SortedWindow,
    (f"{_A}.volume_model", "SerialCorrelation"): SerialCorrelation,
    (f"{_A}.volume_precedent", "PrecedentTest"): PrecedentTest,
    (f"{_A}.volume_precedent", "PrecedentFeature"): PrecedentFeature,
    (f"{_A}.volume_precedent", "SlidingExtremes"): SlidingExtremes,
    (f"{_A}.volume_calibration", "ExcessTail"): ExcessTail,
    (f"{_A}.volume_calibration", "RecordRate"): RecordRate,
    (f"{_A}.volume_calibration", "_Runs"): _Runs,
    (f"{_A}.volume_variability", "Variability"): Variability,
    (f"{_A}.proportion", "ProportionDetector"): ProportionDetector,
    (f"{_A}.freshness", "FreshnessDetector"): FreshnessDetector,
    (f"{_A}.latency", "LatencyDetector"): LatencyDetector,
    (f"{_A}.mix", "MixDetector"): MixDetector,
    (f"{_A}.segments", "Segments"): Segments,
    (f"{_A}.model", "CheckState"): CheckState,
    (f"{_A}.model", "CheckKind"): CheckKind,
    ("collections", "deque"): deque,
}
"""v0 module paths -> today's classes, whose ``state()`` reads the v0 attributes."""

_INERT = {
    (f"{_A}.runner", "_Series"),
    (f"{_A}.model", "Score"),
    (f"{_A}.model", "CheckDef"),
    (f"{_A}.model", "Target"),
    (f"{_A}.quiet", "TimeInterval"),  # now monitor.time_intervals
    (f"{_A}.quiet", "TimeRange"),
    (f"{_A}.quiet", "Span"),
}
"""v0 classes whose objects are only read as data (or not at all: the check comes from the
configuration, never from the checkpoint)."""

_V0_RENAMES: dict[str, dict[str, str]] = {}


class _Inert:
    """An attribute bag: what pickle's default ``BUILD`` fills in, with no behaviour at all."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.args = args


class _V0Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _CLASSES:
            return _CLASSES[(module, name)]
        if (module, name) in _INERT:
            return type(name, (_Inert,), {})
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a v0 checkpoint")


def _renamed(obj: Any) -> Any:
    for old, new in _V0_RENAMES.get(type(obj).__name__, {}).items():
        if old in vars(obj):
            setattr(obj, new, vars(obj).pop(old))
    return obj


def _score(last: Any) -> ScoreRecord | None:
    if last is None:
        return None
    return ScoreRecord(
        at=last.at,
        score=last.score,
        state=CheckState(last.state),
        alert=bool(last.alert),
        evidence=dict(last.evidence),
    )


def read_v0(blob: bytes) -> ChecksRecord:
    """The v0 pickle as today's record; ``CheckpointError`` for anything else."""
    try:
        saved = _V0Unpickler(io.BytesIO(blob)).load()
        series: list[SeriesRecord] = []
        segments: list[SegmentsRecord] = []
        for name, key, identity, held in saved:
            if key is None:
                segments.append(SegmentsRecord(name, identity, _renamed(held).state()))
            else:
                detector = _renamed(held.detector)
                series.append(
                    SeriesRecord(name, key, identity, detector.state(), _score(held.last))
                )
    except (pickle.UnpicklingError, AttributeError, ImportError, EOFError, TypeError) as exc:
        raise CheckpointError(f"not a readable v0 checks section: {exc}") from exc
    except ValueError as exc:  # a malformed tuple, a bad enum value
        raise CheckpointError(f"not a readable v0 checks section: {exc}") from exc
    return ChecksRecord(CHECKS_VERSION, series, segments)
