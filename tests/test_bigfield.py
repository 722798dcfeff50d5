"""api/bigfield.py: a record's big string field decoded a piece at a time,
exactly as json.loads decodes it, whatever the field holds and however
the JSON writes it."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from arvados_fuse.api import bigfield

# Characters that make JSON escapes: quotes, backslashes, control
# characters, non-ASCII of every UTF-8 length, astral ones (a surrogate
# pair when escaped).
_chars = st.one_of(st.sampled_from(['"', '\\', '\n', '\t', '\x00', '\x1f', 'a', ' ', '/', 'é', '\u20ac', '\U0001F600',
                                    '\\040', '\\\\']),
                   st.characters(blacklist_categories=('Cs',)))
_text = st.lists(_chars, max_size=60).map(''.join)


def _joined(calls):
    def make(pieces):
        pieces = list(pieces)
        calls.append(pieces)
        return ''.join(pieces)
    return make


@settings(max_examples=400, deadline=None)
@given(_text, st.booleans(), st.integers(1, 13), st.booleans(), st.sampled_from(['', ' ', '\n  ']))
def test_the_field_decodes_as_json_loads_does(text, ascii_only, piece, nested_first, space):
    record = {'uuid': 'zzzzz-4zz18-aaaaaaaaaaaaaaa', 'manifest_text': text, 'name': 'n "x" \\ é'}
    if nested_first:
        record = dict({'properties': {'manifest_text': 'not this one', 'k': [1, 'manifest_text']}}, **record)
    body = json.dumps(record, ensure_ascii=ascii_only).replace('": ', '":' + space).encode('utf-8')
    calls = []
    old = bigfield.PIECE
    bigfield.PIECE = piece
    try:
        got = bigfield.loads(body, 'manifest_text', _joined(calls), min_bytes=0)
    finally:
        bigfield.PIECE = old
    assert got == record
    # The record's own field, even after a nested one of the same name,
    # unless that one is longer: then decoded the plain way.
    own = len(json.dumps(text, ensure_ascii=ascii_only).encode()) > len(json.dumps('not this one'))
    assert len(calls) == (1 if own or not nested_first else 0)
    if not calls:
        return
    assert all(len(p.encode('utf-8', 'surrogatepass')) <= 6 * piece + 12 for p in calls[0])


def test_a_small_body_a_missing_field_or_one_not_a_string_are_decoded_plainly():
    calls = []
    make = _joined(calls)
    for record in ({'manifest_text': 'x' * 10}, {'other': 'y'}, {'manifest_text': None}, {'manifest_text': 3}):
        body = json.dumps(record).encode()
        assert bigfield.loads(body, 'manifest_text', make, min_bytes=0 if len(record) else 1 << 30) == record
    assert bigfield.loads(json.dumps({'manifest_text': 'small'}).encode(), 'manifest_text', make) == \
        {'manifest_text': 'small'}
    assert calls == [['x' * 10]]
    with pytest.raises(ValueError):
        bigfield.loads(b'{"manifest_text": "a\\q"}', 'manifest_text', make, min_bytes=0)
    with pytest.raises(ValueError):
        bigfield.loads(b'{"manifest_text": "\xff"}', 'manifest_text', make, min_bytes=0)
