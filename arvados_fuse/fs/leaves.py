"""The one files of a deep tree's directories, kept in their parent's
table instead of a table each.

Most directories of a deep tree hold one file (a sample's directory and
its one result).  A table of its own for that file (filetable.py) cost
some 190 bytes besides the segment: the table object, its inode number,
its parent's, and its place in the inode table's list of tables; at 10^6
such directories, 190 MB of the mount's memory.  Here the one files of
the rows of a SubdirTable (subdirs.py) are rows of one `LeafFiles` of as
many rows, made when the first of them is built: row i of the LeafFiles
is the file of row i of the SubdirTable, so it costs its name, its
segment and a lookup count.  The directory shows a `Leaf`, a view of one
row made when a request needs it, with the interface of a table of one
file.

Guarded by the llfuse lock, like the inode table.
"""

import sys

from ..blocks.manifest import size_of
from .files import CollectionFile
from .rowtable import RowTable

# The state (subdirs.py) of a row of a SubdirTable whose one file is in its
# table's LeafFiles.
LEAF = 'leaf'


class LeafFiles(RowTable):
    """Row i: the one file of row i of `subdirs`, once that row is built
    as a directory of one file (`add`); None until then."""

    __slots__ = ('subdirs', 'file_names', 'segs', 'filled')

    def __init__(self, subdirs):
        count = len(subdirs)
        # Not RowTable's: its names are not one directory's.
        self._count = count
        self._names = None
        self.tree = subdirs.tree
        self.parent_inode = None  # each row's is its own (parent_of)
        self.base = None
        self.nlookup = None
        self.held = 0
        self.detached = False
        self.subdirs = subdirs
        self.file_names = [None] * count
        self.segs = [None] * count
        self.filled = 0

    def add(self, i, name, segment):
        """Row i is `name`, one file of packed `segment` (manifest.py)."""
        self.file_names[i] = sys.intern(name)  # the same few names in every directory, often
        self.segs[i] = segment
        self.filled += 1
        self.tree.collection.inodes.rows_added(self, 1)

    def fill(self, ones, bad_name, sanitize):
        """Rows i are (name, packed segment), for each (i, (name, segment))
        of `ones`: a directory's leaves at once (subdirs.py), names
        `sanitize`d where `bad_name`."""
        file_names, segs, intern = self.file_names, self.segs, sys.intern
        for i, (name, segment) in ones:
            file_names[i] = intern(sanitize(name) if bad_name(name) else name)
            segs[i] = segment
        self.filled += len(ones)
        self.tree.collection.inodes.rows_added(self, len(ones))

    def live_rows(self):
        return self.filled

    def parent_of(self, i):
        return self.subdirs.base + i

    def names(self):
        raise TypeError('the rows of a LeafFiles are in as many directories')

    def held_names(self):
        names = self.file_names
        return [(i, names[i]) for i in self.held_indexes()]

    def segments(self, i):
        return self.segs[i]

    def size(self, i):
        return size_of(self.segs[i])

    def file(self, i):
        return CollectionFile(self, i)

    def entry_at(self, i):
        return CollectionFile(self, i) if self.file_names[i] is not None else None


class Leaf(object):
    """The files of a directory of one file, row `i` of `leaves`: what a
    directory's FileTable is asked (find, names, listing, size, remember,
    file...), for one row, made per request.  The inode table never holds
    it: the file's row is the LeafFiles'."""

    __slots__ = ('leaves', 'i')

    rows_are_directories = None

    def __init__(self, leaves, i):
        self.leaves = leaves
        self.i = i

    def __len__(self):
        return 1

    base = property(lambda self: self.leaves.base + self.i)
    tree = property(lambda self: self.leaves.tree)

    def name(self):
        return self.leaves.file_names[self.i]

    def names(self):
        return [self.leaves.file_names[self.i]]

    def name_chunks(self, start=0):
        return ((0, self.names()),) if start < 1 else ()

    def find(self, name):
        return 0 if name == self.leaves.file_names[self.i] else -1

    def remember(self, _i):
        self.leaves.remember(self.i)

    def held_names(self):
        return [(0, self.name())] if self.leaves.count(self.i) else []

    def listing(self):
        return [(self.name(), self.base, None)]

    def size(self, _i):
        return size_of(self.leaves.segs[self.i])

    def sizes(self):
        return [self.size(0)]

    def file(self, _i):
        return CollectionFile(self.leaves, self.i)
