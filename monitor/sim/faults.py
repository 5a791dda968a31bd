"""The failures the simulator can inject, as plain records.

Each fault has a ``start`` and a ``duration`` in seconds relative to the scenario start (``duration``
``inf`` means until the end). Shares are fractions in [0, 1]; the YAML spec (``spec.py``) takes
percents and converts. When a fault is active is decided per event at a defined moment, so tests can
recompute it:

- ``Loss`` on an edge: when the event leaves the edge's ``from`` hop (its observed time there).
- ``Latency``, ``RejectionSpike``, ``Duplicates`` at a hop: when the event arrives at the hop (its
  observed time at the previous hop, or its ``event_time`` at the first hop).
- ``Stall`` of a hop: when the hop would have observed the event.
- ``VolumeDrop``: the event's ``event_time``.
- ``Bypass`` of a forbidden edge: when the event leaves the edge's ``from`` hop.

Overlapping faults of the same kind on the same target combine by taking the largest share (each
kind draws one uniform per event, so the decisions are nested, not independent); latencies add up.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, kw_only=True)
class _Window:
    start: float
    duration: float = math.inf

    def __post_init__(self) -> None:
        if self.start < 0 or self.duration <= 0:
            raise ValueError("a fault needs start >= 0 and duration > 0")

    @property
    def end(self) -> float:
        return self.start + self.duration

    def active(self, t: np.ndarray, origin: float) -> np.ndarray:
        """Which absolute times ``t`` fall inside this window when the scenario starts at ``origin``."""
        return (t >= origin + self.start) & (t < origin + self.end)


def _check_share(share: float) -> None:
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a fault share must be in [0, 1], got {share}")


@dataclass(frozen=True, kw_only=True)
class Loss(_Window):
    """A share of the events that pass ``edge``'s filter never reach its ``to`` hop or anything after."""

    edge: str
    share: float

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_share(self.share)


@dataclass(frozen=True, kw_only=True)
class Latency(_Window):
    """``seconds`` added to the hop's processing time; everything downstream shifts with it."""

    hop: str
    seconds: float


@dataclass(frozen=True, kw_only=True)
class VolumeDrop(_Window):
    """A share of the events of one segment (``attribute == value``) are never created."""

    attribute: str
    value: str
    share: float

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_share(self.share)

    @property
    def segment(self) -> str:
        return f"{self.attribute}={self.value}"


@dataclass(frozen=True, kw_only=True)
class RejectionSpike(_Window):
    """A share of the events the hop would have passed are rejected with ``reason``."""

    hop: str
    share: float
    reason: str = "schema_invalid"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_share(self.share)


@dataclass(frozen=True, kw_only=True)
class Duplicates(_Window):
    """A share of the events the hop observes are observed a second time (a redelivery)."""

    hop: str
    share: float

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_share(self.share)


@dataclass(frozen=True, kw_only=True)
class LateTail(_Window):
    """A share of the events reaching ``hop`` are observed ``seconds`` later than they would have
    been: a late tail past the allowed lateness, which the ledger books as a late amendment of a
    bucket already closed (late, not lost). Decided when the event arrives at the hop."""

    hop: str
    share: float
    seconds: float = 900.0

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_share(self.share)
        if self.seconds <= 0:
            raise ValueError("a late tail needs seconds > 0")


@dataclass(frozen=True, kw_only=True)
class Stall(_Window):
    """The hop observes nothing during the window; what it would have seen arrives after, or is lost."""

    hop: str
    lose: bool = False


@dataclass(frozen=True, kw_only=True)
class Bypass(_Window):
    """A share of the restricted events of a forbidden edge (``expect: none``: those passing its
    ``where`` at its ``from`` hop) reach its ``to`` hop anyway: a consent filter that lets a denied
    signup through (``consent_filter_bypass``), an EU profile synced to a US-only sink
    (``residency_breach``). ``label`` is the kind the scenario named it by."""

    edge: str
    share: float
    label: str = "bypass"

    def __post_init__(self) -> None:
        super().__post_init__()
        _check_share(self.share)


Fault = Loss | Latency | VolumeDrop | RejectionSpike | Duplicates | LateTail | Stall | Bypass
