"""Decode a JSON record whose one string field is most of it (a collection's
`manifest_text`) without holding that field twice.

`json.loads` of a response body holds the body, its decoded text and the
record at once: three copies of a 129 MB manifest (deep, 10^6 files) at
the peak of a collection's load, 264 MiB above what the daemon held
before (bench/loadpeak.py).  Here the field's JSON string is found in the
body, decoded a piece at a time into whatever `make` builds of the pieces
(a compressed text, fs/collection.PackedText), and the rest of the record,
small, decoded as usual: the body and what `make` keeps, nothing more.

The field taken is the longest string of that key, which must be the
record's own (not a key of a nested object such as `properties`): the
rest is decoded with a marker in its place, and if the record's field is
not that marker, the body is decoded the plain way.
"""

import json

# What stands for the field in the rest of the record while it is decoded.
_MARKER = '\x00arv-mount: the field decoded apart\x00'
_MARKER_JSON = json.dumps(_MARKER).encode()
# Bytes of JSON string decoded at once.
PIECE = 1 << 20
# From this size of body on, the field is decoded apart (what the
# collection keeps packed: fs/collection.PACK_TEXT_AT).
BIG_BODY = 256 * 1024
_BACKSLASH = 0x5C


def loads(body, field, make, min_bytes=BIG_BODY):
    """json.loads(body), except that when the body is at least `min_bytes`,
    the string `field` of the record is `make(pieces)`, pieces the str
    pieces of its value in order.  Bodies this cannot read apart (no such
    field, not a string, a backslash run of more than a few, a nested key
    of the same name with a longer value) are decoded the plain way."""
    if len(body) >= min_bytes:
        span = _string_span(body, field)
        if span is not None:
            start, end = span
            rest = json.loads(b''.join((body[:start - 1], _MARKER_JSON, body[end + 1:])).decode('utf-8'))
            if type(rest) is dict and rest.get(field) == _MARKER:
                rest[field] = make(_pieces(body, start, end))
                return rest
    return json.loads(body.decode('utf-8'))


def _string_span(body, field):
    """(start, end) of the characters between the quotes of the longest
    `"field": "..."` string value in `body` (a nested key of the same name
    holds a short one, if any); None if there is none."""
    key = json.dumps(field).encode()
    best = None
    at = body.find(key)
    while at >= 0:
        span = _value_span(body, at + len(key))
        if span is not None and (best is None or span[1] - span[0] > best[1] - best[0]):
            best = span
        at = body.find(key, span[1] if span is not None else at + 1)
    return best


def _value_span(body, at):
    """(start, end) of the string value after a key ending at `at`."""
    while at < len(body) and body[at] in b' \t\r\n':
        at += 1
    if body[at:at + 1] != b':':
        return None
    at += 1
    while at < len(body) and body[at] in b' \t\r\n':
        at += 1
    if body[at:at + 1] != b'"':
        return None
    start = at + 1
    quote = start
    while True:
        quote = body.find(b'"', quote)
        if quote < 0:
            return None
        run = _run_before(body, quote, start)
        if run is None:
            return None
        if run % 2 == 0:  # not escaped: the string's end
            return start, quote
        quote += 1


def _run_before(body, at, start, longest=64):
    """How many backslashes end body[start:at]; None past `longest` (never
    in a manifest, whose names escape a backslash as \\134)."""
    run = 0
    while at - run > start and body[at - run - 1] == _BACKSLASH:
        run += 1
        if run > longest:
            return None
    return run


def _pieces(body, start, end):
    """The decoded characters of body[start:end], a JSON string's, about
    PIECE bytes at a time, each piece cut outside any escape and UTF-8
    character (json.loads gives each alone what it gives the whole)."""
    at = start
    while at < end:
        cut = _cut(body, min(at + PIECE, end), at, end)
        yield json.loads('"%s"' % body[at:cut].decode('utf-8'))
        at = cut


def _cut(body, cut, start, end):
    """The first place at or after `cut` where body[start:end] can be cut:
    not inside an escape (\\X, \\uXXXX, or the pair of a surrogate \\uD8XX
    \\uDCXX) nor a UTF-8 character."""
    if cut >= end:
        return end
    # An escape over `cut` starts at most 11 bytes before it (a surrogate
    # pair), at the last backslash there (\\uXXXX holds no other).
    k = body.rfind(b'\\', max(start, cut - 11), cut)
    if k >= 0:
        run = _run_before(body, k + 1, start)
        if run is None:
            return end  # a long run of backslashes: no cut, the rest at once
        if run % 2:  # body[k] starts an escape
            length = 6 if body[k + 1:k + 2] == b'u' else 2
            if length == 6 and body[k + 2:k + 4].upper() in (b'D8', b'D9', b'DA', b'DB'):
                length = 12  # a high surrogate: its low one with it
            if k + length > cut:
                cut = min(k + length, end)
    while cut < end and 0x80 <= body[cut] < 0xC0:
        cut += 1
    return cut
