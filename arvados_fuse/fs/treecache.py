"""--directory-cache: a bound on the memory held by loaded collection trees.

Every loaded collection reports an estimate of what its tree costs
(`tree_bytes()`).  Beyond the configured total, the least recently used
trees are unloaded: their entries are freed and the collection reloads when
it is next visited.  A tree the kernel still references (a dentry below it,
so also any open file or working directory in it) is never unloaded: the
kernel is first asked to forget it (an entry invalidation, which it honours
for whatever is not in use), and the tree goes when the kernel's FORGET
brings its reference count to zero.

Guarded by the llfuse lock, like the inode table that owns it.
"""

import collections
import logging
import time

_logger = logging.getLogger('arvados.arvados_fuse')

# Do not ask the kernel again, within this many seconds, to forget a tree it
# kept (it is in use: an open file, a working directory).
REASK_INTERVAL = 30


class TreeCache(object):
    def __init__(self, limit=None):
        # None: no bound (the model's tests, the seed's usage).
        self.limit = limit
        # collection directory -> bytes, least recently used first.
        self._trees = collections.OrderedDict()
        self._total = 0
        self._asked = {}  # collection directory -> when the kernel was asked to forget it
        self.unloads = 0

    @property
    def total(self):
        return self._total

    def __len__(self):
        return len(self._trees)

    def loaded(self, collection, inodes):
        """`collection` (re)loaded its tree: account for it, most recent."""
        self._total -= self._trees.pop(collection, 0)
        size = collection.tree_bytes()
        self._trees[collection] = size
        self._total += size
        self._asked.pop(collection, None)
        self.shrink(inodes, keep=collection)

    def touched(self, collection):
        if collection in self._trees:
            self._trees.move_to_end(collection)

    def dropped(self, collection):
        """Its tree is gone (unloaded, replaced by nothing, or freed)."""
        self._total -= self._trees.pop(collection, 0)
        self._asked.pop(collection, None)

    def forgotten(self, collection, inodes):
        """The kernel no longer references `collection`: unload it now if
        the cache is over its bound."""
        if self.limit is not None and self._total > self.limit and collection in self._trees:
            self._unload(collection, inodes)

    def shrink(self, inodes, keep=None):
        if self.limit is None or self._total <= self.limit:
            return
        now = time.time()
        for collection in list(self._trees):
            if self._total <= self.limit:
                break
            if collection is keep:
                continue
            if not inodes.referenced(collection.inode):
                self._unload(collection, inodes)
            elif now - self._asked.get(collection, 0) > REASK_INTERVAL:
                self._asked[collection] = now
                _logger.debug('directory cache: %s is in use; asking the kernel to let it go', collection.describe())
                collection.ask_kernel_to_forget()

    def _unload(self, collection, inodes):
        _logger.debug('directory cache: unloading %s (%d bytes; %d of %d bytes in use)',
                      collection.describe(), self._trees.get(collection, 0), self._total, self.limit)
        self.unloads += 1
        self.dropped(collection)
        collection.unload()
