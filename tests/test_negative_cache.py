"""Negative entries (--negative-cache-ttl) in fs/kernelcache.py: what the
kernel is told to forget, and when (no kernel: the queue is looked at)."""

import types

from arvados_fuse.fs import kernelcache
from arvados_fuse.fs.kernelcache import KernelCache
from arvados_fuse.fs.lock import PlainLock


class _Inodes(object):
    events_live = True

    def __init__(self, parents):
        self.entries = {i: types.SimpleNamespace(parent_inode=p, immutable=lambda: False)
                        for i, p in parents.items()}

    def get(self, inode, default=None):
        return self.entries.get(inode, default)


class _Queue(list):
    def put(self, item):
        self.append(item)


def _cache(ttl=5):
    # 1 is the root; 2 a project below it; 3 a collection in 2; 4 a
    # subdirectory of 3; 5 another project.
    kc = KernelCache(PlainLock(), 15, _Inodes({1: 1, 2: 1, 3: 2, 4: 3, 5: 1}), negative_ttl=ttl)
    kc._queue = _Queue()
    return kc


def test_off_by_default_and_capped_by_the_positive_timeout():
    kc = KernelCache(PlainLock(), 15, _Inodes({1: 1}))
    assert kc.negative_timeout(kc._inodes.get(1)) == 0
    kc = _cache(ttl=600)
    kc._inodes.events_live = False
    assert kc.negative_timeout(kc._inodes.get(2)) == 15     # --refresh-time without events
    kc._inodes.events_live = True
    assert kc.negative_timeout(kc._inodes.get(2)) == 600


def test_an_invalidation_forgets_misses_in_and_below_the_directory_only():
    kc = _cache()
    kc.note_negative(3, 'a', 5)
    kc.note_negative(4, 'b', 5)
    kc.note_negative(5, 'c', 5)
    kc.forget_negatives([3])
    assert sorted(kc._queue) == [(3, 'a'), (4, 'b')]
    assert kc.negatives_held() == 1
    kc.forget_negatives([1])
    assert kc._queue[-1] == (5, 'c') and kc.negatives_held() == 0


def test_a_listing_that_shows_the_name_forgets_its_miss():
    kc = _cache()
    kc.note_negative(2, 'x', 5)
    kc.note_negative(2, 'y', 5)
    kc.listed(2, ['a', 'x'])
    assert kc._queue == [(2, 'x')] and kc.negatives_held() == 1
    kc.listed(3, ['y'])
    assert kc._queue == [(2, 'x')]


def test_expired_misses_are_pruned_and_not_forgotten(monkeypatch):
    kc = _cache()
    monkeypatch.setattr(kernelcache, 'NEGATIVES_PRUNE_AT', 3)
    for n in range(3):
        kc.note_negative(2, 'n%d' % n, -1)    # already expired
    kc.note_negative(2, 'live', 5)
    assert kc.negatives_held() == 1
    kc.note_negative(5, 'gone', -1)
    kc.forget_negatives([5])
    assert kc._queue == []
