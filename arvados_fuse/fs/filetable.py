"""The files of one directory of a collection, without an object per file.

A collection of 10^6 files walked with `ls -lR` is looked up file by file,
and the kernel keeps every one it was handed.  An object per file (entry,
inode slot, reader) was ~350 bytes and ~3 us each; here a directory's files
are two lists (sorted names, the parser's packed pieces) and, once the
kernel holds any of them, one array of lookup counts.  Each file's inode
number is the table's base plus its index: the inode table (inodes.py)
reserves the whole range at once and finds the table from a number by
bisection.  `CollectionFile` (files.py) is a view of one index, made when a
request needs it and dropped after.

Guarded by the llfuse lock, like the inode table.
"""

import bisect
from array import array

from .files import CollectionFile


class FileTable(object):
    __slots__ = ('names', 'pieces', 'tree', 'parent_inode', 'base', 'nlookup', 'held', 'detached')

    def __init__(self, parent_inode, tree, names, pieces):
        # Sorted, unique, already sanitized; pieces[i] belongs to names[i].
        self.names = names
        self.pieces = pieces
        self.tree = tree
        self.parent_inode = parent_inode
        self.base = None  # set by Inodes.add_files
        # The kernel's lookup count of each file (None until it holds one),
        # and how many files it holds.
        self.nlookup = None
        self.held = 0
        # No directory shows these files any more; kept while `held`.
        self.detached = False

    def __len__(self):
        return len(self.names)

    def find(self, name):
        """Index of `name`, or -1."""
        names = self.names
        i = bisect.bisect_left(names, name)
        if i < len(names) and names[i] == name:
            return i
        return -1

    def file(self, i):
        return CollectionFile(self, i)

    def count(self, i):
        counts = self.nlookup
        return 0 if counts is None else counts[i]

    def remember(self, i):
        counts = self.nlookup
        if counts is None:
            counts = self.nlookup = array('L', [0]) * len(self.names)
        if not counts[i]:
            self.held += 1
        counts[i] += 1

    def forget(self, i, n):
        counts = self.nlookup
        if counts is None or not counts[i]:
            return
        left = counts[i] - n
        if left > 0:
            counts[i] = left
            return
        counts[i] = 0
        self.held -= 1

    def held_indexes(self):
        """Indexes of the files the kernel holds."""
        counts = self.nlookup
        if not self.held or counts is None:
            return []
        return [i for i, c in enumerate(counts) if c]

    def listing(self):
        """(name, inode, is_dir) of every file, in name order."""
        base = self.base
        return [(name, base + i, False) for i, name in enumerate(self.names)]
