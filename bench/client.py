"""Cost of one ``HopReporter.observe()`` call, as a ratio to a bare ``queue.put`` in the same run.

Prints the median cost per call (ns) of:
- a bare ``queue.Queue.put`` of a prebuilt tuple (the reference);
- ``observe(event_id, event_type, event_time)``, and with a two-key ``attributes`` mapping,
  while the sending thread sleeps (the cost the calling thread pays itself);
- the same while the sending thread encodes and sends batches of 100 concurrently (what the
  caller pays when it also shares the GIL with that work).

The reporter sends to an in-process ``httpx.MockTransport`` answering 202, so no socket or
server noise enters the figures; between timed rounds it is flushed (not timed). Each figure is
the median over rounds of ``--calls`` calls, the rounds of all variants interleaved so that the
machine's noise falls on all of them alike. Goal: observe <= 3x a bare queue.put.

Usage: .venv/bin/python bench/client.py [--calls N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import gzip
import queue
import statistics
import time
from collections.abc import Callable

import httpx

from monitor.client import HopReporter

ATTRIBUTES = {"region": "eu", "consent": "granted"}


def accepting(request: httpx.Request) -> httpx.Response:
    """hopwatch's 202 for a gzip NDJSON body: every line accepted."""
    lines = gzip.decompress(request.content).count(b"\n") + 1
    return httpx.Response(202, json={"accepted": lines, "rejected": 0, "errors": []})


def make_reporter(batch_size: int, calls: int) -> HopReporter:
    client = httpx.Client(transport=httpx.MockTransport(accepting))
    return HopReporter(
        "http://hopwatch.invalid",
        "signup",
        "sdk",
        max_queue=4 * calls,
        batch_size=batch_size,
        flush_interval=3600.0,
        client=client,
    )


def bare_put(ids: list[str], event_time: float) -> Callable[[], float]:
    q: queue.Queue[tuple[str, str, float]] = queue.Queue(maxsize=4 * len(ids))
    item = ("evt", "user_signed_up", event_time)

    def run() -> float:
        put = q.put
        t = time.perf_counter()
        for _ in ids:
            put(item)
        elapsed = time.perf_counter() - t
        q.queue.clear()
        q.unfinished_tasks = 0
        return elapsed

    return run


def observing(
    reporter: HopReporter, ids: list[str], event_time: float, with_attributes: bool
) -> Callable[[], float]:
    observe = reporter.observe
    attributes = ATTRIBUTES if with_attributes else None

    def run() -> float:
        t = time.perf_counter()
        for event_id in ids:
            observe(event_id, "user_signed_up", event_time, attributes=attributes)
        elapsed = time.perf_counter() - t
        if not reporter.flush(60):
            raise RuntimeError("the reporter did not drain between rounds")
        return elapsed

    return run


def median_ns(samples: list[float], calls: int) -> float:
    return statistics.median(samples) / calls * 1e9


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2_000, help="calls per timed round")
    parser.add_argument("--rounds", type=int, default=200, help="timed rounds per variant")
    args = parser.parse_args()
    ids = [f"evt-{n:012x}" for n in range(args.calls)]
    event_time = time.time()
    idle = make_reporter(batch_size=10 * args.calls, calls=args.calls)
    busy = make_reporter(batch_size=100, calls=args.calls)
    variants = {
        "bare queue.put": bare_put(ids, event_time),
        "observe()": observing(idle, ids, event_time, False),
        "observe(attributes=…)": observing(idle, ids, event_time, True),
        "observe(), sender busy": observing(busy, ids, event_time, False),
    }
    samples: dict[str, list[float]] = {name: [] for name in variants}
    gc.collect()
    for _ in range(args.rounds):
        for name, run in variants.items():
            samples[name].append(run())
    idle.close()
    busy.close()
    reference = median_ns(samples["bare queue.put"], args.calls)
    print(f"{args.rounds} rounds of {args.calls:,} calls each; median cost per call")
    for name in variants:
        cost = median_ns(samples[name], args.calls)
        goal = "  (goal <= 3.00)" if name == "observe()" else ""
        print(f"{name:24s} {cost:8.0f} ns  {cost / reference:5.2f}x bare queue.put{goal}")
    stats = busy.stats()
    print(f"sender busy: {stats.sent:,} sent in {stats.batches:,} batches, {stats.dropped} dropped")


if __name__ == "__main__":
    main()
