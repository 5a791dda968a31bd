"""``hopwatch reconcile`` against the live path: the same observations, fed to the engine as
the daemon does (each second's arrivals, then a tick) or written to NDJSON files per hop and
reconciled, give the same edge results, bucket for bucket, late arrivals and duplicates included.
"""

from __future__ import annotations

import io
import json
from collections import defaultdict
from pathlib import Path

import msgspec

from monitor.cli import main
from monitor.config.loader import load_config
from monitor.demo import to_wire
from monitor.engine import Engine
from monitor.ledger.records import EdgeResult
from monitor.records import Observation
from monitor.replay.reconcile import HopFile, reconcile_command
from monitor.sim import Loss, Scenario, Simulator, TrafficModel
from monitor.sim.faults import Duplicates, Stall

CONFIG = Path(__file__).resolve().parents[1] / "hopwatch.yaml"
MINUTES = 30


def numbers(r: EdgeResult) -> tuple[int, int, int, int, int]:
    return (r.expected, r.arrived, r.missing, r.late, r.duplicates)


def simulator() -> Simulator:
    config = load_config(CONFIG)
    pipeline = config.pipeline("signup")
    assert pipeline is not None
    scenario = Scenario(
        seed=7,
        traffic=TrafficModel(rate_per_minute=120.0),
        faults=(
            Loss(start=300.0, duration=300.0, edge="ingest->broker", share=0.2),
            # held back for 8 minutes: its buckets close first, so they arrive late and amend
            Stall(start=900.0, duration=480.0, hop="broker"),
            Duplicates(start=600.0, duration=120.0, hop="broker", share=0.3),
        ),
    )
    return Simulator(pipeline, scenario)


def simulated() -> tuple[Simulator, list[Observation]]:
    """A simulator and all it observes in the range (a simulator is consumed once: ``live``
    gets its own, of the same seed)."""
    sim = simulator()
    return sim, sim.observations(sim.start, sim.start + (MINUTES + 20) * 60.0)


def live(sim: Simulator) -> dict[tuple[str, float], tuple[int, int, int, int, int]]:
    """As the daemon sees them: each second's arrivals posted, then the engine ticks."""
    engine = Engine(load_config(CONFIG))
    final: dict[tuple[str, float], tuple[int, int, int, int, int]] = {}
    fed = (MINUTES + 20) * 60
    for second in range(fed + 7 * 60):  # then on until the last bucket closes (5 m lateness)
        t = sim.start + second
        if second < fed:
            engine.observe(sim.observations(t, t + 1))
        for closed in engine.tick(t + 1).closed.values():
            for r in closed.edge_results:
                final[(r.edge, r.bucket_start)] = numbers(r)
    return final


def write_files(tmp_path: Path, observations: list[Observation]) -> list[HopFile]:
    by_hop: dict[str, list[bytes]] = defaultdict(list)
    for o in observations:
        by_hop[o.hop].append(msgspec.json.encode(to_wire(o)))
    files = []
    for hop, lines in by_hop.items():
        path = tmp_path / f"{hop}.ndjson"
        path.write_bytes(b"\n".join(lines) + b"\n")
        files.append(HopFile(hop, path))
    return files


def test_reconcile_on_files_equals_feeding_the_same_observations_live(tmp_path: Path) -> None:
    sim, observations = simulated()
    start, end = sim.start, sim.start + (MINUTES + 20) * 60.0
    expected = live(simulator())
    files = write_files(tmp_path, observations)
    out_path = tmp_path / "out.json"

    code = reconcile_command(
        load_config(CONFIG), "signup", files, start, end, out_path, io.StringIO(), io.StringIO()
    )

    assert code == 0
    document = json.loads(out_path.read_text())
    got = {
        (e["edge"], e["bucket_start"]): (
            e["expected"],
            e["arrived"],
            e["missing"],
            e["late"],
            e["duplicates"],
        )
        for e in document["edges"]
    }
    assert document["rejected"] == 0
    assert got == expected
    # the scenario is no trivial one: loss, late arrivals and duplicates all show
    assert sum(v[2] for v in got.values()) > 0
    assert sum(v[3] for v in got.values()) > 0
    assert sum(v[4] for v in got.values()) > 0


def test_the_command_prints_a_table_and_skips_items_outside_the_range(
    tmp_path: Path, capsys: object
) -> None:
    sim, observations = simulated()
    files = write_files(tmp_path, observations)
    start = sim.start + 600
    args = ["reconcile", "--config", str(CONFIG), "--from", str(start), "--to", str(start + 300)]
    args += ["--pipeline", "signup"]
    for f in files:
        args += ["--files", f"{f.hop}={f.path}"]

    assert main(args) == 0
    out, err = capsys.readouterr()  # type: ignore[attr-defined]
    rows = [line for line in out.splitlines() if "ingest->broker" in line]
    assert len(rows) == 5 + 1  # five buckets and the total
    assert "outside the range" in err and "0 rejected" in err
