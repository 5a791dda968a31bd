# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled twin of ``SLIRecorder.observe``: the same decisions, in the same order, to the same
sink, and the same state left in the indicators (``monitor.slo.indicators``).

What it does differently is how it gets there:

- fields are read from their slots (``_fields.pxi``) and the id is hashed once per observation
  with the vendored XXH3 (the 60 bits of ``monitor.ledger.sampling.id_hash``);
- a (pipeline, hop) route is found with two lookups of shared texts, not a tuple key;
- the latency SLOs an observation starts are memoised per shape as in Python, but found by the
  attribute set's identity (the push decoder shares equal sets) and compared field by field,
  which spares building and hashing a tuple per observation;
- a latency SLO's own step (``_Latency.at_from`` / ``at_to``) runs here on its dictionaries, so
  an SLO costs a few dictionary operations per observation it sees, not a Python call;
- a ratio SLO whose filters read no event id has its outcome memoised per shape
  (``_Ratio.outcome``), so it costs its sink call, not its filters.

Anything off the common case (times that are not floats, a filter that reads the event id, ratio
SLOs reading the id and sampled SLOs, a new deadline second) calls the Python code itself. Pure:
no I/O, no clock.
``tests/test_compiled_sli.py`` holds it to ``SLIRecorder.observe`` on random streams.
"""

from libc.math cimport floor

include "_fields.pxi"
include "_idhash.pxi"

cdef double BIG = 4.0e18
cdef Py_ssize_t MAX_SHAPES = 4096
"""As ``indicators.MAX_SHAPES``: distinct shapes memoised per route before the memo starts over."""

cdef Layouts OBS_LAYOUTS = Layouts((
    "pipeline", "hop", "event_type", "status", "reason", "attributes", "event_id", "event_time",
    "observed_time",
))


cdef class _Latency:
    """One latency SLO's state, held by reference (the Python ``_Latency`` never rebinds it)."""

    cdef object handler
    cdef object name
    cdef object evidence
    cdef object sink
    cdef dict pending
    cdef dict early
    cdef set decided
    cdef dict bins
    cdef long long threshold
    cdef object limit
    cdef double limit_c
    cdef bint limit_float
    cdef Py_ssize_t cap

    cdef int decide(self, object key, bint good, object segment, object event_id, object at,
                    object sink) except -1:
        self.decided.add(key)
        if good:
            sink(self.name, at, 1, 0)
        else:
            sink(self.name, at, 0, 1)
            self.evidence.record_bad(segment, event_id)
        return 0

    cdef int at_from(self, obs, long long h, object event_id, object event_time, object observed,
                     object segment, object sink) except -1:
        """``_Latency.at_from`` (see there)."""
        if h < 0:
            self.evidence.untracked += 1
            return 0
        if h >= self.threshold:
            return 0
        key = h
        if key in self.pending or key in self.decided:
            return 0
        if not (self.limit_float and type(event_time) is float and type(observed) is float):
            self.handler.at_from(obs, h, segment, sink)
            return 0
        cdef double deadline_c = <double>event_time + self.limit_c
        deadline = deadline_c
        seen_at_to = self.early.pop(key, None)
        if seen_at_to is not None:
            at = observed if observed > seen_at_to else seen_at_to  # max(seen_at_to, observed)
            self.decide(key, seen_at_to <= deadline, segment, event_id, at, sink)
        elif deadline_c <= <double>observed:
            self.decide(key, False, segment, event_id, deadline, sink)
        elif len(self.pending) < self.cap:
            self.pending[key] = (deadline, event_id, segment)
            hashes = None
            if -BIG < deadline_c < BIG:
                hashes = self.bins.get(<long long>floor(deadline_c))
            if hashes is None:
                self.handler._schedule(deadline, key)  # a new second: its bin and heap entry
            else:
                hashes.append(key)
        return 0

    cdef int at_to(self, long long h, object observed) except -1:
        """``_Latency.at_to`` (see there); the caller skips observations without an id."""
        key = h
        entry = self.pending.pop(key, None)
        if entry is not None:
            deadline, event_id, segment = <tuple>entry
            good = observed <= deadline
            self.decide(key, good, segment, event_id, observed if good else deadline, self.sink)
        elif key in self.decided:
            self.evidence.late += 1
        elif h < self.threshold and len(self.early) < self.cap:
            self.early[key] = observed
        return 0


cdef _Latency _view(dict views, handler, sink):
    cdef _Latency view = views.get(id(handler))
    if view is None or view.handler is not handler:
        view = _Latency()
        view.handler = handler
        view.name = handler.slo.name
        view.evidence = handler.evidence
        view.pending = handler.pending
        view.early = handler.early
        view.decided = handler.decided
        view.bins = handler._bins
        view.threshold = handler.sampler.threshold
        view.limit = handler.ind.threshold
        view.limit_float = type(view.limit) is float
        view.limit_c = view.limit if view.limit_float else 0.0
        view.cap = handler.cap
        views[id(handler)] = view
    view.sink = sink
    return view


cdef class _Shape:
    """What one observation shape does at a route: the latency SLOs it starts, each with its
    segment text, and the outcome of each ratio SLO memoised by shape (``_Ratio.outcome``; None
    where the SLO is decided by its own Python code)."""

    cdef object attributes
    cdef object event_type
    cdef object status
    cdef object reason
    cdef tuple starts  # of (view, segment)
    cdef tuple others  # per route.others: None or (counted, good, segment)


cdef class _Route:
    """A route's compiled views: its shapes by the attribute set's identity, its ending SLOs."""

    cdef object route
    cdef dict shapes
    cdef Py_ssize_t n_shapes
    cdef tuple ends
    cdef list by_id
    cdef list others
    cdef tuple other_names
    cdef tuple other_evidence
    cdef bint by_shape
    cdef bint use_shapes


cdef _Route _route_view(dict views, route, sink):
    cdef _Route view = _Route()
    view.route = route
    view.shapes = {}
    view.n_shapes = 0
    view.ends = tuple([_view(views, handler, sink) for handler in route.ends])
    view.by_id = route.by_id
    view.others = route.others
    view.other_names = tuple([other.slo.name for other in route.others])
    view.other_evidence = tuple([other.evidence for other in route.others])
    view.by_shape = bool(route.by_shape)
    view.use_shapes = view.by_shape or any(
        getattr(other, "by_shape", False) for other in route.others
    )
    return view


cdef _Shape _shape(_Route rv, dict views, obs, event_type, status, reason, attributes, sink):
    """The ``_Shape`` of ``obs`` at this route, memoised."""
    cdef _Shape shape
    key = id(attributes)
    found = rv.shapes.get(key)
    if found is not None:
        for shape in <list>found:
            if (shape.attributes is attributes
                    and (shape.event_type is event_type or shape.event_type == event_type)
                    and (shape.status is status or shape.status == status)
                    and (shape.reason is reason or shape.reason == reason)):
                return shape
    shape = _Shape()
    shape.attributes, shape.event_type, shape.status, shape.reason = (
        attributes, event_type, status, reason
    )
    if rv.by_shape:
        route = rv.route
        memo_key = (event_type, status, reason, attributes)
        passing = route.memo.get(memo_key)
        if passing is None:
            passing = route.starting(obs, memo_key)
        shape.starts = tuple([(_view(views, h, sink), segment) for h, segment in passing])
    else:
        shape.starts = ()
    shape.others = tuple([
        other.outcome(obs) if getattr(other, "by_shape", False) else None
        for other in rv.others
    ])
    if rv.n_shapes >= MAX_SHAPES:
        rv.shapes.clear()
        rv.n_shapes = 0
        found = None
    if found is None:
        rv.shapes[key] = [shape]
    else:
        (<list>found).append(shape)
    rv.n_shapes += 1
    return shape


def observe(recorder, observations, sink):
    """``SLIRecorder.observe(observations, sink)`` (see there)."""
    cdef dict by_pipeline = recorder._by_hop
    if not by_pipeline:
        return
    cdef dict views = recorder._views
    cdef dict route_views = recorder._route_views
    cdef Layouts layouts = OBS_LAYOUTS
    cdef Layout layout
    cdef _Route rv
    cdef _Latency view
    cdef long long h
    cdef _Shape shape
    cdef Py_ssize_t k
    last_pipeline = None
    hops = None
    for obs in observations:
        layout = layouts.of(obs)
        pipeline = field_at(layout, obs, 0)
        hop = field_at(layout, obs, 1)
        if pipeline is not last_pipeline:
            hops = by_pipeline.get(pipeline)
            last_pipeline = pipeline
        if hops is None:
            continue
        route = (<dict>hops).get(hop)
        if route is None:
            continue
        rv = route_views.get(id(route))
        if rv is None or rv.route is not route:
            rv = route_views[id(route)] = _route_view(views, route, sink)
        event_type = field_at(layout, obs, 2)
        status = field_at(layout, obs, 3)
        reason = field_at(layout, obs, 4)
        attributes = field_at(layout, obs, 5)
        event_id = field_at(layout, obs, 6)
        event_time = field_at(layout, obs, 7)
        observed = field_at(layout, obs, 8)
        h = -1 if event_id is None else _hash60(event_id)
        shape = None
        if rv.use_shapes:
            shape = _shape(rv, views, obs, event_type, status, reason, attributes, sink)
            for pair in shape.starts:
                view = (<tuple>pair)[0]
                view.sink = sink
                view.at_from(obs, h, event_id, event_time, observed, (<tuple>pair)[1], sink)
        for handler in rv.by_id:
            if handler.ind.where(obs):
                handler.at_from(obs, h, handler.segment_of(obs), sink)
        if h >= 0:
            for view in rv.ends:
                view.sink = sink
                view.at_to(h, observed)
        for k in range(len(rv.others)):
            outcome = None if shape is None else shape.others[k]
            if outcome is None:
                rv.others[k].at_hop(obs, sink)
            elif (<tuple>outcome)[0]:  # _Ratio.at_hop, from its memoised outcome
                if (<tuple>outcome)[1]:
                    sink(rv.other_names[k], observed, 1, 0)
                else:
                    sink(rv.other_names[k], observed, 0, 1)
                    rv.other_evidence[k].record_bad((<tuple>outcome)[2], event_id)
