# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The compiled twin of ``WireMapper.observations``, fed the lean wire structs of a whole body.

``monitor.sources.push`` decodes a body whose items are all well typed into ``_ObservationLean``
structs (attributes left as ``msgspec.Raw``, bytes not yet decoded) and hands them here. This
loop makes the checks ``WireMapper.observations`` makes, in the same order, and builds the same
``Observation`` records, the rejections through the very functions the Python loop calls (so a bad
item gets the same error, reason and counter). What it does differently:

- fields are read from their slots (``_fields.pxi``), not by attribute lookup;
- the attribute allow-list runs once per distinct attribute bytes per pipeline (memoised here by
  those bytes), not once per decoded map, and equal attribute sets share one tuple;
- pipeline, hop, event type and reason texts are shared (one ``str`` per distinct value), so the
  ledger and the SLO indicators compare and hash them by identity.

An attribute map the typed decode would refuse (a key too long, too many keys, not an object, not
UTF-8) makes it return None: the caller then decodes the body the reference way, item by item,
which rejects that item exactly as before.

Pure: no I/O, no clock; everything it reads comes in as arguments.
"""

from cpython.datetime cimport datetime as c_datetime, import_datetime

include "_fields.pxi"

import_datetime()

cdef Layouts LEAN_LAYOUTS = Layouts((
    "pipeline", "hop", "event_type", "event_time", "event_id", "observed_time", "status",
    "reason", "attributes",
))

cdef Py_ssize_t MAX_SHARED = 4096
"""Distinct texts (and attribute sets) shared per mapper before the table starts over."""


cdef inline object _shared(dict table, object text):
    """The one ``text`` equal to ``text`` this mapper has seen (so later equality tests are
    identity tests)."""
    found = table.get(text)
    if found is not None:
        return found
    if len(table) >= MAX_SHARED:
        table.clear()
    table[text] = text
    return text


cdef tuple NO_ATTRIBUTES = ((), 0)


cdef inline double _epoch(object value, object to_epoch) except? -1.0:
    """Epoch seconds of a decoded time, as ``WireMapper`` converts it."""
    if type(value) is float:
        return value
    if isinstance(value, c_datetime):
        return value.timestamp() if value.tzinfo is not None else to_epoch(value)
    return value


cdef inline object _line(object lines, Py_ssize_t i):
    return None if lines is None else lines[i]


def counts(const unsigned char[::1] body):
    """(newlines, ``{`` and ``[``) in ``body``: one pass the compiler vectorises, where
    ``bytes.count`` takes a pass per byte value at a byte a cycle."""
    cdef Py_ssize_t i, n = body.shape[0]
    cdef Py_ssize_t newlines = 0, opens = 0
    for i in range(n):
        newlines += body[i] == 10
        opens += (body[i] == 123) | (body[i] == 91)
    return newlines, opens


def observations(
    mapper, list items, object lines, double now, rejections, dropped, attributes_of,
    object observation, object to_epoch, object not_text,
):
    """``WireMapper.observations(items, None, lines, now, rejections, dropped)`` for lean wire
    items, or None when an attribute map needs the typed decode's verdict (see the module).

    Returned with the records: the brackets (``{`` and ``[``) in all the items' attribute maps,
    and whether each map held at most one (flat): the caller's proof that the body nests no
    deeper than a flat item's three levels.

    ``attributes_of(pipeline, raw)``: the filter result for an attribute map's bytes not memoised
    yet (``WireMapper.attributes_of_raw``), raising for a map the typed decode refuses, False
    for a pipeline that is not configured (its items are rejected below);
    ``observation``: the record type; ``to_epoch``: naive datetimes to epoch seconds;
    ``not_text(result, i, None, lines)``: the rejection of an allow-listed value that is not text.
    """
    cdef dict hops_of = mapper.hops
    cdef dict memos = mapper.raw_memo
    cdef dict texts = mapper.shared_texts
    cdef dict sets = mapper.shared_sets
    bounds = mapper.bounds
    cdef double skew = bounds.skew
    cdef double earliest = now - bounds.retention
    cdef double latest = now + skew
    cdef double t, observed
    cdef list out = []
    cdef Layout layout
    cdef Py_ssize_t i, n = len(items)
    cdef object memo = None
    cdef object memo_for = None
    cdef Py_ssize_t brackets = 0, n_open
    cdef bint flat = True
    for i in range(n):
        o = items[i]
        layout = LEAN_LAYOUTS.of(o)
        if not layout.ok:
            return None
        pipeline = _shared(texts, field_at(layout, o, 0))
        hop = field_at(layout, o, 1)
        # The attribute map first: one the typed decode refuses rejects the item before any of
        # the checks below would (the reference path decodes it item by item and says why).
        raw = field_at(layout, o, 8)
        if len(raw):
            if memo_for is not pipeline:
                memo = memos.get(pipeline)
                if memo is None:
                    if len(memos) >= MAX_SHARED:
                        memos.clear()
                    memo = memos[pipeline] = {}
                memo_for = pipeline
            key = bytes(raw)
            entry = (<dict>memo).get(key)
            if entry is None:
                try:
                    result = attributes_of(pipeline, raw)
                except Exception:
                    return None
                if type(result) is tuple:
                    result = (_shared(sets, result[0]), result[1])
                if len(<dict>memo) >= MAX_SHARED:
                    (<dict>memo).clear()
                entry = (<dict>memo)[key] = (result, key.count(b"{") + key.count(b"["))
            result, nb = <tuple>entry
            n_open = nb
            brackets += n_open
            if n_open > 1:
                flat = False
        else:
            result = NO_ATTRIBUTES
        hops = hops_of.get(pipeline)
        if hops is None or hop not in <frozenset>hops:
            rejections.add(mapper._place_error(i, None, lines, pipeline, hop))
            continue
        t = _epoch(field_at(layout, o, 3), to_epoch)
        if not earliest <= t <= latest:  # written so that NaN is out too
            rejections.add(bounds.window_error("event_time", t, now, i, _line(lines, i)))
            continue
        ob = field_at(layout, o, 5)
        if ob is None:
            observed = now
        else:
            observed = _epoch(ob, to_epoch)
            if not (earliest <= observed <= latest and observed >= t - skew):
                rejections.add(bounds.observed_error(observed, t, now, i, _line(lines, i)))
                continue
        if type(result) is not tuple:
            rejections.add(not_text(result, i, None, lines))
            continue
        attributes, dropped_n = <tuple>result
        if dropped_n:
            dropped[pipeline] += dropped_n
        reason = field_at(layout, o, 7)
        out.append(
            observation(
                pipeline,
                _shared(texts, hop),
                _shared(texts, field_at(layout, o, 2)),
                t,
                observed,
                field_at(layout, o, 6),
                field_at(layout, o, 4),
                None if reason is None else _shared(texts, reason),
                attributes,
            )
        )
    return out, brackets, flat
