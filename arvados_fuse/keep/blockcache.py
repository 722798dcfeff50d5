"""The block cache: the SDK's KeepBlockCache, watched.

It counts evictions and notices thrashing: a block fetched again within
THRASH_WINDOW of its eviction means the working set does not fit.  Then one
warning (at most every WARN_EVERY seconds) names the cache size that would
have held the block: the present size plus what was evicted after it (in
LRU order, that much more room would have kept it).

The SDK keeps its cache in `_cache` and evicts in `_resize_cache`, always
under its own lock; we wrap those two calls and keep our bookkeeping under a
lock of our own (taken inside the SDK's lock, never the other way round).
These are SDK internals: the SDK is pinned to 3.2.x (see setup.py).
"""

import collections
import logging
import mmap
import sys
import threading
import time
import weakref

import arvados.keep

from ..host import metrics

_logger = logging.getLogger('arvados.arvados_fuse')

MIB = 1024 * 1024
# Only buffers this large are worth reusing (see make_room).
REUSE_MIN = MIB
# "Fetched again soon after eviction": within a minute.  A reader that comes
# back to a block after longer is not what a bigger cache is for.
THRASH_WINDOW = 60
# One warning a minute is enough to be seen, and not enough to flood a log.
WARN_EVERY = 60


class ObservedBlockCache(arvados.keep.KeepBlockCache):
    """KeepBlockCache counting evictions and warning when it thrashes."""

    def __init__(self, *args, **kwargs):
        # Set before the SDK's constructor, which may already evict (disk cache).
        self._watch_lock = threading.Lock()
        # locator -> (monotonic time of eviction, evicted bytes up to and
        # including this block, its size).  Guarded by _watch_lock; oldest
        # first, entries older than THRASH_WINDOW are dropped.
        self._evicted = collections.OrderedDict()
        self._evicted_bytes = 0
        self._last_warning = None
        # Buffers of evicted blocks received into again (make_room).
        self.reused = 0
        super(ObservedBlockCache, self).__init__(*args, **kwargs)

    def _resize_cache(self, cache_max, max_slots):
        # Called with the SDK's lock held.
        if self.cache_total <= cache_max and len(self._cache) <= max_slots:
            return
        before = {locator: slot.size() for locator, slot in self._cache.items()}
        super(ObservedBlockCache, self)._resize_cache(cache_max, max_slots)
        gone = [locator for locator in before if locator not in self._cache]
        if not gone:
            return
        now = time.monotonic()
        with self._watch_lock:
            for locator in gone:
                self._evicted_bytes += before[locator]
                self._evicted.pop(locator, None)
                self._evicted[locator] = (now, self._evicted_bytes, before[locator])
            while self._evicted:
                oldest = next(iter(self._evicted.values()))
                if now - oldest[0] <= THRASH_WINDOW:
                    break
                self._evicted.popitem(last=False)
        metrics.cache_evictions.inc(len(gone))

    def make_room(self, size):
        """Count a block of `size` bytes about to be received against the
        cache, evicting what no longer fits, so memory stays within the
        cache size plus what readers hold.  Returns the buffer of a block
        evicted to make room, when it has exactly `size` bytes and nothing
        references it any more, for the new block to be received into:
        receiving into fresh anonymous memory costs a page fault and a
        zeroed page per 4 KiB (0.4 CPU-seconds per GiB here), a reused
        buffer neither.  None otherwise (and always with a disk cache,
        whose blocks are files shared with other processes)."""
        with self._cache_lock:
            self.cache_total += size
            if self.cache_total <= self.cache_max and len(self._cache) <= self._max_slots:
                return None
            contents = {} if self._disk_cache or size < REUSE_MIN else \
                {locator: slot.content for locator, slot in self._cache.items()
                 if type(slot.content) is mmap.mmap and len(slot.content) == size}
            self._resize_cache(self.cache_max, self._max_slots)
            for locator in [locator for locator in contents if locator not in self._cache]:
                buf = contents.pop(locator)
                # Readers hold their block by weak reference (readpath._hold)
                # too: a weakly held buffer is never written again either.
                # Weak references first: while one exists, a reader may turn
                # it into a strong one between the two checks.
                if not weakref.getweakrefcount(buf) and _references(buf) <= SOLE_REFERENCE:
                    self.reused += 1
                    return buf
            return None

    def unaccount(self, size):
        """A block counted by make_room is in the cache now, or failed."""
        with self._cache_lock:
            self.cache_total -= size

    def reserve_cache(self, locator):
        slot, first = super(ObservedBlockCache, self).reserve_cache(locator)
        if first:
            # A new slot: the block is about to be fetched.
            self._check_refetch(locator)
        return slot, first

    def _check_refetch(self, locator):
        now = time.monotonic()
        with self._watch_lock:
            record = self._evicted.pop(locator, None)
            if record is None or now - record[0] > THRASH_WINDOW:
                return
            when, mark, size = record
            needed = self.cache_max + (self._evicted_bytes - mark) + size
            if self._last_warning is not None and now - self._last_warning < WARN_EVERY:
                needed = None
            else:
                self._last_warning = now
        metrics.cache_refetches.inc()
        if needed is not None:
            mib = -(-needed // MIB)
            _logger.warning('block cache thrashing: block %s fetched again %.0fs after it was evicted; '
                            'a cache of %d MiB (--file-cache %d) would have held it, it is %d MiB now',
                            locator, now - when, mib, mib * MIB, self.cache_max // MIB)


def _references(obj):
    return sys.getrefcount(obj)


def _sole_count():
    probe = object()
    return _references(probe)


# What _references says of an object that only the calling function's one
# local variable holds (CPython's count is exact; calibrated, not assumed).
# With that count, no slot, reader, pending reply (a memoryview holds its
# buffer) or fetch can reach the object, and under the GIL nobody can take
# a new reference to an object they cannot reach: it can be written again.
SOLE_REFERENCE = _sole_count()
