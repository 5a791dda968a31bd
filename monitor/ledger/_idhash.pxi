# Included by the compiled cores: the 60-bit join hash of an event id
# (``monitor.ledger.sampling.id_hash``), XXH3 from the vendored header on the id's UTF-8 bytes in
# place: the same 64 bits as ``xxhash.xxh3_64_intdigest(event_id.encode())``, masked.

from libc.stdint cimport uint64_t


cdef extern from "xxh3_inline.h":
    uint64_t XXH3_64bits(const void* data, size_t length) nogil


cdef extern from "Python.h":
    const char* PyUnicode_AsUTF8AndSize(object text, Py_ssize_t* size) except NULL


cdef uint64_t HASH_MASK = (1ULL << 60) - 1


cdef inline long long _hash60(str event_id) except -1:
    cdef Py_ssize_t size
    cdef const char* data = PyUnicode_AsUTF8AndSize(event_id, &size)
    return <long long>(XXH3_64bits(data, <size_t>size) & HASH_MASK)
