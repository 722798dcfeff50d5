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
"""

import threading

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


class KernelCache(object):
    def __init__(self, lock, refresh_time, inodes):
        self._lock = lock
        self.refresh_time = refresh_time
        self._inodes = inodes
        self._queue = None
        self._sweeping = threading.Event()
        self._send = None

    def timeout(self, entry):
        """Seconds the kernel may cache `entry`'s name and attributes."""
        if type(entry) is PendingName:
            return 0  # a lookup still in flight: asked again every time
        if entry.immutable():
            return IMMUTABLE_TIMEOUT
        return EVENT_TIMEOUT if self._inodes.events_live else self.refresh_time

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
