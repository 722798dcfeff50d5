"""The names of the directories listed last, as the kernel will look them up.

`ls -l` lists a directory, then looks up every name it was given, as the
raw bytes the listing sent.  For the files of a FileTable (fs/filetable.py)
those lookups are answered from a dict {raw name: index} made when the
directory is opened for listing: one C-level hash lookup instead of a
decode and a search of the table's name strings (0.8 us of a 3 us lookup).

The dicts are bounded: a directory of more than LIMIT files gets none (its
lookups search the table), and once the dicts hold LIMIT names in all, the
oldest are dropped.  A directory of fewer than FEW files gets none either:
its one short string of names is searched about as fast as a dict, which
would cost more to make than it saves (a deep tree lists 10^5 directories
of one file).  They keep the listing's name bytes alive, so this
holds at most LIMIT names (~2 MiB of short names, ~6 MiB of 255-byte ones).
An index is only used while the directory still shows the very table it
was made for (identity), so a refresh or an eviction since never answers
with a stale index.

Guarded by the llfuse lock (only handlers use it).
"""

from collections import OrderedDict

LIMIT = 16384
FEW = 16


class ListedNames(object):
    __slots__ = ('by_inode', '_held')

    def __init__(self):
        # directory inode -> (directory, its FileTable, {raw name: index}),
        # oldest first (an OrderedDict: a dict's first item is slow to find
        # after many were popped from its front).  Read as it is by the
        # adapter's lookup (operations.py), which checks the table is still
        # the directory's.
        self.by_inode = OrderedDict()
        self._held = 0

    def remember(self, inode, directory, table, raws):
        """`raws`: the raw name of each file of `table`, `directory`'s files,
        in the table's order (None: a name the kernel is not shown)."""
        old = self.by_inode.pop(inode, None)
        if old is not None:
            self._held -= len(old[2])
        if not FEW <= len(raws) <= LIMIT:
            return
        index = dict(zip(raws, range(len(raws))))
        index.pop(None, None)
        while self.by_inode and self._held + len(index) > LIMIT:
            _inode, (_directory, _table, dropped) = self.by_inode.popitem(last=False)
            self._held -= len(dropped)
        self.by_inode[inode] = (directory, table, index)
        self._held += len(index)

    def __len__(self):
        return self._held
