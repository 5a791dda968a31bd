"""Replay of one simulated day of the example pipeline with labelled faults through the engine.

Use it to check end to end that the statistical checks find what the simulator injected:
``replay_simulated_day(seed)`` runs the signup pipeline of ``hopwatch.yaml`` for one day with three
faults at known times (a loss on ``ingest->broker``, a volume drop of the ``eu`` region, a
rejection spike at ``ingest``), feeds the hops' observations minute by minute into
``monitor.engine.Engine`` with three checks built in code (one per fault, with warm-ups short
enough for one day), ticks each minute and matches the alerts that fired to the fault windows.

An alert *matches* a fault when it comes from the fault's check and starts within the fault's
window (plus ``GRACE`` for the ledger to close the last buckets). Precision = matching alert onsets /
all onsets of the three checks; recall = faults with a matching alert / faults; delay = minutes
from the fault's start to the tick at which the first matching alert fired (so it includes the
ledger's ``allowed_lateness`` before a bucket closes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from monitor.alerting.alert import AlertState
from monitor.anomaly.model import CheckDef, CheckKind, Target
from monitor.config.loader import load_config
from monitor.engine import Engine
from monitor.sim import Loss, RejectionSpike, Scenario, Simulator, TrafficModel, VolumeDrop
from monitor.sim.faults import Fault

__all__ = ["GRACE", "FaultOutcome", "ReplayReport", "replay_simulated_day"]

CONFIG = Path(__file__).resolve().parents[2] / "hopwatch.yaml"
PIPELINE = "signup"
MINUTE = 60.0
DAY_MINUTES = 1440
GRACE = 15 * MINUTE
RATE_PER_MINUTE = 100.0

CHECKS = (
    CheckDef(
        "replay-loss",
        CheckKind.DIVERGENCE,
        Target(PIPELINE, edge="ingest->broker"),
        warmup=10 * MINUTE,
    ),
    CheckDef(
        "replay-volume",
        CheckKind.VOLUME,
        Target(PIPELINE, hop="sdk", segment_by="region"),
        warmup=2 * 3600.0,
        params={"direction": "drop"},
    ),
    CheckDef(
        "replay-rejections",
        CheckKind.REJECTIONS,
        Target(PIPELINE, hop="ingest"),
        warmup=3600.0,
    ),
)

# (check name, fault): the labelled incidents, at hours 6, 12 and 18 of the day.
FAULTS: tuple[tuple[str, Fault], ...] = (
    ("replay-loss", Loss(start=6 * 3600.0, duration=3600.0, edge="ingest->broker", share=0.3)),
    (
        "replay-volume",
        VolumeDrop(start=12 * 3600.0, duration=5400.0, attribute="region", value="eu", share=0.8),
    ),
    (
        "replay-rejections",
        RejectionSpike(start=18 * 3600.0, duration=2700.0, hop="ingest", share=0.2),
    ),
)


@dataclass(frozen=True)
class FaultOutcome:
    check: str
    fault: str
    start: float
    end: float
    delay_minutes: float | None
    """Minutes from the fault's start to the first matching alert; None if it was missed."""


@dataclass(frozen=True)
class ReplayReport:
    seed: int
    faults: tuple[FaultOutcome, ...]
    alerts: int
    """Alert onsets of the replayed checks over the day."""
    matched_alerts: int

    @property
    def precision(self) -> float:
        return self.matched_alerts / self.alerts if self.alerts else 1.0

    @property
    def recall(self) -> float:
        found = sum(f.delay_minutes is not None for f in self.faults)
        return found / len(self.faults) if self.faults else 1.0

    @property
    def delays(self) -> dict[str, float | None]:
        return {f.check: f.delay_minutes for f in self.faults}

    def text(self) -> str:
        lines = [
            f"simulated day (seed {self.seed}): {len(self.faults)} labelled faults, "
            f"{self.alerts} alert onsets, {self.matched_alerts} matching",
            f"  precision {self.precision:.2f}  recall {self.recall:.2f}",
        ]
        for f in self.faults:
            delay = "missed" if f.delay_minutes is None else f"{f.delay_minutes:.0f} min"
            lines.append(
                f"  {f.check:<18} {f.fault:<44} {f.start / 3600:5.2f} h–{f.end / 3600:5.2f} h"
                f"  delay {delay}"
            )
        return "\n".join(lines)


def _describe(fault: Fault) -> str:
    if isinstance(fault, Loss):
        return f"loss {fault.share:.0%} on {fault.edge}"
    if isinstance(fault, VolumeDrop):
        return f"volume drop {fault.share:.0%} of {fault.segment}"
    if isinstance(fault, RejectionSpike):
        return f"rejection spike {fault.share:.0%} at {fault.hop}"
    return type(fault).__name__


def replay_simulated_day(seed: int) -> ReplayReport:
    """One simulated day through the engine; see the module docstring for the matching rule."""
    config = load_config(CONFIG)
    pipeline = config.pipeline(PIPELINE)
    assert pipeline is not None
    scenario = Scenario(
        seed=seed,
        traffic=TrafficModel(rate_per_minute=RATE_PER_MINUTE),
        faults=tuple(f for _, f in FAULTS),
    )
    sim = Simulator(pipeline, scenario)
    engine = Engine(config, checks=CHECKS)
    names = {c.name for c in CHECKS}
    onsets: list[tuple[str, float]] = []
    start = sim.start
    for minute in range(DAY_MINUTES):
        t = start + minute * MINUTE
        engine.observe(sim.observations(t, t + MINUTE))
        now = t + MINUTE
        for alert in engine.tick(now).alerts_changed:
            name = dict(alert.labels).get("check_name")
            if name in names and alert.state is AlertState.FIRING and alert.starts_at == now:
                onsets.append((name, now - start))
    outcomes: list[FaultOutcome] = []
    matched: set[int] = set()
    for check, fault in FAULTS:
        hits = [
            (i, at)
            for i, (name, at) in enumerate(onsets)
            if name == check and fault.start <= at <= fault.end + GRACE
        ]
        matched.update(i for i, _ in hits)
        delay = (hits[0][1] - fault.start) / MINUTE if hits else None
        outcomes.append(FaultOutcome(check, _describe(fault), fault.start, fault.end, delay))
    return ReplayReport(seed, tuple(outcomes), len(onsets), len(matched))


if __name__ == "__main__":
    print(replay_simulated_day(1).text())
