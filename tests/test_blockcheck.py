"""blockcheck: the signatures Keep accepted per cached block (pure logic;
tests/test_mount_locators.py checks it through a mount)."""

import collections
import threading

from arvados_fuse.keep import blockcheck
from arvados_fuse.blocks.locators import signature_of
from arvados_fuse.keep.blockcheck import AcceptedSignatures


class _Cache(object):
    def __init__(self):
        self._cache = collections.OrderedDict()
        self._cache_lock = threading.Lock()


def test_signature_of():
    assert signature_of('0cc175b9c0f1b6a831c399e269772661+1') == ''
    assert signature_of('0cc175b9c0f1b6a831c399e269772661+1+Afff@12+K@zzzzz') == 'Afff@12'
    assert signature_of('0cc175b9c0f1b6a831c399e269772661+1+K@zzzzz+Aab@cd') == 'Aab@cd'


def test_accepted_only_for_the_same_slot():
    cache = _Cache()
    accepted = AcceptedSignatures(cache)
    slot, other = object(), object()
    accepted.accept('m', slot, 'A1@2')
    assert accepted.accepted('m', slot, 'A1@2')
    assert not accepted.accepted('m', slot, 'A3@4')
    assert not accepted.accepted('m', slot, '')
    # Evicted and fetched again: a new slot knows no signature yet.
    assert not accepted.accepted('m', other, 'A1@2')
    accepted.accept('m', other, '')
    assert accepted.accepted('m', other, '') and not accepted.accepted('m', other, 'A1@2')


def test_records_of_evicted_slots_are_swept():
    cache = _Cache()
    accepted = AcceptedSignatures(cache)
    kept = {}
    for i in range(10 * blockcheck.SWEEP_MIN):
        slot = object()
        if i % 100 == 0:
            cache._cache['m%d' % i] = slot
            kept['m%d' % i] = slot
        accepted.accept('m%d' % i, slot, 'A')
    assert len(accepted) <= blockcheck.SWEEP_MIN + 1
    assert all(accepted.accepted(md5, slot, 'A') for md5, slot in kept.items())
