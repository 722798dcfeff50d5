"""The names of the directories listed last, as the kernel will look them up.

`ls -l` lists a directory, then looks up every name it was given, as the
raw bytes the listing sent.  For the rows of a collection's directory
(fs/subdirs.py: its files and subdirectories) those lookups are answered
from a dict {raw name: row} made when the directory is opened for
listing: one C-level hash lookup instead of the handler's way, which
decodes the name and searches the table's name strings (a file), or asks
the directory's entry for it (a subdirectory).  In process
(bench/handlers.py), a listed file's lookup went from 3.1 to 1.6-1.7 us
(packed 10^5), and a deep tree's lookups from 6.7 to 3.7-3.8 us once
subdirectories were indexed too.  A `Listed` keeps what those lookups
need besides (the slot where the directory keeps what it shows, the
parts of its rows, the files' sizes once asked), so the adapter answers
one with no call but the collection's mtime, a timeout and the lookup
count, its attributes made in the handler's own frame: bench/handlers.py
--shapes empty --files 10000, warm, 2.36-2.54 -> 1.45-1.47 us per lookup
(the floor's 0.76-0.84) when that was first done.

The dicts are bounded: a directory of more than LIMIT entries gets none
(its lookups take the handler's way), and once the dicts hold LIMIT names
in all, the oldest are dropped.  A directory of fewer than FEW files and
no subdirectory (one file: most of a deep tree's) gets none either:
making the dict costs more than it saves (deep 10^5 in process,
bench/handlers.py --shapes deep --runs 3 on 59710c8 with FEW = 2, then
1: 11.0 -> 14.3 us per directory cold, 2.78 -> 1.98 us per lookup, 1.9
lookups a directory); the adapter's lookup finds such a
file from its table in the same frame.  They keep the listing's name bytes alive,
so this holds at most LIMIT names (~2 MiB of short names, ~6 MiB of
255-byte ones).  An index is only used while the directory still shows the
very rows it was made for (identity), so a refresh or an eviction since
never answers with a stale index.

Guarded by the llfuse lock (only handlers use it).
"""

from collections import OrderedDict
from operator import invert

from .fs.subdirs import parts

LIMIT = 16384
FEW = 2


class Listed(object):
    """One listed directory, as its lookups need it: `index` {raw name:
    row} (a file's index in `files`, ~index of a subdirectory in
    `subdirs`); `rows`, what the directory showed, checked before each use
    in `slot` (the list and index where a subdirectory keeps what it shows:
    Entry.state_slot) or by asking `directory` (Entry.ready_rows); `sizes`
    of the files once a lookup asked for one (FileTable.sizes)."""

    __slots__ = ('directory', 'slot', 'at', 'rows', 'index', 'subdirs', 'files', 'sizes', 'tree')

    def __init__(self, directory, slot, rows, index):
        self.directory = directory
        self.slot, self.at = slot if slot is not None else (None, None)
        self.rows = rows
        self.index = index
        self.subdirs, self.files = parts(rows)
        self.sizes = None
        self.tree = (self.files or self.subdirs).tree

    def current(self):
        """Whether the directory still shows the rows it was listed with."""
        slot = self.slot
        if slot is None:
            return self.directory.ready_rows() is self.rows
        return slot[self.at] is self.rows


class ListedNames(object):
    __slots__ = ('by_inode', '_held')

    def __init__(self):
        # directory inode -> Listed, oldest first (an OrderedDict: a dict's
        # first item is slow to find after many were popped from its
        # front).  Read as it is by the adapter's lookup (operations.py),
        # which checks the directory still shows the same rows.
        self.by_inode = OrderedDict()
        self._held = 0

    def remember(self, inode, directory, rows, raws, names=None, slot=None):
        """`rows`: what `directory` shows (Entry.ready_rows); `raws`: the
        raw name of each row in the order of its one table, or, when it
        shows files and subdirectories, of each of `names`, its kernel
        listing (None: a name the kernel is not shown).  `slot`: its
        Entry.state_slot() if known (then `directory` may be None)."""
        old = self.by_inode.pop(inode, None)
        if old is not None:
            self._held -= len(old.index)
        if not raws or len(raws) > LIMIT:
            return
        subdirs, files = parts(rows)
        if subdirs is None and len(raws) < FEW:
            return
        if subdirs is None:
            index = dict(zip(raws, range(len(raws))))  # the files, in the table's order
        elif files is None:
            index = dict(zip(raws, map(invert, range(len(raws)))))
        else:
            base = subdirs.base
            index = {raw: ~(child - base) if is_dir is not None else child - files.base
                     for (_name, child, is_dir), raw in zip(names, raws)}
        index.pop(None, None)
        while self.by_inode and self._held + len(index) > LIMIT:
            _inode, dropped = self.by_inode.popitem(last=False)
            self._held -= len(dropped.index)
        if slot is None:
            slot = directory.state_slot()
        self.by_inode[inode] = Listed(directory, slot, rows, index)
        self._held += len(index)

    def __len__(self):
        return self._held
