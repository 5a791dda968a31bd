# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled twin of ``PipelineLedger.observe``: the same state changes, at C speed where it counts.

Fed a whole validated batch, it does what the Python loop does, in the same order, on the same
objects (``HopCounts``, ``EdgeJoin``, the ledger's stats), so everything after ingest (closing,
snapshots, checkpoints, eviction) is shared code and a checkpoint cannot tell the two apart.
What it does differently is only how it gets there:

- the id hash is XXH3 from the vendored header (``vendor/xxhash.h``), on the id's UTF-8 bytes in
  place: the same 64 bits as ``xxhash.xxh3_64_intdigest(event_id.encode())``;
- the bucket index is CPython's float floor division, spelled out in C (``_floor_div``);
- a hop's accumulators for one bucket (counts, attribute sets, latency buffer, joins of its edges)
  are looked up once per (hop, bucket) per batch, not once per observation;
- edge filters run once per observation shape (pipeline, hop, event type, status, reason, attribute set)
  and are memoised as a bit mask of the hop's outgoing edges (``PipelineLedger._shapes``), unless
  a filter reads ``event_id`` (then it runs per observation, as in Python);
- observations whose times are not plain floats take CPython's own arithmetic.

- the id joins are ``CEdgeJoin`` (``_join.pxi``): ``EdgeJoin`` with its ids in C tables
  (``IdMap``, ``_idmap.pxi``), called from here without Python calls.

Rare paths (a new accumulator, a join too late for its bucket, forbidden edges, exemplars) call
the very methods the Python loop calls. Pure: no I/O, no
clock, no globals but constants. ``tests/test_compiled_core.py`` holds it to the Python ledger on
random streams, output for output and byte for byte of the checkpoint.
"""

cimport cpython.array as c_array
from cpython.mem cimport PyMem_Realloc
from libc.math cimport copysign, floor, fmod


include "_idmap.pxi"
include "_join.pxi"
include "_fields.pxi"
include "_idhash.pxi"

cdef Py_ssize_t MAX_SHAPES = 4096
"""Distinct observation shapes memoised per ledger before the memo starts over (attribute sets
are bounded per pipeline, so a busy ledger has far fewer)."""
cdef int MAX_MASK_EDGES = 62
cdef uint64_t HAS_MASK = 1ULL << 63
"""Set in ``_Shape.mask`` once the mask is known (edges use bits 0-61)."""
cdef double BIG = 4.0e18
"""Bucket indexes and milliseconds beyond this (never real times) take Python ints."""


def id_hash60(str event_id):
    """The 60-bit join hash of ``event_id`` (``monitor.ledger.sampling.id_hash``), in C."""
    return _hash60(event_id)


cdef inline double _floor_div(double vx, double wx):
    """CPython's ``float.__floordiv__`` (``_float_div_mod`` in floatobject.c), step for step:
    ``floor(vx / wx)`` differs from it near multiples of ``wx``."""
    cdef double mod = fmod(vx, wx)
    cdef double div = (vx - mod) / wx
    cdef double out
    if mod:
        if (wx < 0) != (mod < 0):
            div -= 1.0
    if div:
        out = floor(div)
        if div - out > 0.5:
            out += 1.0
        return out
    return copysign(0.0, vx / wx)


cdef class _Shape:
    """Observations of one shape in one slot this batch: their count (added to the bucket's
    counts when the batch ends), whether their attribute set was folded into ``OVERFLOW``, and
    the edges their filters pass."""

    cdef object attrs
    cdef object status
    cdef object event_type
    cdef object reason
    cdef object pipeline
    cdef object ckey
    cdef uint64_t mask
    cdef bint folded
    cdef long long n


cdef class _Slot:
    """One hop's accumulators for one bucket, fetched once per batch.

    Counts are kept per observation shape while the batch runs (``_Shape``: found by the
    attribute set's identity, as the push decoder memoises attribute sets, then by status, event
    type, reason and pipeline), which spares the tuple keys and hashing of ``HopCounts.add`` per
    observation; ``flush`` adds them to the bucket in the order the Python loop would have. A
    slot with too many shapes (or an observation with fields that are not text) flushes and
    counts directly from then on (``direct``)."""

    cdef object acc
    cdef dict counts
    cdef set sets
    cdef object add_latency
    cdef bint closed
    cdef list out_joins
    cdef list in_joins
    cdef dict by_attrs
    cdef list shapes
    cdef long long n_late
    cdef bint direct
    cdef c_array.array latency_array
    cdef double* latencies
    cdef Py_ssize_t n_latencies, latency_room

    def __dealloc__(self):
        PyMem_Free(self.latencies)

    cdef int add(self, double latency) except -1:
        """``add_latency(latency)``, kept in C until ``flush_latencies`` (a float object and a
        method call per observation spared)."""
        cdef double* grown
        if self.latency_array is None:
            self.add_latency(latency)
            return 0
        if self.n_latencies == self.latency_room:
            self.latency_room = self.latency_room * 2 if self.latency_room else 64
            grown = <double*>PyMem_Realloc(self.latencies, self.latency_room * sizeof(double))
            if grown is NULL:
                raise MemoryError()
            self.latencies = grown
        self.latencies[self.n_latencies] = latency
        self.n_latencies += 1
        return 0

    cdef int flush_latencies(self) except -1:
        """What ``add`` kept, appended to the bucket's latency buffer in its order."""
        if self.n_latencies:
            c_array.extend_buffer(self.latency_array, <char*>self.latencies, self.n_latencies)
            self.n_latencies = 0
        return 0

    cdef flush(self):
        cdef _Shape shape
        cdef long long folded = 0
        self.flush_latencies()
        counts = self.counts
        for shape in self.shapes:
            if shape.n:
                counts[shape.ckey] = counts.get(shape.ckey, 0) + shape.n
                if shape.folded:
                    folded += shape.n
                shape.n = 0
        if folded:
            self.acc.overflow += folded
        if self.n_late:
            self.acc.late += self.n_late
            self.acc.dirty = True
            self.n_late = 0


cdef Py_ssize_t MAX_SLOT_SHAPES = 256


cdef class _Hop:
    """What the loop needs of one hop, fetched once per batch."""

    cdef int index
    cdef dict buckets
    cdef tuple out_edges
    cdef tuple in_edges
    cdef tuple in_forbidden
    cdef bint memo_ok


cdef _Hop _hop_info(ledger, str hop, dict hops_info):
    cdef _Hop info = _Hop()
    info.index = len(hops_info)
    info.buckets = ledger._hops[hop]
    info.out_edges = ledger._out_edges[hop]
    info.in_edges = ledger._in_edges[hop]
    info.in_forbidden = ledger._in_forbidden[hop]
    # Memoised by shape when no filter reads the event id and a bit mask holds the edges.
    info.memo_ok = ledger._by_shape[hop] and len(info.out_edges) <= MAX_MASK_EDGES
    hops_info[hop] = info
    return info


cdef _Slot _slot(ledger, _Hop info, object b):
    cdef _Slot slot = _Slot()
    acc = info.buckets.get(b)
    if acc is None:
        acc = ledger._new_hop_counts(b)
        info.buckets[b] = acc
        ledger._buckets.add(b)
    slot.acc = acc
    slot.counts = acc.counts
    slot.sets = acc.attribute_sets
    slot.add_latency = acc.latency.add
    # The latency buffer is an array('d') whose append ``add`` is (``LatencySketch``): then
    # ``_Slot.add`` keeps a batch's latencies in C and appends them in one copy.
    target = getattr(slot.add_latency, "__self__", None)
    if type(target) is c_array.array and target.typecode == "d":
        slot.latency_array = target
    else:
        slot.latency_array = None
    slot.closed = acc.closed
    slot.out_joins = [None] * len(info.out_edges)
    slot.in_joins = [None] * len(info.in_edges)
    slot.by_attrs = {}
    slot.shapes = []
    slot.n_late = 0
    slot.direct = False
    return slot


cdef bint _count_direct(_Slot slot, status, attributes, Py_ssize_t cap, overflow) except -1:
    """``HopCounts.add(status, attributes, 1, cap)`` for one observation; True when folded."""
    cdef bint folded = False
    if attributes not in slot.sets:
        if len(slot.sets) >= cap:
            slot.acc.overflow += 1
            attributes = overflow
            folded = True
        slot.sets.add(attributes)
    ckey = (status, attributes)
    slot.counts[ckey] = slot.counts.get(ckey, 0) + 1
    if slot.closed:
        slot.acc.late += 1
        slot.acc.dirty = True
    return folded


cdef _Shape _shape_of(_Slot slot, pipeline, event_type, status, reason, attributes,
                      Py_ssize_t cap, overflow):
    """The slot's ``_Shape`` of an observation with these fields, made (deciding its attribute
    set against the cap, as ``HopCounts.add`` does for the first observation of it) if new; None
    when the slot is full or a field is not text (the caller then counts directly)."""
    cdef _Shape shape
    if not (type(status) is str and type(event_type) is str and type(pipeline) is str
            and (reason is None or type(reason) is str)):
        return None
    key = id(attributes)
    found = slot.by_attrs.get(key)
    if found is not None:
        for shape in <list>found:
            if ((shape.status is status or <str>shape.status == <str>status)
                    and <str>shape.event_type == <str>event_type
                    and shape.reason == reason
                    and <str>shape.pipeline == <str>pipeline):
                return shape
    if len(slot.shapes) >= MAX_SLOT_SHAPES:
        return None
    shape = _Shape()
    shape.attrs, shape.status, shape.event_type = attributes, status, event_type
    shape.reason, shape.pipeline, shape.n = reason, pipeline, 0
    shape.folded = False
    if attributes not in slot.sets:
        if len(slot.sets) >= cap:
            attributes = overflow
            shape.folded = True
        slot.sets.add(attributes)
    shape.ckey = (status, attributes)
    if found is None:
        slot.by_attrs[key] = [shape]
    else:
        (<list>found).append(shape)
    slot.shapes.append(shape)
    return shape


cdef inline object _join(ledger, list cache, Py_ssize_t k, dict joins, object b):
    """The join of edge ``k`` for bucket ``b``, kept in ``cache`` once found: ``joins.get(b)``
    or ``PipelineLedger._join`` (which counts a join too late for its bucket every time it is
    asked, as the Python loop asks it, so a missing one is never cached)."""
    join = cache[k]
    if join is None:
        join = joins.get(b)
        if join is None:
            join = ledger._join(joins, b)
        if join is not None:
            cache[k] = join
    return join


cdef object _edge_mask(ledger, _Hop info, str hop, obs, tuple shape):
    """The bit mask of the hop's outgoing edges whose filter ``obs`` passes, memoised by
    ``shape`` (pipeline, hop, event type, status, reason, attributes)."""
    cdef Py_ssize_t k
    cdef object mask
    if not info.memo_ok:
        mask = 0
        for k in range(len(info.out_edges)):
            if info.out_edges[k][0](obs):
                mask |= 1 << k
        return mask
    memo = ledger._shapes
    mask = memo.get(shape)
    if mask is None:
        mask = 0
        for k in range(len(info.out_edges)):
            if info.out_edges[k][0](obs):
                mask |= 1 << k
        if len(memo) >= MAX_SHAPES:
            memo.clear()
        memo[shape] = mask
    return mask


cdef Layouts OBS_LAYOUTS = Layouts((
    "hop", "event_time", "observed_time", "trace_id", "event_id", "attributes", "status",
    "event_type", "reason", "pipeline",
))
"""Where ``observe`` reads an observation's fields (``_fields.pxi``)."""


def observe(ledger, observations, overflow):
    """``PipelineLedger.observe`` (see there): returns the observations too late for edges.

    ``overflow`` is ``bucket.OVERFLOW``, the attribute set past the cap."""
    size_obj = ledger.watermark.bucket_seconds
    cdef bint size_is_number = type(size_obj) is float or type(size_obj) is int
    cdef double size = size_obj if size_is_number else 0.0
    cdef Py_ssize_t cap = ledger.pipeline.max_attribute_sets
    cdef long long threshold = ledger.sampler.threshold
    stats = ledger.stats
    if ledger._shapes_for is not ledger._out_edges:  # a reload swapped the edges
        ledger._shapes.clear()
        ledger._shapes_for = ledger._out_edges
    cdef long long too_late = 0
    cdef long long overflowed = 0
    cdef long long late = 0
    cdef object counted = None
    cdef dict hops_info = {}
    cdef dict slots = {}
    cdef _Hop info
    cdef _Slot slot
    cdef _Shape shape
    cdef long long b, h, full, ms = 0
    cdef bint ms_c = False
    cdef CEdgeJoin cjoin
    cdef uint64_t bits
    cdef double event_time = 0.0, observed, latency = 0.0, q
    cdef Py_ssize_t k, n_out
    cdef object mask, join, joins, leaks, b_obj, key, observed_ms
    cdef bint fast
    cdef Layouts layouts = OBS_LAYOUTS
    cdef Layout layout
    try:
        for obs in observations:
            layout = layouts.of(obs)
            hop = field_at(layout, obs, 0)
            et_obj = field_at(layout, obs, 1)
            ob_obj = field_at(layout, obs, 2)
            trace_id = field_at(layout, obs, 3)
            event_id = field_at(layout, obs, 4)
            attributes = field_at(layout, obs, 5)
            status = field_at(layout, obs, 6)
            event_type = field_at(layout, obs, 7)
            reason = field_at(layout, obs, 8)
            pipeline = field_at(layout, obs, 9)
            info = hops_info.get(hop)
            if info is None:
                info = _hop_info(ledger, hop, hops_info)
            fast = size_is_number and type(et_obj) is float and type(ob_obj) is float
            if fast:
                event_time = et_obj
                q = _floor_div(event_time, size)
                if -BIG < q < BIG and info.index < 256:
                    b = <long long>q
                    b_obj = b
                    key = b * 256 + info.index
                else:
                    b_obj = int(q)  # a big int, or the error Python's int() raises
                    key = (b_obj, info.index)
            else:
                b_obj = int(et_obj // size_obj)
                if info.index < 256 and -BIG < b_obj < BIG:  # the key the fast path gives it
                    b = b_obj
                    key = b * 256 + info.index
                else:
                    key = (b_obj, info.index)
            slot = slots.get(key)
            if slot is None:
                slot = _slot(ledger, info, b_obj)
                slots[key] = slot
            # HopCounts.add(status, attributes, 1, cap): per shape, added up when the batch ends
            shape = (None if slot.direct else
                     _shape_of(slot, pipeline, event_type, status, reason, attributes, cap,
                               overflow))
            if shape is not None:
                shape.n += 1
                if shape.folded:
                    overflowed += 1
                if slot.closed:
                    slot.n_late += 1
            else:
                if not slot.direct:
                    slot.flush()  # what was counted so far goes in first, in its order
                    slot.direct = True
                if _count_direct(slot, status, attributes, cap, overflow):
                    overflowed += 1
            if slot.closed:
                late += 1
            if fast:
                observed = ob_obj
                latency = observed - event_time
                slot.add(latency)
                q = observed * 1000.0
                ms_c = -BIG < q < BIG
                if ms_c:  # boxed only where a Python call needs it
                    ms = <long long>q
                    observed_ms = None
                else:
                    observed_ms = int(q)
            else:
                ms_c = False
                latency_obj = ob_obj - et_obj
                slot.flush_latencies()  # in order
                slot.add_latency(latency_obj)
                observed_ms = int(ob_obj * 1000.0)
            if trace_id is not None:
                slot.acc.note_trace(latency if fast else latency_obj, trace_id, ob_obj)
            if event_id is None:
                h = full = -1
            else:
                h = full = _hash60(event_id)
                if h >= threshold:
                    h = -1
            n_out = len(info.out_edges)
            if n_out:
                if shape is not None and info.memo_ok:
                    if not shape.mask & HAS_MASK:
                        shape.mask = _edge_mask(
                            ledger, info, hop, obs,
                            (pipeline, hop, event_type, status, reason, attributes),
                        ) | HAS_MASK
                    bits = shape.mask & ~HAS_MASK
                else:
                    bits = _edge_mask(ledger, info, hop, obs,
                                      (pipeline, hop, event_type, status, reason, attributes))
                if bits:
                    for k in range(n_out):
                        if not (bits >> k) & 1:
                            continue
                        join = _join(ledger, slot.out_joins, k, info.out_edges[k][1], b_obj)
                        if join is None:
                            if counted is not obs:
                                too_late += 1
                                counted = obs
                            continue
                        leaks = info.out_edges[k][2]
                        if type(join) is CEdgeJoin and leaks is None:
                            cjoin = <CEdgeJoin>join
                            cjoin.expected_count += 1
                            if event_id is None:
                                continue
                            cjoin.ids_seen += 1
                            if h >= 0:
                                if ms_c:
                                    cjoin._from(h, event_id, ms)
                                else:
                                    cjoin._from(h, event_id, observed_ms)
                            continue
                        if ms_c and observed_ms is None:
                            observed_ms = ms
                        join.expected_count += 1
                        if event_id is None:
                            continue
                        join.ids_seen += 1
                        if leaks is not None:  # forbidden flows are never sampled
                            before = join.arrived_n
                            join.seen_at_from(full, event_id, observed_ms)
                            if join.arrived_n != before:
                                leaks.add(event_id, ob_obj, b_obj * size_obj)
                        elif h >= 0:
                            join.seen_at_from(h, event_id, observed_ms)
            if h >= 0:
                for k in range(len(info.in_edges)):
                    join = _join(ledger, slot.in_joins, k, info.in_edges[k], b_obj)
                    if join is None:
                        if counted is not obs:
                            too_late += 1
                            counted = obs
                        continue
                    if type(join) is CEdgeJoin:
                        if ms_c:
                            (<CEdgeJoin>join)._to(h, ms)
                        else:
                            (<CEdgeJoin>join)._to(h, observed_ms)
                    else:
                        if ms_c and observed_ms is None:
                            observed_ms = ms
                        join.seen_at_to(h, observed_ms)
            if full >= 0 and info.in_forbidden:
                if ms_c and observed_ms is None:
                    observed_ms = ms
                for joins, leaks in info.in_forbidden:
                    join = joins.get(b_obj)
                    if join is None:
                        join = ledger._join(joins, b_obj)
                    if join is not None:
                        before = join.arrived_n
                        join.seen_at_to(full, observed_ms)
                        if join.arrived_n != before:
                            leaks.add(event_id, ob_obj, b_obj * size_obj)
    finally:
        for slot in slots.values():
            slot.flush()
        stats.overflow_observations += overflowed
        stats.late_observations += late
    ledger._evict_ids_over_cap()
    return too_late
