"""Keep locators: one grammar (blocks/locators.py) for the manifest parser,
the by_id and project names and the Keep client, and one block size."""

import pytest

from arvados_fuse.blocks import locators, manifest, readpath
from arvados_fuse.blocks.manifest import ManifestError, bare_locator, parse
from arvados_fuse.fs import uuids

MD5 = 'acbd18db4cc2f85cedef654fccc4a4d8'
SIGNED = MD5 + '+3+A' + 'a' * 40 + '@65f00000'


def test_the_grammar_is_one():
    assert uuids.keep_locator_pattern is locators.locator_pattern
    assert uuids.portable_data_hash_pattern is locators.portable_data_hash_pattern
    assert manifest.MAX_BLOCK_SIZE == locators.MAX_BLOCK_SIZE == 64 * 1024 * 1024
    assert readpath._block_size(MD5) == locators.MAX_BLOCK_SIZE


@pytest.mark.parametrize('text, ok', [
    (MD5 + '+3', True),
    (SIGNED, True),
    (SIGNED + '+K@zzzzz', True),
    (MD5 + '+3+K@zzzzz+' + SIGNED.split('+', 2)[2], True),
    (MD5 + '+3+K', False),         # a hint is a capital and at least one more character
    (MD5 + '+3+k@zzzzz', False),   # ... and starts with a capital
    (MD5.upper() + '+3', False),
    (MD5[:31] + '+3', False),
    (MD5 + '+', False),
    (MD5 + '+3 ', False),
])
def test_what_is_a_locator(text, ok):
    assert bool(locators.locator_pattern.match(text)) == ok
    if ok:
        assert bare_locator(text) == MD5 + '+3' == locators.strip_hints(text)
        assert parse('. %s 0:3:f\n' % text).blocks == [text]
    else:
        with pytest.raises(ManifestError):
            bare_locator(text)


def test_signature_of():
    assert locators.signature_of(SIGNED + '+K@zzzzz') == SIGNED.split('+', 2)[2]
    assert locators.signature_of(MD5 + '+3+K@zzzzz') == ''
