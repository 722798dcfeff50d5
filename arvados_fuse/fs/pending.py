"""A name in `by_id` still being looked up: what the kernel holds meanwhile.

Without FUSE_PARALLEL_DIROPS (libfuse 2, hence llfuse, never asks for it)
the kernel runs one lookup or listing of a directory at a time.  If a lookup
in `by_id` waited for the API, every other name there (and `ls by_id`) would
wait behind it.  So a lookup that has not finished within LOOKUP_GRACE
answers with a PendingName: a directory inode the kernel may not cache
(timeouts of 0).  Everything done *with* that inode (stat, listing it,
looking up names inside it, reading files through it) waits for the lookup
to end, and then answers as the real entry would: the collection or project,
ENOENT for a miss, EIO for a failure.  Those waits hold the lock of the
pending directory only, so other names in `by_id` are not held up.

Everything `by_id` can show is a directory, so the pending inode's type is
always right; a missing id never looks present to stat, open or ls (its
getattr answers ENOENT), only to the lookup step of a path walk.
"""

import stat
import threading
import time

from .directory import DIR_MODE
from .entry import Entry

# How long a lookup in `by_id` waits before answering with a PendingName:
# the longest another name in `by_id` can be held up by a slow one.  Most
# lookups end well within it, and get ordinary (cached) answers.
LOOKUP_GRACE = 0.25


class PendingName(Entry):
    """Stands for `name` in directory `parent_inode` until its lookup ends.
    fs/refresh.Refresher owns it: `finish` is called with the lock held."""

    __slots__ = ('parent_inode', 'name', 'inode', 'nlookup', 'detached', 'started',
                 'result', 'errno', '_done')

    def __init__(self, parent_inode, name):
        self.parent_inode = parent_inode
        self.name = name
        self.inode = None          # set when the kernel is handed this entry
        self.nlookup = 0
        self.detached = False
        self.started = time.monotonic()
        self.result = None         # the entry found, once done
        self.errno = None          # ENOENT or EIO, once done without a result
        self._done = threading.Event()

    def finish(self, result=None, errno=None):
        self.result = result
        self.errno = errno
        self._done.set()

    def done(self):
        return self._done.is_set()

    def wait(self, timeout):
        """Wait (the caller has released every lock) until done or for at
        most `timeout` seconds; True if done."""
        return self._done.wait(max(0.0, timeout))

    def waited(self):
        return time.monotonic() - self.started

    # What the kernel sees in the lookup's answer: a directory, never cached.
    def st_mode(self):
        return stat.S_IFDIR | DIR_MODE

    def size(self):
        return 0

    def mtime(self):
        return 0.0

    def atime(self):
        return 0.0

    def immutable(self):
        return False

    def xattrs(self):
        return {}

    def describe(self):
        return 'pending lookup of %r' % (self.name,)
