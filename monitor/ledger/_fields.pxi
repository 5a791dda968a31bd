# Included by the compiled cores: reading a record's fields without a Python attribute lookup.
#
# msgspec structs (``Observation``, the push decoder's wire structs) keep each field in a slot,
# read through a member descriptor: ``obs.hop`` costs a type lookup, a descriptor call and a
# ``PyMember_GetOne``, together the largest single cost of the batch loop (perf). A slot is a
# fixed offset into the object, which its member descriptor holds (``PyMemberDef.offset``), so a
# ``Layout`` learns the offsets of the fields it needs once per type, and ``field_at`` then reads a
# field with one load. Only types whose every wanted field is such a slot of an object reference
# read from slots (anything else is read with ``getattr``), and a layout is only used on objects
# of exactly its type.

from cpython.object cimport PyObject


cdef extern from "structmember.h":
    ctypedef struct PyMemberDef:
        int type
        Py_ssize_t offset
    int T_OBJECT_EX


cdef extern from "Python.h":
    ctypedef struct PyMemberDescrObject:
        PyMemberDef* d_member


cdef int MAX_FIELDS = 16


cdef class Layout:
    """The slot offsets of ``names`` in ``cls``; ``ok`` is False when some field is not a
    plain object slot (then read with ``getattr``)."""

    cdef readonly object cls
    cdef readonly bint ok
    cdef tuple names
    cdef Py_ssize_t offsets[16]

    def __init__(self, object cls, tuple names):
        cdef PyMemberDef* member
        self.cls, self.names, self.ok = cls, names, len(names) <= MAX_FIELDS
        for i, name in enumerate(names):
            if not self.ok:
                break
            descr = getattr(cls, name, None)
            if type(descr).__name__ != "member_descriptor" or not issubclass(
                cls, descr.__objclass__
            ):
                self.ok = False
                break
            member = (<PyMemberDescrObject*>descr).d_member
            if member.type != T_OBJECT_EX:
                self.ok = False
                break
            self.offsets[i] = member.offset


cdef inline object field_at(Layout layout, object obj, int i):
    """Field ``i`` of ``obj`` (of exactly ``layout.cls``)."""
    if not layout.ok:
        return getattr(obj, layout.names[i])
    cdef PyObject* value = (<PyObject**>((<char*><PyObject*>obj) + layout.offsets[i]))[0]
    if value is NULL:
        return getattr(obj, layout.names[i])  # unset: the AttributeError Python would raise
    return <object>value


cdef class Layouts:
    """``Layout`` per type, for one tuple of field names; ``of`` is the one to use for ``obj``."""

    cdef tuple names
    cdef dict by_type
    cdef Layout last

    def __init__(self, tuple names):
        self.names, self.by_type, self.last = names, {}, None

    cdef inline Layout of(self, object obj):
        cdef Layout layout = self.last
        if layout is not None and type(obj) is layout.cls:
            return layout
        layout = self.by_type.get(type(obj))
        if layout is None:
            if len(self.by_type) >= 64:
                self.by_type.clear()
            layout = Layout(type(obj), self.names)
            self.by_type[type(obj)] = layout
        self.last = layout
        return layout
