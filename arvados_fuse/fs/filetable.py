"""The files of one directory of a collection, without an object per file.

A collection of 10^6 files walked with `ls -lR` is looked up file by file,
and the kernel keeps every one it was handed.  An object per file (entry,
inode slot, reader) was ~350 bytes and ~3 us each; here a directory's files
are rows (rowtable.py: names, inode range, lookup counts) and their
segments three arrays: some 40 bytes per file besides the names' own
bytes.  `CollectionFile` (files.py) is a view of one index, made when a
request needs it and dropped after.

Guarded by the llfuse lock, like the inode table.
"""

import errno
import logging
from array import array

from ..blocks.manifest import (EMPTY_FILE, SIZE_MASK, STREAM_EMPTY, STREAM_RUN, ManifestError, gc_paused, run_segments,
                               size_of)
from ..errors import Answered
from .files import CollectionFile
from .rowtable import RowTable

_logger = logging.getLogger('arvados.arvados_fuse')

# A file's stream number in the segment arrays when it is not one segment:
# empty, several kept in `other`, or several in the columns of the manifest
# directory's segments (ManifestDir.file_columns), folded when asked for.
_EMPTY = STREAM_EMPTY
_OTHER = 0xFFFFFFFE
_RUN = STREAM_RUN


# `_later` of a table whose segments could not be had.
_BROKEN = object()

# Up to this many files keep their packed segments in a tuple (an array
# costs 64 bytes before its first item), one file its segments alone (a
# deep tree's directories hold one file each); more, in three arrays.
SMALL = 16


class FileTable(RowTable):
    __slots__ = ('_segs', '_later')

    def __init__(self, parent_inode, tree, names, segments=None, later=None):
        """names: sorted, unique, already sanitized; segments[i], the
        parser's packed segments of names[i] (manifest.py); or, instead,
        `later`: the ManifestDir whose file_names() these are, asked for
        its columns when a size or segments are first needed (a listing
        needs neither)."""
        super(FileTable, self).__init__(parent_inode, tree, names)
        self._later = later
        self._segs = None if later is not None else _laid_out(len(names), segments, None)

    def segments(self, i):
        """The packed segments of file `i` (manifest.py)."""
        segs = self._segs
        if segs is None:
            segs = self._resolve()
        count = self._count
        if count <= SMALL:
            return segs if count == 1 else segs[i]
        return _segment_at(segs, i)

    def size(self, i):
        segs = self._segs
        if segs is None:
            segs = self._resolve()
        count = self._count
        if count > SMALL:
            return segs[2][i]  # a file of several segments: their sum
        return size_of(segs if count == 1 else segs[i])

    def sizes(self):
        """The size of every file, by index (an array or a list: what a
        listing's lookups answer from, listed.py)."""
        segs = self._segs
        if segs is None:
            later = self._later
            if later is not _BROKEN:
                # From the lengths alone: the segments are read when a
                # file is read (a listing's lookups need no more).
                sizes = later.file_sizes()
                if sizes is not None and len(sizes) == self._count:
                    return sizes
            segs = self._resolve()
        count = self._count
        if count > SMALL:
            return segs[2]
        return [size_of(segs)] if count == 1 else [size_of(seg) for seg in segs]

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

    def entry_at(self, i):
        return CollectionFile(self, i)


def _laid_out(count, segments, columns):
    """`_segs` of `count` files: their packed `segments`, or `columns`."""
    if columns is not None:
        streams, positions, sizes, runs = columns
        segs = (streams, positions, sizes, None, runs)
        if count == 1:
            return _segment_at(segs, 0)
        return tuple(_segment_at(segs, i) for i in range(count)) if count <= SMALL else segs
    if count <= SMALL:
        return segments[0] if count == 1 else tuple(segments)
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
