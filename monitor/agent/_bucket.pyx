# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled twin of ``Bucketer.observe`` (``monitor.agent.bucketer``): the same deltas, in C.

Fed a whole batch, it makes the same state changes as the Python loop, in the same order, on the
same objects (``_HopDelta``, ``_EdgeDelta``, ``LatencySketch``), so ``take`` and everything after
it is shared code. It does what the ledger's compiled core (``monitor.ledger._batch``) does for
the server, with the same means:

- the id hash is XXH3 from the ledger's vendored header, on the id's UTF-8 bytes in place (the
  same 60 bits as ``monitor.ledger.sampling.id_hash``);
- the bucket index is CPython's own float floor division, read back as a C double;
- a hop's delta for one bucket, its latency buffer's ``append`` and its edges' deltas are looked
  up once per (hop, bucket) per batch, not once per observation;
- edge filters run once per observation shape (pipeline, hop, event type, status, reason,
  attribute set) and are memoised as a bit mask of the hop's outgoing edges, unless a filter of
  the hop reads ``event_id`` (then they run per observation, as in Python);
- observations whose times are not plain floats take CPython's own arithmetic.

Pure: no I/O, no clock, no globals but constants. ``tests/test_agent_core.py`` holds it to the
Python loop on random streams, delta for delta.
"""

from cpython.float cimport PyFloat_AS_DOUBLE
from cpython.number cimport PyNumber_FloorDivide
from libc.stdint cimport uint64_t


cdef double BIG = 4.0e18
cdef Py_ssize_t MAX_SHAPES = 4096
MAX_EDGES_OUT = 62
"""Edges out of one hop that the bit masks and the per-slot counters hold."""


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL


cdef extern from "xxh3_inline.h":
    uint64_t XXH3_64bits(const void* data, size_t length) nogil


cdef inline long long _hash60(str event_id) except -1:
    """``monitor.ledger.sampling.id_hash``: XXH3 of the UTF-8 bytes, cut to 60 bits."""
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(event_id, &size)
    return <long long>(XXH3_64bits(data, <size_t>size) & ((1ULL << 60) - 1))


cdef object _ms(bint fast, double observed, object ob_obj):
    """``int(observed_time * 1000.0)``, in C for plain floats."""
    cdef double q
    if fast:
        q = observed * 1000.0
        if -BIG < q < BIG:
            return <long long>q
    return int(ob_obj * 1000.0)


cdef class _Pipe:
    """What the loop needs of one pipeline's bucketer, fetched once per batch."""

    cdef object size_obj
    cdef bint size_is_number
    cdef bint size_is_float
    cdef long long threshold
    cdef dict out_edges
    cdef dict is_to
    cdef dict by_shape
    cdef dict deltas
    cdef dict memo
    cdef object closed_through
    cdef bint has_closed
    cdef dict hop_index


cdef class _Shape:
    """Observations of one (status, event type, reason, attribute set) in one slot this batch:
    their count (added to the delta's counts when the batch ends, in first-seen order, which is
    the order the Python loop inserts the keys in) and the edges their filters pass."""

    cdef object status
    cdef object event_type
    cdef object reason
    cdef object ckey
    cdef long long n
    cdef object mask


cdef class _Slot:
    """One (hop, bucket) delta's parts, fetched once per batch; counters kept in C until the
    batch ends (``flush``)."""

    cdef object delta
    cdef dict counts
    cdef object add_latency
    cdef dict edges
    cdef list edge_objects
    cdef long long expected[62]
    cdef long long ids_seen[62]
    cdef dict sightings
    cdef tuple out_edges
    cdef Py_ssize_t n_out
    cdef bint memo_ok
    cdef bint is_to
    cdef bint late
    cdef long long n_late
    cdef dict by_attrs
    cdef list shapes

    cdef flush(self):
        cdef _Shape shape
        cdef Py_ssize_t k
        counts = self.counts
        for shape in self.shapes:
            if shape.n:
                counts[shape.ckey] = counts.get(shape.ckey, 0) + shape.n
                shape.n = 0
        for k in range(self.n_out):
            edge = self.edge_objects[k]
            if edge is not None and (self.expected[k] or self.ids_seen[k]):
                edge.expected_count += self.expected[k]
                edge.ids_seen += self.ids_seen[k]
            self.expected[k] = 0
            self.ids_seen[k] = 0
        if self.n_late:
            self.delta.late += self.n_late
            self.n_late = 0


cdef _Pipe _pipe(bucketer, closed_through):
    cdef _Pipe p = _Pipe()
    p.size_obj = bucketer.watermark.bucket_seconds
    p.size_is_number = type(p.size_obj) is float or type(p.size_obj) is int
    p.size_is_float = type(p.size_obj) is float
    p.threshold = bucketer.threshold
    p.out_edges = bucketer.out_edges
    p.is_to = bucketer.is_to
    p.by_shape = bucketer.by_shape
    p.deltas = bucketer.deltas
    p.memo = bucketer.shapes
    p.closed_through = closed_through
    p.has_closed = closed_through is not None
    p.hop_index = {}
    return p


cdef _Slot _slot(_Pipe p, str hop, object b, new_delta):
    cdef _Slot slot = _Slot()
    cdef Py_ssize_t k
    key = (hop, b)
    delta = p.deltas.get(key)
    if delta is None:
        delta = new_delta()
        p.deltas[key] = delta
    slot.delta = delta
    slot.counts = delta.counts
    slot.add_latency = delta.latency.add
    slot.edges = delta.edges
    slot.sightings = delta.sightings
    slot.out_edges = p.out_edges[hop]
    slot.n_out = len(slot.out_edges)
    slot.edge_objects = [None] * slot.n_out
    for k in range(slot.n_out):
        slot.expected[k] = 0
        slot.ids_seen[k] = 0
    slot.memo_ok = p.by_shape[hop]
    slot.is_to = p.is_to[hop]
    # local lateness is a property of the bucket: ``closed_through`` moves between batches
    slot.late = p.has_closed and b <= p.closed_through
    slot.n_late = 0
    slot.by_attrs = {}
    slot.shapes = []
    return slot


cdef _Shape _shape_of(_Slot slot, obs):
    """The slot's ``_Shape`` of ``obs``, made if new (found by the attribute set's identity, as
    the push decoder memoises attribute sets, then by status, event type and reason)."""
    cdef _Shape shape
    attributes = obs.attributes
    status = obs.status
    event_type = obs.event_type
    reason = obs.reason
    key = id(attributes)
    found = slot.by_attrs.get(key)
    if found is not None:
        for shape in <list>found:
            if (shape.status == status and shape.event_type == event_type
                    and shape.reason == reason):
                return shape
    shape = _Shape()
    shape.status, shape.event_type, shape.reason = status, event_type, reason
    shape.ckey = (status, attributes)
    shape.n = 0
    shape.mask = None
    if found is None:
        found = slot.by_attrs[key] = []
    (<list>found).append(shape)
    slot.shapes.append(shape)
    return shape


cdef object _mask(_Pipe p, _Slot slot, str hop, obs):
    """The bit mask of the hop's outgoing edges whose filter ``obs`` passes (memoised by shape
    in the bucketer when the hop's filters do not read the event id)."""
    cdef Py_ssize_t k
    cdef object mask
    cdef tuple out_edges = slot.out_edges
    shape = None
    if slot.memo_ok:
        shape = (obs.pipeline, hop, obs.event_type, obs.status, obs.reason, obs.attributes)
        mask = p.memo.get(shape)
        if mask is not None:
            return mask
    mask = 0
    for k in range(len(out_edges)):
        if out_edges[k][1](obs):
            mask |= 1 << k
    if shape is not None:
        if len(p.memo) >= MAX_SHAPES:
            p.memo.clear()
        p.memo[shape] = mask
    return mask


def observe(dict pipelines, dict closed_through, observations, new_delta, new_edge, Py_ssize_t max_id):
    """``Bucketer.observe`` (see there) for a batch of any pipelines' observations.

    ``new_delta`` and ``new_edge`` make ``_HopDelta`` and ``_EdgeDelta``; ``max_id`` is
    ``MAX_ID_LENGTH``. Only for pipelines with at most ``MAX_EDGES_OUT`` edges out of any hop
    (``Bucketer`` sends others to the Python loop)."""
    cdef dict pipes = {}
    cdef dict slots = {}
    cdef _Pipe p = None
    cdef _Slot slot
    cdef _Shape shape
    cdef object last_pipeline = None
    cdef double event_time = 0.0, observed = 0.0, latency = 0.0, q
    cdef long long b, h
    cdef uint64_t bits
    cdef Py_ssize_t k, index, n_hops = 0
    cdef bint fast
    cdef object b_obj, latency_obj, ms, edge, seen, key, found
    try:
        for obs in observations:
            pipeline = obs.pipeline
            if pipeline is not last_pipeline:
                p = pipes.get(pipeline)
                if p is None:
                    p = _pipe(pipelines[pipeline], closed_through[pipeline])
                    pipes[pipeline] = p
                last_pipeline = pipeline
            hop = obs.hop
            et_obj = obs.event_time
            ob_obj = obs.observed_time
            fast = p.size_is_number and type(et_obj) is float and type(ob_obj) is float
            if fast and p.size_is_float:
                event_time = et_obj
                observed = ob_obj
                # CPython's own float floor division (exact near bucket boundaries, where
                # C's floor(x / y) is not); the ledger's core spells it out in C instead
                q = PyFloat_AS_DOUBLE(PyNumber_FloorDivide(et_obj, p.size_obj))
                if -BIG < q < BIG:
                    b = <long long>q
                    b_obj = b
                else:
                    b_obj = int(q)
                    fast = False
            else:
                if fast:
                    event_time = et_obj
                    observed = ob_obj
                b_obj = int(et_obj // p.size_obj)
            found = p.hop_index.get(hop)
            if found is None:
                found = p.hop_index[hop] = n_hops  # (pipeline, hop) numbered in this batch
                n_hops += 1
            index = found
            # One key per (pipeline, hop, bucket) whichever way ``b`` was computed: one slot per
            # delta, so its counts go in in the order the Python loop inserts them.
            if type(b_obj) is int and -BIG / 4096.0 < b_obj < BIG / 4096.0 and index < 2048:
                b = b_obj
                key = b * 4096 + index
            else:
                key = (b_obj, index)
            slot = slots.get(key)
            if slot is None:
                slot = _slot(p, hop, b_obj, new_delta)
                slots[key] = slot
            shape = _shape_of(slot, obs)
            shape.n += 1
            if slot.late:
                slot.n_late += 1
            ms = None  # made when an id needs it: most observations' never is
            if fast:
                latency = observed - event_time
                latency_obj = latency
            else:
                latency_obj = ob_obj - et_obj
            slot.add_latency(latency_obj)
            trace_id = obs.trace_id
            if trace_id is not None:
                exemplar = slot.delta.exemplar
                if exemplar is None or latency_obj > exemplar[1]:
                    slot.delta.exemplar = (trace_id, latency_obj, ob_obj)
            event_id = obs.event_id
            h = -1
            if event_id is not None and len(event_id) <= max_id:
                h = _hash60(event_id)
                if h >= p.threshold:
                    h = -1
            if slot.n_out:
                if slot.memo_ok:
                    if shape.mask is None:
                        shape.mask = _mask(p, slot, hop, obs)
                    bits = shape.mask
                else:
                    bits = _mask(p, slot, hop, obs)
                if bits:
                    for k in range(slot.n_out):
                        if not (bits >> k) & 1:
                            continue
                        edge = slot.edge_objects[k]
                        if edge is None:
                            name = slot.out_edges[k][0]
                            edge = slot.edges.get(name)
                            if edge is None:
                                edge = new_edge()
                                slot.edges[name] = edge
                            slot.edge_objects[k] = edge
                        slot.expected[k] += 1
                        if event_id is not None:
                            slot.ids_seen[k] += 1
                            if h >= 0:
                                if ms is None:
                                    ms = _ms(fast, observed, ob_obj)
                                edge.ids.setdefault(event_id, ms)
            if h >= 0 and slot.is_to:
                seen = slot.sightings.get(h)
                if seen is None:
                    if ms is None:
                        ms = _ms(fast, observed, ob_obj)
                    slot.sightings[h] = (ms, 1)
                else:
                    slot.sightings[h] = ((<tuple>seen)[0], (<tuple>seen)[1] + 1)
    finally:
        for slot in slots.values():
            slot.flush()
