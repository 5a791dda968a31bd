"""Turning what hopwatch sees into SLI outcomes: good and bad events, at the moment they are decided.

Pure and streaming, so an SLO can page minutes after a problem starts, without waiting for buckets
to close:

- ``latency``: an event that passed the filter at ``from`` is good when ``to`` sees it within the
  threshold of its event time; the moment the threshold passes without it, it is bad (a sighting
  after that is counted as late and changes nothing). Until then it is pending.
- ``ratio``: each observation at the hop passing ``total`` is decided when it arrives.
- ``sampled``: labelled observations count once they are ``maturity`` past their event time, since
  a verdict (a merge later split, an audit) may still be coming.
- ``completeness``: each closed, complete edge bucket contributes its arrived (good) and missing (bad).
- ``blocked``: the reverse over a forbidden edge (``expect: none``): each closed, complete bucket
  contributes its blocked restricted events (missing: good) and its leaks (arrived: bad). Leaks
  after the bucket's close amend it and are counted by ``hopwatch_edge_forbidden_events_total``
  and its alert, not here (like late arrivals of ``completeness``).

Outcomes go to a ``sink(slo_name, at, good, bad)``: the evaluator's outcome ledger.

Cost per observation must not grow by a full pass per SLO (teams add latency SLOs per journey,
all starting at the same busy first hop): ``SLIRecorder.observe`` routes an observation by
(pipeline, hop) once, hashes its event id once for every latency SLO, and evaluates each latency
SLO's ``where`` (and segment text) once per observation shape (event type, status, reason,
attribute set), not once per observation; what is left per SLO is its own pending-set update.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from monitor.config.where import reads_event_id
from monitor.ledger.core import compiled
from monitor.ledger.records import Completeness, EdgeResult
from monitor.ledger.sampling import IdSampler, id_hash
from monitor.records import Attributes, Observation
from monitor.slo.model import (
    SLO,
    BlockedIndicator,
    CompletenessIndicator,
    LatencyIndicator,
    RatioIndicator,
    SampledIndicator,
)

Sink = Callable[[str, float, int, int], None]
SAMPLE_IDS = 5


@dataclass
class Evidence:
    """What an SLO alert shows besides numbers: where the bad events are and a few to look up."""

    bad_by_segment: Counter[str] = field(default_factory=Counter)
    bad_ids: deque[str] = field(default_factory=lambda: deque(maxlen=SAMPLE_IDS))
    late: int = 0
    untracked: int = 0

    def record_bad(self, segment: str | None, event_id: str | None, n: int = 1) -> None:
        if segment is not None:
            self.bad_by_segment[segment] += n
        if event_id is not None:
            self.bad_ids.append(event_id)

    def top_segment(self) -> tuple[str, int] | None:
        return self.bad_by_segment.most_common(1)[0] if self.bad_by_segment else None


def _segment(slo: SLO, obs: Observation) -> str | None:
    if slo.segment_by is None:
        return None
    value = obs.field(f"attributes.{slo.segment_by}")
    return None if value is None else f"{slo.segment_by}={value}"


MAX_SEGMENTS = 10_000
"""Distinct segment texts one SLO shares between its pending events (attribute sets are bounded
per pipeline; past this, a segment text is made per event again)."""


class _Latency:
    """Pending events of one latency SLO.

    Deadlines are kept in one-second bins of packed hashes (8 bytes an event, where a heap of
    tuples cost 64) with a small heap of the bins' seconds, and segment texts are shared: a
    pending event costs its dict entry and one small tuple, which matters at a million pending.
    Expiry decides in (deadline, hash) order, as a heap of (deadline, hash) would.
    """

    def __init__(self, slo: SLO, ind: LatencyIndicator, sampler: IdSampler, cap: int) -> None:
        self.slo, self.ind, self.sampler, self.cap = slo, ind, sampler, cap
        self.pending: dict[int, tuple[float, str, str | None]] = {}
        self.early: dict[int, float] = {}
        self.decided: set[int] = set()
        self._bins: dict[int, array[int]] = {}
        self._bin_seconds: list[int] = []
        self._segments: dict[str, str] = {}
        self.evidence = Evidence()

    def _shared(self, segment: str | None) -> str | None:
        if segment is None:
            return None
        shared = self._segments.get(segment)
        if shared is not None:
            return shared
        if len(self._segments) < MAX_SEGMENTS:
            self._segments[segment] = segment
        return segment

    def _schedule(self, deadline: float, h: int) -> None:
        second = math.floor(deadline)
        hashes = self._bins.get(second)
        if hashes is None:
            hashes = self._bins[second] = array("Q")
            heapq.heappush(self._bin_seconds, second)
        hashes.append(h)

    def segment_of(self, obs: Observation) -> str | None:
        """The shared segment text of ``obs`` (a function of its attributes only)."""
        return self._shared(_segment(self.slo, obs))

    def at_from(self, obs: Observation, h: int, segment: str | None, sink: Sink) -> None:
        """``obs`` passed the filter at ``from``; ``h`` is its id hash (-1 without an id),
        computed once by the recorder for every SLO."""
        if h < 0:
            self.evidence.untracked += 1
            return
        if h >= self.sampler.threshold or h in self.pending or h in self.decided:
            return
        deadline = obs.event_time + self.ind.threshold
        seen_at_to = self.early.pop(h, None)
        event_id = obs.event_id
        assert event_id is not None  # h >= 0
        if seen_at_to is not None:
            at = max(seen_at_to, obs.observed_time)
            self._decide(h, seen_at_to <= deadline, segment, event_id, at, sink)
        elif deadline <= obs.observed_time:
            self._decide(h, False, segment, event_id, deadline, sink)
        elif len(self.pending) < self.cap:
            self.pending[h] = (deadline, event_id, segment)
            self._schedule(deadline, h)

    def at_to(self, obs: Observation, h: int, sink: Sink) -> None:
        """``obs`` was seen at ``to``; ``h`` is its id hash (the caller skips observations
        without an id)."""
        entry = self.pending.pop(h, None)
        if entry is not None:
            deadline, event_id, segment = entry
            good = obs.observed_time <= deadline
            at = obs.observed_time if good else deadline
            self._decide(h, good, segment, event_id, at, sink)
        elif h in self.decided:
            self.evidence.late += 1
        elif h < self.sampler.threshold and len(self.early) < self.cap:
            self.early[h] = obs.observed_time

    def expire(self, now: float, sink: Sink) -> None:
        """Every pending event whose threshold has passed is bad, at its deadline."""
        due: list[tuple[float, int]] = []
        later: list[tuple[int, array[int]]] = []
        pending = self.pending
        while self._bin_seconds and self._bin_seconds[0] <= now:
            second = heapq.heappop(self._bin_seconds)
            keep = array("Q")
            for h in self._bins.pop(second):
                entry = pending.get(h)
                if entry is None:
                    continue  # decided when it arrived; its bin entry is dropped here
                if entry[0] <= now:
                    due.append((entry[0], h))
                else:
                    keep.append(h)
            if keep:
                later.append((second, keep))
        for second, keep in later:
            self._bins[second] = keep
            heapq.heappush(self._bin_seconds, second)
        due.sort()
        for deadline, h in due:
            entry = pending.pop(h, None)
            if entry is not None and entry[0] == deadline:
                self._decide(h, False, entry[2], entry[1], deadline, sink)
        if len(self.decided) > self.cap:
            self.decided.clear()  # bounded memory: a repeat older than this counts as new

    def _decide(
        self, h: int, good: bool, segment: str | None, event_id: str, at: float, sink: Sink
    ) -> None:
        self.decided.add(h)
        if good:
            sink(self.slo.name, at, 1, 0)
        else:
            sink(self.slo.name, at, 0, 1)
            self.evidence.record_bad(segment, event_id)

    @property
    def pending_count(self) -> int:
        return len(self.pending)


class _Ratio:
    def __init__(self, slo: SLO, ind: RatioIndicator) -> None:
        self.slo, self.ind = slo, ind
        self.evidence = Evidence()
        filters = (ind.total, ind.good, ind.bad)
        self.by_shape = not any(reads_event_id(w) for w in filters if w is not None)
        """Whether the outcome is a function of the observation's shape (the compiled pass
        memoises it per shape then)."""

    def outcome(self, obs: Observation) -> tuple[bool, bool, str | None]:
        """(counted, good, segment of a bad one) for ``obs``: what ``at_hop`` decides."""
        ind = self.ind
        if not ind.total(obs):
            return False, False, None
        good = ind.good(obs) if ind.good is not None else not ind.bad(obs)  # type: ignore[misc]
        return True, bool(good), None if good else _segment(self.slo, obs)

    def at_hop(self, obs: Observation, sink: Sink) -> None:
        ind = self.ind
        if not ind.total(obs):
            return
        good = ind.good(obs) if ind.good is not None else not ind.bad(obs)  # type: ignore[misc]
        if good:
            sink(self.slo.name, obs.observed_time, 1, 0)
        else:
            sink(self.slo.name, obs.observed_time, 0, 1)
            self.evidence.record_bad(_segment(self.slo, obs), obs.event_id)


class _Sampled:
    """Labelled observations wait until they are mature, then count."""

    def __init__(self, slo: SLO, ind: SampledIndicator) -> None:
        self.slo, self.ind = slo, ind
        self.waiting: list[tuple[float, int, bool, str | None, str | None]] = []
        self._seq = 0
        self.evidence = Evidence()

    def at_hop(self, obs: Observation, sink: Sink) -> None:
        if not self.ind.where(obs):
            return
        mature_at = obs.event_time + self.ind.maturity
        bad = bool(self.ind.bad(obs))
        self._seq += 1
        item = (mature_at, self._seq, bad, _segment(self.slo, obs), obs.event_id)
        heapq.heappush(self.waiting, item)

    def expire(self, now: float, sink: Sink) -> None:
        while self.waiting and self.waiting[0][0] <= now:
            mature_at, _, bad, segment, event_id = heapq.heappop(self.waiting)
            at = max(mature_at, 0.0)
            if bad:
                sink(self.slo.name, at, 0, 1)
                self.evidence.record_bad(segment, event_id)
            else:
                sink(self.slo.name, at, 1, 0)

    @property
    def pending_count(self) -> int:
        return len(self.waiting)


Shape = tuple[str, str, str | None, Attributes]
"""What a ``where`` filter that reads no event id can see of an observation at a known
(pipeline, hop): event type, status, reason and attributes."""

MAX_SHAPES = 4096
"""Distinct shapes memoised per (pipeline, hop) before the memo starts over (attribute sets are
bounded per pipeline, so a busy hop has far fewer)."""


class _Route:
    """What one (pipeline, hop) feeds, split so ``observe`` does per-observation work once:
    latency SLOs starting here (memoised by ``Shape`` unless their filter reads the event id),
    latency SLOs ending here, and ratio and sampled SLOs."""

    __slots__ = ("by_id", "by_shape", "ends", "memo", "others")

    def __init__(self) -> None:
        self.by_shape: list[_Latency] = []
        self.by_id: list[_Latency] = []
        self.ends: list[_Latency] = []
        self.others: list[_Ratio | _Sampled] = []
        self.memo: dict[Shape, tuple[tuple[_Latency, str | None], ...]] = {}

    def starting(self, obs: Observation, shape: Shape) -> tuple[tuple[_Latency, str | None], ...]:
        """The latency SLOs whose filter ``obs`` passes, each with its segment text: the same
        for every observation of this shape, so computed once and memoised."""
        memo = self.memo
        if len(memo) >= MAX_SHAPES:
            memo.clear()
        passing = tuple(
            (handler, handler.segment_of(obs))
            for handler in self.by_shape
            if handler.ind.where(obs)
        )
        memo[shape] = passing
        return passing


_compiled = compiled("monitor.slo._sli")
"""The compiled ``SLIRecorder.observe`` (``monitor/slo/_sli.pyx``), or None (``monitor.ledger.core``)."""


class SLIRecorder:
    """Routes observations and closed edge buckets to the indicators of the configured SLOs."""

    def __init__(
        self,
        slos: Iterable[SLO],
        samplers: dict[str, IdSampler] | None = None,
        max_pending: int = 1_000_000,
    ) -> None:
        self.slos = tuple(slos)
        samplers = samplers or {}
        self._routes: dict[tuple[str, str], _Route] = {}
        self._completeness: dict[tuple[str, str], list[SLO]] = {}
        self._blocked: dict[tuple[str, str], list[SLO]] = {}
        self._expiring: list[_Latency | _Sampled] = []
        self.evidence: dict[str, Evidence] = {}
        self._pending: dict[str, _Latency | _Sampled] = {}
        # For the compiled pass: routes by pipeline then hop, and its views of the handlers.
        self._core = _compiled
        self._by_hop: dict[str, dict[str, _Route]] = {}
        self._views: dict[int, object] = {}
        self._route_views: dict[int, object] = {}
        handler: _Latency | _Ratio | _Sampled | None
        for slo in self.slos:
            ind = slo.indicator
            if isinstance(ind, LatencyIndicator):
                handler = _Latency(
                    slo, ind, samplers.get(ind.pipeline, IdSampler(1.0)), max_pending
                )
                start = self._route(ind.pipeline, ind.from_hop)
                (start.by_id if reads_event_id(ind.where) else start.by_shape).append(handler)
                self._route(ind.pipeline, ind.to_hop).ends.append(handler)
                self._expiring.append(handler)
                self._pending[slo.name] = handler
            elif isinstance(ind, RatioIndicator):
                handler = _Ratio(slo, ind)
                self._route(ind.pipeline, ind.hop).others.append(handler)
            elif isinstance(ind, SampledIndicator):
                handler = _Sampled(slo, ind)
                self._route(ind.pipeline, ind.hop).others.append(handler)
                self._expiring.append(handler)
                self._pending[slo.name] = handler
            elif isinstance(ind, CompletenessIndicator):
                self._completeness.setdefault((ind.pipeline, ind.edge), []).append(slo)
                handler = None
            elif isinstance(ind, BlockedIndicator):
                self._blocked.setdefault((ind.pipeline, ind.edge), []).append(slo)
                handler = None
            self.evidence[slo.name] = handler.evidence if handler is not None else Evidence()

    def _route(self, pipeline: str, hop: str) -> _Route:
        route = self._routes.get((pipeline, hop))
        if route is None:
            route = self._routes[(pipeline, hop)] = _Route()
            self._by_hop.setdefault(pipeline, {})[hop] = route
        return route

    def observe(self, observations: Iterable[Observation], sink: Sink) -> None:
        """Decide what can be decided from these sightings, at the times they were made.

        Per observation: one route lookup, one id hash shared by every latency SLO, one memo
        lookup for the latency filters; each SLO then only updates its own pending events, in
        the order the SLOs were configured (each SLO's outcomes are as if it were alone).

        Runs the compiled pass (``monitor/slo/_sli.pyx``) when it is built, ``observe_python``
        otherwise: the same decisions and state either way."""
        if self._core is not None:
            self._core.observe(self, observations, sink)
            return
        self.observe_python(observations, sink)

    def observe_python(self, observations: Iterable[Observation], sink: Sink) -> None:
        """``observe`` in Python: the reference the compiled pass is tested against."""
        routes = self._routes
        if not routes:
            return
        for obs in observations:
            route = routes.get((obs.pipeline, obs.hop))
            if route is None:
                continue
            event_id = obs.event_id
            h = -1 if event_id is None else id_hash(event_id)
            if route.by_shape:
                shape = (obs.event_type, obs.status, obs.reason, obs.attributes)
                passing = route.memo.get(shape)
                if passing is None:
                    passing = route.starting(obs, shape)
                for handler, segment in passing:
                    handler.at_from(obs, h, segment, sink)
            for handler in route.by_id:
                if handler.ind.where(obs):
                    handler.at_from(obs, h, handler.segment_of(obs), sink)
            if h >= 0:
                for handler in route.ends:
                    handler.at_to(obs, h, sink)
            for other in route.others:
                other.at_hop(obs, sink)

    def edge_results(self, results: Iterable[EdgeResult], now: float, sink: Sink) -> None:
        """Newly closed edge buckets (not amendments) for completeness SLOs; incomplete ones skipped."""
        for r in results:
            if r.completeness is Completeness.INCOMPLETE or r.expected == 0:
                continue
            for slo in self._blocked.get((r.pipeline, r.edge), ()):
                sink(slo.name, now, r.missing, r.arrived)
                if r.arrived:
                    self.evidence[slo.name].bad_by_segment[f"edge={r.edge}"] += r.arrived
            slos = self._completeness.get((r.pipeline, r.edge))
            if not slos:
                continue
            for slo in slos:
                sink(slo.name, now, r.arrived, r.missing)
                if r.missing:
                    ev = self.evidence[slo.name]
                    ev.bad_by_segment[f"edge={r.edge}"] += r.missing
                    for event_id in r.missing_ids[:SAMPLE_IDS]:
                        ev.bad_ids.append(event_id)

    def expire(self, now: float, sink: Sink) -> None:
        for handler in self._expiring:
            handler.expire(now, sink)

    def pending(self) -> dict[str, int]:
        return {name: h.pending_count for name, h in self._pending.items()}
