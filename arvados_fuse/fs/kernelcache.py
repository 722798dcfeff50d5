"""What the kernel may cache, for how long, and telling it to forget.

The kernel caches names and attributes for the timeouts given with each
answer, and pages until told otherwise.  This module owns those timeouts and
the two ways of taking them back:
- invalidations (of a name in a directory, or of an inode's attributes and
  pages) are queued and sent by their own thread: llfuse's notification
  queue is bounded and its put blocks, and nothing may block while holding
  the llfuse lock;
- names of removed entries the kernel still holds are invalidated again
  (`Inodes.remove_name`), looked at every SWEEP_EVERY seconds by the sweep
  thread.

Missing names are cached too (`negative_ttl`, --negative-cache-ttl): the
adapter answers a miss with a negative entry and notes it here
(`note_negative`); an invalidation of the directory or of one above it
(`forget_negatives`, from fs/changes.py: a change event) and a listing that
shows the name (`listed`) tell the kernel to drop it at once.  Otherwise it
lasts its TTL.
"""

import threading
import time

from ..host.threadnames import name_this_thread
from ..host.workqueue import WorkQueue
from .pending import PendingName

# How long the kernel may cache names and attributes of things that can never
# change (PDH collections): long, so re-reads never reach us.
IMMUTABLE_TIMEOUT = 86400
# How long the kernel may cache names and attributes of uuid-addressed
# objects while the event stream is connected: every change then reaches
# us as an event, which tells the kernel to forget exactly what changed.
# Not forever, in case an event is lost; without events (or while the stream
# is down) --refresh-time bounds it instead.
EVENT_TIMEOUT = 3600
# How often removed names still held by the kernel are looked at again.
SWEEP_EVERY = 1.0
# Noted negative entries beyond which the expired ones are swept out.
NEGATIVES_PRUNE_AT = 10000


class KernelCache(object):
    """`negative_ttl`: how long the kernel may cache a missing name (0: not
    at all, the seed's behaviour; the command sets --negative-cache-ttl)."""

    def __init__(self, lock, refresh_time, inodes, negative_ttl=0):
        self._lock = lock
        self.refresh_time = refresh_time
        self._inodes = inodes
        self._queue = None
        self._sweeping = threading.Event()
        self._send = None
        self.negative_ttl = negative_ttl
        # parent inode -> {name: when the kernel's negative entry expires}.
        # Guarded by the lock.
        self._negatives = {}
        self._negative_count = 0

    def timeout(self, entry):
        """Seconds the kernel may cache `entry`'s name and attributes."""
        if type(entry) is PendingName:
            return 0  # a lookup still in flight: asked again every time
        return self.files_timeout(entry.immutable())

    def files_timeout(self, immutable):
        """timeout() of the files of a FileTable (all alike)."""
        if immutable:
            return IMMUTABLE_TIMEOUT
        return EVENT_TIMEOUT if self._inodes.events_live else self.refresh_time

    def negative_timeout(self, parent):
        """Seconds the kernel may cache a name missing from `parent`: the
        TTL, but never longer than a name found there would be cached."""
        if self.negative_ttl <= 0:
            return 0
        return min(self.negative_ttl, self.timeout(parent))

    def cache_miss(self, parent, name, generation):
        """Seconds the kernel may cache that `name` is missing from the
        directory `parent` (0: not at all), noted so that an event can take
        it back.  Not when an event invalidated `parent` since `generation`
        (the name may have just been created).  Caller holds the lock."""
        ttl = self.negative_timeout(parent)
        if ttl <= 0 or parent.detached or parent.generation() != generation:
            return 0
        self.note_negative(parent.inode, name, ttl)
        return ttl

    def note_negative(self, parent_inode, name, ttl):
        """The kernel was told `name` is missing from `parent_inode` for
        `ttl` seconds.  Caller holds the lock."""
        now = time.monotonic()
        if self._negative_count >= NEGATIVES_PRUNE_AT:
            self._prune_negatives(now)
        names = self._negatives.setdefault(parent_inode, {})
        if name not in names:
            self._negative_count += 1
        names[name] = now + ttl

    def _prune_negatives(self, now):
        for parent in list(self._negatives):
            names = {n: t for n, t in self._negatives[parent].items() if t > now}
            if names:
                self._negatives[parent] = names
            else:
                del self._negatives[parent]
        self._negative_count = sum(len(n) for n in self._negatives.values())

    def negatives_held(self):
        """How many negative entries are noted (expired or not)."""
        return self._negative_count

    def holds_misses(self, parent_inode):
        """Whether the kernel may hold misses noted in `parent_inode`."""
        return parent_inode in self._negatives

    def listed(self, parent_inode, names):
        """`parent_inode` was listed with `names`: drop the kernel's cached
        misses of any of them.  Caller holds the lock."""
        held = self._negatives.get(parent_inode)
        if not held:
            return
        for name in names:
            if name in held:
                del held[name]
                self._negative_count -= 1
                self.forget_entry(parent_inode, name)
        if not held:
            del self._negatives[parent_inode]

    def forget_negatives(self, inodes):
        """Directories `inodes` changed: the kernel drops every miss it
        caches in them or below them.  Caller holds the lock."""
        if not self._negatives:
            return
        changed = set(inodes)
        now = time.monotonic()
        for parent in list(self._negatives):
            if not self._below(parent, changed):
                continue
            names = self._negatives.pop(parent)
            self._negative_count -= len(names)
            for name, expiry in names.items():
                if expiry > now:
                    self.forget_entry(parent, name)

    def _below(self, inode, changed):
        seen = set()
        while inode is not None and inode not in seen:
            if inode in changed:
                return True
            seen.add(inode)
            entry = self._inodes.get(inode)
            if entry is None:
                return True  # gone: nothing to keep a miss for
            inode = entry.parent_inode
        return False

    def forget_entry(self, parent_inode, name):
        """Ask the kernel to drop `name` in `parent_inode` (queued; never
        blocks).  Dropped while no kernel is attached."""
        if self._queue is not None:
            self._queue.put((parent_inode, name))

    def forget_inode(self, inode):
        """Ask the kernel to drop `inode`'s attributes and cached pages."""
        if self._queue is not None:
            self._queue.put((inode, None))

    def notify(self, kind, *args):
        """The inode table's notifier (see Inodes): 'entry' or 'inode'."""
        if kind == 'entry':
            self.forget_entry(*args)
        else:
            self.forget_inode(*args)

    def start(self, send):
        """`send(inode, name)` tells the kernel (name None: the inode);
        it runs in the invalidation thread, without the lock."""
        self._send = send
        self._queue = WorkQueue('kernel-invalidations', self._send_one)
        self._queue.start()
        threading.Thread(target=self._sweep, name='reinvalidate', daemon=True).start()

    def stop(self):
        self._sweeping.set()
        queue, self._queue = self._queue, None
        if queue is not None:
            queue.stop()

    def _send_one(self, item):
        self._send(*item)

    def _sweep(self):
        inodes = self._inodes
        name_this_thread('reinvalidate')
        while not self._sweeping.wait(SWEEP_EVERY):
            if inodes.reinvalidation_pending():  # a plain read: no lock for nothing
                with self._lock:
                    inodes.reinvalidate()
