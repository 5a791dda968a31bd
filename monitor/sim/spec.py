"""The ``kind: Simulation`` YAML document, and its mapping to a ``Scenario``.

This is the only place the simulator sees YAML. The models are strict and forbid unknown keys like
every hopwatch document (``monitor.config.spec``), so a typo in a fault (``precent: 10``) is an error
with its file:line, not a silently clean run. Shares are written as percents; times as durations
(``10m``), relative to the scenario start.
"""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from monitor.config import ConfigError, load_document
from monitor.config.spec import DocumentSpec, Duration, DurationOrZero, Spec, invalid
from monitor.sim import faults as f
from monitor.sim.scenario import DEFAULT_HOPS, DEFAULT_START, HopModel, Scenario
from monitor.sim.share import PassShare
from monitor.sim.traffic import Mix, Region, TrafficModel

Percent = Annotated[float, Field(ge=0, le=100)]
Share = Annotated[float, Field(ge=0, le=1)]


def _edge(value: str) -> str:
    src, sep, dst = value.partition("->")
    if not sep or not src.strip() or not dst.strip():
        raise invalid(
            f"{value!r} is not an edge", "write it as from->to, e.g. identity->activation"
        )
    return f"{src.strip()}->{dst.strip()}"


def _segment(value: str) -> str:
    key, sep, val = value.partition("=")
    if not sep or not key.strip() or not val.strip():
        raise invalid(f"{value!r} is not a segment", "write it as attribute=value, e.g. region=eu")
    return f"{key.strip()}={val.strip()}"


def _timestamp(value: Any) -> Any:
    """YAML gives unquoted timestamps as datetimes; accept the quoted RFC 3339 text too."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise invalid(
                f"{value!r} is not a timestamp", "write RFC 3339, e.g. 2024-01-01T00:00:00Z"
            ) from None
    return value


class LatencySpec(Spec):
    median: DurationOrZero
    p95: DurationOrZero


class HopBehaviourSpec(Spec):
    """Overrides of one hop's default behaviour (``DEFAULT_HOPS``); unset fields keep the default."""

    latency: LatencySpec | None = None
    reject_percent: Percent | None = None
    reject_reason: str | None = None


class RegionSpec(Spec):
    share: Share
    utc_offset: float = Field(default=0.0, ge=-12, le=14)


class TrafficSpec(Spec):
    """Overrides of the traffic shape (``TrafficModel``); mixes are value → share, summing to 1."""

    dispersion: float | None = Field(default=None, gt=0)
    diurnal_amplitude: float | None = Field(default=None, ge=0, lt=1)
    weekend_factor: float | None = Field(default=None, gt=0, le=3.5)
    regions: dict[str, RegionSpec] | None = None
    event_types: dict[str, Share] | None = None
    attributes: dict[str, dict[str, Share]] | None = None


class ShareStepSpec(Spec):
    """From ``at`` (after the scenario start) on, the edge passes ``pass_percent`` and stays."""

    at: DurationOrZero
    pass_percent: Percent


class EdgeBehaviourSpec(Spec):
    """A learned-ratio edge (a consent filter, a router): it passes ``pass_percent`` of its
    matching events by design, ``± daily_swing_percent`` by hour of day (highest at
    ``peak_hour`` UTC), each minute's share spread with a standard deviation of
    ``spread_percent`` (a Beta), and changed for good at each of ``steps``."""

    pass_percent: Percent
    daily_swing_percent: Percent = 0.0
    peak_hour: float = Field(default=6.0, ge=0, lt=24)
    spread_percent: Percent = 0.0
    steps: list[ShareStepSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fits(self) -> EdgeBehaviourSpec:
        for level in (self.pass_percent, *(s.pass_percent for s in self.steps)):
            swing = self.daily_swing_percent * level / self.pass_percent if self.pass_percent else 0
            if level - swing < 0 or level + swing > 100:
                raise invalid(
                    f"daily_swing_percent: ±{self.daily_swing_percent:g} around "
                    f"{level:g}% leaves 0-100%",
                    "use a swing below the distance of pass_percent to 0 and to 100",
                )
            low = (level - swing) / 100
            sd = self.spread_percent / 100
            if sd and not (low > 0 and level + swing < 100 and sd * sd < low * (1 - low)):
                raise invalid(
                    f"spread_percent: a standard deviation of {self.spread_percent:g} points is "
                    f"too wide for a share of {level - swing:g}%",
                    "a Beta needs sd² < share·(1 − share): use a smaller spread_percent",
                )
        at = [s.at for s in self.steps]
        if at != sorted(at):
            raise invalid(
                "steps: not in time order", "list the steps by their `at`, earliest first"
            )
        return self

    def to_share(self) -> PassShare:
        return PassShare(
            level=self.pass_percent / 100,
            daily_swing=self.daily_swing_percent / 100,
            peak_hour=self.peak_hour,
            spread=self.spread_percent / 100,
            steps=tuple((s.at, s.pass_percent / 100) for s in self.steps),
        )


class _FaultSpec(Spec):
    start: DurationOrZero
    duration: Duration | None = None
    """Omitted: the fault lasts until the end of the run."""

    @property
    def window(self) -> dict[str, float]:
        return {"start": self.start, "duration": self.duration or math.inf}


class LossSpec(_FaultSpec):
    kind: Literal["loss"]
    edge: Annotated[str, AfterValidator(_edge)]
    percent: Percent

    def to_fault(self) -> f.Fault:
        return f.Loss(edge=self.edge, share=self.percent / 100, **self.window)


class BypassSpec(_FaultSpec):
    """``consent_filter_bypass`` / ``residency_breach``: ``percent`` of a forbidden edge's
    restricted events reach its ``to`` hop (``edge`` names the hops: ``identity->activation``)."""

    kind: Literal["consent_filter_bypass", "residency_breach"]
    edge: Annotated[str, AfterValidator(_edge)]
    percent: Percent

    def to_fault(self) -> f.Fault:
        edge = self.edge if "-/->" in self.edge else self.edge.replace("->", "-/->", 1)
        return f.Bypass(edge=edge, share=self.percent / 100, label=self.kind, **self.window)


class LatencyFaultSpec(_FaultSpec):
    kind: Literal["latency"]
    hop: str
    add: Duration

    def to_fault(self) -> f.Fault:
        return f.Latency(hop=self.hop, seconds=self.add, **self.window)


class VolumeDropSpec(_FaultSpec):
    kind: Literal["volume_drop"]
    segment: Annotated[str, AfterValidator(_segment)]
    percent: Percent

    def to_fault(self) -> f.Fault:
        attribute, _, value = self.segment.partition("=")
        return f.VolumeDrop(
            attribute=attribute, value=value, share=self.percent / 100, **self.window
        )


class RejectionSpikeSpec(_FaultSpec):
    kind: Literal["rejection_spike"]
    hop: str
    percent: Percent
    reason: str = "schema_invalid"

    def to_fault(self) -> f.Fault:
        return f.RejectionSpike(
            hop=self.hop, share=self.percent / 100, reason=self.reason, **self.window
        )


class DuplicatesSpec(_FaultSpec):
    kind: Literal["duplicates"]
    hop: str
    percent: Percent

    def to_fault(self) -> f.Fault:
        return f.Duplicates(hop=self.hop, share=self.percent / 100, **self.window)


class LateTailSpec(_FaultSpec):
    kind: Literal["late_tail"]
    hop: str
    percent: Percent
    after: Duration = 900.0

    def to_fault(self) -> f.Fault:
        return f.LateTail(hop=self.hop, share=self.percent / 100, seconds=self.after, **self.window)


class StallSpec(_FaultSpec):
    kind: Literal["stall"]
    hop: str
    lose: bool = False

    def to_fault(self) -> f.Fault:
        return f.Stall(hop=self.hop, lose=self.lose, **self.window)


FaultSpec = Annotated[
    LossSpec
    | LatencyFaultSpec
    | VolumeDropSpec
    | RejectionSpikeSpec
    | DuplicatesSpec
    | LateTailSpec
    | StallSpec
    | BypassSpec,
    Field(discriminator="kind"),
]


class SimulationSpec(DocumentSpec):
    """A simulation run: ``apiVersion: hopwatch/v1``, ``kind: Simulation``."""

    kind: Literal["Simulation"]
    pipeline: str = "signup"
    seed: int = Field(default=0, ge=0)
    start: Annotated[datetime | None, BeforeValidator(_timestamp)] = None
    """Omitted: 2024-01-01T00:00:00Z for files run by tests; the demo starts at the current time."""
    speed: float = Field(default=60.0, gt=0)
    rate_per_minute: float = Field(default=600.0, ge=0)
    traffic: TrafficSpec = TrafficSpec()
    hops: dict[str, HopBehaviourSpec] = Field(default_factory=dict)
    edges: dict[Annotated[str, AfterValidator(_edge)], EdgeBehaviourSpec] = Field(
        default_factory=dict
    )
    """Learned-ratio edges and how their share moves, by ``from->to``."""
    faults: list[FaultSpec] = Field(default_factory=list)

    def to_scenario(self, start: float | None = None) -> Scenario:
        """The internal model; ``start`` (epoch seconds) overrides the file's ``start``.

        Raises ValueError when the values are individually valid but do not fit together
        (shares that do not sum to 1, p95 below median).
        """
        if start is None:
            start = DEFAULT_START if self.start is None else _epoch(self.start)
        return Scenario(
            start=start,
            seed=self.seed,
            speed=self.speed,
            traffic=self._traffic(),
            hops=self._hops(),
            faults=tuple(spec.to_fault() for spec in self.faults),
            edges={name: spec.to_share() for name, spec in self.edges.items()},
        )

    def _traffic(self) -> TrafficModel:
        t, base = self.traffic, TrafficModel()
        changes: dict[str, Any] = {"rate_per_minute": self.rate_per_minute}
        for name in ("dispersion", "diurnal_amplitude", "weekend_factor"):
            if getattr(t, name) is not None:
                changes[name] = getattr(t, name)
        if t.regions is not None:
            changes["regions"] = tuple(
                Region(name, r.share, r.utc_offset) for name, r in t.regions.items()
            )
        if t.event_types is not None:
            changes["event_types"] = _mix("event_type", t.event_types)
        if t.attributes is not None:
            changes["attributes"] = tuple(_mix(k, v) for k, v in t.attributes.items())
        return dataclasses.replace(base, **changes)

    def _hops(self) -> dict[str, HopModel]:
        hops = dict(DEFAULT_HOPS)
        for name, spec in self.hops.items():
            model = hops.get(name, HopModel())
            changes: dict[str, Any] = {}
            if spec.latency is not None:
                changes |= {"latency_median": spec.latency.median, "latency_p95": spec.latency.p95}
            if spec.reject_percent is not None:
                changes["reject_share"] = spec.reject_percent / 100
            if spec.reject_reason is not None:
                changes["reject_reason"] = spec.reject_reason
            hops[name] = dataclasses.replace(model, **changes)
        return hops


def _mix(name: str, shares: dict[str, float]) -> Mix:
    return Mix(name, tuple(shares), tuple(shares.values()))


def _epoch(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


def load_simulation(path: Path | str) -> SimulationSpec:
    """Read and validate a ``kind: Simulation`` file; raises ``ConfigError`` with file:line issues."""
    spec, issues = load_document(path, SimulationSpec)
    if spec is None:
        raise ConfigError(issues)
    return spec
