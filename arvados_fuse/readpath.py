"""The read path: file bytes from Keep blocks, with prefetch.

A `FileReader` maps a file offset to (block, offset in block) through the
pieces the manifest parser produced, and fetches whole blocks through a
block source: any object with `get(locator)` and `prefetch(locator)`, in
practice `SafeApi.block_source()` (the SDK's KeepClient and its block cache,
which already gives single-flight fetches and MD5 verification).  Nothing
here holds the llfuse lock: the adapter releases it before calling
`readfrom`.

Prefetch: every FUSE read is 128 KiB and Keep blocks are up to 64 MiB, so a
sequential reader stalls for a whole block fetch at each block boundary unless
the next blocks are already on their way.  When a reader starts at the first
block, or moves on to the next block in file order, the next `PREFETCH_BLOCKS`
blocks of its file are requested; a reader that jumps around prefetches
nothing, so random access does not pull in data nobody asked for.
"""

import bisect
import threading

from .manifest import pieces_of, size_of

# Two blocks ahead keeps one 64 MiB block in flight while the previous one is
# being consumed; more only helps when Keep latency exceeds the time to read
# a block, and costs cache space.
PREFETCH_BLOCKS = 2


class BlockTable(object):
    """The blocks of one collection: index -> current locator.  The locators
    carry permission signatures that expire, so the collection directory
    replaces them (`renew`) without touching the files that use them.
    Guarded by its own lock: readers run without the llfuse lock."""

    def __init__(self, locators):
        self._locators = list(locators)
        self._lock = threading.Lock()

    def locator(self, index):
        with self._lock:
            return self._locators[index]

    def renew(self, locators):
        with self._lock:
            if len(locators) != len(self._locators):
                raise ValueError('block table size changed on renewal')
            self._locators = list(locators)


class FileReader(object):
    """Reads one file of a collection.  `readfrom(off, size)` returns bytes;
    it may block on the network, so callers must not hold the llfuse lock.

    Every FUSE read is at most 128 KiB, so a 64 MiB block serves 512 reads
    in a row: the reader keeps the block it used last and only goes back to
    the block cache when a read crosses into another block.  That is also
    the moment to decide on prefetch: moving to the next block in file order
    (or starting at the beginning) is sequential reading."""

    def __init__(self, pieces, block_table, block_source):
        """pieces: a file's packed pieces, as the parser made them."""
        self._pieces = pieces_of(pieces)
        self._size = size_of(pieces)
        self._blocks = block_table
        self._source = block_source
        self._starts = []
        pos = 0
        for _idx, _off, length in self._pieces:
            self._starts.append(pos)
            pos += length
        # (piece number, block bytes) of the last block used; replaced
        # atomically, so concurrent readers need no lock.
        self._current = None

    def size(self):
        return self._size

    def block_locators(self):
        return [self._blocks.locator(idx) for idx, _o, _l in self._pieces]

    def forget(self):
        """Drop the reference to the last block (the file was closed), so
        memory is bounded by the block cache, not by open files."""
        self._current = None

    def readfrom(self, off, size):
        if off >= self._size or size <= 0:
            return b''
        size = min(size, self._size - off)
        i = bisect.bisect_right(self._starts, off) - 1
        out = []
        while size > 0:
            _idx, block_off, length = self._pieces[i]
            in_piece = off - self._starts[i]
            n = min(length - in_piece, size)
            data = self._piece_block(i)
            start = block_off + in_piece
            if len(data) < start + n:
                raise IOError('block %s is shorter than its manifest says'
                              % self._blocks.locator(self._pieces[i][0])[:40])
            out.append(data[start:start + n])
            off += n
            size -= n
            i += 1
        return out[0] if len(out) == 1 else b''.join(out)

    def read_now(self, off, size):
        """Like readfrom, but only from the block already held; None when
        that would need the block cache or the network."""
        current = self._current
        if current is None or off >= self._size:
            return None
        piece, data = current
        start = self._starts[piece]
        _idx, block_off, length = self._pieces[piece]
        if not (start <= off and off + min(size, self._size - off) <= start + length):
            return None
        begin = block_off + off - start
        end = begin + min(size, self._size - off)
        if len(data) < end:
            return None  # a short block: let readfrom report it
        return data[begin:end]

    def _piece_block(self, piece):
        current = self._current
        if current is not None and current[0] == piece:
            return current[1]
        idx = self._pieces[piece][0]
        if current is not None and self._pieces[current[0]][0] == idx:
            data = current[1]
        else:
            if current is None and piece == 0 or current is not None and piece == current[0] + 1:
                self._prefetch_after(piece)
            data = self._source.get(self._blocks.locator(idx))
        self._current = (piece, data)
        return data

    def _prefetch_after(self, piece):
        """Ask for the next PREFETCH_BLOCKS distinct blocks after `piece`."""
        seen = {self._pieces[piece][0]}
        j = piece + 1
        while j < len(self._pieces) and len(seen) <= PREFETCH_BLOCKS:
            idx = self._pieces[j][0]
            if idx not in seen:
                seen.add(idx)
                self._source.prefetch(self._blocks.locator(idx))
            j += 1
