"""A deterministic traffic simulator with fault injection, for the demo, tests and benchmarks.

``Simulator`` produces the observations a real pipeline's hops would report; ``Scenario`` says what
traffic to make and which faults (``Loss``, ``Latency``, ``VolumeDrop``, ``RejectionSpike``,
``Duplicates``, ``Stall``) to inject, and which edges pass only a share of their events by design (``PassShare``: a
learned-ratio edge whose share cycles by hour, spreads per minute or steps); ``GroundTruth`` records what the faults did, so hopwatch's
findings can be checked exactly. ``SimulationSpec`` is the YAML form (``kind: Simulation``).
"""

from monitor.sim.example import example_pipeline
from monitor.sim.faults import (
    Bypass,
    Duplicates,
    Fault,
    Latency,
    LateTail,
    Loss,
    RejectionSpike,
    Stall,
    VolumeDrop,
)
from monitor.sim.scenario import DEFAULT_HOPS, DEFAULT_START, HopModel, Scenario
from monitor.sim.share import PassShare
from monitor.sim.simulator import Simulator
from monitor.sim.spec import SimulationSpec, load_simulation
from monitor.sim.traffic import Mix, Region, TrafficModel
from monitor.sim.truth import GroundTruth

__all__ = [
    "DEFAULT_HOPS",
    "DEFAULT_START",
    "Bypass",
    "Duplicates",
    "Fault",
    "GroundTruth",
    "HopModel",
    "LateTail",
    "Latency",
    "Loss",
    "Mix",
    "PassShare",
    "Region",
    "RejectionSpike",
    "Scenario",
    "SimulationSpec",
    "Simulator",
    "Stall",
    "TrafficModel",
    "VolumeDrop",
    "example_pipeline",
    "load_simulation",
]
