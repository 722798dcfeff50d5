"""What loading a big collection holds at its peak: a 10^6-file manifest is
tens of MiB, and each extra copy of it at once is that much more RSS.
Measured with tracemalloc (allocations, not time)."""

import json
import tracemalloc

from arvados_fuse.api import bigfield
from arvados_fuse.api.safeapi import _json_record
from arvados_fuse.fs.collection import PackedText

MIB = 1 << 20


def _manifest(size):
    line = '. 0123456789abcdef0123456789abcdef+67108864+A%s@6800f000 0:1:%s\n'
    out, n = [], 0
    while n < size:
        piece = line % ('%040x' % (n * 7919), 'file%09d' % n)
        out.append(piece)
        n += len(piece)
    return ''.join(out)


def _peak(fn):
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def test_a_record_is_decoded_with_at_most_two_copies_of_its_body_at_once():
    record = {'uuid': 'zzzzz-4zz18-000000000000000', 'manifest_text': _manifest(16 * MIB)}
    size = len(json.dumps(record))

    def receive_and_decode():
        # The body arrives (counted), and its only reference goes in.
        return _json_record(json.dumps(record).encode())
    decoded, peak = _peak(receive_and_decode)
    assert decoded == record
    # body + text while decoding, then text + record: two copies, not three
    assert peak < 2.3 * size, peak / size


def test_a_text_is_packed_without_a_copy_of_it():
    text = _manifest(16 * MIB)
    packed, peak = _peak(lambda: PackedText(text))
    assert packed.text() == text
    # what it keeps plus a piece or two: no encoded copy, no joined output
    assert peak < len(packed) + 4 * PackedText.PIECE, (peak, len(packed))


def test_a_big_manifest_is_packed_from_the_body_without_a_decoded_copy_of_it():
    """The record's manifest is decoded from the body a piece at a time into
    its packed text (api/bigfield.py): the body and what is kept of it at
    once, not the body, its text and the record (three copies)."""
    record = {'uuid': 'zzzzz-4zz18-000000000000000', 'manifest_text': _manifest(16 * MIB),
              'properties': {'manifest_text': 'nested, not this one'}}
    body = json.dumps(record).encode()
    size = len(body)
    got, peak = _peak(lambda: bigfield.loads(body, 'manifest_text', PackedText.of_pieces))
    assert type(got['manifest_text']) is PackedText and got['manifest_text'].text() == record['manifest_text']
    assert got['properties'] == record['properties'] and got['uuid'] == record['uuid']
    # what is kept (compressed) plus a piece in its few forms (bytes, text,
    # decoded, encoded): no second copy (the plain way: 2 x size)
    assert peak < len(got['manifest_text']) + 6 * bigfield.PIECE, (peak / size, len(got['manifest_text']) / size)
