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

With --disk-cache, blocks are files in the cache directory, which can be
damaged while nobody watches: a bad disk, another process, a full
filesystem.  Keep's promise is that a block is the bytes its hash names, so
a block file is checked against its MD5 before its first use in this
process (`CheckedDiskSlot.get`: in the reader's thread, never under the
llfuse lock; read with pread, so an I/O error is an exception, not the
SIGBUS of a fault on the mapping; hashlib releases the GIL).  A damaged
file (other bytes, short, unreadable, a directory in its place) is removed,
with one log line and `arvmount_disk_cache_damaged_total`, and the block is
fetched again from Keep: it is never served.  Blocks fetched by this
process were checked on arrival and are not checked again.  A block that
cannot be written (disk full, I/O error) is served from memory, counted in
`arvmount_disk_cache_write_failures_total`; the SDK writes a temporary
file and renames it, and the temporary file is removed on failure, so
nothing half-written is left behind.

The disk cache also leaves `disk_min_free` bytes free on its filesystem
(--disk-cache-min-free, default 10% of it): before a block is written, if
the filesystem's free space (statvfs: f_bavail * f_frsize, once per block
written) less the blocks being written by other threads would fall below
that, the least recently used blocks on disk are evicted until it would not
(`arvmount_disk_cache_free_space_evictions_total`, and one warning when the
cache shrinks below its size because of the disk); if even that cannot make
room, the block is served from memory without being written (counted with
the write failures), and at most MEMORY_FALLBACK bytes of such blocks are
kept.  The same is done at start, for a disk that ran short meanwhile.
"""

import collections
import errno
import fcntl
import hashlib
import logging
import mmap
import os
import queue
import shutil
import sys
import threading
import time
import weakref

import arvados.keep
from arvados._internal import basedirs, diskcache

from ..host import metrics
from ..host.threadnames import name_this_thread

_logger = logging.getLogger('arvados.arvados_fuse')

MIB = 1024 * 1024
# Only buffers this large are worth reusing (see make_room).
REUSE_MIN = MIB
# "Fetched again soon after eviction": within a minute.  A reader that comes
# back to a block after longer is not what a bigger cache is for.
THRASH_WINDOW = 60
# One warning a minute is enough to be seen, and not enough to flood a log.
WARN_EVERY = 60
# Blocks the disk cache had no room for are served from memory; this much
# of them at most (the SDK's default RAM cache), the least recently used
# going first.
MEMORY_FALLBACK = 256 * MIB


class ObservedBlockCache(arvados.keep.KeepBlockCache):
    """KeepBlockCache counting evictions and warning when it thrashes; with
    a disk cache, blocks found on disk are checked before their first use
    (CheckedDiskSlot) and blocks the disk cannot store are kept in memory."""

    def __init__(self, cache_max=0, max_slots=0, disk_cache=False, disk_cache_dir=None, disk_min_free=None):
        # Set before the SDK's constructor, which may already evict (disk cache).
        self._watch_lock = threading.Lock()
        # locator -> (monotonic time of eviction, evicted bytes up to and
        # including this block, its size).  Guarded by _watch_lock; oldest
        # first, entries older than THRASH_WINDOW are dropped.
        self._evicted = collections.OrderedDict()
        self._evicted_bytes = 0
        self._last_warning = None
        self._last_write_warning = None
        # --disk-cache-min-free, in bytes (set below, once the directory is
        # known); bytes being written to the disk cache now, counted
        # against its free space (both guarded by the SDK's lock); whether
        # the disk holds the cache below cache_max, and when that was said.
        self._min_free = 0
        self._writing = 0
        self._disk_short = False
        self._last_short_warning = None
        # Buffers of evicted blocks received into again (make_room).
        self.reused = 0
        # Blocks a sequential reader is done with (passed), oldest first:
        # md5 -> its cache slot then (a slot evicted and fetched again is
        # another block to its readers), guarded by the SDK's lock; at most
        # PASSED_KEPT.
        self._passed = collections.OrderedDict()
        # Of those, dropped before the cache was full to receive into.
        self.dropped_behind = 0
        # Checks of blocks found on disk, ahead of their reader (check_soon).
        self._checks = queue.Queue()
        self._checkers = []
        if disk_cache:
            if disk_cache_dir is None:
                disk_cache_dir = str(basedirs.BaseDirectories('CACHE').storage_path('keep'))
            _sweep_unusable(disk_cache_dir)
        super(ObservedBlockCache, self).__init__(cache_max=cache_max, max_slots=max_slots, disk_cache=disk_cache,
                                                 disk_cache_dir=disk_cache_dir)
        if disk_cache:
            # The SDK mapped the blocks it found: check each before its first use.
            with self._cache_lock:
                # The SDK lists them most recently used (atime) first: the
                # least recently used go first here.
                self._cache = collections.OrderedDict(
                    (locator, CheckedDiskSlot.found(slot, self)) for locator, slot in reversed(self._cache.items()))
            self._min_free = _min_free_bytes(self._disk_cache_dir, disk_min_free)
            if self._min_free:
                # A disk that ran short since the blocks were written.
                with self._cache_lock:
                    self._room_on_disk(None, 0)

    # -- the disk cache --------------------------------------------------------
    def _get(self, locator):
        # Called with the SDK's lock held; the SDK's, but a block found on
        # disk comes as a CheckedDiskSlot (checked before its first use).
        if not self._disk_cache:
            return super(ObservedBlockCache, self)._get(locator)
        slot = self._cache.get(locator)
        if slot is not None:
            if slot.ready.is_set() and slot.content is None:
                del self._cache[locator]
                return None
            self._cache.move_to_end(locator)
            return slot
        slot = CheckedDiskSlot.load(locator, self._disk_cache_dir, self)
        if slot is not None:
            self._cache[locator] = slot
            self.cache_total += slot.size()
        return slot

    def _reserve_disk(self, locator):
        # The SDK's reserve_cache, with our slot (whose set and evict
        # survive a disk that cannot store the block).
        with self._cache_updating:
            slot = self._get(locator)
            if slot:
                return slot, False
            self._resize_cache(self.cache_max, self._max_slots - 1)
            while len(self._cache) >= self._max_slots:
                self._cache_updating.wait(timeout=0.2)
                self._resize_cache(self.cache_max, self._max_slots - 1)
            slot = CheckedDiskSlot(locator, self._disk_cache_dir)
            slot.checked = True  # fetched by us: MD5-checked as it arrived
            self._cache[locator] = slot
            return slot, True

    def set(self, slot, blob):
        if not isinstance(slot, CheckedDiskSlot):
            # The SDK's adds to cache_total without its lock: a fetch
            # worker's add racing another thread's eviction or make_room
            # could lose one of them, and the count drift from memory.
            self._store(slot, blob, 0)
            return
        size = len(blob) if blob else 0
        if size and self._min_free:
            with self._cache_lock:
                room = self._room_on_disk(slot, size)
                if room:
                    self._writing += size
            if not room:
                # No room for it above --disk-cache-min-free: from memory.
                metrics.disk_cache_write_failures.inc()
                if slot.keep_in_memory(blob):
                    with self._cache_lock:
                        self.cache_total += slot.size()
                        self._cap_memory_blocks()
                self.cap_cache()
                return
        else:
            size = 0
        try:
            stored = slot.set(blob)
        except Exception as e:
            # Disk full, an I/O error, a directory where the file goes...:
            # the SDK removed its temporary file; serve the block from
            # memory (it counts against the cache like any other).
            stored = slot.keep_in_memory(blob)
            metrics.disk_cache_write_failures.inc()
            now = time.monotonic()
            with self._watch_lock:
                warn = self._last_write_warning is None or now - self._last_write_warning >= WARN_EVERY
                if warn:
                    self._last_write_warning = now
            if warn:
                _logger.warning('disk cache %s: cannot store block %s (%s): serving it from memory '
                                '(at most one such line a minute; arvmount_disk_cache_write_failures_total '
                                'counts them)', self._disk_cache_dir, slot.locator, _one_line(e))
            if getattr(e, 'errno', None) == errno.ENOSPC:
                # As the SDK does: a smaller cache, so eviction frees disk.
                with self._cache_lock:
                    used = sum(other.size() for other in self._cache.values())
                    self.cache_max = max(256 * MIB, used - 256 * MIB)
        finally:
            if size:
                with self._cache_lock:
                    self._writing -= size
        if stored:
            with self._cache_lock:
                self.cache_total += slot.size()
        self.cap_cache()

    def _room_on_disk(self, slot, size):
        """Whether `size` more bytes can be written to the disk cache's
        filesystem and leave --disk-cache-min-free free, after evicting
        the least recently used blocks on disk (never `slot`) for it.
        Called with the SDK's lock held."""
        need = self._min_free + size
        if size:
            # Files take whole blocks of the filesystem.
            need += -size % _FRAGMENT
        try:
            measured = _free_bytes(self._disk_cache_dir)
        except OSError:
            return True  # the write will say what is wrong
        free = measured - self._writing
        if free >= need:
            if self._disk_short and self.cache_total + size > self.cache_max:
                self._disk_short = False  # the cache is whole again
            return True
        gone = {}
        for locator, other in list(self._cache.items()):
            if free >= need:
                break
            if other is slot or other.filehandle is None or not other.ready.is_set():
                continue  # in memory, being written or fetched
            gone[locator] = other.size()
            removed = other.evict()
            del self._cache[locator]
            self.cache_total -= gone[locator]
            if removed:
                free += gone[locator]
        if gone:
            self._note_evicted(gone)
            metrics.disk_cache_free_space_evictions.inc(len(gone))
            self._cache_updating.notify_all()
            try:
                # Measured again: a block another process still uses, or
                # that a reader still maps, keeps its room.
                free = _free_bytes(self._disk_cache_dir) - self._writing
            except OSError:
                pass
        room = free >= need
        if gone or not room:
            self._warn_short(measured, room)
        return room

    def _warn_short(self, free, room):
        """One line when the disk first holds the cache below its size
        (again at most every WARN_EVERY seconds)."""
        now = time.monotonic()
        if self._disk_short or (self._last_short_warning is not None
                                and now - self._last_short_warning < WARN_EVERY):
            self._disk_short = True
            return
        self._disk_short = True
        self._last_short_warning = now
        _logger.warning('disk cache %s: its filesystem has %d MiB free and --disk-cache-min-free keeps %d MiB '
                        'free: the cache shrinks to %d MiB (below its %d MiB) while the disk is short%s '
                        '(arvmount_disk_cache_free_space_evictions_total counts the blocks evicted for it)',
                        self._disk_cache_dir, max(free, 0) // MIB, self._min_free // MIB,
                        self.cache_total // MIB, self.cache_max // MIB,
                        '' if room else '; blocks it has no room for are served from memory')

    def _cap_memory_blocks(self):
        """At most MEMORY_FALLBACK bytes of blocks the disk had no room
        for, the least recently used going first.  Called with the SDK's
        lock held."""
        in_memory = [(locator, slot) for locator, slot in self._cache.items()
                     if slot.filehandle is None and slot.content and slot.ready.is_set()]
        total = sum(len(slot.content) for _, slot in in_memory)
        gone = {}
        for locator, slot in in_memory:
            if total <= MEMORY_FALLBACK:
                break
            gone[locator] = slot.size()
            total -= gone[locator]
            slot.evict()
            del self._cache[locator]
            self.cache_total -= gone[locator]
        if gone:
            self._note_evicted(gone)
            self._cache_updating.notify_all()

    def check_soon(self, slot):
        """A block about to be read (prefetched) that is on disk and not
        yet checked: check it now in one of CHECK_THREADS threads, so the
        reader finds it checked (a reader arriving during the check waits
        for it, never checks twice)."""
        if not isinstance(slot, CheckedDiskSlot) or slot.checked:
            return
        with self._watch_lock:
            if len(self._checkers) < CHECK_THREADS:
                t = threading.Thread(target=self._check_work, name='disk-cache-check', daemon=True)
                self._checkers.append(t)
                t.start()
        self._checks.put(weakref.ref(slot))

    def _check_work(self):
        name_this_thread('disk-cache-check')
        while True:
            slot = self._checks.get()()
            if slot is not None and not slot.checked:
                try:
                    slot.get()
                except Exception:
                    _logger.exception('disk cache: checking block %s failed', slot.locator)
            slot = None

    def drop_damaged(self, slot):
        """A slot found damaged (CheckedDiskSlot.get): out of the cache, so
        the block is fetched again."""
        with self._cache_lock:
            if self._cache.get(slot.locator) is slot:
                del self._cache[slot.locator]
                self.cache_total -= slot.loaded_size
                self._cache_updating.notify_all()

    def _resize_cache(self, cache_max, max_slots):
        # Called with the SDK's lock held.
        if self.cache_total <= cache_max and len(self._cache) <= max_slots:
            return
        before = {locator: slot.size() for locator, slot in self._cache.items()}
        super(ObservedBlockCache, self)._resize_cache(cache_max, max_slots)
        gone = {locator: size for locator, size in before.items() if locator not in self._cache}
        if gone:
            self._note_evicted(gone)

    def _note_evicted(self, gone):
        """Blocks evicted ({locator: size}, least recently used first):
        remembered for a while (thrashing) and counted."""
        now = time.monotonic()
        with self._watch_lock:
            for locator, size in gone.items():
                self._evicted_bytes += size
                self._evicted.pop(locator, None)
                self._evicted[locator] = (now, self._evicted_bytes, size)
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
        buffer neither.  Before the cache is full, the buffer of a block a
        sequential reader has passed (`passed`, `_drop_behind`), on the
        same terms.  None otherwise (and always with a disk cache, whose
        blocks are files shared with other processes)."""
        with self._cache_lock:
            self.cache_total += size
            if self.cache_total <= self.cache_max and len(self._cache) <= self._max_slots:
                return self._drop_behind(size)
            contents = {} if self._disk_cache or size < REUSE_MIN else \
                {locator: slot.content for locator, slot in self._cache.items()
                 if type(slot.content) is mmap.mmap and len(slot.content) == size}
            self._resize_cache(self.cache_max, self._max_slots)
            for locator in [locator for locator in contents if locator not in self._cache]:
                buf = contents.pop(locator)
                if _unreferenced(buf, 0):
                    self.reused += 1
                    return buf
            return None

    def passed(self, md5):
        """A sequential reader is done with this block (readpath's
        FileReader, two blocks on): the file's bytes are in the kernel's
        page cache now, which serves that file from then on.  It goes
        first when the cache needs room, and make_room may drop it even
        before the cache is full, to receive a new block into its buffer
        (fresh memory costs a page fault and a zeroed page per 4 KiB:
        0.33-0.39 CPU-s per GiB here)."""
        if self._disk_cache:
            return
        with self._cache_lock:
            slot = self._cache.get(md5)
            if slot is None or not slot.ready.is_set():
                return
            self._cache.move_to_end(md5, last=False)
            self._passed[md5] = slot
            self._passed.move_to_end(md5)
            while len(self._passed) > PASSED_KEPT:
                self._passed.popitem(last=False)

    def _drop_behind(self, size):
        """The buffer of a passed block of exactly `size` bytes that
        nothing references, not even weakly (no reader holds it as its
        current block), evicted for a new block to be received into; or
        None.  Called with the SDK's lock held."""
        if size < REUSE_MIN or not self._passed:
            return None
        for md5, passed in list(self._passed.items()):
            slot = self._cache.get(md5)
            if slot is not passed or slot.content is None:
                del self._passed[md5]
                continue
            buf = slot.content
            if type(buf) is not mmap.mmap or len(buf) != size:
                buf = None
                continue
            if not _unreferenced(buf, 1):  # the slot holds it too
                buf = None
                continue
            del self._passed[md5]
            del self._cache[md5]
            slot.evict()
            self.cache_total -= size
            self.reused += 1
            self.dropped_behind += 1
            # Counted, but not remembered as evicted (_note_evicted): a
            # passed block fetched again says nothing of the cache's size.
            metrics.cache_evictions.inc()
            return buf
        return None

    def unaccount(self, size):
        """A block counted by make_room is in the cache now, or failed."""
        with self._cache_lock:
            self.cache_total -= size

    def settle(self, slot, blob, counted):
        """A fetch counted by make_room (`counted` bytes) ended with `blob`
        (None: failed): in the cache and counted as itself, in one step
        under the lock (in two, the block was in memory and counted nowhere
        in between, and the cache did not evict for it)."""
        if isinstance(slot, CheckedDiskSlot):
            self.unaccount(counted)
            self.set(slot, blob)
            return
        self._store(slot, blob, counted)

    def _store(self, slot, blob, counted):
        """A RAM slot gets `blob` and is counted as itself instead of the
        `counted` bytes make_room counted for it, under the lock: the SDK's
        set adds to cache_total without it, and a fetch worker's add racing
        another thread's eviction or make_room could lose one of them."""
        with self._cache_updating:
            self.cache_total -= counted
            if slot.set(blob):
                self.cache_total += slot.size()
            self._resize_cache(self.cache_max, self._max_slots)
            self._cache_updating.notify_all()

    def reserve_cache(self, locator):
        if self._disk_cache:
            slot, first = self._reserve_disk(locator)
        else:
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


class CheckedDiskSlot(diskcache.DiskCacheSlot):
    """The SDK's disk cache slot, with three differences:
    - a block found on disk (`load`, `found`) is checked against its MD5
      at its first `get`, in the reader's thread; a damaged one is removed
      from disk and from the cache, and `get` answers None, so the fetcher
      reserves a new slot and fetches the block from Keep;
    - `keep_in_memory`: a block the disk could not store is served from
      the buffer it arrived in;
    - `evict` of such a block drops it (the SDK's would unlock a file that
      is not there)."""

    __slots__ = ('checked', 'check_lock', 'owner', 'loaded_size', '__weakref__')

    def __init__(self, locator, cachedir):
        super(CheckedDiskSlot, self).__init__(locator, cachedir)
        self.checked = False
        self.check_lock = threading.Lock()
        self.owner = None
        self.loaded_size = 0

    @classmethod
    def found(cls, sdk_slot, owner):
        """One of the SDK's slots for a block it found on disk, as ours."""
        slot = cls(sdk_slot.locator, sdk_slot.cachedir)
        slot.filehandle = sdk_slot.filehandle
        slot.content = sdk_slot.content
        slot.linger = sdk_slot.linger
        slot.owner = weakref.ref(owner)
        slot.loaded_size = slot.size()
        if sdk_slot.ready.is_set():
            slot.ready.set()
        return slot

    @classmethod
    def load(cls, locator, cachedir, owner):
        """The block's file, if there is one, mapped but not yet checked
        (the SDK's get_from_disk, which printed a traceback for a file it
        could not map).  A file that cannot be opened or mapped is damaged:
        removed, and None."""
        path = _path_of(cachedir, locator)
        try:
            filehandle = open(path, 'rb')
        except FileNotFoundError:
            return None
        except OSError as e:
            _drop_file(path, locator, 'cannot be opened: %s' % _one_line(e))
            return None
        try:
            fcntl.flock(filehandle, fcntl.LOCK_SH)
            content = mmap.mmap(filehandle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError) as e:  # ValueError: an empty file
            filehandle.close()
            _drop_file(path, locator, 'cannot be mapped: %s' % _one_line(e))
            return None
        slot = cls(locator, cachedir)
        slot.filehandle = filehandle
        slot.content = content
        slot.owner = weakref.ref(owner)
        slot.loaded_size = len(content)
        slot.ready.set()
        return slot

    def get(self):
        self.ready.wait()
        if not self.checked:
            with self.check_lock:  # one check; other readers wait for it
                if not self.checked and not self._check():
                    return None
                self.checked = True
        content = self.content
        if content and self.filehandle is not None:
            # The SDK's advice: read the whole block back at once.
            content.madvise(mmap.MADV_WILLNEED)
        return content

    def _check(self):
        """Whether the file's bytes are the block (their MD5, read with
        pread); if not, the slot is dropped and the file removed."""
        content, filehandle = self.content, self.filehandle
        if content is None or filehandle is None:
            return content is not None
        try:
            digest, length = _md5_of_file(filehandle.fileno())
            problem = None
            if length != len(content):
                problem = 'is %d bytes, mapped as %d' % (length, len(content))
            elif digest != self.locator:
                problem = 'has MD5 %s (%d bytes)' % (digest, length)
        except OSError as e:
            problem = 'cannot be read: %s' % _one_line(e)
        if problem is None:
            return True
        metrics.disk_cache_damaged.inc()
        path = _path_of(self.cachedir, self.locator)
        owner = self.owner() if self.owner is not None else None
        if owner is not None:
            owner.drop_damaged(self)
        self.content = None
        try:
            filehandle.close()
        except OSError:
            pass
        self.filehandle = None
        _drop_file(path, self.locator, problem)
        return False

    def keep_in_memory(self, value):
        """The disk could not store the block: serve it from `value`."""
        if self.filehandle is not None:
            try:
                self.filehandle.close()
            except OSError:
                pass
            self.filehandle = None
        if value is None:
            self.content = None
            self.ready.set()
            return False
        self.content = value
        self.checked = True
        self.ready.set()
        return True

    def evict(self):
        if self.filehandle is None:
            # In memory only (or nothing): nothing on disk to unlock.
            self.content = None
            return None
        return super(CheckedDiskSlot, self).evict()


# Blocks passed by sequential readers remembered at most (as many as a
# cache of 64 GiB holds).
PASSED_KEPT = 1024

# Threads checking prefetched blocks found on disk (two cores: md5 runs
# about 450 MB/s on each).
CHECK_THREADS = 2
# Read this much at a time when checking a block file.
CHECK_CHUNK = MIB


# Room a block file takes beyond its length, at most (a filesystem block).
_FRAGMENT = 4096


def _free_bytes(path):
    """Free space on `path`'s filesystem for an unprivileged writer."""
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def _min_free_bytes(path, min_free):
    """--disk-cache-min-free in bytes: `min_free` is bytes, or a pair
    (bytes, percent) of which one is None (arguments.MinFree)."""
    if not min_free:
        return 0
    if not isinstance(min_free, tuple):
        return int(min_free)
    nbytes, percent = min_free
    if percent is None:
        return int(nbytes or 0)
    st = os.statvfs(path)
    return int(st.f_blocks * st.f_frsize * percent / 100)


def _md5_of_file(fd):
    """(hex MD5, length) of a file's bytes, read with pread into one
    reused buffer (hashlib and pread release the GIL)."""
    md5 = hashlib.md5()
    buf = bytearray(CHECK_CHUNK)
    view = memoryview(buf)
    pos = 0
    while True:
        n = os.preadv(fd, [buf], pos)
        if not n:
            break
        md5.update(view[:n])
        pos += n
    view.release()
    return md5.hexdigest(), pos


def _path_of(cachedir, locator):
    return os.path.join(cachedir, locator[0:3], locator + diskcache.cacheblock_suffix)


def _drop_file(path, locator, problem):
    """Remove a damaged block file (or whatever is in its place), with one
    log line."""
    try:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.remove(path)
        outcome = 'removed'
    except FileNotFoundError:
        outcome = 'already gone'
    except OSError as e:
        outcome = 'could not be removed (%s)' % _one_line(e)
    _logger.warning('disk cache: block %s is damaged: %s %s; %s, the block is fetched again from Keep '
                    '(arvmount_disk_cache_damaged_total counts these)', locator, path, problem, outcome)


def _sweep_unusable(cachedir):
    """Before the SDK maps the cache directory's blocks: remove what it
    could not map (an empty file, one that cannot be opened, a directory in
    a block file's place), which it would report with a traceback each.
    Files it can map are checked at their first use."""
    suffix = diskcache.cacheblock_suffix
    try:
        entries = list(os.walk(cachedir))
    except OSError:
        return
    for root, dirs, files in entries:
        for name in list(dirs):
            if name.endswith(suffix) and len(name) == 32 + len(suffix):
                metrics.disk_cache_damaged.inc()
                _drop_file(os.path.join(root, name), name[:32], 'is a directory')
                dirs.remove(name)
        for name in files:
            if not name.endswith(suffix) or name.startswith('tmp') or len(name) != 32 + len(suffix):
                continue
            path = os.path.join(root, name)
            try:
                if os.path.getsize(path) == 0:
                    raise OSError('the file is empty')
                with open(path, 'rb'):
                    pass
            except FileNotFoundError:
                continue
            except OSError as e:
                metrics.disk_cache_damaged.inc()
                _drop_file(path, name[:32], 'cannot be used: %s' % _one_line(e))


def _one_line(e):
    text = str(e).strip() or type(e).__name__
    return ' '.join(text.split())


def _unreferenced(buf, holders):
    """Whether nobody but `holders` known references (and the caller) holds
    `buf`, so a new block may be received into it.  Readers hold their
    block by weak reference too (readpath._hold): a weakly held buffer is
    never written again either.  Weak references first: while one exists,
    a reader may turn it into a strong one between the two checks."""
    return not weakref.getweakrefcount(buf) and _references(buf) <= _SOLE_IN_HELPER + holders


def _references(obj):
    return sys.getrefcount(obj)


def _count_in_helper(obj):
    return _references(obj)  # called as _unreferenced calls it


def _sole_in_helper():
    probe = object()
    return _count_in_helper(probe)


# What _references says, inside a helper the holder passed it to
# (_unreferenced), of an object that only the holder's one local variable
# holds (CPython's count is exact; calibrated, not assumed).  With that
# count, no slot, reader, pending reply (a memoryview holds its buffer) or
# fetch can reach the object, and under the GIL nobody can take a new
# reference to an object they cannot reach: it can be written again.
_SOLE_IN_HELPER = _sole_in_helper()
