"""What a simulation run is: traffic shape, how each hop behaves, and which faults to inject.

``Scenario`` is the internal model; ``spec.py`` maps the YAML ``kind: Simulation`` document into it.
Hop behaviour defaults (``DEFAULT_HOPS``) describe the example ``signup`` pipeline in hopwatch.yaml;
a hop without an entry gets ``HopModel()``: a little latency, no rejections, no new attributes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from monitor.sim.faults import Fault
from monitor.sim.share import PassShare
from monitor.sim.traffic import Mix, TrafficModel

DEFAULT_START = 1704067200.0
"""2024-01-01T00:00:00Z, a Monday at midnight: a fixed origin so tests and benchmarks repeat exactly."""

_Z95 = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True)
class HopModel:
    """How one hop treats the events it receives when no fault is active.

    Latency is lognormal, given as median and p95 seconds because that is how people describe it
    (``median == 0`` means the hop sees the event the moment the previous hop does). A share
    ``reject_share`` of events get ``status: rejected`` with ``reject_reason``; ``adds`` are attributes
    the hop decides (identity's ``identity_action``), carried by the event from then on.
    """

    latency_median: float = 0.1
    latency_p95: float = 0.5
    reject_share: float = 0.0
    reject_reason: str = "schema_invalid"
    adds: tuple[Mix, ...] = ()

    def __post_init__(self) -> None:
        if self.latency_median < 0 or self.latency_p95 < self.latency_median:
            raise ValueError("hop latency needs 0 <= median <= p95")
        if not 0.0 <= self.reject_share <= 1.0:
            raise ValueError("reject_share must be in [0, 1]")

    def latency(self, z: np.ndarray) -> np.ndarray:
        """Latency seconds for standard normal draws ``z``."""
        if self.latency_median == 0:
            return np.zeros_like(z)
        sigma = math.log(self.latency_p95 / self.latency_median) / _Z95
        return self.latency_median * np.exp(sigma * z)


DEFAULT_HOPS: Mapping[str, HopModel] = MappingProxyType(
    {
        "sdk": HopModel(latency_median=0.0, latency_p95=0.0),
        "ingest": HopModel(
            latency_median=0.05, latency_p95=0.3, reject_share=0.005, reject_reason="schema_invalid"
        ),
        "broker": HopModel(latency_median=0.02, latency_p95=0.1),
        "identity": HopModel(
            latency_median=0.3,
            latency_p95=2.0,
            adds=(
                Mix(
                    "identity_action",
                    ("new", "matched", "merged", "split"),
                    (0.30, 0.66, 0.03, 0.01),
                ),
            ),
        ),
        "activation": HopModel(latency_median=0.5, latency_p95=3.0),
        "crm": HopModel(latency_median=2.0, latency_p95=15.0),
        "warehouse": HopModel(latency_median=30.0, latency_p95=120.0),
    }
)


@dataclass(frozen=True)
class Scenario:
    """One simulation run. ``start`` is epoch seconds; fault windows are relative to it.

    ``speed`` is only for the demo's accelerated clock (simulated seconds per real second); the
    simulator itself is pure and never looks at a clock. ``seed`` is the default seed of a run.
    """

    start: float = DEFAULT_START
    seed: int = 0
    speed: float = 60.0
    traffic: TrafficModel = field(default_factory=TrafficModel)
    hops: Mapping[str, HopModel] = field(default_factory=lambda: dict(DEFAULT_HOPS))
    faults: tuple[Fault, ...] = ()
    edges: Mapping[str, PassShare] = field(default_factory=dict)
    """Edges that pass only a share of their matching events by design (learned-ratio edges:
    consent filters, routers), by edge name; every other edge passes all of them."""

    def hop_model(self, hop: str) -> HopModel:
        """The behaviour of ``hop``: the scenario's entry, the example default, or ``HopModel()``."""
        return self.hops.get(hop) or DEFAULT_HOPS.get(hop) or HopModel()
