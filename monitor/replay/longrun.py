"""False alarms of the bundled pipeline over a long simulated run, end to end.

Use it to hold the whole judging path to its false-alarm budget on traffic nobody tuned for: the
signup pipeline of ``hopwatch.yaml`` with its checks (the configured ones and the built-in
``divergence:<edge>`` per edge) and SLOs, fed by the simulator (``monitor.sim``) minute by minute
and ticked each minute — the in-process path of ``monitor.demo.simulate``, without HTTP. The
scenario is the simulator's default traffic at ``rate_per_minute`` plus any ``faults`` (a
``late_tail`` at the warehouse, for instance), so a run with no fault is loss-free and every alarm
of a divergence check is a false one.

``long_run`` counts, per check, alert onsets and minutes firing, and how many loss alerts resolved
saying "late, not lost" (their shortfall was amended by late arrivals). It costs about 10–20 s of
CPU per simulated day at 10 events/min (most of it the ledger's bucket bookkeeping), so a 30-day
run is a benchmark (``bench/detection.py --only e2e``), not a fast test.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from monitor.alerting.alert import Alert, AlertState
from monitor.anomaly.load import load_checks
from monitor.config.loader import load_config
from monitor.engine import Engine
from monitor.sim import Scenario, Simulator, TrafficModel
from monitor.sim.faults import Fault
from monitor.slo.load import load_slos

__all__ = ["LATE_NOT_LOST", "LongRunReport", "long_run"]

CONFIG = Path(__file__).resolve().parents[2] / "hopwatch.yaml"
PIPELINE = "signup"
MINUTE = 60.0
LATE_NOT_LOST = "late, not lost"
LOSS_ALERT = "HopwatchEdgeDataLoss"


@dataclass(frozen=True)
class LongRunReport:
    """What a long run raised. ``onsets[check]``: alerts that started firing;
    ``firing_minutes[check]``: ticks at which one was firing; ``late_resolved[check]``: alerts
    that resolved saying "late, not lost"; ``late_events``: events the simulator delayed (its
    ``late_tail`` faults); ``delayed_past_lateness``: events of every edge's ``to`` hop that the
    ledger booked as late (after the allowed lateness)."""

    rate_per_minute: float
    days: float
    seed: int
    onsets: dict[str, int] = field(default_factory=dict)
    firing_minutes: dict[str, int] = field(default_factory=dict)
    late_resolved: dict[str, int] = field(default_factory=dict)
    late_events: int = 0
    first_onsets: tuple[tuple[float, str, str], ...] = ()
    """(hours into the run, check name, summary) of the first few onsets, for the report."""

    late_summaries: tuple[str, ...] = ()
    """The summaries of the first few alerts that resolved "late, not lost"."""
    loss_checks: frozenset[str] = frozenset()
    """The checks whose alerts say "loss" (``HopwatchEdgeDataLoss``: divergence on an edge)."""

    def per_30_days(self, count: float) -> float:
        return count * 30.0 / self.days

    def loss_onsets(self) -> dict[str, int]:
        """Onsets of the edge divergence checks only (the "loss" alarms)."""
        return {k: v for k, v in self.onsets.items() if k in self.loss_checks}


def long_run(
    rate_per_minute: float,
    days: float,
    seed: int = 1,
    faults: tuple[Fault, ...] = (),
    *,
    config_path: Path = CONFIG,
    with_slos: bool = True,
) -> LongRunReport:
    """``days`` of the bundled pipeline under the simulator's default traffic and ``faults``."""
    config = load_config(config_path)
    pipeline = config.pipeline(PIPELINE)
    assert pipeline is not None, f"{config_path} has no pipeline {PIPELINE!r}"
    checks = load_checks(config)
    slos = [s for group in load_slos(config) for s in group.slos] if with_slos else []
    traffic = TrafficModel(rate_per_minute=rate_per_minute)
    sim = Simulator(pipeline, Scenario(seed=seed, traffic=traffic, faults=faults))
    engine = Engine(config, slos=slos, checks=checks)
    tally = _Tally(sim.start)
    t = sim.start
    end = sim.start + days * 86400.0
    while t < end:
        engine.observe(sim.observations(t, t + MINUTE))
        t += MINUTE
        tally.changed(engine.tick(t).alerts_changed, t)
        tally.minute()
    late = sum(sum(c.values()) for c in sim.truth.delayed.values())
    return LongRunReport(
        rate_per_minute,
        days,
        seed,
        dict(tally.onsets),
        dict(tally.firing),
        dict(tally.late),
        late,
        tuple(tally.first),
        tuple(tally.late_summaries),
        frozenset(tally.loss),
    )


class _Tally:
    """Counts onsets, firing minutes and "late, not lost" resolutions per check."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.onsets: Counter[str] = Counter()
        self.firing: Counter[str] = Counter()
        self.late: Counter[str] = Counter()
        self.first: list[tuple[float, str, str]] = []
        self.loss: set[str] = set()
        self.late_summaries: list[str] = []
        self._open: dict[str, str] = {}
        self._opened: set[tuple[float, str]] = set()
        """(tick, fingerprint) of the alerts opened at the latest tick."""

    def changed(self, alerts: tuple[Alert, ...], now: float) -> None:
        for alert in alerts:
            labels = dict(alert.labels)
            name = labels.get("check_name") or labels.get("slo") or alert.name
            if alert.name == LOSS_ALERT:
                self.loss.add(name)
            opened = alert.state is AlertState.FIRING and alert.starts_at == now
            # Two buckets of a series can close in one tick: the alert the first opened, the
            # second refreshes; one onset, not two.
            if opened and (now, alert.fingerprint) not in self._opened:
                self._opened = {(t, f) for t, f in self._opened if t == now}
                self._opened.add((now, alert.fingerprint))
                self.onsets[name] += 1
                self._open[alert.fingerprint] = name
                if len(self.first) < 20:
                    summary = dict(alert.annotations).get("summary", "")
                    self.first.append((round((now - self.start) / 3600.0, 2), name, summary))
            elif alert.state is AlertState.RESOLVED:
                self._open.pop(alert.fingerprint, None)
                summary = dict(alert.annotations).get("summary", "")
                if LATE_NOT_LOST in summary:
                    self.late[name] += 1
                    if len(self.late_summaries) < 20:
                        self.late_summaries.append(summary)

    def minute(self) -> None:
        """One tick passed: every alert still open fired for one more minute."""
        for name in self._open.values():
            self.firing[name] += 1
