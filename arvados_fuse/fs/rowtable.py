"""What the files of a collection's directory (filetable.py) and its
subdirectories (subdirs.py) share: entries kept as rows of a table
instead of an object each.

A row's inode number is the table's base plus its index: the inode table
(inodes.py) reserves the whole range at once and finds the table from a
number by bisection.  Names are kept '\n'-joined in strings of up to CHUNK
names and about CHUNK_CHARS characters, found with str.find (a C scan of a
KiB or two) after a bisection of the first names of the strings: a lookup
costs the same in a directory of 100 or 10^6 entries, short names or long.
The kernel's lookup count of each row is kept once it holds any.

Guarded by the llfuse lock, like the inode table.
"""

import bisect
import sys
from array import array
from itertools import chain, repeat

CHUNK = 128
CHUNK_CHARS = 2048

# The `is_dir` of a directory row in a listing (Directory.kernel_listing):
# a directory whose number stays valid while it is listed, as a file row's
# (None) does.
DIRECTORY_ROW = 2


class RowTable(object):
    __slots__ = ('_names', '_count', 'tree', 'parent_inode', 'base', 'nlookup', 'held', 'detached')

    # The `is_dir` of its rows in a listing: None (files) or DIRECTORY_ROW.
    rows_are_directories = None

    def __init__(self, parent_inode, tree, names):
        """names: sorted, unique, already sanitized."""
        self._count = len(names)
        self._names = _packed(names)
        self.tree = tree
        self.parent_inode = parent_inode
        self.base = None  # set by Inodes.add_rows
        # The kernel's lookup count of each row (None until it holds one;
        # an int for a table of one row: most of a deep tree's), and how
        # many rows it holds.
        self.nlookup = None
        self.held = 0
        # No directory shows these rows any more; kept while `held`.
        self.detached = False

    def __len__(self):
        return self._count

    def live_rows(self):
        """How many of its rows are entries (the inode table's count)."""
        return self._count

    def parent_of(self, i):
        """The inode of the directory row `i` is in."""
        return self.parent_inode

    def names(self):
        """Every name, in order (a new list)."""
        if self._count == 1:
            return [self._names]
        return list(chain.from_iterable(names for _first, names in self.name_chunks()))

    def name_texts(self):
        """Its names as the strings it keeps them in, each with '\n'
        before every name and after the last (one or several strings, in
        order); None when kept otherwise (one name, or a list: a name holds
        a newline)."""
        names = self._names
        if self._count == 1:
            return None
        if type(names) is str:
            return (names,) if names else None
        if type(names) is tuple:
            return names[1]
        return None

    def name_chunks(self, start=0):
        """(index of its first name, [names]) of each run of names from
        the one holding index `start` on: a listing of 10^6 rows turned
        into names a few hundred at a time, as the kernel reads it."""
        names = self._names
        count = self._count
        if start >= count:
            return ()
        if count == 1:
            return ((0, [names]),)
        if type(names) is str:
            return ((0, names[1:-1].split('\n')),)
        if type(names) is list:
            return ((0, names),)
        _heads, chunks, starts = names
        first = max(bisect.bisect_right(starts, start) - 1, 0)
        return ((starts[c], chunks[c][1:-1].split('\n')) for c in range(first, len(chunks)))

    def find(self, name):
        """Index of `name`, or -1."""
        names = self._names
        if self._count == 1:
            return 0 if name == names else -1
        if type(names) is str:
            if '\n' in name:
                return -1
            at = names.find('\n' + name + '\n')
            return -1 if at < 0 else names.count('\n', 0, at)
        if type(names) is tuple:
            if '\n' in name:
                return -1
            heads, chunks, starts = names
            c = bisect.bisect_right(heads, name) - 1
            if c < 0:
                return -1
            chunk = chunks[c]
            at = chunk.find('\n' + name + '\n')
            return -1 if at < 0 else starts[c] + chunk.count('\n', 0, at)
        i = bisect.bisect_left(names, name)
        if i < len(names) and names[i] == name:
            return i
        return -1

    def count(self, i):
        counts = self.nlookup
        if counts is None:
            return 0
        return counts if type(counts) is int else counts[i]

    def remember(self, i):
        counts = self.nlookup
        if self._count == 1:
            if not counts:
                self.held = 1
                self.nlookup = 1
            else:
                self.nlookup = counts + 1
            return
        if counts is None:
            # A byte a row (the kernel seldom holds a row more than a few
            # times over): a table of ten rows costs 80 bytes, not 144.
            counts = self.nlookup = array('B', [0]) * self._count
        if not counts[i]:
            self.held += 1
        try:
            counts[i] += 1
        except OverflowError:
            counts = self.nlookup = array('Q', counts)
            counts[i] += 1

    def forget(self, i, n):
        counts = self.nlookup
        if not counts:
            return
        if type(counts) is int:
            left = counts - n
            self.nlookup = left if left > 0 else None
            if left <= 0:
                self.held = 0
            return
        if not counts[i]:
            return
        left = counts[i] - n
        if left > 0:
            counts[i] = left
            return
        counts[i] = 0
        self.held -= 1

    def held_indexes(self):
        """Indexes of the rows the kernel holds."""
        counts = self.nlookup
        if not self.held or counts is None:
            return []
        if type(counts) is int:
            return [0]
        return [i for i, c in enumerate(counts) if c]

    def held_names(self):
        """(index, name) of the rows the kernel holds."""
        held = self.held_indexes()
        if not held:
            return []
        names = self.names()
        return [(i, names[i]) for i in held]

    def listing(self):
        """(name, inode, is_dir) of every row, in name order (see
        Directory.kernel_listing)."""
        base, count = self.base, self._count
        return list(zip(self.names(), range(base, base + count), repeat(self.rows_are_directories, count)))

    def entry_at(self, i):
        """The entry of row `i`: a view made for the request."""
        raise NotImplementedError

    def take_below(self):
        """Give up what hangs below its rows: the tables the inode table
        must drop with it."""
        return []


def _packed(names):
    if len(names) == 1:
        # Alone (most of a deep tree's tables): as it is, and one object for
        # every table of one name that has it ("data", "p1", ...).
        return sys.intern(names[0])
    joined = '\n'.join(names)
    if joined.count('\n') != max(len(names) - 1, 0):
        return list(names)  # a name holds a newline: a list, found by bisection
    if len(names) <= CHUNK and len(joined) <= CHUNK_CHARS:
        return '\n' + joined + '\n' if names else ''  # one string (a directory of a few entries)
    return _chunked(names)


def _chunked(names):
    """(first names, strings, index of each string's first name): each
    string has '\n' before each of its names and after the last."""
    heads, chunks, starts = [], [], array('L')
    i, n = 0, len(names)
    while i < n:
        j, chars = i, 0
        while j < n and j - i < CHUNK and (chars < CHUNK_CHARS or j == i):
            chars += len(names[j]) + 1
            j += 1
        heads.append(names[i])
        chunks.append('\n' + '\n'.join(names[i:j]) + '\n')
        starts.append(i)
        i = j
    return heads, chunks, starts
