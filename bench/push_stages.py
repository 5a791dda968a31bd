"""Where a pushed observation's server CPU goes, stage by stage, without HTTP.

Runs the steps ``monitor.server.ingest`` takes for each body of ``bench/ingest.py``'s workload, in
this process, and prints CPU microseconds per observation of each: gunzip (for gzip bodies),
decode + validate (``PushDecoder``), the engine (ledger + SLO indicators), the write-ahead log
record's encoding (msgpack of the accepted items), its write (checksum, copy, ``write``) and the
fsync. Their sum next to ``bench/ingest.py``'s ``HTTP ... CPU`` figure says what HTTP itself
(framework, hand-offs, the daemon's ticker and checkpoints) adds.

Usage: .venv/bin/python bench/push_stages.py [--events N] [--runs 2]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import ingest
import msgspec

from monitor.engine import Engine
from monitor.reload import load_all
from monitor.server.body import gunzip
from monitor.sources.push import PushDecoder
from monitor.store.wal import WriteAheadLog


def one_run(workload: ingest.Workload, loaded) -> dict[str, float]:
    bodies, n = workload.bodies()
    zipped = [gzip.compress(b, compresslevel=1) for b in bodies]
    decoder = PushDecoder(loaded.config)
    engine = Engine(loaded.config, slos=loaded.slos)
    now = time.time()
    spent: dict[str, float] = {}

    def timed(name, fn):
        t = ingest.CPU()
        out = fn()
        spent[name] = spent.get(name, 0.0) + ingest.CPU() - t
        return out

    with tempfile.TemporaryDirectory() as tmp:
        wal = WriteAheadLog(Path(tmp))
        wal.open(0, lambda _payload: None)
        for body, packed in zip(bodies, zipped, strict=True):
            timed("gunzip (gzip bodies only)", lambda p=packed: gunzip(p, 10 * 2**20))
            batch = timed(
                "decode + validate",
                lambda b=body: decoder.observations(
                    b, content_type="application/x-ndjson", now=now
                ),
            )
            timed("engine (ledger + SLOs)", lambda a=batch.accepted: engine.observe(a))
            payload = timed(
                "WAL record encode",
                lambda a=batch.accepted: msgspec.msgpack.encode((1, now, a)),
            )
            timed("WAL append", lambda p=payload: wal.append(p))
            timed("WAL write + fsync", wal.sync)
        wal.close()
    return {name: seconds / n * 1e6 for name, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000, help="simulated events")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    workload = ingest.Workload(args.events)
    loaded = load_all(ingest.ROOT / "hopwatch.yaml")
    runs = [one_run(workload, loaded) for _ in range(args.runs)]
    print(f"CPU us per observation, {args.runs} runs (min-max); the bundled SLOs on")
    for name in runs[0]:
        values = sorted(r[name] for r in runs)
        print(f"  {name:<28}{values[0]:6.2f}-{values[-1]:.2f}")
    totals = sorted(sum(v for k, v in r.items() if not k.startswith("gunzip")) for r in runs)
    print(f"  {'sum without gunzip':<28}{totals[0]:6.2f}-{totals[-1]:.2f}")


if __name__ == "__main__":
    main()
