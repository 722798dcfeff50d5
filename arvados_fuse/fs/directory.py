"""The directory base class and the seed's `merge`.

Every directory refreshes in two steps so that the network is never touched
while the llfuse lock is held:

    snapshot = directory.fetch()     # network only; mutates nothing shared
    directory.apply(snapshot)        # no network; builds entries, under the lock

`fs/refresh.Refresher` runs `fetch` with the lock released and `apply`
with it held.  `update()` (the seed's name) does both in one call for code that runs
without a kernel, such as the model's own tests.
"""

import logging
import stat
import time
import types

from .files import ObjectFile
from .fresh import DEFAULT_POLL_TIME, FreshBase

# Misses remembered before the expired ones are pruned.
MISSES_PRUNE_AT = 1024

_logger = logging.getLogger('arvados.arvados_fuse')

DIR_MODE = 0o555

# The misses and names-checked of a directory that has none (most): read,
# never written (note_missing and name_checked replace it first).
NO_NAMES = types.MappingProxyType({})


class Directory(FreshBase):
    """Generic directory: `_entries` maps a name to a File or Directory."""

    # A hidden file holding the directory's API record as sorted, indented
    # JSON: looked up by this name, never listed.  None: no such file.
    record_file_name = None

    # Whether to remember names looked up in vain, until the next refresh
    # and for at most the poll time, so that a missing name (a typo, a shell
    # probing for files) costs no API call each time.
    remember_misses = False
    # Whether a lookup of a missing name may answer before its fetch ends
    # (by_id: see pending.py).
    answers_lookups_later = False

    # Slots (see fresh.py), plus a __dict__ made only when something sets
    # an attribute of its own: the seed's users may.
    __slots__ = ('inode', 'parent_inode', 'inodes', 'detached', '_entries', '_mtime', 'record_file', '_misses',
                 '_names_checked', '__dict__', '__weakref__')

    def __init__(self, parent_inode, inodes=None):
        super(Directory, self).__init__()
        self.inode = None
        if not isinstance(parent_inode, int):
            raise Exception("parent_inode should be an int")
        self.parent_inode = parent_inode
        self.inodes = inodes
        # Set by the inode table when the directory is removed from its
        # parent: it is then empty for good and never refreshed again.
        self.detached = False
        # _entries, _misses, record_file, _mtime and the freshness state are
        # guarded by the llfuse lock: only apply()/apply_missing() and other
        # code run with it held may change them, never fetch().
        self._entries = {}
        self._mtime = time.time()
        self.record_file = None
        # name -> when it was looked up in vain; name -> when it was last
        # looked up alone.  NO_NAMES (shared, never written) until one is.
        self._misses = NO_NAMES
        self._names_checked = NO_NAMES

    # -- refresh protocol ------------------------------------------------
    def fetch(self):
        """Load what the directory should contain.  Network allowed; must not
        change shared state.  Returns a snapshot for `apply`."""
        return None

    def apply(self, snapshot):
        """Make the entries match `snapshot`.  No network."""
        self.fresh()

    def update(self):
        self.apply(self.fetch())

    def checkupdate(self):
        if self.stale():
            try:
                self.update()
            except Exception as e:
                _logger.warning('could not refresh %s: %s', self.describe(), e)

    def describe(self):
        return type(self).__name__

    def loaded(self):
        """True once the directory has been filled at least once."""
        return self._loaded_once

    # -- names that are not listed but can be looked up (by_id) ----------
    def fetch_missing(self, name):
        """Network half of looking up a name absent from `_entries`.
        Returns a snapshot for `apply_missing`, or None: no such name."""
        return None

    def apply_missing(self, name, snapshot):
        return None

    def known_missing(self, name):
        when = self._misses.get(name)
        return when is not None and time.time() - when < self._poll_time

    def note_missing(self, name):
        if self.remember_misses:
            now = time.time()
            # by_id is never stale, so never fresh(): without this, every
            # name ever missed there would be kept for the mount's life.
            if len(self._misses) >= MISSES_PRUNE_AT or self._misses is NO_NAMES:
                self._misses = {n: t for n, t in self._misses.items() if now - t < self._poll_time}
            self._misses[name] = now

    def drop_gone(self, entry):
        """`entry`, a child, was found deleted (or no longer readable).
        True if this directory removed it (by_id, whose names are only what
        was looked up); False: the child empties itself instead, until this
        directory's own listing drops it."""
        return False

    def fresh(self):
        self._misses = self._names_checked = NO_NAMES
        super(Directory, self).fresh()

    def invalidate(self):
        self._misses = self._names_checked = NO_NAMES
        super(Directory, self).invalidate()

    def _polling(self):
        # While the event stream is connected, every change reaches us as an
        # event (which invalidates): nothing goes stale by time alone.
        return self._poll and not self.inodes.events_live

    # -- names looked up alone (projects) ---------------------------------
    # A directory whose class sets answers_names can answer a lookup of one
    # name with a query for that name alone (fetch_name/apply_name),
    # instead of listing everything it holds.
    answers_names = False

    def wants_name_check(self, name):
        """Whether a lookup of `name` must ask the server: the directory is
        not listed (or stale), and the name was not asked for since."""
        if self.loaded() and not self.stale():
            return False
        when = self._names_checked.get(name)
        return when is None or (self._polling() and when + self._poll_time < time.time())

    def fetch_name(self, name):
        """Network half of looking up `name` alone: a snapshot for
        apply_name."""
        raise NotImplementedError

    def apply_name(self, name, snapshot):
        """The entry `name` now stands for (or None), from `snapshot`."""
        raise NotImplementedError

    def name_checked(self, name):
        if len(self._names_checked) >= MISSES_PRUNE_AT or self._names_checked is NO_NAMES:
            self._names_checked = {}
        self._names_checked[name] = time.time()

    def merge_name(self, name, items, fn, same, new_entry):
        """As merge, for the one name `name`: `items` are every item that
        may have it, in priority order.  Returns its entry, or None."""
        clean = self.inodes.name_rule.clean
        winner = next((i for i in items if clean(fn(i)) == name), None)
        old = self._entries.get(name)
        if winner is not None and old is not None and same(old, winner):
            return old
        ent = new_entry(winner) if winner is not None else None
        if old is not None:
            del self._entries[name]
            self.inodes.remove_name(self.inode, name, old)
        if ent is not None:
            self._entries[name] = self.inodes.add_entry(ent)
        if ent is not None or old is not None:
            self._mtime = time.time()
        return ent

    # -- access without refresh (what the adapter uses) ------------------
    def unrefreshed_entry(self, name):
        """A hidden entry that needs no refresh of this directory to be
        looked up (a collection's `.arvados#versions`), or None."""
        return None

    def entry(self, name):
        if name is not None and name == self.record_file_name:
            if self.record_file is None:
                self.record_file = self.inodes.add_entry(self.make_record_file())
            return self.record_file
        return self._entries.get(name)

    def record_object(self):
        """The API record shown in the record file."""
        return {}

    def make_record_file(self):
        return ObjectFile(self.inode, self.record_object())

    def refresh_record_file(self):
        """After a reload: the record file shows the new record under a
        new inode, made at the next lookup.  New text of another length in
        the same inode is not safe: the kernel keeps a file's pages across
        opens and drops them only when our (asynchronous) invalidation
        arrives, so a getattr answered first gave the old pages the new
        size (old JSON padded with NULs, or cut short).  A new inode has no
        old pages; the old one keeps its text until the kernel forgets it,
        and the kernel is told to drop the name."""
        old = self.record_file
        if old is None:
            return
        self.record_file = None
        self.inodes.remove_name(self.inode, self.record_file_name, old)

    def special_entries(self):
        """Entries not in `_entries` that die with this directory."""
        return [self.record_file] if self.record_file is not None else []

    def listing(self):
        return list(self._entries.items())

    def kernel_listing(self):
        """(name, inode, is_dir) of every entry, in name order: what the
        adapter lists to the kernel.  is_dir None or DIRECTORY_ROW: a file
        or a directory that is a row of a table (rowtable.py), whose number
        stays valid while it is listed."""
        return sorted((name, e.inode, isinstance(e, Directory)) for name, e in self.listing())

    def name_of(self, entry):
        """The name `entry` has here, or None."""
        for name, e in self._entries.items():
            if e is entry:
                return name
        return None

    def take_children(self):
        """Remove and return every child (the inode table detaches them)."""
        children = self._entries
        self._entries = {}
        return children

    # -- the seed's accessors: refresh first ------------------------------
    def __getitem__(self, item):
        hidden = self.unrefreshed_entry(item)
        if hidden is not None:
            return hidden
        self.checkupdate()
        if item is not None and item == self.record_file_name:
            return self.entry(item)
        return self._entries[item]

    def items(self):
        self.checkupdate()
        return self._entries.items()

    def __iter__(self):
        self.checkupdate()
        return iter(list(self._entries))

    def __contains__(self, k):
        if k is not None and k == self.record_file_name:
            return True
        if self.unrefreshed_entry(k) is not None:
            return True
        self.checkupdate()
        return self._shows(k)

    def _shows(self, name):
        """Whether `name` is one of its (refreshed) entries."""
        return name in self._entries

    def merge(self, items, fn, same, new_entry):
        """Make the entries match `items`, keeping entries that are `same`.

        items: the new contents, in priority order: when two items get the
          same name, the first one wins and the later ones are left out
          (logged), so the result does not depend on chance.
        fn: item -> name, or None to skip the item.
        same: (existing entry, item) -> True to keep the existing entry.
        new_entry: item -> new File/Directory (or None to skip).
        """
        oldentries = self._entries
        self._entries = {}
        changed = False
        clean = self.inodes.name_rule.clean
        for i in items:
            name = clean(fn(i))
            if not name:
                continue
            if name in self._entries:
                _logger.info('%s: name %r is taken by an earlier entry; left out', self.describe(), name)
                continue
            if name in oldentries and same(oldentries[name], i):
                self._entries[name] = oldentries.pop(name)
            else:
                ent = new_entry(i)
                if ent is not None:
                    self._entries[name] = self.inodes.add_entry(ent)
                    changed = True
        for name, ent in oldentries.items():
            self.inodes.remove_name(self.inode, name, ent)
            changed = True
        if changed:
            self._mtime = time.time()
        self.fresh()
        return changed

    def clear(self):
        """Delete all entries (and, through the inode table, their
        children); stale until filled again."""
        self.remove_entries()
        self.invalidate()

    def remove_entries(self):
        """Delete all entries, for a refresh that fills it anew."""
        oldentries = self._entries
        self._entries = {}
        for name, ent in oldentries.items():
            self.inodes.remove_name(self.inode, name, ent)

    # -- attributes --------------------------------------------------------
    def size(self):
        return 0

    def mtime(self):
        return self._mtime

    def st_mode(self):
        return stat.S_IFDIR | DIR_MODE

    def xattrs(self):
        return {}

    def immutable(self):
        """True when the contents can never change (a PDH collection)."""
        return False

    def want_event_subscribe(self):
        return False

    def event_uuids(self):
        """Object uuids whose change events should invalidate this dir."""
        return ()

    def attached(self):
        """Called by the inode table once the directory has its inode
        number: the place for entries a directory makes of its own."""
        pass

    def release(self):
        """Called when the inode is finally freed."""
        pass


class ListedDirectory(Directory):
    """A directory the API lists whole (by_tag, users): it goes stale after
    `poll_time` while the event stream is down, and on the change events
    its `event_uuids` name.  `filters`: --filters."""

    def __init__(self, parent_inode, inodes, api, num_retries, poll_time=DEFAULT_POLL_TIME, *, filters=None):
        super(ListedDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self._poll = True
        self._poll_time = poll_time
        self._filters = filters or []

    def want_event_subscribe(self):
        return True
