"""The inode table: numbers the kernel uses -> file and directory objects.

An entry removed from its directory is only *detached*; it stays in the table
until the kernel has forgotten every reference it was given (lookup counts),
so a process that still holds it open or cached never sees EIO or a reused
number.  Guarded by the llfuse lock (every caller holds it)."""

import itertools
import logging

_logger = logging.getLogger('arvados.arvados_fuse')

ROOT_INODE = 1  # == llfuse.ROOT_INODE; kept here so the model needs no llfuse


class Inodes(object):
    """Maps inode numbers to entries; counts kernel references."""

    def __init__(self, notifier=None):
        self._entries = {}
        self._lookups = {}
        self._detached = set()
        self._counter = itertools.count(ROOT_INODE)
        # object uuid -> inodes of the directories that show it, so a change
        # event finds them without scanning a table that can hold millions
        # of files.
        self._by_uuid = {}
        # notifier(kind, *args) forwards invalidations to the kernel; None
        # when no kernel is attached (tests of the model).
        self.notifier = notifier

    def __getitem__(self, item):
        return self._entries[item]

    # __setitem__ and items are the seed's public interface (arv-mount itself
    # never calls them; add_entry is how entries get in).
    def __setitem__(self, key, item):
        self._entries[key] = item

    def __iter__(self):
        return iter(list(self._entries))

    def __len__(self):
        return len(self._entries)

    def items(self):
        return list(self._entries.items())

    def get(self, inode, default=None):
        return self._entries.get(inode, default)

    def __contains__(self, k):
        return k in self._entries

    def add_entry(self, entry):
        entry.inode = next(self._counter)
        self._entries[entry.inode] = entry
        for uuid in _event_uuids(entry):
            self._by_uuid.setdefault(uuid, set()).add(entry.inode)
        entry.attached()
        return entry

    def indexed_inodes(self):
        """Every directory that listens for change events."""
        found = set()
        for holders in self._by_uuid.values():
            found.update(holders)
        return sorted(found)

    def inodes_for_uuids(self, uuids):
        """Inodes of the directories that show any of `uuids`."""
        found = set()
        for uuid in uuids:
            found.update(self._by_uuid.get(uuid, ()))
        return sorted(found)

    def del_entry(self, entry):
        """Detach `entry` and everything below it: each is freed now if the
        kernel holds no reference to it, otherwise when it forgets the last.
        A detached directory is emptied and marked `detached`, so a process
        still inside it sees an empty directory that never refreshes (its
        object was deleted or replaced) instead of dead inode numbers."""
        if entry.inode is None or entry.inode not in self._entries:
            return
        take = getattr(entry, 'take_children', None)
        children = take() if take is not None else None
        if children:
            for child in children.values():
                self.del_entry(child)
        for child in getattr(entry, 'special_entries', list)():
            self.del_entry(child)
        entry.detached = True
        self.notify('inode', entry.inode)
        if self._lookups.get(entry.inode, 0) > 0:
            self._detached.add(entry.inode)
        else:
            self._free(entry.inode)

    def is_detached(self, inode):
        return inode in self._detached

    def remember(self, inode):
        """The kernel was handed a reference (lookup)."""
        self._lookups[inode] = self._lookups.get(inode, 0) + 1

    def forget(self, inode, nlookup):
        n = self._lookups.get(inode, 0) - nlookup
        if n > 0:
            self._lookups[inode] = n
            return
        self._lookups.pop(inode, None)
        if inode in self._detached:
            self._free(inode)

    def _free(self, inode):
        self._detached.discard(inode)
        self._lookups.pop(inode, None)
        entry = self._entries.pop(inode, None)
        if entry is None:
            return
        for uuid in _event_uuids(entry):
            holders = self._by_uuid.get(uuid)
            if holders is not None:
                holders.discard(inode)
                if not holders:
                    del self._by_uuid[uuid]
        if hasattr(entry, 'release'):
            entry.release()

    def notify(self, kind, *args):
        if self.notifier is not None:
            try:
                self.notifier(kind, *args)
            except Exception as e:
                _logger.debug('kernel invalidation failed: %s', e)


def kind_key(kind):
    """The index key of every change to objects of `kind` (e.g.
    'arvados#link'), for directories that list such objects by other
    attributes than their owner."""
    return 'kind:' + kind


def _event_uuids(entry):
    get = getattr(entry, 'event_uuids', None)
    return [u for u in get() if u] if get is not None else ()
