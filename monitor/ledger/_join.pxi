# Included by _batch.pyx: the compiled twin of ``monitor.ledger.join.EdgeJoin``.
#
# Same fields, same methods, same checkpoint layout (``to_state`` / ``from_state`` are
# interchangeable with the Python class's), with the pending, early and arrived ids in ``IdMap``
# tables instead of dicts and sets of Python ints: the id join runs in C when the batch loop calls
# it (``_from`` / ``_to``) and a pending id costs about a third of the memory. Read the Python
# class for the why of each step; this one follows it line by line.

from cpython.object cimport PyObject

import numpy as np

from monitor.ledger.join import MAX_MISSING_IDS, NAME_SLOTS, fitted
from monitor.ledger.sketch import LatencySketch

_NO_IDS = np.empty(0, dtype=np.uint64)


cdef extern from "Python.h":
    int PyDict_Next(object p, Py_ssize_t* pos, PyObject** key, PyObject** value)
    long long PyLong_AsLongLong(PyObject* obj) except? -1


cdef long long _max_key(dict names) except? -1:
    """``max(names)`` for a dict of id hashes (ints below 2**60), without a Python comparison
    per key: it runs whenever the largest named hash leaves a full table."""
    cdef Py_ssize_t pos = 0
    cdef PyObject* key
    cdef PyObject* value
    cdef long long best = -1, h
    if not names:
        return max(names)  # the ValueError Python's max raises
    while PyDict_Next(names, &pos, &key, &value):
        h = PyLong_AsLongLong(key)
        if h > best:
            best = h
    return best


cdef class CEdgeJoin:
    """Accumulates expected / arrived / duplicates for one (edge, bucket); see ``EdgeJoin``."""

    cdef public IdMap pending
    cdef public IdMap early
    cdef public IdMap arrived
    cdef readonly object settled
    cdef public dict names
    cdef public long long names_max
    cdef public long long expected, arrived_n, duplicates, late, expected_count, ids_seen
    cdef readonly object latency
    cdef public bint closed, dirty
    cdef object _add_latency
    cdef Py_ssize_t _n_settled

    def __init__(self):
        self.pending = IdMap()
        self.early = IdMap()
        self.arrived = IdMap()
        self.settled = _NO_IDS
        self._n_settled = 0
        self.names = {}
        self.names_max = -1
        self.expected = self.arrived_n = self.duplicates = self.late = 0
        self.expected_count = self.ids_seen = 0
        self.latency = LatencySketch()
        self._add_latency = self.latency.add
        self.closed = self.dirty = False

    cdef bint _has_arrived(self, long long h) except -1:
        cdef const uint64_t[::1] settled
        cdef Py_ssize_t lo = 0, hi, mid
        if self.arrived.has(h):
            return True
        if not self._n_settled:
            return False
        settled = self.settled
        hi = settled.shape[0]
        while lo < hi:  # np.searchsorted, side="left"
            mid = (lo + hi) >> 1
            if settled[mid] < <uint64_t>h:
                lo = mid + 1
            else:
                hi = mid
        return lo < settled.shape[0] and settled[lo] == <uint64_t>h

    def has_arrived(self, h):
        return self._has_arrived(h)

    cdef int _from(self, long long h, str event_id, long long observed_ms) except -1:
        cdef int64_t to_ms
        if self.pending.has(h) or self._has_arrived(h):
            return 0
        cdef bint early = self.early.take(h, &to_ms)
        self.expected += 1
        if self.closed:
            self.dirty = True
        if early:
            self._arrive(h, to_ms - observed_ms)
            return 0
        self.pending.set(h, observed_ms)
        self._name(h, event_id)
        return 0

    def seen_at_from(self, h, event_id, observed_ms):
        """The ``from`` hop passed this event through the edge filter."""
        self._from(h, event_id, observed_ms)

    cdef int _name(self, long long h, str event_id) except -1:
        names = self.names
        if len(names) < NAME_SLOTS:
            names[h] = event_id
            self.names_max = -1
            return 0
        if self.names_max < 0:
            self.names_max = _max_key(names)
        if h < self.names_max:
            del names[self.names_max]
            names[h] = event_id
            self.names_max = _max_key(names)
        return 0

    cdef int _to(self, long long h, long long observed_ms) except -1:
        cdef int64_t from_ms
        if self.pending.take(h, &from_ms):
            if self.names.pop(h, None) is not None and h == self.names_max:
                self.names_max = -1
            self._arrive(h, observed_ms - from_ms)
        elif self.early.has(h) or self._has_arrived(h):
            self.duplicates += 1
            self.dirty = self.closed
        elif not self.closed:
            self.early.set(h, observed_ms)
        return 0

    def seen_at_to(self, h, observed_ms):
        """The ``to`` hop saw this event."""
        self._to(h, observed_ms)

    cdef int _arrive(self, long long h, long long latency_ms) except -1:
        self.arrived_n += 1
        self.arrived.set(h, 0)
        self._add_latency(latency_ms / 1000.0)
        if self.closed:
            self.late += 1
            self.dirty = True
        return 0

    def close(self):
        """Freeze the bucket (``EdgeJoin.close``): pending ids are now missing, arrived ids a
        sorted array."""
        self.closed = True
        self.settled = np.array(self.arrived.keys_sorted(), dtype=np.uint64)
        self._n_settled = len(self.settled)
        self.arrived = IdMap()
        self.pending = self.pending.fitted()
        self.early = self.early.fitted()
        self.names = fitted(self.names)

    @property
    def missing(self):
        return len(self.pending)

    def missing_ids(self):
        out = [name for h, name in self.names.items() if h in self.pending]
        return tuple(out[:MAX_MISSING_IDS])

    def to_state(self):
        return [
            self.pending.items(),
            self.arrived.keys_sorted(),
            self.settled.tobytes(),
            self.early.items(),
            list(self.names.items()),
            [
                self.expected,
                self.arrived_n,
                self.duplicates,
                self.late,
                self.expected_count,
                self.ids_seen,
            ],
            self.latency.to_bytes(),
            self.closed,
        ]

    @classmethod
    def from_state(cls, state):
        pending, arrived, settled, early, names, numbers, latency, closed = state
        cdef CEdgeJoin join = cls()
        for h, t in pending:
            join.pending.set(int(h), int(t))
        for h in arrived:
            join.arrived.set(int(h), 0)
        join.settled = np.frombuffer(settled, dtype=np.uint64).copy()
        join._n_settled = len(join.settled)
        for h, t in early:
            join.early.set(int(h), int(t))
        join.names = {int(h): str(n) for h, n in names}
        (
            join.expected,
            join.arrived_n,
            join.duplicates,
            join.late,
            join.expected_count,
            join.ids_seen,
        ) = numbers
        join.latency = LatencySketch.from_bytes(latency)
        join._add_latency = join.latency.add
        join.closed = bool(closed)
        return join
