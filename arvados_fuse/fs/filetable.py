"""The files of one directory of a collection, without an object per file.

A collection of 10^6 files walked with `ls -lR` is looked up file by file,
and the kernel keeps every one it was handed.  An object per file (entry,
inode slot, reader) was ~350 bytes and ~3 us each; here a directory's files
are their names in strings of 128, their segments in three arrays and, once
the kernel holds any of them, one array of lookup counts: some 40 bytes
per file besides the names' own bytes.  Each file's inode number is the
table's base plus its index: the inode table (inodes.py) reserves the whole
range at once and finds the table from a number by bisection.
`CollectionFile` (files.py) is a view of one index, made when a request
needs it and dropped after.

Guarded by the llfuse lock, like the inode table.
"""

import bisect
import errno
import logging
from array import array

from ..blocks.manifest import (EMPTY_FILE, SIZE_MASK, STREAM_EMPTY, STREAM_RUN, ManifestError, gc_paused, run_segments,
                               size_of)
from ..errors import Answered
from .files import CollectionFile

_logger = logging.getLogger('arvados.arvados_fuse')

# Names are kept '\n'-joined in strings of up to this many names and about
# this many characters, found with str.find (a C scan of a KiB or two)
# after a bisection of the first names of the strings: a lookup costs the
# same in a directory of 100 or 10^6 files, short names or long.
CHUNK = 128
CHUNK_CHARS = 2048
# A file's stream number in the segment arrays when it is not one segment:
# empty, several kept in `other`, or several in the columns of the manifest
# directory's segments (ManifestDir.file_columns), folded when asked for.
_EMPTY = STREAM_EMPTY
_OTHER = 0xFFFFFFFE
_RUN = STREAM_RUN


# `_later` of a table whose segments could not be had.
_BROKEN = object()

# Up to this many files keep their packed segments in a tuple (an array
# costs 64 bytes before its first item, and a deep tree's directories hold
# one file each); more, in three arrays.
SMALL = 16


class FileTable(object):
    __slots__ = ('_names', '_segs', '_later', '_count', 'tree', 'parent_inode', 'base', 'nlookup', 'held',
                 'detached')

    def __init__(self, parent_inode, tree, names, segments=None, later=None):
        """names: sorted, unique, already sanitized; segments[i], the
        parser's packed segments of names[i] (manifest.py); or, instead,
        `later`: the ManifestDir whose file_names() these are, asked for
        its columns when a size or segments are first needed (a listing
        needs neither)."""
        self._count = len(names)
        joined = '\n'.join(names)
        if joined.count('\n') != max(len(names) - 1, 0):
            self._names = names  # a name holds a newline: a list, found by bisection
        elif len(names) <= CHUNK and len(joined) <= CHUNK_CHARS:
            self._names = '\n' + joined + '\n' if names else ''  # one string (a directory of a few files)
        else:
            self._names = _chunked(names)
        self._later = later
        self._segs = None if later is not None else _laid_out(len(names), segments, None)
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
        return self._count

    def names(self):
        """Every name, in order (a new list)."""
        names = self._names
        if type(names) is list:
            return list(names)
        if type(names) is str:
            return names[1:-1].split('\n') if self._count else []
        out = []
        for chunk in names[1]:
            out.extend(chunk[1:-1].split('\n'))
        return out

    def find(self, name):
        """Index of `name`, or -1."""
        names = self._names
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

    def segments(self, i):
        """The packed segments of file `i` (manifest.py)."""
        segs = self._segs
        if segs is None:
            segs = self._resolve()
        if self._count <= SMALL:
            return segs[i]
        return _segment_at(segs, i)

    def size(self, i):
        segs = self._segs
        if segs is None:
            segs = self._resolve()
        if self._count > SMALL:
            return segs[2][i]  # a file of several segments: their sum
        return size_of(segs[i])

    def _resolve(self):
        """The segments of a table made from names alone (`later`).  A
        manifest the API server accepted always has them; if not (a segment
        out of its stream), its files were listed but cannot be read: EIO,
        logged once."""
        later = self._later
        if later is _BROKEN:
            raise Answered(errno.EIO)
        try:
            with gc_paused():
                segs = self._segments_of(later)
        except (ManifestError, KeyError) as e:
            self._later = _BROKEN
            _logger.warning('%s: a directory of its manifest is malformed (%s); its files cannot be read',
                            self.tree.collection.describe(), e)
            raise Answered(errno.EIO)
        self._segs = segs
        self._later = None
        return segs

    def _segments_of(self, later):
        columns = later.file_columns()
        if columns is not None:
            if len(columns[0]) != self._count:
                raise ManifestError('its files changed since they were listed')
            later.undefer()  # its lines go now, though its parent's parse may hold it
            return _laid_out(self._count, None, columns[1:])
        files = later.files
        return _laid_out(self._count, [files[name] for name in self.names()], None)

    def file(self, i):
        return CollectionFile(self, i)

    def count(self, i):
        counts = self.nlookup
        return 0 if counts is None else counts[i]

    def remember(self, i):
        counts = self.nlookup
        if counts is None:
            counts = self.nlookup = array('L', [0]) * self._count
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

    def held_names(self):
        """(index, name) of the files the kernel holds."""
        held = self.held_indexes()
        if not held:
            return []
        names = self.names()
        return [(i, names[i]) for i in held]

    def listing(self):
        """(name, inode, None) of every file, in name order (see
        Directory.kernel_listing)."""
        base = self.base
        return [(name, base + i, None) for i, name in enumerate(self.names())]


def _laid_out(count, segments, columns):
    """`_segs` of `count` files: their packed `segments`, or `columns`."""
    if columns is not None:
        streams, positions, sizes, runs = columns
        segs = (streams, positions, sizes, None, runs)
        return tuple(_segment_at(segs, i) for i in range(count)) if count <= SMALL else segs
    if count <= SMALL:
        return tuple(segments)
    sid, pos, length = array('I'), array('Q'), array('Q')
    other = None
    for i, seg in enumerate(segments):
        if type(seg) is int:
            sid.append(seg >> 128)
            pos.append((seg >> 64) & SIZE_MASK)
            length.append(seg & SIZE_MASK)
            continue
        sid.append(_EMPTY if seg == EMPTY_FILE else _OTHER)
        pos.append(0)
        length.append(size_of(seg))
        if seg != EMPTY_FILE:
            if other is None:
                other = {}
            other[i] = seg
    return (sid, pos, length, other, None)


def _segment_at(segs, i):
    """Packed segments of file `i` of segment arrays."""
    sid = segs[0][i]
    if sid < _RUN:
        return (sid << 128) | (segs[1][i] << 64) | segs[2][i]
    if sid == _EMPTY:
        return EMPTY_FILE
    if sid == _OTHER:
        return segs[3][i]
    return run_segments(segs[4], i)


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
