"""The read path: file bytes from Keep blocks, with prefetch.

A `FileReader` maps a file offset to (block, offset in block) through the
pieces the manifest parser produced, and fetches whole blocks through a
block source: any object with `get(locator)` and `prefetch(locator)`
(optionally `touch(locator)` and a `prefetch_budget`), in practice
`SafeApi.block_source()`, whose `keep.fetcher.BlockFetcher` fetches each
block once into a slot of the SDK's block cache (single flight) and checks
its MD5 as the body arrives
(blocks with `+K@` hints go through the SDK's `KeepClient.get`, which
checks it too): a block that fails its check is an error, never bytes.
Nothing here checks MD5s or talks to the network.  `readfrom` runs without
the llfuse lock (the adapter releases it first); `read_now` and `forget`
run with it held and never wait.

Prefetch: every FUSE read is 128 KiB and Keep blocks are up to 64 MiB, so a
sequential reader stalls for a whole block fetch at each block boundary unless
the next blocks are already on their way.  Each open file has its own
prefetch window, as mountpoint-s3 does: it starts at one block when a reader
starts at the first block or moves on to the next block in file order,
doubles at every such step, and resets to nothing on a seek (a read that
does not start within SEQUENTIAL_SLACK of where the last one ended, or a
jump to any block but the next, the same or the one before: concurrent FUSE
reads of one file may arrive a little out of order).  A random reader
therefore prefetches nothing and fetches only the blocks it reads, even
when a random read happens to land in the next block.  The window is
capped in bytes by a `PrefetchBudget` shared by every sequential reader:
each gets an equal share (at most PREFETCH_PER_READER) of a total bounded
by the block cache (half of it: `budget_for`, which the command calls and
hands to SafeApi for its block sources), so prefetched blocks are not
evicted before they are read.

A reader going through a collection's files one after another (`cat dir/*`,
`tar c`) opens each with a new FileReader, which would ramp up from one
block again: files of two or three blocks would never reach full speed.  So
the block table remembers where the last sequential reader finished a file
(`BlockTable.finished`), and a file read from its start less than
CONTINUE_WITHIN later whose first block is that one or the next (it goes on
where the last one ended, in the order the collection stores its files)
starts with that reader's window (`BlockTable.continued`), and, as it
goes through the collection in order, its window reaches past its own end
into the blocks stored after it: the next file's first blocks are on their
way while this one's last are read.

A sequential reader also tells the block source which block it has left
two blocks behind (`passed`): its file's bytes from that block are in the
kernel's page cache, which serves that file from then on, so the block
cache drops it first, and receives the next block into its buffer rather
than into fresh memory (keep/blockcache.py).
"""

import bisect
import itertools
import threading
import time
import weakref

from .locators import MAX_BLOCK_SIZE
from .manifest import pieces_of, size_of

# Most bytes prefetched ahead of one reader: two 64 MiB blocks, with the
# block being read three fetches in flight, enough to hide 100 ms of
# latency at 200 MiB/s per response and to keep two cores busy.  Four ahead
# measured slower here (more streams than cores; the 4-thread KeepClient
# is slower than the 2-thread one on this machine), and more is wasted
# when the reader stops early.
PREFETCH_PER_READER = 128 << 20
# Most bytes prefetched ahead of all readers together (also at most half
# the block cache, see budget_for): four readers get two blocks ahead each.
PREFETCH_MAX = 512 << 20
# A read that starts this close to where the last one ended is sequential:
# the kernel sends a sequential reader's 128 KiB reads, and its readahead,
# on several threads, so they may arrive a little out of order.
SEQUENTIAL_SLACK = 1 << 20
# A file opened and read from its start this soon after a sequential reader
# finished the file before it in the collection (its first block is that
# file's last block, or the next one) goes on with that reader's window
# instead of ramping up from one block: `cat dir/*`, `tar c`, any reader
# going through a collection's files in the order they were stored.
CONTINUE_WITHIN = 1.0
# A reader tells the block cache it still uses its block at most this often
# (a lock taken; 128 KiB reads come every few hundred microseconds).
TOUCH_EVERY = 0.2


class PrefetchBudget(object):
    """The bytes every sequential reader together may prefetch ahead,
    shared equally between them.  Guarded by its own lock (readers run
    without the llfuse lock)."""

    def __init__(self, total=PREFETCH_MAX, per_reader=PREFETCH_PER_READER):
        self.total = total
        self.per_reader = per_reader
        self._lock = threading.Lock()
        self._readers = weakref.WeakSet()

    def share(self, reader):
        """The window cap of `reader`, now counted as a sequential reader."""
        with self._lock:
            self._readers.add(reader)
            return min(self.per_reader, self.total // max(1, len(self._readers)))

    def leave(self, reader):
        with self._lock:
            self._readers.discard(reader)

    def readers(self):
        with self._lock:
            return len(self._readers)


DEFAULT_BUDGET = PrefetchBudget()


def budget_for(cache_max):
    """The budget of a mount whose block cache holds `cache_max` bytes:
    at most half of it (PREFETCH_MAX at most), so what is prefetched stays
    cached until it is read."""
    total = PREFETCH_MAX if not cache_max else min(PREFETCH_MAX, cache_max // 2)
    return PrefetchBudget(total)


def _block_size(locator):
    try:
        return int(locator.split('+', 2)[1])
    except (IndexError, ValueError):
        return MAX_BLOCK_SIZE  # no size given: Keep's largest


def _hold(data):
    """A weak reference to a block from the cache (an mmap), so a reader
    between two reads does not keep a block the cache has evicted: memory
    stays within the cache, however many files are open.  Blocks that
    cannot be weakly referenced (bytes: empty, or from a chunked response
    or another cluster) are held."""
    try:
        return weakref.ref(data)
    except TypeError:
        return lambda: data


def _slice(data, begin, end):
    """bytes of data[begin:end]: blocks from the fetcher are mmap buffers
    (received in place)."""
    if isinstance(data, bytes):
        return data[begin:end]
    return bytes(memoryview(data)[begin:end])


# Every block table's signatures, as loaded or renewed, get a number no
# other table's ever had: what a view of them (the record file) compares.
_GENERATIONS = itertools.count(1)


class BlockTable(object):
    """The blocks of one collection: index -> current locator.  The locators
    carry permission signatures that expire, so the collection directory
    replaces them (`renew`) without touching the files that use them.
    Guarded by its own lock: readers run without the llfuse lock.

    `generation` changes at every renewal (and is unique across tables),
    `renewed` tells whether any happened since the table was made."""

    def __init__(self, locators):
        self._locators = list(locators)
        self._lock = threading.Lock()
        self.generation = next(_GENERATIONS)
        self.renewed = False
        # (block index, window, monotonic time): where the last sequential
        # reader of a file of this collection finished it (see finished,
        # continued).  Replaced whole: no lock.
        self._finished = None

    def __len__(self):
        return len(self._locators)

    def finished(self, index, window):
        """A sequential reader with prefetch window `window` (bytes) read
        a file to its end, in block `index`."""
        self._finished = (index, window, time.monotonic())

    def continued(self, index):
        """The window of the sequential reader that finished a file in
        block `index` or the one before, less than CONTINUE_WITHIN ago (a
        file read from its start now goes on where that one ended), or 0."""
        finished = self._finished
        if finished is None or time.monotonic() - finished[2] > CONTINUE_WITHIN:
            return 0
        return finished[1] if finished[0] <= index <= finished[0] + 1 else 0

    def locator(self, index):
        with self._lock:
            return self._locators[index]

    def locators(self):
        with self._lock:
            return list(self._locators)

    def renew(self, locators):
        with self._lock:
            if len(locators) != len(self._locators) or \
                    any(new[:32] != old[:32] for new, old in zip(locators, self._locators)):
                # Files map pieces to blocks by index: other blocks here
                # would be read (MD5-checked, so silently) as theirs.
                raise ValueError('block table changed on renewal')
            self._locators = list(locators)
            self.renewed = True
            self.generation = next(_GENERATIONS)


class FileReader(object):
    """Reads one file of a collection.  `readfrom(off, size)` returns bytes;
    it may block on the network, so callers must not hold the llfuse lock.

    Every FUSE read is at most 128 KiB, so a 64 MiB block serves 512 reads
    in a row: the reader keeps the block it used last and only goes back to
    the block cache when a read crosses into another block.  That is also
    the moment to decide on prefetch: moving to the next block in file order
    (or starting at the beginning) is sequential reading."""

    def __init__(self, pieces, block_table, block_source, budget=None):
        """pieces: a file's packed pieces, as the parser made them.
        budget: the PrefetchBudget shared with other readers (default: the
        block source's, else one for the whole process)."""
        self._pieces = pieces_of(pieces)
        self._size = size_of(pieces)
        self._blocks = block_table
        self._source = block_source
        self._starts = []
        pos = 0
        for _idx, _off, length in self._pieces:
            self._starts.append(pos)
            pos += length
        # (piece number, the block held weakly, see _hold) of the last
        # block used; replaced atomically, so concurrent readers need no
        # lock.
        self._current = None
        self._touched = 0.0
        self._budget = budget or getattr(block_source, 'prefetch_budget', None) or DEFAULT_BUDGET
        # The prefetch window in bytes (0: not reading sequentially) and the
        # last piece asked for.  Races between two reads of one handle can
        # only make the window a step off: both are hints.
        self._window = 0
        self._prefetched = -1
        # Where the last read ended (None: no read yet).
        self._last_end = None
        # Whether this reader goes on where another finished the file
        # before (BlockTable.continued): then its window also reaches past
        # its own end into the blocks stored after it, up to the last one
        # asked for (_onward_to, a block index).
        self._onward = False
        self._onward_to = -1
        # The block a sequential reader left at its last step (an index):
        # at the next step it is two behind, and passed to the source.
        self._left = None

    def size(self):
        return self._size

    def block_locators(self):
        return [self._blocks.locator(idx) for idx, _o, _l in self._pieces]

    def forget(self):
        """Drop the reference to the last block (the file was closed), so
        memory is bounded by the block cache, not by open files."""
        self._current = None
        self._window = 0
        self._prefetched = -1
        self._last_end = None
        self._onward = False
        self._onward_to = -1
        self._left = None
        self._budget.leave(self)

    def readfrom(self, off, size):
        if off >= self._size or size <= 0:
            return b''
        size = min(size, self._size - off)
        i = bisect.bisect_right(self._starts, off) - 1
        last_end = self._last_end
        self._last_end = off + size
        # In order: the file's first read at 0, or one that goes on from
        # where the last ended; the pieces after the first within one read
        # always are.
        in_order = off == 0 if last_end is None else abs(off - last_end) <= SEQUENTIAL_SLACK
        out = []
        while size > 0:
            _idx, block_off, length = self._pieces[i]
            in_piece = off - self._starts[i]
            n = min(length - in_piece, size)
            data = self._piece_block(i, in_order)
            in_order = True
            start = block_off + in_piece
            if len(data) < start + n:
                raise IOError('block %s is shorter than its manifest says'
                              % self._blocks.locator(self._pieces[i][0])[:40])
            out.append(_slice(data, start, start + n))
            # Let go of this block before the next piece's may be waited
            # for: held across that wait, a block the cache evicted
            # meanwhile stayed in memory, uncounted, for as long as the
            # fetch took (seconds against a flapping Keep server).
            data = None
            off += n
            size -= n
            i += 1
        if off == self._size:
            self._at_end()
        return out[0] if len(out) == 1 else b''.join(out)

    def read_now(self, off, size):
        """Like readfrom, but only from the block already held; None when
        that would need the block cache or the network."""
        current = self._current
        if current is None or off >= self._size:
            return None
        piece, held = current
        data = held()
        if data is None:
            return None  # evicted since: readfrom gets it again
        start = self._starts[piece]
        _idx, block_off, length = self._pieces[piece]
        if not (start <= off and off + min(size, self._size - off) <= start + length):
            return None
        begin = block_off + off - start
        end = begin + min(size, self._size - off)
        if len(data) < end:
            return None  # a short block: let readfrom report it
        self._last_end = off + (end - begin)
        if self._last_end == self._size:
            self._at_end()
        self._touch(piece)
        # A copy, though llfuse could reply from a memoryview of the block:
        # a view would keep the block alive until the reply is written, and
        # a worker preempted meanwhile kept a second evicted block per
        # reader in memory (peak RSS over the bound on a loaded machine).
        return _slice(data, begin, end)

    def _piece_block(self, piece, in_order=True):
        current = self._current
        data = current[1]() if current is not None else None
        if data is not None and current[0] == piece:
            self._touch(piece)
            return data
        idx = self._pieces[piece][0]
        same_block = current is not None and self._pieces[current[0]][0] == idx
        if not same_block:
            self._step(piece, None if current is None else current[0], in_order)
        if data is None or not same_block:
            # Another block, or this one evicted since the last read.  Let
            # go of the last block before waiting for the next: if the cache
            # evicted it, its memory goes now (the memory bound counts one
            # block per reader).
            data = None
            data = self._source.get(self._blocks.locator(idx))
        self._current = (piece, _hold(data))
        return data

    def _at_end(self):
        """A read reached the end of the file: if this reader reads in
        order, the next file it opens may go on at its pace (BlockTable.
        continued)."""
        if self._window and hasattr(self._blocks, 'finished'):
            self._blocks.finished(self._pieces[-1][0], self._window)

    def _touch(self, piece):
        """Tell the block cache this block is being read (at most every
        TOUCH_EVERY seconds), so it evicts blocks nobody reads first."""
        touch = getattr(self._source, 'touch', None)
        now = time.monotonic()
        if touch is not None and now - self._touched > TOUCH_EVERY:
            self._touched = now
            touch(self._blocks.locator(self._pieces[piece][0]))

    def _step(self, piece, last, in_order=True):
        """The reader moves from piece `last` (None: nothing read yet) to
        `piece`, going on from where it was (`in_order`) or not: grow, keep
        or reset the window, and prefetch what it covers."""
        if in_order and ((last is None and piece == 0) or (last is not None and piece == last + 1)):
            cap = self._budget.share(self)
            idx = self._pieces[piece][0]
            size = _block_size(self._blocks.locator(idx))
            window = self._window * 2
            if last is None and hasattr(self._blocks, 'continued'):
                # The first read of a file that goes on where a sequential
                # reader just finished the file before it: at its pace, and
                # on into the files stored after it (the reader goes
                # through the collection in order).
                inherited = self._blocks.continued(idx)
                self._onward = inherited > 0
                window = max(window, inherited)
            self._window = min(max(window, size), max(cap, size))
            self._prefetch_after(piece)
            if last is not None:
                self._pass_behind(self._pieces[last][0], idx)
        elif last is not None and last - 1 <= piece <= last:
            return
        else:
            if self._window:
                self._window = 0
                self._budget.leave(self)
            self._prefetched = -1
            self._onward = False
            self._left = None  # a seek: nothing is behind the reader any more

    def _pass_behind(self, left, entered):
        """A sequential reader left block `left` for block `entered`: the
        block it left at the step before is now two behind, and the source
        may drop it first (`passed`).  Two, not one: the kernel's reads of
        one reader arrive on several threads, a little out of order, and
        one may still ask for the block just left.  The bytes it read are
        in the kernel's page cache of this file, which serves that file's
        readers from then on."""
        behind, self._left = self._left, left
        passed = getattr(self._source, 'passed', None)
        if passed is not None and behind is not None and behind not in (left, entered):
            passed(self._blocks.locator(behind))

    def _prefetch_after(self, piece):
        """Ask for the distinct blocks after `piece` that the window covers
        (at least one), skipping those already asked for."""
        seen = {self._pieces[piece][0]}
        covered = 0
        j = piece + 1
        while j < len(self._pieces) and covered < self._window:
            idx = self._pieces[j][0]
            if idx not in seen:
                seen.add(idx)
                locator = self._blocks.locator(idx)
                covered += _block_size(locator)
                if j > self._prefetched:
                    self._source.prefetch(locator)
                    self._prefetched = j
            j += 1
        if self._onward and covered < self._window:
            # Past this file's end: the blocks stored after its last one.
            nxt = self._pieces[-1][0] + 1
            while nxt < len(self._blocks) and covered < self._window:
                locator = self._blocks.locator(nxt)
                covered += _block_size(locator)
                if nxt > self._onward_to and nxt not in seen:
                    self._source.prefetch(locator)
                    self._onward_to = nxt
                nxt += 1
