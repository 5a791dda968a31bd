# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
"""The compiled twin of ``monitor.sources.limits.nesting_error``'s scan: one pass over the bytes.

The numpy scan it replaces builds a dozen arrays of the body's length (about 12 us per pushed
observation, most of an in-process ingest); this walks the bytes once with the same rules, so
it finds the same first offset and the same line: a backslash blanks itself and the byte after
it (``limits._ESCAPE``), quotes toggle "inside a string", brackets outside strings change the
depth, and with ``per_line`` the depth counts from the depth at the last newline. Pure: bytes
in, numbers out. ``tests/test_compiled_core.py`` holds it to the Python scan on random bodies.
"""


# Bytes that matter outside a string (quote, backslash, newline, brackets) and inside one (quote,
# backslash, newline): the scan skips the rest in a tight loop, and most of a push body's bytes
# are inside strings.
cdef unsigned char[256] OUTSIDE
cdef unsigned char[256] INSIDE
cdef int _c
for _c in range(256):
    OUTSIDE[_c] = 1 if _c in (34, 92, 10, 91, 93, 123, 125) else 0
    INSIDE[_c] = 1 if _c in (34, 92, 10) else 0


def first_too_deep(const unsigned char[::1] body, long limit, bint per_line):
    """``(offset, line)`` of the first byte nesting deeper than ``limit``, or ``None``.

    ``line`` is 1 + the newlines before ``offset`` that no backslash blanked."""
    cdef Py_ssize_t n = body.shape[0]
    cdef Py_ssize_t i = 0
    cdef long depth = 0
    cdef long base = 0
    cdef long newlines = 0
    cdef bint in_string = False
    cdef const unsigned char* table = &OUTSIDE[0]
    cdef unsigned char c
    if n == 0:
        return None
    cdef const unsigned char* data = &body[0]
    with nogil:
        while True:
            while i < n and not table[data[i]]:
                i += 1
            if i >= n:
                break
            c = data[i]
            if c == 92:  # a backslash and the byte after it are blank
                i += 2
                continue
            if c == 34:  # "
                in_string = not in_string
                if in_string:
                    table = &INSIDE[0]
                else:
                    table = &OUTSIDE[0]
            elif c == 10:  # \n
                newlines += 1
                base = depth
            elif c == 91 or c == 123:  # [ {  (never inside a string: INSIDE skips them)
                depth += 1
                if depth - (base if per_line else 0) > limit:
                    break
            else:  # ] }
                depth -= 1
            i += 1
    if i >= n:
        return None
    return i, newlines + 1
