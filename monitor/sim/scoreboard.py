"""The demo's scoreboard: each injected fault, what detected it and how fast, against ground truth.

Why: a demo that scrolls alerts past a new user does not answer the question they came with,
"does hopwatch find what goes wrong?". The scoreboard does, fault by fault: when it started, the
first alert that matched it (a check, or an SLO tier), when, the delay, and what the simulator
really did (``GroundTruth``). Faults the bundled checks cannot see in a short run (their warm-up
is longer than the run before the fault) are listed as *not expected in a short demo*, not as
misses, and faults the run did not reach as *not reached*.

Matching: an alert matches a fault when it started firing inside the fault's window plus
``GRACE`` (buckets close ``allowed_lateness`` after their end, and detectors need a few), and
it names the fault's edge or hop (a check's ``edge``/``hop``/``from_hop``/``to_hop`` labels).
An SLO alert names no hop: it matches by time only, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from monitor.alerting.alert import Alert, AlertState
from monitor.anomaly.model import CheckDef
from monitor.sim.faults import (
    Bypass,
    Duplicates,
    Fault,
    Latency,
    Loss,
    RejectionSpike,
    Stall,
    VolumeDrop,
)
from monitor.sim.truth import GroundTruth
from monitor.timeutil import format_duration

GRACE = 15 * 60.0


@dataclass(frozen=True)
class Detection:
    """An alert's first firing, as the scoreboard needs it."""

    name: str
    labels: dict[str, str]
    at: float

    @classmethod
    def of(cls, alert: Alert) -> Detection:
        return cls(alert.name, dict(alert.labels), alert.starts_at)

    @property
    def is_slo(self) -> bool:
        return "slo" in self.labels

    def describe(self) -> str:
        if self.is_slo:
            tier = self.labels.get("tier", "")
            return f"SLO {self.labels['slo']} tier {tier} ({self.name}, by time)"
        check = self.labels.get("check_name")
        return f"check {check} ({self.name})" if check else self.name


@dataclass(frozen=True)
class Row:
    """One fault's line of the scoreboard."""

    fault: Fault
    start: float
    """Absolute (simulated) start."""
    truth: str
    detection: Detection | None
    verdict: str
    """``detected``, ``missed``, ``not expected in a short demo``, ``not reached`` or ``not yet
    detected`` (the run stopped before the fault's window and grace were over)."""

    @property
    def delay(self) -> float | None:
        return None if self.detection is None else self.detection.at - self.start


def fault_kind(fault: Fault) -> str:
    return type(fault).__name__.lower()


def fault_target(fault: Fault) -> tuple[str, str]:
    """(label, value) of what the fault hits: ``edge``, ``hop`` or ``segment``."""
    if isinstance(fault, Loss | Bypass):
        return "edge", fault.edge
    if isinstance(fault, VolumeDrop):
        return "segment", f"{fault.attribute}={fault.value}"
    return "hop", fault.hop


def truth_of(fault: Fault, truth: GroundTruth) -> str:
    """What the simulator did for this fault, from its ground truth."""
    label, target = fault_target(fault)
    if isinstance(fault, Loss):
        return f"{truth.total(truth.dropped, target)} events dropped on {target}"
    if isinstance(fault, VolumeDrop):
        return f"{truth.total(truth.suppressed, target)} events of {target} never created"
    if isinstance(fault, RejectionSpike):
        return f"{truth.total(truth.rejected, target)} extra rejections at {target}"
    if isinstance(fault, Duplicates):
        return f"{truth.total(truth.duplicated, target)} duplicates at {target}"
    if isinstance(fault, Latency):
        return f"{truth.total(truth.slowed, target)} events +{fault.seconds:g}s at {target}"
    if isinstance(fault, Stall):
        return f"{truth.total(truth.delayed, target)} events held at {target}"
    if isinstance(fault, Bypass):
        return f"{truth.total(truth.leaked, target)} restricted events leaked across {target}"
    return f"{label} {target}"


def _matches(fault: Fault, d: Detection) -> bool:
    if d.is_slo:
        return True
    label, target = fault_target(fault)
    if label == "edge":
        return d.labels.get("edge") == target
    if label == "segment":
        return target in d.labels.get("segment", "") or (
            bool(d.labels.get("hop")) and not d.labels.get("edge")
        )
    return target in (d.labels.get("hop"), d.labels.get("from_hop"), d.labels.get("to_hop"))


def _can_see(fault: Fault, checks: Sequence[CheckDef], ran_for: float) -> bool:
    """Whether a check aimed at the fault's target has warmed up by the fault's start."""
    label, target = fault_target(fault)
    for check in checks:
        t = check.target
        aimed = (
            (label == "edge" and t.edge == target)
            or (label == "hop" and t.hop == target)
            or (label == "segment" and t.segment_by == target.partition("=")[0])
        )
        if aimed and check.warmup <= min(fault.start, ran_for):
            return True
    return False


def score(
    faults: Iterable[Fault],
    origin: float,
    now: float,
    detections: Iterable[Detection],
    truth: GroundTruth,
    checks: Sequence[CheckDef],
    default_edge_checks: bool = True,
) -> list[Row]:
    """A row per fault (``faults`` relative to ``origin``, the scenario's start), at ``now``.

    Every edge has a built-in loss check (``default_edge_checks``) with a short warm-up, so loss
    and stalls are always expected; other faults only when a check aimed at them is warm at their start.
    """
    found = sorted(detections, key=lambda d: d.at)
    rows = []
    for fault in faults:
        start = origin + fault.start
        if start > now:
            rows.append(Row(fault, start, "", None, "not reached"))
            continue
        hit = next(
            (
                d
                for d in found
                if start <= d.at <= origin + fault.end + GRACE and _matches(fault, d)
            ),
            None,
        )
        # A loss, and a stall (events missing at the close of their bucket), show on the
        # built-in loss check of every edge, which needs no long warm-up.
        visible = (isinstance(fault, Loss | Stall) and default_edge_checks) or _can_see(
            fault, checks, now - origin
        )
        verdict = "detected" if hit else ("missed" if visible else "not expected in a short demo")
        rows.append(Row(fault, start, truth_of(fault, truth), hit, verdict))
    return rows


def render(rows: Sequence[Row], origin: float) -> str:
    """The scoreboard as text: one block per fault, times relative to the demo's start."""
    lines = ["── scoreboard: injected faults against what hopwatch raised"]
    for row in rows:
        _, target = fault_target(row.fault)
        head = (
            f"  {fault_kind(row.fault):<15} {target:<22} at +{format_duration(row.start - origin)}"
        )
        if row.verdict == "not reached":
            lines.append(f"{head}  not reached: the demo stopped before it")
            continue
        lines.append(f"{head}  truth: {row.truth}")
        if row.detection is not None and row.delay is not None:
            lines.append(
                f"  {'':<15} detected by {row.detection.describe()} at "
                f"+{format_duration(row.detection.at - origin)}, "
                f"{format_duration(row.delay)} after it started"
            )
        else:
            lines.append(f"  {'':<15} {row.verdict}")
    detected = sum(r.verdict == "detected" for r in rows)
    due = sum(r.verdict in ("detected", "missed") for r in rows)
    lines.append(f"  {detected} of {due} faults the demo's checks could see were detected")
    return "\n".join(lines)


def firing(alerts: Iterable[Alert]) -> list[Detection]:
    """The firing alerts among ``alerts``, as detections."""
    return [Detection.of(a) for a in alerts if a.state is AlertState.FIRING]
