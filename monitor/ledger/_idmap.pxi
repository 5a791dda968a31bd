# Included by _batch.pyx: the id table of the compiled edge join.
#
# ``IdMap`` is what the Python ``EdgeJoin`` keeps in a ``dict[int, int]`` (pending ids and the
# millisecond they were seen; sightings seen early at the ``to`` hop), and as a set (arrived ids):
# 60-bit id hashes to 64-bit values, in insertion order, with the dict's semantics where the
# ledger can see them (``popitem`` takes the newest, an update keeps its place, iteration and
# ``items`` follow insertion). It is laid out like CPython's compact dict, without the objects:
# two 8-byte arrays of entries and a 4-byte open-addressing index at most 2/3 full, so a pending
# id costs 16 bytes of entry plus 6-12 of index (the dict of Python ints costs about 100).
#
# Small arrays come from PyMem_Malloc; arrays of ``_MAPPED`` bytes or more are their own anonymous
# mappings, given back to the system whole when freed. Through glibc's malloc, a bucket's
# arrays of a few MB landed in the heap once freed blocks had raised its mmap threshold, and RSS
# crept up by ~1 MB per simulated minute of ids coming and going (fragmentation: the live memory
# stayed flat). Both kinds are reported to tracemalloc, which sees them as it sees a dict.

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.stdint cimport int32_t, int64_t, uint64_t, uintptr_t
from libc.string cimport memcpy, memset
from posix.mman cimport MAP_ANONYMOUS, MAP_FAILED, MAP_PRIVATE, PROT_READ, PROT_WRITE, mmap, munmap


cdef extern from "Python.h":
    int PyTraceMalloc_Track(unsigned int domain, uintptr_t ptr, size_t size)
    int PyTraceMalloc_Untrack(unsigned int domain, uintptr_t ptr)


cdef size_t _MAPPED = 1 << 18
cdef unsigned int _TRACE_DOMAIN = 0x686F70  # "hop": tracemalloc sums every domain


cdef void* _alloc(size_t size) except NULL:
    cdef void* p
    if size >= _MAPPED:
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if p == MAP_FAILED:
            raise MemoryError()
        PyTraceMalloc_Track(_TRACE_DOMAIN, <uintptr_t>p, size)
        return p
    p = PyMem_Malloc(size if size else 1)
    if p == NULL:
        raise MemoryError()
    return p


cdef void _release(void* p, size_t size) noexcept:
    if p == NULL:
        return
    if size >= _MAPPED:
        PyTraceMalloc_Untrack(_TRACE_DOMAIN, <uintptr_t>p)
        munmap(p, size)
    else:
        PyMem_Free(p)


cdef void* _resized(void* p, size_t old, size_t new, size_t keep) except NULL:
    """A block of ``new`` bytes holding the first ``keep`` bytes of ``p`` (``old`` bytes, freed)."""
    cdef void* out = _alloc(new)
    if keep:
        memcpy(out, p, keep)
    _release(p, old)
    return out

cdef int32_t _EMPTY_SLOT = 0
cdef int32_t _DELETED_SLOT = -1
cdef int64_t _GONE = -1
"""The key of an entry that was removed (keys are hashes >= 0)."""


cdef class IdMap:
    """An insertion-ordered map of id hashes (ints >= 0) to ints; see the module comment."""

    cdef int64_t* keys
    cdef int64_t* values
    cdef int32_t* index
    cdef Py_ssize_t used      # entries written (live or gone)
    cdef Py_ssize_t live      # entries live
    cdef Py_ssize_t capacity  # entries allocated
    cdef Py_ssize_t slots     # index slots (a power of two), or 0 before the first insert
    cdef Py_ssize_t filled    # index slots not empty (live or deleted)

    def __cinit__(self):
        self._reset()

    def __dealloc__(self):
        self._free()

    cdef void _reset(self) noexcept:
        self.keys = NULL
        self.values = NULL
        self.index = NULL
        self.used = self.live = self.capacity = self.slots = self.filled = 0

    cdef void _free(self) noexcept:
        _release(self.keys, self.capacity * sizeof(int64_t))
        _release(self.values, self.capacity * sizeof(int64_t))
        _release(self.index, self.slots * sizeof(int32_t))

    cdef Py_ssize_t _find(self, int64_t key) noexcept:
        """The index slot holding ``key``, or -1."""
        cdef Py_ssize_t mask, i
        cdef int32_t e
        if self.slots == 0:
            return -1
        mask = self.slots - 1
        i = <Py_ssize_t>(key & mask)
        while True:
            e = self.index[i]
            if e == _EMPTY_SLOT:
                return -1
            if e > 0 and self.keys[e - 1] == key:
                return i
            i = (i + 1) & mask

    cdef int _rebuild(self, Py_ssize_t need) except -1:
        """Compact the entries (dropping removed ones) and make room for ``need`` more: the
        arrays grow by half when they are more than 4/5 live, else they are reused as they are
        (a join whose ids come and go rebuilds in place, without allocating)."""
        cdef Py_ssize_t n = 0, j, slots = 8, capacity = self.capacity, i, mask
        cdef int32_t* index
        for j in range(self.used):
            if self.keys[j] != _GONE:
                self.keys[n] = self.keys[j]
                self.values[n] = self.values[j]
                n += 1
        if (n + need) * 5 > capacity * 4 or need == 0:
            capacity = n + need
            capacity = capacity + (capacity >> 1) + 8
        while slots * 2 < capacity * 3:
            slots <<= 1
        if slots > 0x7FFFFFFF:
            raise MemoryError("IdMap: too many ids for one bucket of one edge")
        cdef size_t old = self.capacity * sizeof(int64_t), size = capacity * sizeof(int64_t)
        cdef void* keys
        cdef void* values
        if capacity != self.capacity:  # both new blocks first: a MemoryError changes nothing
            keys = _alloc(size)
            try:
                values = _alloc(size)
            except MemoryError:
                _release(keys, size)
                raise
            if n:
                memcpy(keys, self.keys, n * sizeof(int64_t))
                memcpy(values, self.values, n * sizeof(int64_t))
            _release(self.keys, old)
            _release(self.values, old)
            self.keys, self.values, self.capacity = <int64_t*>keys, <int64_t*>values, capacity
        if slots != self.slots:
            self.index = <int32_t*>_resized(
                self.index, self.slots * sizeof(int32_t), slots * sizeof(int32_t), 0)
            self.slots = slots
        memset(self.index, 0, slots * sizeof(int32_t))
        index = self.index
        self.slots, self.capacity, self.used, self.live, self.filled = slots, capacity, n, n, n
        mask = slots - 1
        for j in range(n):
            i = <Py_ssize_t>(self.keys[j] & mask)
            while index[i] != _EMPTY_SLOT:
                i = (i + 1) & mask
            index[i] = <int32_t>(j + 1)
        return 0

    cdef int set(self, int64_t key, int64_t value) except -1:
        """``self[key] = value``: a new key goes last, an old one keeps its place."""
        cdef Py_ssize_t i = self._find(key), mask
        if i >= 0:
            self.values[self.index[i] - 1] = value
            return 0
        if self.used >= self.capacity or (self.filled + 1) * 3 > self.slots * 2:
            self._rebuild(1)
        mask = self.slots - 1
        i = <Py_ssize_t>(key & mask)
        while self.index[i] > 0:  # a deleted slot is reused
            i = (i + 1) & mask
        if self.index[i] == _EMPTY_SLOT:
            self.filled += 1
        self.keys[self.used] = key
        self.values[self.used] = value
        self.used += 1
        self.live += 1
        self.index[i] = <int32_t>self.used
        return 0

    cdef bint has(self, int64_t key) noexcept:
        return self._find(key) >= 0

    cdef bint take(self, int64_t key, int64_t* value) noexcept:
        """Remove ``key``; True (and its value) if it was there."""
        cdef Py_ssize_t i = self._find(key)
        cdef Py_ssize_t e
        if i < 0:
            return False
        e = self.index[i] - 1
        value[0] = self.values[e]
        self.keys[e] = _GONE
        self.index[i] = _DELETED_SLOT
        self.live -= 1
        while self.used and self.keys[self.used - 1] == _GONE:
            self.used -= 1  # the newest entries gone: their room is reused at once
        return True

    # --- the dict (and set) protocol the ledger and checkpoints use ----------------------------

    def __len__(self):
        return self.live

    def __contains__(self, key):
        return key >= 0 and self.has(key)

    def __iter__(self):
        return iter([k for k, _ in self.items()])

    def __setitem__(self, key, value):
        self.set(key, value)

    def get(self, key, default=None):
        cdef Py_ssize_t i
        if key < 0:
            return default
        i = self._find(key)
        return default if i < 0 else self.values[self.index[i] - 1]

    def pop(self, key, default=None):
        cdef int64_t value
        if key >= 0 and self.take(key, &value):
            return value
        return default

    def popitem(self):
        """The newest entry, removed (``KeyError`` when empty), as ``dict.popitem``."""
        cdef int64_t value, key
        if not self.live:
            raise KeyError("popitem(): dictionary is empty")
        key = self.keys[self.used - 1]
        self.take(key, &value)
        return key, value

    def items(self):
        cdef Py_ssize_t j
        return [(self.keys[j], self.values[j]) for j in range(self.used) if self.keys[j] != _GONE]

    def keys_sorted(self):
        """The keys in ascending order, for checkpoints of a set (which has no order to keep)."""
        return sorted([self.keys[j] for j in range(self.used) if self.keys[j] != _GONE])

    def clear(self):
        self._free()
        self._reset()

    def fitted(self):
        """Itself, its arrays shrunk when removals left them mostly empty (``join.fitted``)."""
        if self.slots > 64 and self.live * 4 < self.capacity:
            self._rebuild(0)
        return self

    def nbytes(self):
        """Bytes of the arrays (the memory per pending id of ``bench/ingest.py``)."""
        return self.capacity * 16 + self.slots * 4

    def __sizeof__(self):
        return object.__sizeof__(self) + self.nbytes()

    def __eq__(self, other):
        if isinstance(other, IdMap):
            return self.items() == other.items()
        if isinstance(other, dict):
            return dict(self.items()) == other
        return NotImplemented

    def __repr__(self):
        return f"IdMap({dict(self.items())!r})"
