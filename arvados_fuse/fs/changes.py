"""Change events applied to the model: which directories go stale.

The inode table indexes directories by the uuids whose changes concern them
(the object, its owner; see Inodes).  An event marks those directories
stale, asks the kernel to drop their attributes, and reloads the ones with
loaded entries in the background: the kernel would otherwise take path walks
straight to old entries without asking us, and the reload tells it exactly
which names changed, so unchanged files keep their cached pages.
"""

from .directory import Directory
from .inodes import kind_key, trashed_key


class Changes(object):
    """The event listener's sink (api/events.EventListener).  Its methods
    run in the events thread and take the lock."""

    def __init__(self, inodes, lock, kernel_cache, refresher):
        self._inodes = inodes
        self._lock = lock
        self._kernel = kernel_cache
        self._refresher = refresher

    def on_change(self, change):
        keys = [change.uuid, *change.owners]
        if change.kind:
            # Tags and shares are links and groups seen from elsewhere: the
            # directories listing them subscribe to the kind.
            keys.append(kind_key(change.kind))
        if change.trashed_project:
            keys.append(trashed_key(change.uuid))
        with self._lock:
            self.invalidate_uuids(keys)

    def invalidate_uuids(self, uuids):
        """Mark every directory that shows one of `uuids` stale; how many.
        Caller holds the lock."""
        inodes = self._inodes.inodes_for_uuids(u for u in uuids if u)
        for inode in inodes:
            entry = self._inodes.get(inode)
            if isinstance(entry, Directory):
                self._invalidate(inode, entry)
        # A name created there (or in a collection's subdirectory) may be
        # cached by the kernel as missing.
        self._kernel.forget_negatives(inodes)
        return len(inodes)

    def _invalidate(self, inode, entry):
        entry.invalidate()
        self._kernel.forget_inode(inode)
        if entry.loaded():
            self._refresher.schedule(inode)

    def on_reconnect(self, replayed=False):
        """The stream is (re)established: anything may have changed while it
        was not listening, unless the server `replayed` every change since
        before the mount served anything."""
        with self._lock:
            self._inodes.events_live = True
            if replayed:
                return
            changed = []
            for inode, entry in self._mutable_directories():
                self._invalidate(inode, entry)
                changed.append(inode)
            self._kernel.forget_negatives(changed)

    def on_disconnect(self):
        """The stream is down: what the kernel was told it may cache until an
        event says otherwise must now follow --refresh-time.  Ask it to
        forget the names and attributes below every mutable directory; its
        next lookups get the short timeouts."""
        with self._lock:
            if not self._inodes.events_live:
                return
            self._inodes.events_live = False
            for inode, entry in self._mutable_directories():
                self._kernel.forget_inode(inode)
                for name, _child in entry.listing():
                    self._kernel.forget_entry(inode, name)

    def _mutable_directories(self):
        for inode in self._inodes.indexed_inodes():
            entry = self._inodes.get(inode)
            if isinstance(entry, Directory) and not entry.immutable():
                yield inode, entry
