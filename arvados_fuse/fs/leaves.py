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
from array import array
from itertools import chain, repeat

from ..blocks.manifest import EMPTY_FILE, SIZE_MASK
from .files import CollectionFile
from .rowtable import RowTable

# The state (subdirs.py) of a row of a SubdirTable whose one file is in its
# table's LeafFiles.
LEAF = 'leaf'

_MASK = SIZE_MASK


class LeafFiles(RowTable):
    """Row i: the one file of row i of `subdirs`, once that row is built
    as a directory of one file (`add`, `fill`); no file until then.

    Its names are one string when every row has the same (a deep tree's
    "result.vcf" in every sample's directory), else a list; its segments
    three numbers a row in one array (stream, position, length; length 0:
    empty), not a number object each: 10^5 such parents hold 2.6 MiB less
    than with a list of names and one of segments."""

    __slots__ = ('subdirs', '_file_names', 'segs', 'filled')

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
        self._file_names = None
        self.segs = array('Q', [0]) * (3 * count)  # no room to spare, as array(bytes) keeps
        self.filled = 0

    def file_name(self, i):
        """The name of row i's file (None: not built)."""
        names = self._file_names
        if type(names) is str:
            return names
        return names[i] if names is not None else None

    def _name_list(self):
        names = self._file_names
        if type(names) is not list:
            names = self._file_names = [names] * self._count if names is not None else [None] * self._count
        return names

    def _set_segment(self, i, segment):
        segs = self.segs
        if segment == EMPTY_FILE:
            segs[3 * i + 2] = 0
        else:
            segs[3 * i] = segment >> 128
            segs[3 * i + 1] = (segment >> 64) & _MASK
            segs[3 * i + 2] = segment & _MASK

    def add(self, i, name, segment):
        """Row i is `name`, one file of packed `segment` (manifest.py)."""
        self._name_list()[i] = sys.intern(name)  # the same few names in every directory, often
        self._set_segment(i, segment)
        self.filled += 1
        self.tree.collection.inodes.rows_added(self, 1)

    def fill(self, ones, bad_name, sanitize):
        """Rows i are (name, packed segment), for each (i, (name, segment))
        of `ones`: a directory's leaves at once (subdirs.py), names
        `sanitize`d where `bad_name`."""
        intern = sys.intern
        names = [intern(sanitize(name) if bad_name(name) else name) for _i, (name, _segment) in ones]
        if len(ones) == self._count and self._file_names is None and names.count(names[0]) == len(names):
            self._file_names = names[0]
        else:
            file_names = self._name_list()
            for (i, _one), name in zip(ones, names):
                file_names[i] = name
        for i, (_name, segment) in ones:
            self._set_segment(i, segment)
        self.filled += len(ones)
        self.tree.collection.inodes.rows_added(self, len(ones))

    def fill_columns(self, file_names, sid, positions, lengths):
        """Every row at once: row i the file `file_names[i]` of segment
        (sid, positions[i], lengths[i]) (subdirs.py, from a directory's
        packed leaves; names already sanitized)."""
        first = file_names[0]
        if file_names.count(first) == len(file_names):
            self._file_names = sys.intern(first)
        else:
            self._file_names = list(map(sys.intern, file_names))
        self.segs = array('Q', list(chain.from_iterable(zip(repeat(sid), positions, lengths))))  # at its size
        self.filled = len(file_names)
        self.tree.collection.inodes.rows_added(self, self.filled)

    def live_rows(self):
        return self.filled

    def parent_of(self, i):
        return self.subdirs.base + i

    def names(self):
        raise TypeError('the rows of a LeafFiles are in as many directories')

    def held_names(self):
        return [(i, self.file_name(i)) for i in self.held_indexes()]

    def segments(self, i):
        segs = self.segs
        length = segs[3 * i + 2]
        if not length:
            return EMPTY_FILE
        return (segs[3 * i] << 128) | (segs[3 * i + 1] << 64) | length

    def size(self, i):
        return self.segs[3 * i + 2]

    def file(self, i):
        return CollectionFile(self, i)

    def entry_at(self, i):
        return CollectionFile(self, i) if self.file_name(i) is not None else None


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
        return self.leaves.file_name(self.i)

    def names(self):
        return [self.leaves.file_name(self.i)]

    def name_texts(self):
        return None  # one name (RowTable.name_texts)

    def name_chunks(self, start=0):
        return ((0, self.names()),) if start < 1 else ()

    def find(self, name):
        return 0 if name == self.leaves.file_name(self.i) else -1

    def remember(self, _i):
        self.leaves.remember(self.i)

    def held_names(self):
        return [(0, self.name())] if self.leaves.count(self.i) else []

    def listing(self):
        return [(self.name(), self.base, None)]

    def size(self, _i):
        return self.leaves.size(self.i)

    def sizes(self):
        return [self.size(0)]

    def file(self, _i):
        return CollectionFile(self.leaves, self.i)
