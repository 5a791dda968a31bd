"""The checks' section of a checkpoint as a versioned, typed record: every series' detector state
and every segmented check's ``Segments``, each saved with its check's identity.

Why a typed record and not pickle: decoding a pickle runs code named by the file, and it restores
whatever attributes the objects had when they were saved, so an upgrade that renamed one silently
re-learned (or broke) every series. Here ``msgspec.msgpack.decode(blob, type=ChecksRecord)``
validates every field and runs nothing; detector records are a tagged union, so a series can only
be restored into the kind of detector it came from. Checkpoints written before this record (a
pickle, ``version`` 0) are read by ``legacy_checkpoint``, the only place that imports ``pickle``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import msgspec

from monitor.anomaly.detector_state import (
    DivergenceState,
    FreshnessState,
    LatencyState,
    MixState,
    ProportionState,
    SegmentsState,
)
from monitor.anomaly.model import CheckState, Score
from monitor.anomaly.volume_state import VolumeState

CHECKS_VERSION = 1
"""The layout of ``ChecksRecord`` this code writes; 0 was the pickle (``legacy_checkpoint``)."""

DetectorState = (
    DivergenceState | VolumeState | ProportionState | FreshnessState | LatencyState | MixState
)
"""Any detector's record, told apart by its ``type`` tag."""


@runtime_checkable
class Stateful(Protocol):
    """A detector whose learned state can be checkpointed (every detector of this package).
    One without it (a test's stand-in) is not saved and learns again after a restart."""

    def state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


class CheckpointError(ValueError):
    """A checks section this code cannot read (corrupt, or written by a newer hopwatch)."""


class ScoreRecord(msgspec.Struct, frozen=True):
    """A series' last score (what /metrics exports until the series' next bucket). Evidence is
    free-form JSON-like data: tuples come back as lists."""

    at: float
    score: float
    state: CheckState
    alert: bool
    evidence: dict[str, Any]

    @classmethod
    def of(cls, score: Score) -> ScoreRecord:
        return cls(score.at, score.score, score.state, score.alert, dict(score.evidence))

    def to_score(self) -> Score:
        return Score(self.at, self.score, self.state, self.alert, dict(self.evidence))


class SeriesRecord(msgspec.Struct, frozen=True):
    """One (check, series): its detector's learned state and last score."""

    check: str
    series: str
    identity: str
    """The check's definition and bucket size when saved: a changed check starts learning."""
    detector: DetectorState
    last: ScoreRecord | None = None


class SegmentsRecord(msgspec.Struct, frozen=True):
    """A segmented check's typical counts per segment and roll-up membership."""

    check: str
    identity: str
    segments: SegmentsState


class ChecksRecord(msgspec.Struct, frozen=True):
    version: int
    series: list[SeriesRecord] = msgspec.field(default_factory=list)
    segments: list[SegmentsRecord] = msgspec.field(default_factory=list)


class _Version(msgspec.Struct):
    version: int


def _plain(obj: Any) -> Any:
    """Evidence values msgpack has no type for: numpy scalars and arrays, sets."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=repr)
    raise NotImplementedError(f"cannot checkpoint evidence of type {type(obj).__name__}")


_encoder = msgspec.msgpack.Encoder(enc_hook=_plain)
_decoder = msgspec.msgpack.Decoder(ChecksRecord)


def encode_checks(record: ChecksRecord) -> bytes:
    return _encoder.encode(record)


def decode_checks(blob: bytes) -> ChecksRecord:
    """The typed record from either format; ``CheckpointError`` when it cannot be read.

    A pickle (what hopwatch wrote before versioned records) starts with its PROTO opcode 0x80;
    a ``ChecksRecord`` is a non-empty msgpack map (0x81…0x8f, 0xde), never 0x80.
    """
    if blob[:1] == b"\x80":
        from monitor.anomaly.legacy_checkpoint import read_v0

        return read_v0(blob)
    try:
        version = msgspec.msgpack.decode(blob, type=_Version).version
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CheckpointError(f"not a checks record: {exc}") from exc
    if version > CHECKS_VERSION:
        raise CheckpointError(
            f"checks record version {version} is newer than this hopwatch ({CHECKS_VERSION})"
        )
    try:
        return _decoder.decode(blob)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CheckpointError(f"checks record version {version} unreadable: {exc}") from exc
