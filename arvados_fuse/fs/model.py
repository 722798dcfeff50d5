"""The whole model of one mount, built in one place: the inode table and
what keeps it fresh.  The adapter (operations.py) serves it to the kernel;
the command builds it from the options; tests build it with fakes."""

from ..blocks.renewal import SignatureRenewer
from .changes import Changes
from .inodes import Inodes
from .kernelcache import KernelCache
from .lock import PlainLock
from .refresh import REFRESH_WAIT, Refresher
from .treecache import TreeCache


class Model(object):
    """`lock` guards everything here (fs/lock.py); `refresh_time` is
    --refresh-time, `directory_cache` --directory-cache in bytes (None: no
    bound), `lookup_timeout` the longest a by_id lookup is waited for."""

    def __init__(self, lock=None, refresh_time=15, directory_cache=None, lookup_timeout=REFRESH_WAIT):
        self.lock = lock if lock is not None else PlainLock()
        # Keeps the Keep signatures of loaded block tables fresh once
        # started (blocks/renewal.py).
        self.renewer = SignatureRenewer()
        self.inodes = Inodes(notifier=self._notify, tree_cache=TreeCache(directory_cache), renewer=self.renewer)
        self.kernel_cache = KernelCache(self.lock, refresh_time, self.inodes)
        self.refresher = Refresher(self.inodes, self.lock, self.kernel_cache, lookup_timeout)
        self.changes = Changes(self.inodes, self.lock, self.kernel_cache, self.refresher)

    def start(self, send_invalidation):
        """The mount is up: start the threads.  `send_invalidation(inode,
        name)` tells the kernel to forget (see KernelCache.start)."""
        self.kernel_cache.start(send_invalidation)
        self.refresher.start()
        self.renewer.start()

    def _notify(self, kind, *args):
        self.kernel_cache.notify(kind, *args)

    def stop(self):
        self.renewer.stop()
        self.refresher.stop()
        self.kernel_cache.stop()
