"""Brute-force oracles for the simulator tests, written independently of the simulator's own code.

The edge rules below restate hopwatch.yaml's ``where`` filters by hand, so a mistake in either the
simulator or the filter compiler shows up as a disagreement here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable

from monitor.records import Observation
from monitor.sim import Scenario, Simulator, example_pipeline
from monitor.sim.faults import Fault
from monitor.sim.traffic import TrafficModel

START = 1704067200.0  # 2024-01-01T00:00:00Z, a Monday


def _attr(o: Observation, key: str) -> str | None:
    return dict(o.attributes).get(key)


EDGE_RULES: dict[str, Callable[[Observation], bool]] = {
    "sdk->ingest": lambda o: True,
    "ingest->broker": lambda o: o.status == "ok",
    "broker->identity": lambda o: True,
    "identity->activation": lambda o: o.status == "ok" and _attr(o, "consent") == "granted",
    "identity->crm": lambda o: (
        o.status == "ok"
        and _attr(o, "consent") == "granted"
        and o.event_type in ("user_signed_up", "plan_upgraded")
    ),
    "broker->warehouse": lambda o: True,
}

DOWNSTREAM = {
    "sdk": {"sdk", "ingest", "broker", "identity", "activation", "crm", "warehouse"},
    "ingest": {"ingest", "broker", "identity", "activation", "crm", "warehouse"},
    "broker": {"broker", "identity", "activation", "crm", "warehouse"},
    "identity": {"identity", "activation", "crm"},
    "activation": {"activation"},
    "crm": {"crm"},
    "warehouse": {"warehouse"},
}


def ids_at(observations: Iterable[Observation], hop: str) -> set[str]:
    return {o.event_id for o in observations if o.hop == hop and o.event_id is not None}


def edge_sets(observations: list[Observation]) -> dict[str, tuple[set[str], set[str]]]:
    """Per edge: (ids at ``from`` passing the rule, ids at ``to``), by brute force."""
    out = {}
    for name, rule in EDGE_RULES.items():
        src, dst = name.split("->")
        expected = {o.event_id for o in observations if o.hop == src and rule(o)}
        out[name] = (expected, ids_at(observations, dst))
    return out


def missing(observations: list[Observation]) -> dict[str, set[str]]:
    """Per edge: ids expected at ``to`` that never arrived."""
    return {name: exp - got for name, (exp, got) in edge_sets(observations).items()}


def buckets(observations: Iterable[Observation], ids: set[str], seconds: float = 60.0) -> Counter:
    """Event-time bucket counts of the distinct events ``ids`` (first observation of each)."""
    times = {}
    for o in observations:
        if o.event_id in ids:
            times.setdefault(o.event_id, o.event_time)
    return Counter((t // seconds) * seconds for t in times.values())


def run(*faults: Fault, seed: int = 7, rate: float = 200.0) -> Simulator:
    """A simulator of the example pipeline starting Monday 00:00 UTC with ``faults``."""
    scenario = Scenario(start=START, traffic=TrafficModel(rate_per_minute=rate), faults=faults)
    return Simulator(example_pipeline(), scenario, seed=seed)
