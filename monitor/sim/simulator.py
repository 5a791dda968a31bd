"""A deterministic traffic simulator with fault injection, for the demo, tests and benchmarks.

Events are created at the pipeline's first hop and sent down its edges; each hop observes them with
its own latency and behaviour (``HopModel``), and an event goes along an edge exactly when the
observation at the edge's ``from`` hop passes the edge's ``where`` filter. So with no fault active,
every edge promise holds and hopwatch must report zero loss; every fault's effect is recorded in
``truth`` per edge/hop and event-time bucket, so tests can compare hopwatch's numbers exactly.

Randomness is drawn per simulated minute from ``default_rng([seed, minute])`` in a fixed order that
does not depend on which faults are active, so:

- the output does not depend on how the caller slices time into windows;
- a run with a fault and a clean run with the same seed differ only where the fault acted.

The simulator is pure: no I/O, no wall clock. ``observations(start, end)`` is the streaming view;
``first_events(n)`` is for tests and benchmarks that need a fixed amount of traffic.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Collection
from operator import attrgetter
from typing import TypeVar

import msgspec
import numpy as np

from monitor.config.model import Pipeline
from monitor.records import Observation, Status
from monitor.sim.attributes import AttributeTable
from monitor.sim.faults import (
    Bypass,
    Duplicates,
    Latency,
    LateTail,
    Loss,
    RejectionSpike,
    Stall,
    VolumeDrop,
)
from monitor.sim.scenario import HopModel, Scenario
from monitor.sim.share import PassShare
from monitor.sim.topology import Topology
from monitor.sim.traffic import SECONDS_PER_MINUTE, Mix
from monitor.sim.truth import GroundTruth

F = TypeVar("F")
"""One kind of fault (``Loss``, ``Latency`` ...): ``_faults`` returns that kind only."""

REDELIVERY_SECONDS = (1.0, 60.0)
"""A duplicate is observed again this long (uniformly) after the first time: a broker redelivery."""

_observed_time = attrgetter("observed_time")


class Simulator:
    """Generates the observations of ``pipeline``'s hops under ``scenario``, deterministically.

    ``seed`` overrides ``scenario.seed``. ``bucket_seconds`` (default: the pipeline's bucket) sets the
    event-time buckets of ``truth``. Use one ``Simulator`` per stream: ``observations`` keeps a queue
    of events created earlier but observed later.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        scenario: Scenario | None = None,
        seed: int | None = None,
        *,
        bucket_seconds: float | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.scenario = scenario if scenario is not None else Scenario()
        self.seed = self.scenario.seed if seed is None else seed
        if self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed}")
        self.truth = GroundTruth(bucket_seconds or pipeline.bucket_seconds)
        self._topology = Topology.of(pipeline)
        self._models: dict[str, HopModel] = {
            h: self.scenario.hop_model(h) for h in self._topology.order
        }
        self._root_mixes: tuple[Mix, ...] = (
            Mix(
                "region",
                tuple(r.name for r in self.scenario.traffic.regions),
                tuple(r.share for r in self.scenario.traffic.regions),
            ),
            *self.scenario.traffic.attributes,
        )
        self._check_faults()
        self._attributes = AttributeTable(pipeline.attributes)
        self._next_minute = math.floor(self.scenario.start / SECONDS_PER_MINUTE)
        self._pending: list[Observation] = []

    @property
    def start(self) -> float:
        """Epoch seconds of the scenario start: no event is created before it."""
        return self.scenario.start

    @property
    def generated_until(self) -> float:
        """Every event created before this time has been generated and is counted in ``truth``."""
        return max(self.scenario.start, self._next_minute * SECONDS_PER_MINUTE)

    def observations(self, start: float, end: float) -> list[Observation]:
        """Observations with ``start <= observed_time < end``, sorted by observed time.

        Call with successive windows (each ``start`` the previous ``end``) to get every observation
        exactly once; observations before ``start`` that an earlier call did not return (a skipped
        gap) are discarded.
        """
        if end < start:
            raise ValueError(f"window end {end} is before its start {start}")
        grew = False
        while self._next_minute * SECONDS_PER_MINUTE < end:
            batch, _ = self._minute(self._next_minute, self.truth, limit=None)
            self._pending.extend(batch)
            self._next_minute += 1
            grew = True
        if grew:
            self._pending.sort(key=_observed_time)  # stable: ties keep generation order
        cut = bisect.bisect_left(self._pending, end, key=_observed_time)
        out = self._pending[:cut]
        del self._pending[:cut]
        skip = bisect.bisect_left(out, start, key=_observed_time)
        return out[skip:]

    def first_events(
        self, n: int, hops: Collection[str] | None = None, truth: GroundTruth | None = None
    ) -> list[Observation]:
        """All observations of the first ``n`` events created, sorted by observed time.

        ``n`` counts events created at the first hop (after any ``volume_drop``), not observations:
        each event is observed once per hop it reaches (more with ``duplicates``). Pass
        ``hops={"sdk"}`` for exactly ``n`` observations of a clean run. Independent of
        ``observations`` and of ``self.truth``; the events are the ones the stream starts with.
        Pass ``truth`` to get the fault effects on exactly these events.
        """
        if n < 0:
            raise ValueError("n must not be negative")
        scratch = truth if truth is not None else GroundTruth(self.truth.bucket_seconds)
        out: list[Observation] = []
        minute = math.floor(self.scenario.start / SECONDS_PER_MINUTE)
        remaining, idle = n, 0
        while remaining > 0:
            batch, made = self._minute(minute, scratch, limit=remaining)
            out.extend(batch)
            remaining -= made
            minute += 1
            idle = 0 if made else idle + 1
            if idle > 7 * 24 * 60:
                raise ValueError("no event was created in a simulated week; check rate and faults")
        if hops is not None:
            out = [o for o in out if o.hop in hops]
        out.sort(key=_observed_time)
        return out

    # -- generation ---------------------------------------------------------------------------

    def _faults(self, kind: type[F], target: str) -> list[F]:
        key = "edge" if kind in (Loss, Bypass) else "hop"
        return [
            f for f in self.scenario.faults if isinstance(f, kind) and getattr(f, key) == target
        ]

    def _check_faults(self) -> None:
        edges = {e.name for e in self.pipeline.edges}
        carrying = {e.name for e in self.pipeline.edges if not e.forbidden}
        for name in self.scenario.edges:
            if name not in carrying:
                raise ValueError(
                    f"edges[{name!r}]: not an edge that carries events in pipeline "
                    f"{self.pipeline.name}; edges are {sorted(carrying)}"
                )
        hops = set(self._topology.order)
        roots = {m.name: m for m in self._root_mixes} | {
            "event_type": self.scenario.traffic.event_types
        }
        where = f"pipeline {self.pipeline.name}"
        for i, f in enumerate(self.scenario.faults):
            label = f"faults[{i}] ({type(f).__name__.lower()})"
            if isinstance(f, Loss) and f.edge not in edges:
                raise ValueError(
                    f"{label}: {f.edge!r} is not an edge of {where}; edges are {sorted(edges)}"
                )
            if isinstance(f, Bypass):
                forbidden = {e.name: e for e in self.pipeline.forbidden_edges}
                edge = forbidden.get(f.edge)
                if edge is None:
                    raise ValueError(
                        f"{label}: {f.edge!r} is not a forbidden edge (expect: none) of {where}; "
                        f"forbidden edges are {sorted(forbidden)}"
                    )
                carrier = self._topology.parent.get(edge.to_hop)
                if carrier is None or carrier.from_hop != edge.from_hop:
                    raise ValueError(
                        f"{label}: {edge.to_hop!r} is not fed from {edge.from_hop!r} by an "
                        "ordinary edge, so the simulator has no route for the leak"
                    )
            if isinstance(f, VolumeDrop):
                mix = roots.get(f.attribute)
                if mix is None:
                    raise ValueError(
                        f"{label}: segment attribute {f.attribute!r} is not simulated; "
                        f"use one of {sorted(roots)}"
                    )
                if f.value not in mix.values:
                    raise ValueError(
                        f"{label}: {f.attribute} is never {f.value!r}; values are {list(mix.values)}"
                    )
            hop = getattr(f, "hop", None)
            if hop is not None and hop not in hops:
                raise ValueError(
                    f"{label}: {hop!r} is not a hop of {where}; hops are {sorted(hops)}"
                )
            if isinstance(f, Stall) and f.lose and hop == self._topology.root:
                raise ValueError(
                    f"{label}: {hop!r} is the first hop, so a stall there cannot lose events that "
                    f"were never sent; use volume_drop to keep events from being created"
                )

    def _minute(
        self, minute: int, truth: GroundTruth, limit: int | None
    ) -> tuple[list[Observation], int]:
        """Observations of the events created in one simulated minute, and how many were created.

        Every draw below happens whatever the faults and masks are, in a fixed order; change the
        order and every seeded test changes with it.
        """
        rng = np.random.default_rng([self.seed, minute])
        origin = self.scenario.start
        traffic = self.scenario.traffic
        t0 = minute * SECONDS_PER_MINUTE

        counts = traffic.draw_counts(rng, t0)
        k = int(counts.sum())
        region = np.repeat(np.arange(len(counts)), counts)
        times = t0 + SECONDS_PER_MINUTE * rng.random(k)
        order = np.argsort(times, kind="stable")
        times, region = times[order], region[order]
        etype = traffic.event_types.draw(rng.random(k))
        root_idx = [region, *(m.draw(rng.random(k)) for m in traffic.attributes)]
        u_volume = rng.random(k)

        by_name = dict(zip((m.name for m in self._root_mixes), root_idx, strict=True))
        by_name["event_type"] = etype
        value_of = {m.name: m.values for m in self._root_mixes}
        value_of["event_type"] = traffic.event_types.values
        created = times >= origin
        suppressed: list[tuple[VolumeDrop, np.ndarray]] = []
        for f in self.scenario.faults:
            if isinstance(f, VolumeDrop):
                segment = by_name[f.attribute] == value_of[f.attribute].index(f.value)
                hit = created & segment & f.active(times, origin) & (u_volume < f.share)
                suppressed.append((f, hit))
                created &= ~hit
        if limit is not None:
            created &= np.cumsum(created) <= limit
            kept = np.flatnonzero(created)
            if 0 < limit == len(kept):  # events after the last one kept are not part of the run
                suppressed = [(f, hit & (np.arange(k) < kept[-1])) for f, hit in suppressed]
        for f, hit in suppressed:
            truth.count(truth.suppressed, f.segment, times[hit])
        truth.count_created(times[created])

        prefix = f"evt-{self.seed:x}-{minute:x}-"
        ids = [f"{prefix}{i:04x}" for i in range(k)]
        empty = np.full(k, self._attributes.empty, dtype=np.int64)
        root_codes = self._attributes.extend(empty, self._root_mixes, root_idx)

        out: list[Observation] = []
        observed: dict[str, np.ndarray] = {}
        codes: dict[str, np.ndarray] = {}
        delivered: dict[str, np.ndarray] = {}
        for hop in self._topology.order:
            model = self._models[hop]
            edge_in = self._topology.parent.get(hop)
            if edge_in is None:
                arrive, reached, base = times, created.copy(), root_codes
            else:
                arrive = observed[edge_in.from_hop]
                reached = delivered[edge_in.name].copy()
                base = codes[edge_in.from_hop]
            z = rng.standard_normal(k)
            u_reject, u_spike, u_dup, u_redeliver = (rng.random(k) for _ in range(4))
            add_idx = [m.draw(rng.random(k)) for m in model.adds]

            latency = model.latency(z)
            seen = arrive + latency
            for f in self._faults(Latency, hop):
                hit = reached & f.active(arrive, origin)
                seen = np.where(hit, seen + f.seconds, seen)
                truth.count(truth.slowed, hop, times[hit])
            tails = self._faults(LateTail, hop)
            if tails:
                # Its own stream, so adding a late tail leaves every other draw where it was.
                u_late = np.random.default_rng([self.seed, minute, 0x1A7E, len(observed)]).random(k)
                for f in tails:
                    hit = reached & f.active(arrive, origin) & (u_late < f.share)
                    seen = np.where(hit, seen + f.seconds, seen)
                    truth.count(truth.delayed, hop, times[hit])
            for f in self._faults(Stall, hop):
                hit = reached & f.active(seen, origin)
                if f.lose:
                    assert edge_in is not None  # refused for the first hop in _check_faults
                    reached &= ~hit
                    self._record_drop(truth, edge_in.name, times, ids, hit)
                else:
                    seen = np.where(hit, origin + f.end + latency, seen)
                    truth.count(truth.delayed, hop, times[hit])

            reasons = [None, model.reject_reason]
            reason = np.where(u_reject < model.reject_share, 1, 0)
            open_ = reached & (reason == 0)
            for f in self._faults(RejectionSpike, hop):
                hit = open_ & f.active(arrive, origin) & (u_spike < f.share)
                reason = np.where(hit, len(reasons), reason)
                reasons.append(f.reason)
                open_ &= ~hit
                truth.count(truth.rejected, hop, times[hit])
            dup = np.zeros(k, dtype=bool)
            for f in self._faults(Duplicates, hop):
                hit = reached & ~dup & f.active(arrive, origin) & (u_dup < f.share)
                dup |= hit
                truth.count(truth.duplicated, hop, times[hit])

            hop_codes = self._attributes.extend(base, model.adds, add_idx)
            observed[hop], codes[hop] = seen, hop_codes
            idx = np.flatnonzero(reached)
            hop_obs = self._build(hop, idx, ids, etype, times, seen, reason, reasons, hop_codes)
            out.extend(hop_obs)
            if dup.any():
                again = seen + REDELIVERY_SECONDS[0] + np.diff(REDELIVERY_SECONDS)[0] * u_redeliver
                dup_at = dup[idx]
                again_at = again[idx].tolist()
                out.extend(
                    msgspec.structs.replace(o, observed_time=again_at[j])
                    for j, o in enumerate(hop_obs)
                    if dup_at[j]
                )

            for edge in self._topology.children[hop]:
                u_loss = rng.random(k)
                passes = np.zeros(k, dtype=bool)
                if edge.where.matches_all:
                    passes[idx] = True
                else:
                    passes[idx] = np.fromiter(
                        (edge.where(o) for o in hop_obs), dtype=bool, count=len(hop_obs)
                    )
                share = self.scenario.edges.get(edge.name)
                if share is not None:
                    passes &= self._passed(minute, edge.name, share, passes, times, truth)
                for f in self._faults(Loss, edge.name):
                    hit = passes & f.active(seen, origin) & (u_loss < f.share)
                    passes &= ~hit
                    self._record_drop(truth, edge.name, times, ids, hit)
                delivered[edge.name] = passes
            self._bypass(minute, hop, idx, hop_obs, seen, ids, times, delivered, truth)

        out.sort(key=_observed_time)
        return out, int(created.sum())

    def _passed(
        self,
        minute: int,
        edge: str,
        share: PassShare,
        passes: np.ndarray,
        times: np.ndarray,
        truth: GroundTruth,
    ) -> np.ndarray:
        """Which events a learned-ratio edge passes this minute: one share per minute (its
        ``PassShare`` at the minute's middle, a Beta draw with a spread), then one uniform per
        event. A generator of its own per edge, so a shape leaves every other draw where it was."""
        index = [e.name for e in self.pipeline.edges].index(edge)
        rng = np.random.default_rng([self.seed, minute, 0x5A4E, index])
        mid = np.array([minute * SECONDS_PER_MINUTE + SECONDS_PER_MINUTE / 2])
        p = float(share.draw(rng, mid, self.scenario.start)[0])
        kept = rng.random(len(passes)) < p
        truth.count(truth.filtered, edge, times[passes & ~kept])
        return kept

    def _bypass(
        self,
        minute: int,
        hop: str,
        idx: np.ndarray,
        hop_obs: list[Observation],
        seen: np.ndarray,
        ids: list[str],
        times: np.ndarray,
        delivered: dict[str, np.ndarray],
        truth: GroundTruth,
    ) -> None:
        """Send a ``Bypass`` fault's share of a forbidden edge's restricted events down the
        ordinary edge into its ``to`` hop. Its draws come from a generator of their own, so a
        run with the fault differs from the clean run only in the leaked events."""
        for edge in self.pipeline.forbidden_edges:
            faults = self._faults(Bypass, edge.name) if edge.from_hop == hop else []
            if not faults:
                continue
            k = len(ids)
            u = np.random.default_rng([self.seed, minute, 0xB1]).random(k)
            restricted = np.zeros(k, dtype=bool)
            restricted[idx] = np.fromiter(
                (edge.where(o) for o in hop_obs), dtype=bool, count=len(hop_obs)
            )
            carrier = self._topology.parent[edge.to_hop]
            for f in faults:
                hit = restricted & ~delivered[carrier.name] & f.active(seen, self.scenario.start)
                hit &= u < f.share
                delivered[carrier.name] = delivered[carrier.name] | hit
                truth.count(truth.leaked, edge.name, times[hit])
                truth.leaked_ids.setdefault(edge.name, []).extend(
                    ids[i] for i in np.flatnonzero(hit).tolist()
                )

    def _build(
        self,
        hop: str,
        idx: np.ndarray,
        ids: list[str],
        etype: np.ndarray,
        times: np.ndarray,
        seen: np.ndarray,
        reason: np.ndarray,
        reasons: list[str | None],
        hop_codes: np.ndarray,
    ) -> list[Observation]:
        """The hop's observations of events ``idx``, built in one loop over plain Python values."""
        pipeline = self.pipeline.name
        names = self.scenario.traffic.event_types.values
        visible = self._attributes.visible
        statuses = [Status.OK] + [Status.REJECTED] * (len(reasons) - 1)
        return [
            Observation(
                pipeline, hop, names[t], et, ot, statuses[r], ids[i], reasons[r], visible[c]
            )
            for i, t, et, ot, r, c in zip(
                idx.tolist(),
                etype[idx].tolist(),
                times[idx].tolist(),
                seen[idx].tolist(),
                reason[idx].tolist(),
                hop_codes[idx].tolist(),
                strict=True,
            )
        ]

    @staticmethod
    def _record_drop(
        truth: GroundTruth, edge: str, times: np.ndarray, ids: list[str], hit: np.ndarray
    ) -> None:
        if not hit.any():
            return
        truth.count(truth.dropped, edge, times[hit])
        truth.dropped_ids.setdefault(edge, []).extend(ids[i] for i in np.flatnonzero(hit).tolist())
