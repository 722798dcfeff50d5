"""The inode table: numbers the kernel uses -> file and directory objects.

An entry removed from its directory is only *detached*; it stays in the table
until the kernel has forgotten every reference it was given (lookup counts),
so a process that still holds it open or cached never sees EIO or a reused
number.  The files and subdirectories of a collection's directory are not
entries here but rows of tables (rowtable.py), each holding a range of
numbers.  Guarded by
the llfuse lock (every caller holds it)."""

import bisect
import logging
import time

from ..blocks.renewal import SignatureRenewer
from .names import NameRule
from .treecache import TreeCache

_logger = logging.getLogger('arvados.arvados_fuse')

ROOT_INODE = 1  # == llfuse.ROOT_INODE; kept here so the model needs no llfuse

# Seconds after its removal (and then after each retry) at which the name of
# an entry the kernel still holds is invalidated again (see remove_name).
REINVALIDATE_AFTER = (2, 10, 60, 600)


class Inodes(object):
    """Maps inode numbers to entries; counts kernel references."""

    def __init__(self, notifier=None, tree_cache=None, renewer=None):
        self._entries = {}
        # The kernel's reference count of each entry is its `nlookup`
        # (not a dict here: 10^6 looked-up files would cost ~50 MB more).
        self._detached = set()
        self._next = ROOT_INODE
        # Row tables by the first inode number of their range (ranges are
        # handed out in increasing order, so the list stays sorted): a
        # number is found by bisection.  _live_files: rows of the tables
        # no directory has let go of; _detached_held: rows of detached
        # tables the kernel still holds (a detached table stays registered
        # whole while it holds any, but only those rows count as entries).
        self._table_bases = []
        self._tables = []
        # The table table_of found last: a walk asks for the rows of one
        # table again and again (a deep tree's ten subdirectories, each
        # opened and its file looked up), and a bisection of 10^5 bases,
        # each an int object elsewhere in memory, is some 34 cache misses
        # in a daemon whose cache the kernel's work between two requests
        # has emptied.  Never a detached table (checked), and forgotten
        # when a table is unregistered, so as not to keep it alive.
        self._last_table = None
        self._live_files = 0
        self._detached_held = 0
        # object uuid -> inodes of the directories that show it, so a change
        # event finds them without scanning a table that can hold millions
        # of files.
        self._by_uuid = {}
        # notifier(kind, *args) forwards invalidations to the kernel; None
        # when no kernel is attached (tests of the model).
        self.notifier = notifier
        # Loaded collection trees, bounded by --directory-cache (unbounded
        # unless the command sets a limit).
        self.tree_cache = tree_cache if tree_cache is not None else TreeCache()
        # Keeps the Keep signatures of loaded block tables fresh once the
        # mount starts it (renewal.py); idle otherwise.
        self.renewer = renewer if renewer is not None else SignatureRenewer()
        # True while the event stream is connected (fs/changes.py): then
        # nothing goes stale by time alone.
        self.events_live = False
        # How the names of objects are shown (the cluster's
        # ForwardSlashNameSubstitution, set when the mount is built).
        self.name_rule = NameRule()
        # inode of a removed entry the kernel still held -> [parent inode,
        # name, when to invalidate the name again, retries so far].
        self._removed = {}

    def __getitem__(self, item):
        entry = self.get(item)
        if entry is None:
            raise KeyError(item)
        return entry

    # __setitem__ and items are the seed's public interface (arv-mount itself
    # never calls them; add_entry is how entries get in).
    def __setitem__(self, key, item):
        self._entries[key] = item

    def __iter__(self):
        return iter(list(self._entries))

    def __len__(self):
        return len(self._entries) + self._live_files + self._detached_held

    def items(self):
        return list(self._entries.items())

    def get(self, inode, default=None):
        entry = self._entries.get(inode)
        if entry is not None:
            return entry
        table = self.table_of(inode)
        if table is None:
            return default
        return table.entry_at(inode - table.base)

    def objects(self):
        """{inode: entry} of the entries kept as objects (not rows): the
        dict itself, for the adapter's one-frame handlers to read."""
        return self._entries

    def __contains__(self, k):
        return k in self._entries or self.table_of(k) is not None

    def table_of(self, inode):
        """The row table holding `inode` (a row the kernel may still use:
        in a detached table, only those it holds), or None."""
        bases = self._table_bases
        if not bases or not isinstance(inode, int):
            return None
        table = self._last_table
        if table is not None and 0 <= inode - table.base < len(table) and not table.detached:
            return table
        at = bisect.bisect_right(bases, inode) - 1
        if at < 0:
            return None
        table = self._tables[at]
        i = inode - table.base
        if i >= len(table) or (table.detached and not table.count(i)):
            return None
        self._last_table = table
        return table

    def add_rows(self, table):
        """Give the rows of `table` their inode numbers."""
        table.base = self._next
        self._next += len(table)
        self._table_bases.append(table.base)
        self._tables.append(table)
        self._live_files += table.live_rows()
        return table

    def rows_added(self, table, count):
        """`count` more rows of `table` are entries (fs/leaves.py)."""
        if not table.detached:
            self._live_files += count

    def drop_rows(self, table, notify=True):
        """No directory shows the rows of `table` any more, nor anything
        below them: the kernel is told to drop those it holds (each under
        the directory it is in: parent_of), which stay until it forgets
        them, as del_entry keeps entries (a directory among them is empty
        from now on); the others are gone now."""
        stack = [table]
        gone = []
        while stack:
            table = stack.pop()
            if table.detached or table.base is None:
                continue
            table.detached = True
            self._live_files -= table.live_rows()
            self._detached_held += table.held
            held = table.held_names()
            if notify:
                for i, name in held:
                    inode = table.base + i
                    parent = table.parent_of(i)
                    self.notify('entry', parent, name)
                    self.notify('inode', inode)
                    self._reinvalidate_later(parent, name, inode)
            stack.extend(table.take_below())
            if not held:
                gone.append(table)
        if len(gone) < 64:
            for table in gone:
                self._unregister(table)
            return
        # A whole tree (10^5 tables for a deep one): one pass, not a list
        # deletion (a move of the rest of the list) per table.
        gone = set(map(id, gone))
        kept = [table for table in self._tables if id(table) not in gone]
        self._last_table = None
        self._tables = kept
        self._table_bases = [table.base for table in kept]

    def _unregister(self, table):
        if table is self._last_table:
            self._last_table = None
        at = bisect.bisect_left(self._table_bases, table.base)
        if at < len(self._tables) and self._tables[at] is table:
            del self._table_bases[at]
            del self._tables[at]

    def add_entry(self, entry):
        entry.inode = self._next
        self._next += 1
        self._entries[entry.inode] = entry
        self._index(entry, _event_uuids(entry))
        entry.attached()
        return entry

    def rewatch(self, entry, owner):
        """A by_id object now belongs to `owner`: hear of that project's
        trashing instead of the old one's (see byid.py)."""
        if entry.owner_watch == owner or entry.inode not in self._entries:
            return
        self._unindex(entry.inode, _event_uuids(entry))
        entry.owner_watch = owner
        self._index(entry, _event_uuids(entry))

    def _index(self, entry, uuids):
        by_uuid = self._by_uuid
        for uuid in uuids:
            # One holder (the usual case) is an int, several a set: a set
            # per listed collection would cost 200 bytes each.
            held = by_uuid.get(uuid)
            if held is None:
                by_uuid[uuid] = entry.inode
            elif type(held) is int:
                by_uuid[uuid] = {held, entry.inode}
            else:
                held.add(entry.inode)

    def _unindex(self, inode, uuids):
        by_uuid = self._by_uuid
        for uuid in uuids:
            held = by_uuid.get(uuid)
            if held == inode:
                del by_uuid[uuid]
            elif held is not None and type(held) is not int:
                held.discard(inode)
                if len(held) == 1:
                    by_uuid[uuid] = next(iter(held))

    def _holders(self, uuid):
        held = self._by_uuid.get(uuid, ())
        return (held,) if type(held) is int else held

    def indexed_inodes(self):
        """Every directory that listens for change events."""
        found = set()
        for uuid in self._by_uuid:
            found.update(self._holders(uuid))
        return sorted(found)

    def inodes_for_uuids(self, uuids):
        """Inodes of the directories that show any of `uuids`."""
        found = set()
        for uuid in uuids:
            found.update(self._holders(uuid))
        return sorted(found)

    def del_entry(self, entry, notify=True):
        """Detach `entry` and everything below it: each is freed now if the
        kernel holds no reference to it, otherwise when it forgets the last.
        A detached directory is emptied and marked `detached`, so a process
        still inside it sees an empty directory that never refreshes (its
        object was deleted or replaced) instead of dead inode numbers.
        notify=False: the kernel is known to hold nothing below `entry`, so
        telling it about each of (maybe 10^6) inodes would be wasted."""
        if entry.inode is None or entry.inode not in self._entries:
            return
        for table in entry.take_rows():
            self.drop_rows(table, notify)
        children = entry.take_children()
        if children:
            for name, child in children.items():
                self.del_entry(child, notify)
                if notify and child.inode in self._detached:
                    self._reinvalidate_later(entry.inode, name, child.inode)
        for child in entry.special_entries():
            self.del_entry(child, notify)
        entry.detached = True
        if notify:
            self.notify('inode', entry.inode)
        if entry.nlookup > 0:
            self._detached.add(entry.inode)
        else:
            self._free(entry.inode)

    def live_count(self):
        """Entries in the tree (not counting detached ones the kernel has
        yet to forget)."""
        return len(self._entries) - len(self._detached) + self._live_files

    def remove_name(self, parent_inode, name, entry):
        """`name` in directory `parent_inode` no longer shows `entry`: tell
        the kernel and detach the entry.  If the kernel still holds it or
        anything below it, those names are invalidated again later
        (REINVALIDATE_AFTER, through `reinvalidate`).  The kernel drops an
        invalidated directory's unused names with it, but one in use at
        that moment (a file being read) stays cached when its use ends,
        and keeps its unhashed parent, until memory runs short: under
        churn that left a few hundred detached entries a minute in the
        table.  Invalidating that name again, under the detached parent's
        inode, lets both go."""
        self.notify('entry', parent_inode, name)
        self.del_entry(entry)
        if entry.inode in self._detached:
            self._reinvalidate_later(parent_inode, name, entry.inode)

    def _reinvalidate_later(self, parent_inode, name, inode):
        self._removed[inode] = [parent_inode, name, time.monotonic() + REINVALIDATE_AFTER[0], 0]

    def reinvalidation_pending(self):
        return bool(self._removed)

    def reinvalidate(self, now=None):
        """Invalidate again the names of removed entries the kernel still
        holds, when due (see remove_name).  Caller holds the llfuse lock."""
        now = time.monotonic() if now is None else now
        for inode, rec in list(self._removed.items()):
            if not self.is_detached(inode):
                del self._removed[inode]
                continue
            if now < rec[2]:
                continue
            self.notify('entry', rec[0], rec[1])
            rec[3] += 1
            if rec[3] >= len(REINVALIDATE_AFTER):
                del self._removed[inode]
            else:
                rec[2] = now + REINVALIDATE_AFTER[rec[3]]

    def is_detached(self, inode):
        if inode in self._detached:
            return True
        table = self.table_of(inode)
        return table is not None and table.detached

    def remember(self, inode):
        """The kernel was handed a reference (lookup)."""
        self.remember_entry(self[inode])

    def remember_entry(self, entry):
        """The kernel was handed a reference to `entry` (lookup)."""
        table = entry.row_table
        if table is None:
            entry.nlookup += 1
        elif table.detached:
            held = table.held
            table.remember(entry.index)
            self._detached_held += table.held - held
        else:
            table.remember(entry.index)

    def referenced(self, inode):
        """Whether the kernel may still use `inode` (and so anything below
        it: a dentry pins its parent)."""
        if inode == ROOT_INODE:
            return True
        entry = self._entries.get(inode)
        if entry is None:
            table = self.table_of(inode)
            return table is not None and table.count(inode - table.base) > 0
        return entry.nlookup > 0

    def forget(self, inode, nlookup):
        entry = self._entries.get(inode)
        if entry is None:
            table = self.table_of(inode)
            if table is not None:
                if not table.detached:
                    table.forget(inode - table.base, nlookup)
                    return
                held = table.held
                table.forget(inode - table.base, nlookup)
                self._detached_held -= held - table.held
                if not table.held:
                    self._unregister(table)  # its reinvalidations lapse (reinvalidate)
            return
        n = entry.nlookup - nlookup
        if n > 0:
            entry.nlookup = n
            return
        entry.nlookup = 0
        if inode in self._detached:
            self._free(inode)
            return
        entry.kernel_forgot()

    def _free(self, inode):
        self._detached.discard(inode)
        self._removed.pop(inode, None)
        entry = self._entries.pop(inode, None)
        if entry is None:
            return
        self._unindex(inode, _event_uuids(entry))
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


def trashed_key(owner_uuid):
    """The index key of the event that trashes (or deletes) the project
    `owner_uuid`: its contents become unreadable with no event of their own."""
    return 'trashed:' + owner_uuid


def _event_uuids(entry):
    found = entry.event_uuids()
    # by_id's objects also hear of their project's trashing (see byid.py).
    owner = entry.owner_watch
    if not found and not owner:
        return ()  # most entries (a collection's subdirectories: 10^5 of them)
    uuids = [u for u in found if u]
    if owner:
        uuids.append(trashed_key(owner))
    return uuids
