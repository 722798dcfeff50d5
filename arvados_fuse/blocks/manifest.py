"""Parse Keep manifest text into a tree of directories and files.

Pure logic, no network and no llfuse: the collection directory calls this with
the manifest text the API (or Keep) returned and builds its entries from the
tree.  Manifests stored only in Keep were never validated by anyone, so this
parser must reject garbage with a clear `ManifestError` instead of crashing or
inventing bytes.

Manifest format (one line per stream):
    STREAM_NAME SP LOCATOR (SP LOCATOR)* SP SEGMENT (SP SEGMENT)* LF
where SEGMENT is `position:length:name` and positions index the concatenation
of the stream's blocks.  Names use `\\ooo` octal escapes for bytes such as
space, `:`, `\\` and non-ASCII UTF-8.
"""

import bisect
import gc
import re
import sys
import types
from array import array
from itertools import accumulate, chain, compress, islice, repeat
from operator import add, eq, le, lt, ne, not_, sub

from .locators import LOCATOR, MAX_BLOCK_SIZE, locator_pattern

_OCTAL_RE = re.compile(rb'\\([0-3][0-7][0-7])')

EMPTY_BLOCK = 'd41d8cd98f00b204e9800998ecf8427e+0'


class ManifestError(ValueError):
    """The manifest text is malformed; the message says where and why."""


def unescape_name(escaped):
    """Decode `\\ooo` escapes to bytes, then to str (undecodable bytes survive
    as surrogates so that they can be reported, not silently changed)."""
    raw = _OCTAL_RE.sub(lambda m: bytes([int(m.group(1), 8)]), escaped.encode('utf-8', 'surrogateescape'))
    return raw.decode('utf-8', 'surrogateescape')


def bare_locator(locator):
    """`hash+size` without hints: the key under which a block is cached."""
    m = locator_pattern.match(locator)
    if not m:
        raise ManifestError('bad locator %r' % locator)
    return '%s+%s' % (m.group(1), m.group(2))


# A file is its segments over the streams of the manifest, each segment
# (stream_index, position_in_stream, length) packed into one int: a file of
# one segment (most files) is one int, a file of several a tuple of them, an
# empty file ().  Which blocks a segment covers is worked out when the file
# is opened (`Manifest.block_pieces`), not when it is listed: listing costs
# the same whether a stream has one block or a thousand.  The same packing
# holds a file's resolved block pieces (block_index, offset_in_block,
# length).  With 10^6 files per collection, an object per file and per
# piece (and an int object per offset and length) is what fills memory.
EMPTY_FILE = ()
_BITS = 64
_MASK = SIZE_MASK = (1 << _BITS) - 1  # a one-piece file's size is its packed int & SIZE_MASK

# Limits on what a manifest may ask of us.  Manifests stored only in Keep
# were never validated, and a shared collection's can be anyone's.
#
# Blocks of at most MAX_BLOCK_SIZE (Keep's 64 MiB, locators.py): a locator
# claiming more names a block no Keep server holds.  A file of several
# segments is at most MAX_FILE_SIZE (see _freeze).
# Pieces of blocks one file resolves to when opened (a segment spanning
# blocks makes one per block): at most this many, plus PIECES_PER_BYTE for
# each byte of manifest text, so time and memory stay linear in the text's
# size.  One block listed 3,000 times with 3,000 segments of one file each
# spanning the whole stream would otherwise make 9*10^6 pieces (1.4 GB) out
# of 300 KB.  A normal file makes at most one piece per segment plus one
# per block boundary: well below one per byte.
MAX_FILE_SIZE = 1 << 62
PIECES_FLOOR = 100000
PIECES_PER_BYTE = 4
# What the streams column of ManifestDir.file_columns holds for a file that
# is not one segment: empty, or several (folded when opened).  Stream
# numbers are below these (a manifest has at most one stream per line).
STREAM_EMPTY = 0xFFFFFFFF
STREAM_RUN = 0xFFFFFFFD
# Below this many segments in its one line, a directory's files are parsed
# the general way, not as columns (ManifestDir.file_columns).
FEW_SEGMENTS = 16
# file_columns folds the segments of files of several segments row by row
# (_fold_few) when at most one in this many rows repeats a name.
FEW_REPEATS = 8
# Directory depth (stream and file path components): what PATH_MAX (4096
# bytes) leaves room for with short names is ~2000; no real collection
# comes near this, and deep trees cost a recursion somewhere.
MAX_DEPTH = 256
# A stream name or a segment's file path, escaped: at most PATH_MAX.
MAX_PATH = 4096
# At most this many directory names are shared while parsing (_parse); then
# the table starts again, so unique names cost a bounded dict.
SHARED_NAMES = 4096
# A directory of one stream line of at most this many characters of
# segments, and no subdirectory, is kept in its parent's packed leaves
# while not built (ManifestDir._leaves); far below what expand_large
# parses at load.
LEAF_LINE_CHARS = 4096


class _Stream(object):
    """One stream's blocks, shared by every line that lists the same
    locators (a deep tree's 10^5 lines often list one block)."""
    __slots__ = ('blocks', 'starts', 'length', 'sid')

    def __init__(self, blocks, starts, length, sid):
        self.blocks = blocks  # ((block_index, size), ...)
        self.starts = starts  # each block's offset in the stream
        self.length = length
        self.sid = sid  # its index in the manifest's stream table


def _pack(block_index, offset, length):
    return (block_index << (2 * _BITS)) | (offset << _BITS) | length


def _unpack(piece):
    return piece >> (2 * _BITS), (piece >> _BITS) & _MASK, piece & _MASK


def pieces_of(pieces):
    """[(block_index, offset, length), ...] of a file."""
    if type(pieces) is int:
        return [_unpack(pieces)]
    return [_unpack(p) for p in pieces]


def size_of(pieces):
    if type(pieces) is int:
        return pieces & _MASK
    return sum(p & _MASK for p in pieces)


def _add_piece(pieces, block_index, offset, length):
    """`pieces` with one more piece (merged into the last one when it
    continues it); a list once there is more than one, changed in place."""
    if pieces == EMPTY_FILE:
        return _pack(block_index, offset, length)
    single = type(pieces) is int
    last_index, last_offset, last_length = _unpack(pieces if single else pieces[-1])
    if last_index == block_index and last_offset + last_length == offset:
        merged = _pack(block_index, last_offset, last_length + length)
        if single:
            return merged
        pieces[-1] = merged
        return pieces
    if single:
        return [pieces, _pack(block_index, offset, length)]
    pieces.append(_pack(block_index, offset, length))
    return pieces


# The `dirs` and files of a ManifestDir that has none: read, never written.
_NOTHING = types.MappingProxyType({})


class ManifestDir(object):
    """A directory: subdirectories and files (their packed pieces) by
    (unescaped) name.  Subdirectories are known once the manifest is read;
    files may be parsed later, from the stream lines kept for them, the
    first time `files` is asked for (see `parse(lazy=True)`).

    A lazy parse keeps the subdirectories that are one short stream line
    (a deep tree's: most of its directories) as *packed leaves* of their
    parent, `_leaves`, not a ManifestDir each: one string per parent,
    'name/segments' a line, and the streams of those lines.  A ManifestDir
    and its line's string cost ~170 bytes, 10^6 of them a sixth of a GB,
    allocated at load and freed one by one as the tree is built, which
    leaves the memory in pieces the allocator cannot give back (pymalloc's
    pools: 110 MB free in them after a walk of a deep 10^6 tree).  `dirs`
    makes ManifestDirs of them when asked; the model builds a directory
    without (built_subdirs, leaf_columns, leaf_lines)."""
    __slots__ = ('_dirs', '_files', '_pending', '_stream', '_columns', '_leaves', '_repeats')

    def __init__(self):
        # Both shared and empty until something is added (most directories
        # of a deep tree have no subdirectory; none has files until parsed).
        self._dirs = _NOTHING
        self._files = _NOTHING
        # None: files parsed.  A str: the segment tokens of its one stream
        # line still to parse, of the _Stream `_stream` (a deep tree has a
        # line per directory: no tuple each).  A list: its lines still to
        # parse, (stream, tokens) each.  A ManifestError: parsing them
        # failed (and fails again).
        self._pending = None
        self._stream = None
        # file_columns() made ahead of time (prepare), or None.
        self._columns = None
        # What file_names() found of its names' order in its lines, so
        # file_sizes() may read the lengths alone: None, not in order; a
        # tuple, the indices of the tokens whose name is the one before's
        # (a file's later segments), few of them; an array, the index of
        # each file's first token, when many are of several segments.
        self._repeats = None
        # Its packed leaves: None (none yet); a list [names, streams,
        # rests] while the parse adds to them (its lines come one after
        # another in a sorted manifest); then (text, streams), text the
        # lines 'name/rest' joined by newlines (no name holds a '/', no
        # rest a newline), streams one _Stream when every line has the
        # same, else a list of them; False once they were made
        # ManifestDirs (`dirs`): it packs no more.
        self._leaves = None

    @property
    def dirs(self):
        """Subdirectories by name (ManifestDirs made of its packed leaves
        first)."""
        if self._leaves:
            self._unpack_leaves()
        return self._dirs

    def built_subdirs(self):
        """Its subdirectories that are ManifestDirs, by name: with its
        packed leaves (has_packed_leaves, leaf_columns, leaf_lines), what
        building it needs, with no ManifestDir made for a leaf."""
        return self._dirs

    def has_packed_leaves(self):
        return bool(self._leaves)


    def leaf_columns(self):
        """Its packed leaves as columns, when every one is a line of one
        plain, in-bounds segment of one stream (a deep tree's): (names,
        stream, positions, lengths, file names), in manifest order, made
        by one regular expression over the packed text; None otherwise
        (leaf_lines() then gives them line by line)."""
        leaves = self._leaves
        if type(leaves) is not tuple or type(leaves[1]) is not _Stream:
            return None
        text, stream = leaves
        found = _LEAF_RE.findall(text)
        if len(found) != text.count('\n') + 1:
            return None
        names, pos_texts, len_texts, file_names = zip(*found)
        if '.' in file_names:
            return None
        positions = array('Q', map(int, pos_texts))
        lengths = array('Q', map(int, len_texts))
        if max(map(add, positions, lengths)) > stream.length:
            return None
        return list(names), stream, positions, lengths, file_names

    def leaf_lines(self):
        """[(name, stream, rest), ...] of its packed leaves, in manifest
        order."""
        leaves = self._leaves
        if not leaves:
            return []
        if type(leaves) is list:
            return list(zip(*leaves))
        text, streams = leaves
        lines = [entry.partition('/') for entry in text.split('\n')]
        if type(streams) is _Stream:
            return [(name, streams, rest) for name, _slash, rest in lines]
        return [(name, stream, rest) for (name, _slash, rest), stream in zip(lines, streams)]

    def _unpack_leaves(self):
        lines = self.leaf_lines()
        self._leaves = False
        if self._dirs is _NOTHING:
            self._dirs = {}
        dirs = self._dirs
        for name, stream, rest in lines:
            d = dirs.get(name)
            if d is None:
                # Cut from the packed text: one string for a name that
                # recurs in other directories (see _parse's shared_names).
                d = dirs[sys.intern(name)] = ManifestDir()
            d.defer(stream, rest)

    def _add_leaf(self, name, stream, rest, lineno):
        """A line of the lazy parse: `rest` of `stream` are the segments of
        its subdirectory `name`.  Packed (see _leaves) while its lines come
        together; True when it opened a run of them (_close_leaves ends
        it)."""
        d = self._dirs.get(name)
        if d is not None:
            d.defer(stream, rest)
            return False
        leaves = self._leaves
        # A name holding a newline (escaped \\012 in the stream's name)
        # would cut the packed text's lines: a ManifestDir, as a long line.
        short = len(rest) <= LEAF_LINE_CHARS and '\n' not in name
        if type(leaves) is list:
            if short:
                leaves[0].append(name)
                leaves[1].append(stream)
                leaves[2].append(rest)
                return False
            if name not in leaves[0]:
                # A long line (expand_large may parse it at load): a
                # ManifestDir of its own beside the packed ones.
                if self._dirs is _NOTHING:
                    self._dirs = {}
                self._dirs[name] = d = ManifestDir()
                d.defer(stream, rest)
                return False
        elif leaves is None and short:
            self._leaves = [[name], [stream], [rest]]
            return True
        # Packed earlier, then other lines came between (an unsorted
        # manifest), or a long line of a packed name: ManifestDirs from
        # now on, or the parse could copy the packed text again and again.
        self.subdir(name, lineno).defer(stream, rest)
        return False

    def _close_leaves(self):
        leaves = self._leaves
        if type(leaves) is not list:
            return  # made ManifestDirs meanwhile (a line went through one)
        names, streams, rests = leaves
        first = streams[0]
        self._leaves = ('\n'.join(map(add, map(add, names, repeat('/')), rests)),
                        first if streams.count(first) == len(streams) else streams)

    def _child_names(self):
        """What `in` tells a subdirectory's name by, leaves included."""
        if not self._leaves:
            return self._dirs.keys()
        names = {name for name, _stream, _rest in self.leaf_lines()}
        names.update(self._dirs)
        return names

    def _names_a_subdirectory(self, names):
        """Whether a file of `names` is also the name of a subdirectory.
        Not asked of a directory without any: isdisjoint hashes every name
        even then (100 names of 190 characters: ~20 us)."""
        if not self._dirs and not self._leaves:
            return False
        return not self._child_names().isdisjoint(names)

    def _lines(self):
        """The (stream, tokens) of the lines still to parse, or None."""
        pending = self._pending
        if type(pending) is str:
            return ((self._stream, pending),)
        return pending if type(pending) is list else None

    def prepare(self):
        """Parse its files now (see Manifest.expand_large), as columns when
        it can."""
        if self._columns is None and self._pending is not None:
            self._columns = self.file_columns()
            if self._columns is None:
                self.expand()

    def _column_lines(self):
        """The stream lines its files' columns would be made from; None if
        its files are parsed already, failed to, or are a few (a deep
        tree's directory: the C calls cost more than they save)."""
        pending = self._pending
        # Counted in a prefix first: a line of 100 long names is 20 KB.
        if type(pending) is str and pending.count(' ', 0, FEW_SEGMENTS * 256) < FEW_SEGMENTS and (
                len(pending) <= FEW_SEGMENTS * 256 or pending.count(' ') < FEW_SEGMENTS):
            return None
        return self._lines()

    def file_names(self):
        """The names file_columns() gives (sorted, unique), without reading a
        number: a listing needs no more, and `find` never asks for more.
        None where file_columns() is None before it reads a number (see
        there); where it is None after (a segment out of its stream, a
        number too big), or raises, these names were listed all the same:
        the caller learns of it from file_columns(), and then `files`, when
        it asks."""
        if self._columns is not None:
            return self._columns[0]
        lines = self._column_lines()
        if lines is None:
            return None
        names = []
        try:
            for _stream, rest in lines:
                for found in _plain_pieces(rest, _SEGMENT_NAME_RE):
                    names.extend(found)
        except _NotPlain:
            return None
        if '.' in names or self._names_a_subdirectory(names):
            return None
        if ascending(names):  # as arv-put writes them: no set, no sort
            self._repeats = ()
            return names
        if non_descending(names):
            # A file's segments one after another (the API server's
            # normalizing writes a file on a block boundary so).
            repeats = _repeated(names)
            # Combined collections: most files of 2-4 segments.
            self._repeats = tuple(repeats) if len(repeats) * FEW_REPEATS <= len(names) else _firsts(names)
        return sorted(set(names))

    def file_sizes(self):
        """The sizes of the files file_names() gave, by index, read from
        the segments' lengths alone when it found the names in line order
        (a file a segment: most directories; or the segments of a file one
        after another); None otherwise.  What an `ls -l` of the listing
        asks for (listed.py: a directory of listed.LIMIT names at most):
        about a third of what file_columns() costs, which reads positions
        and checks bounds, and is made when a file is read (a segment out of its stream is found
        there)."""
        if self._columns is not None:
            return self._columns[3]
        repeats = self._repeats
        lines = self._lines() if repeats is not None else None
        if lines is None:
            return None
        sizes = array('Q')
        try:
            for _stream, rest in lines:
                # No cut into pieces: a line's numbers alone, a tenth of
                # what its tokens cost (file_names checked they are plain).
                sizes.extend(map(int, _SEGMENT_LENGTH_RE.findall(rest)))
            if type(repeats) is tuple:
                for k in reversed(repeats):
                    sizes[k - 1] += sizes[k]
                    del sizes[k]
            else:
                sizes = _run_sizes(sizes, repeats)[0]
        except (OverflowError, IndexError, ValueError):  # ValueError: a number of thousands of digits
            return None
        if sizes and max(sizes) > MAX_FILE_SIZE:
            return None  # file_columns() says so
        return sizes

    def one_file(self):
        """(name, packed segment) of its only file when it has no
        subdirectory and its one stream line is one plain, in-bounds
        segment (a deep tree's directory: most of them), taken now; None
        otherwise, or if anything is not as usual (`files` then parses the
        line and says what is wrong).  Costs a fraction of `files`: no
        dict, no tokenizer loop."""
        rest = self._pending
        if type(rest) is not str or self._dirs or self._leaves:
            return None
        one = one_segment(self._stream, rest)
        if one is not None:
            self._pending = self._stream = None
        return one

    def file_columns(self):
        """Its files as columns, made by C loops (re, map, array, sorted,
        accumulate) instead of a Python step per segment: (names, streams,
        positions, sizes, runs), names sorted and unique.  File i is one
        segment (streams[i], positions[i], sizes[i]), or empty (streams[i]
        is STREAM_EMPTY), or of several segments (STREAM_RUN: run_segments
        finds them in `runs`, None when no name repeats); sizes[i] is its
        size either way.  None when the files are not yet to parse (see
        `files`) or a line is not plain (escapes, a `/` in a name, doubled
        spaces, a name that is also a directory, `.`, a bad or
        out-of-bounds segment): `files` then parses them, and says what is
        wrong if anything is.  Raises ManifestError only for a file over
        MAX_FILE_SIZE."""
        if self._columns is not None:
            return self._columns
        lines = self._column_lines()
        if lines is None:
            return None
        names, streams, positions, lengths = [], array('I'), array('Q'), array('Q')
        try:
            for stream, rest in lines:
                start = len(positions)
                for matches in _plain_pieces(rest, _SEGMENT_RE):
                    pos_texts, len_texts, piece_names = zip(*matches)
                    positions.extend(map(int, pos_texts))
                    lengths.extend(map(int, len_texts))
                    names.extend(piece_names)
                if max(map(add, positions[start:], lengths[start:])) > stream.length:
                    return None
                streams.extend(array('I', [stream.sid]) * (len(positions) - start))
        except (_NotPlain, OverflowError, ValueError):  # ValueError: a number of thousands of digits
            return None
        if '.' in names or self._names_a_subdirectory(names):
            return None
        n = len(names)
        # A file's segments one after another (as arv-put and the API
        # server's normalizing write them): no sort.
        if not non_descending(names):
            order = sorted(range(n), key=names.__getitem__)  # stable: a file's segments keep their order
            names = list(map(names.__getitem__, order))
            streams = array('I', map(streams.__getitem__, order))
            positions = array('Q', map(positions.__getitem__, order))
            lengths = array('Q', map(lengths.__getitem__, order))
        repeats = _repeated(names)
        if not repeats:
            for i in compress(range(n), map(not_, lengths)):
                streams[i] = STREAM_EMPTY
            return names, streams, positions, lengths, None
        if len(repeats) * FEW_REPEATS <= n:
            return _fold_few(names, streams, positions, lengths, repeats)
        # Some names repeat (files of several segments): the first segment
        # of each file, its size from running sums, its pieces folded only
        # when it is opened.
        firsts = _firsts(names)
        try:
            sizes, ends = _run_sizes(lengths, firsts)
        except OverflowError:
            return None
        if max(sizes) > MAX_FILE_SIZE:
            raise ManifestError('file %r is larger than %d bytes' % (names[firsts[sizes.index(max(sizes))]][:80],
                                                                     MAX_FILE_SIZE))
        counts = list(map(sub, ends, firsts))
        several = bytes(map((1).__lt__, counts))
        run_files = array('I', compress(range(len(firsts)), several))
        file_streams = array('I', map(streams.__getitem__, firsts))
        for i in run_files:
            file_streams[i] = STREAM_RUN
        for i in compress(range(len(firsts)), map(not_, sizes)):
            file_streams[i] = STREAM_EMPTY
        # Only the segments of the files of several segments are kept.
        mine = bytes(chain.from_iterable(map(repeat, several, counts)))
        runs = (array('I', compress(streams, mine)), array('Q', compress(positions, mine)),
                array('Q', compress(lengths, mine)), run_files,
                array('I', accumulate(compress(counts, several), initial=0)))
        return (list(map(names.__getitem__, firsts)), file_streams, array('Q', map(positions.__getitem__, firsts)),
                sizes, runs)

    @property
    def files(self):
        if self._pending is not None:
            self.expand()
        return self._files

    def expand(self):
        """Parse the file segments kept for this directory.  A failure
        leaves no file half made: the directory has none, and raises the
        same error each time it is asked."""
        pending = self._pending
        if pending is None:
            return
        if isinstance(pending, ManifestError):
            raise pending
        lines = self._lines()
        self._pending = self._stream = None
        several = []
        try:
            with gc_paused():
                for line in lines:
                    _add_segments(self, line, several)
                _freeze(several)
        except ManifestError as e:
            self._files = {}
            self._pending = e
            raise

    def defer(self, stream, rest):
        """Keep the file segments `rest` of a line of `stream` to parse when
        `files` is first asked for (see _pending)."""
        pending = self._pending
        if pending is None:
            self._pending = rest
            self._stream = stream
        elif type(pending) is str:
            self._pending = [(self._stream, pending), (stream, rest)]
            self._stream = None
        else:
            pending.append((stream, rest))

    def undefer(self):
        """Forget the lines kept: the caller parses them now."""
        self._pending = self._stream = None

    def pending_bytes(self):
        lines = self._lines()
        return sum(len(rest) for _stream, rest in lines) if lines is not None else 0

    def subdir(self, name, lineno):
        d = self._dirs.get(name)
        if d is None:
            if self._leaves:
                # A line goes through one of them, or names a new one
                # beside them after a line that was not one: all made
                # ManifestDirs, once (the parse never searches the
                # packed text).
                self._unpack_leaves()
                d = self._dirs.get(name)
                if d is not None:
                    return d
            if name in self._files:
                raise ManifestError(_at(lineno) + '%r is both a file and a directory' % (name,))
            if self._dirs is _NOTHING:
                self._dirs = {}
            d = self._dirs[name] = ManifestDir()
        return d

    def file_dict(self):
        """Its files, to add to."""
        files = self._files
        if files is _NOTHING:
            files = self._files = {}
        return files


def one_segment(stream, rest):
    """(name, packed segment) when the segment tokens `rest` of a line of
    `stream` are one plain, in-bounds segment; None otherwise, or if
    anything is not as usual (`files` then parses the line and says what
    is wrong).  Costs a fraction of `files`: no dict, no tokenizer loop."""
    token = rest.split(':', 2)  # cheaper than a match here
    if len(token) != 3:
        return None
    pos_text, len_text, name = token
    if not (pos_text.isdigit() and len_text.isdigit() and pos_text.isascii() and len_text.isascii()) \
            or len(pos_text) > 19 or len(len_text) > 19 or ' ' in name or '/' in name or '\\' in name or name in ('', '.'):
        return None  # several tokens, an escape: as `files` would
    seg_pos, seg_len = int(pos_text), int(len_text)
    if seg_pos + seg_len > stream.length:
        return None
    return name, ((stream.sid << 128) | (seg_pos << 64) | seg_len) if seg_len else EMPTY_FILE


def deferred(stream, rest):
    """A ManifestDir of the one line `rest` of `stream`, to parse when
    first asked for (a packed leaf made a directory when built)."""
    d = ManifestDir()
    d.defer(stream, rest)
    return d


def _fold_few(names, streams, positions, lengths, repeats):
    """file_columns' result for columns (in file order) where few names
    repeat (at `repeats`, each the index of a segment whose name is its
    predecessor's): the rows of the repeats cut out, a step per repeat,
    instead of the ~15 passes over every row of the general way (a
    directory of 100 files, one of them of two segments: ~80 -> ~15 us)."""
    bounds = []  # [first, end) of each file of several segments
    for r in repeats:
        if bounds and bounds[-1][1] == r:
            bounds[-1][1] = r + 1
        else:
            bounds.append([r - 1, r + 1])
    sizes = array('Q', lengths)
    run_files, run_starts = array('I'), array('I', [0])
    run_streams, run_positions, run_lengths = array('I'), array('Q'), array('Q')
    cut = 0
    for first, end in bounds:
        size = sum(lengths[first:end])
        if size > MAX_FILE_SIZE:
            raise ManifestError('file %r is larger than %d bytes' % (names[first][:80], MAX_FILE_SIZE))
        sizes[first] = size
        run_files.append(first - cut)
        run_streams.extend(streams[first:end])
        run_positions.extend(positions[first:end])
        run_lengths.extend(lengths[first:end])
        run_starts.append(run_starts[-1] + end - first)
        cut += end - first - 1
    streams = array('I', streams)
    positions = array('Q', positions)
    for r in reversed(repeats):
        del names[r], streams[r], positions[r], sizes[r]
    for i in run_files:
        streams[i] = STREAM_RUN
    for i in compress(range(len(names)), map(not_, sizes)):
        streams[i] = STREAM_EMPTY
    return names, streams, positions, sizes, (run_streams, run_positions, run_lengths, run_files, run_starts)


def run_segments(runs, i):
    """The packed segments of file `i`, one of several segments (STREAM_RUN)
    in the columns of ManifestDir.file_columns, whose `runs` are (streams,
    positions, lengths of those files' segments, the files' indexes, where
    each file's segments start)."""
    streams, positions, lengths, files, starts = runs
    k = bisect.bisect_left(files, i)
    return _fold_segments(streams, positions, lengths, starts[k], starts[k + 1])


def _fold_segments(streams, positions, lengths, first, end):
    """Segments `first` to `end` of the columns folded as _add_segments
    does: in manifest order, a segment continuing the previous piece merged
    into it, empty ones dropped."""
    pieces = []
    for k in range(first, end):
        seg_len = lengths[k]
        if not seg_len:
            continue
        if pieces:
            last = pieces[-1]
            if last >> 128 == streams[k] and ((last >> 64) & _MASK) + (last & _MASK) == positions[k]:
                pieces[-1] = last + seg_len
                continue
        pieces.append((streams[k] << 128) | (positions[k] << 64) | seg_len)
    if len(pieces) > 1:
        return tuple(pieces)
    return pieces[0] if pieces else EMPTY_FILE


class Manifest(object):
    """Parsed manifest: `root` tree plus `blocks`, the list of distinct
    blocks as locators exactly as given (signatures included), indexed by
    the pieces of every file."""

    def __init__(self, root, blocks, segments=0, streams=0, stream_table=(), max_pieces=None):
        self.root = root
        self.blocks = blocks
        # What files' segments index (_Stream each), and the most block
        # pieces one file may resolve to (see PIECES_PER_BYTE).
        self.stream_table = stream_table
        self.max_pieces = max_pieces
        # What building entries from it will cost, roughly (the directory
        # cache's estimate): one file per segment, one directory per stream.
        self.segments = segments
        self.streams = streams
        # Read from a Keep block, not from the API: nobody will sign its
        # blocks again.
        self.keep_only = False
        self._expiry = False

    def block_pieces(self, segments):
        """A file's block pieces (packed as the segments are): what its
        reader needs.  Raises ManifestError past `max_pieces`."""
        return resolve(segments, self.stream_table, self.max_pieces)

    def expiry(self):
        """The earliest signature expiry of its blocks (None: unsigned);
        computed once."""
        if self._expiry is False:
            self._expiry = earliest_expiry(self.blocks)
        return self._expiry

    def expand_large(self, min_bytes):
        """Parse now the root's files and those of every directory with at
        least `min_bytes` of segments to parse: whoever asks for them later
        may hold a lock other requests wait for."""
        self.root.prepare()
        # Packed leaves are lines of at most LEAF_LINE_CHARS: left as they
        # are unless those are to be parsed too.
        unpack = min_bytes <= LEAF_LINE_CHARS
        stack = list(self.root.dirs.values() if unpack else self.root.built_subdirs().values())
        while stack:
            d = stack.pop()
            if d.pending_bytes() >= min_bytes:
                d.prepare()
            stack.extend(d.dirs.values() if unpack else d.built_subdirs().values())


def _path_components(path):
    """Split a stream or file path; empty and `.` components vanish as the
    SDK does, other odd components are kept for the name sanitizer."""
    return [part for part in path.split('/') if part not in ('', '.')]


# A stream line's name and block locators; what follows is its file segments.
_HEAD_RE = re.compile(r'([^ ]+)((?: +%s(?= |$))+)' % LOCATOR)


class gc_paused(object):
    """Parsing (and building entries from the parse) makes 10^5-10^6
    objects that all live on: the cyclic collector, run every 700 of them,
    would walk them again and again (a third of a deep tree's parse).
    Paused meanwhile; another thread that paused it too leaves it to
    whichever started first.  A class, not a generator: a deep tree's
    walk enters it twice per directory."""
    __slots__ = ('_was',)

    def __enter__(self):
        self._was = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc):
        if self._was:
            gc.enable()
        return False


def parse(text, lazy=False):
    """Parse manifest `text` into a `Manifest`.  Raises ManifestError.
    `text`: a str, or what has its lines (`lines()`, an iterator of them
    without their '\n', each time it is called) and `chars`, its length:
    a compressed text read a piece at a time (fs/collection.PackedText),
    so that the whole text and its parse are not held at once.

    lazy=True reads stream names and block locators now and keeps each
    directory's file segments to parse when its `files` are first asked for
    (a malformed segment is then reported at that point): what a collection
    of 10^6 files in 10^4 directories costs at mount time is its directory
    tree, not its files.  Manifests whose file names hold a `/` (never
    written by Arvados, possible in one stored only in Keep) are parsed
    whole at once either way, since their lines add files to other
    directories and the order of pieces must be the manifest's."""
    with gc_paused():
        return _parse(text, lazy)


def _parse(text, lazy):
    if isinstance(text, str):
        text_lines, chars = _lines_of(text), len(text)
    elif hasattr(text, 'lines'):
        text_lines, chars = text.lines(), text.chars
    else:
        raise ManifestError('manifest is not text')
    root = ManifestDir()
    blocks = []
    block_index = {}
    stream_table = []
    stream_of = {}  # a line's locators, as written -> index in stream_table
    segments = streams = 0
    lines = []  # (directory, line) in manifest order
    slashed = False
    last_parent = last_dir = last_depth = None  # the parent directory of the last stream
    # One string for a directory name that recurs (a deep tree's "p0",
    # "lane1", "fastq" in every parent): each of 10^6 unbuilt directories
    # keeps its name until its parent is built.
    shared_names = {}
    packing = None  # the directory whose packed leaves the lines add to
    lineno = 0
    for line in text_lines:
        # Only ASCII space separates tokens: str.split() would also split
        # on Unicode spaces (U+00A0...) that are legal, unescaped, in names.
        line = line.strip(' ')
        lineno += 1
        if not line:
            continue
        head = _HEAD_RE.match(line)
        stream = head.group(1) if head else line.split(' ', 1)[0]
        if stream != '.' and not stream.startswith('./'):
            raise ManifestError('line %d: stream name %r does not start with "."' % (lineno, stream[:80]))
        if head is None:
            raise ManifestError('line %d: stream %r has no block locator' % (lineno, stream[:80]))
        rest = line[head.end():].lstrip(' ')
        if not rest:
            raise ManifestError('line %d: stream %r has no file segment' % (lineno, stream[:80]))
        locators = head.group(2)
        sid = stream_of.get(locators)
        if sid is None:
            sid = stream_of[locators] = len(stream_table)
            stream_table.append(_stream(locators, blocks, block_index, lineno, sid))
        streams += 1
        segments += rest.count(' ') + 1
        if not slashed and ('/' in rest or '\\057' in rest):
            slashed = True
        if len(stream) > MAX_PATH:
            raise ManifestError('line %d: stream name longer than %d bytes' % (lineno, MAX_PATH))
        cwd = root
        depth = 0
        if stream != '.':
            parent, _slash, last = stream.rpartition('/')
            if parent == last_parent and last not in ('', '.') and '\\' not in stream:
                # The last line's parent again (a deep tree's lines come
                # ten to a parent): not walked again.
                parts = (last,)
                cwd, depth = last_dir, last_depth
            else:
                parts = _path_components(unescape_name(stream) if '\\' in stream else stream)
                last_parent = None
            if depth + len(parts) > MAX_DEPTH:
                raise ManifestError('line %d: stream %r is more than %d directories deep'
                                    % (lineno, stream[:80], MAX_DEPTH))
            for part in parts[:-1]:
                cwd = cwd.subdir(part, lineno)
            if parts:
                if last_parent is None and '\\' not in stream and parts[-1] == last:
                    last_parent, last_dir, last_depth = parent, cwd, depth + len(parts) - 1
                name = parts[-1]
                name = shared_names.setdefault(name, name)
                if len(shared_names) > SHARED_NAMES:
                    shared_names.clear()
                if lazy:
                    # The line's directory, a packed leaf of its parent
                    # if it can be (ManifestDir._leaves).
                    if cwd is not packing and packing is not None:
                        packing._close_leaves()
                        packing = None
                    if cwd._add_leaf(name, stream_table[sid], rest, lineno):
                        packing = cwd
                    continue
                cwd = cwd.subdir(name, lineno)
            depth += len(parts)
        if not lazy:
            lines.append((cwd, (stream_table[sid], rest), lineno, depth))
        cwd.defer(stream_table[sid], rest)
    if packing is not None:
        packing._close_leaves()
    if lazy and slashed:
        # A name with a `/` adds files to other directories: the order of
        # their segments is the manifest's, so the whole text is parsed at
        # once after all (never written by Arvados; only the lines of an
        # eager parse are kept, for this).
        return _parse(text, False)
    if not lazy:
        for d, _pending, _lineno, _depth in lines:
            d.undefer()
        several = []
        for d, pending, lineno, depth in lines:
            _add_segments(d, pending, several, lineno, depth)
        _freeze(several)
    max_pieces = PIECES_FLOOR + PIECES_PER_BYTE * chars
    if not lazy:
        _check_pieces(root, stream_table, max_pieces)
    return Manifest(root, blocks, segments, streams, stream_table, max_pieces)


def _lines_of(text):
    """The lines of `text` one at a time, not text.split('\n'): a copy of
    the whole text (tens of MB at 10^6 files) would add to the peak of the
    load."""
    at, n = 0, len(text)
    while at < n:
        end = text.find('\n', at)
        if end < 0:
            end = n
        yield text[at:end]
        at = end + 1


def _check_pieces(root, stream_table, max_pieces):
    """A manifest parsed whole (one stored only in Keep: nobody validated
    it) is refused now if its files would resolve to more block pieces
    than `max_pieces` in all, rather than one file at a time when opened."""
    left = max_pieces
    stack = [root]
    while stack:
        d = stack.pop()
        stack.extend(d.dirs.values())
        for segments in d._files.values():
            if type(segments) is int and len(stream_table[segments >> 128].blocks) == 1:
                left -= 1
            elif segments != EMPTY_FILE:
                left -= _piece_count(segments, stream_table, left)
            if left < 0:
                raise ManifestError('the manifest describes more pieces of files than %d per byte of its text '
                                    '(segments spanning the same blocks over and over)' % PIECES_PER_BYTE)


def _piece_count(segments, stream_table, limit):
    try:
        pieces = resolve(segments, stream_table, max(limit, 0))
    except ManifestError:
        return limit + 1
    return 1 if type(pieces) is int else len(pieces)


def _stream(locators, blocks, block_index, lineno, sid):
    """The _Stream of a line's locators (adding new blocks to `blocks`)."""
    stream_blocks = []
    starts = []
    pos = 0
    for loc in locators.split(' '):
        if not loc:
            continue
        key, size_text = loc[:32], loc[33:].split('+', 1)[0]
        size = int(size_text) if len(size_text) < 20 else MAX_BLOCK_SIZE + 1
        if size > MAX_BLOCK_SIZE:
            raise ManifestError('line %d: block size of %r is too large' % (lineno, loc[:80]))
        if key not in block_index:
            block_index[key] = len(blocks)
            blocks.append(loc)
        stream_blocks.append((block_index[key], size))
        starts.append(pos)
        pos += size
    return _Stream(tuple(stream_blocks), tuple(starts), pos, sid)


def _freeze(several):
    """Files of several pieces were lists while being added to; tuples
    after.  Their size is checked here, once each: st_size is signed 64-bit,
    and a bigger file would vanish from listings (one segment is at most
    its stream, far below that)."""
    for files, name in several:
        pieces = files[name] = tuple(files[name])
        if size_of(pieces) > MAX_FILE_SIZE:
            raise ManifestError('file %r is larger than %d bytes' % (name[:80], MAX_FILE_SIZE))


# A whole segment token between spaces (ASCII digits only, as int() of the
# general way below is given).
# A packed leaf (ManifestDir._leaves) of one plain segment: its name, the
# segment's position, length and file name (no space, '/' or escape: as
# one_segment takes them).  Digits of at most 19 (a uint64's array).
_LEAF_RE = re.compile(r'^([^/\n]*)/([0-9]{1,19}):([0-9]{1,19}):([^ /\\\n]+)$', re.M)
_SEGMENT_RE = re.compile(r'(?:^| )([0-9]+):([0-9]+):([^ ]+)(?= |$)')
# The same tokens, their names alone: what a listing needs.
_SEGMENT_NAME_RE = re.compile(_SEGMENT_RE.pattern.replace('([0-9]+):([0-9]+):', '[0-9]+:[0-9]+:'))
# Their lengths alone, in tokens known to be plain: each match takes a
# whole token (a name may hold digits and colons).
_SEGMENT_LENGTH_RE = re.compile(r'[0-9]+:([0-9]+):[^ ]+')


# Characters of a line given to the tokenizer at once: the tuples and
# strings it makes for a line of 10^6 tokens would be ~200 MB at once.
PIECE = 1 << 18


class _NotPlain(Exception):
    """A line is not plain (see _plain_pieces)."""


def _plain_pieces(rest, pattern):
    """pattern.findall of a line's segment tokens `rest`, a piece of about
    PIECE characters at a time, cut at a space.  Raises _NotPlain for an
    escape, a `/`, or a token not digits:digits:name: as many tokens found
    as the spaces cut, so an empty one (a doubled, leading or trailing
    space) is one not found."""
    if '\\' in rest or '/' in rest:
        raise _NotPlain()
    start, n = 0, len(rest)
    while True:
        end = rest.find(' ', start + PIECE) if n - start > PIECE else -1
        piece = rest[start:] if end < 0 else rest[start:end]
        found = pattern.findall(piece)
        if len(found) != piece.count(' ') + 1:
            raise _NotPlain()
        yield found
        if end < 0:
            return
        start = end + 1


def ascending(names):
    """Whether `names` are in strictly ascending order (unique, sorted)."""
    return all(map(lt, names, islice(names, 1, None)))


def non_descending(names):
    """Whether `names` are sorted, equal ones side by side (a file's
    segments one after another)."""
    return all(map(le, names, islice(names, 1, None)))


def _repeated(names):
    """Indexes of the names equal to the one before (a file's later
    segments, in non-descending names)."""
    return list(compress(range(1, len(names)), map(eq, islice(names, 1, None), names)))


def _firsts(names):
    """Index of the first of each run of equal names (one file's
    segments, in non-descending names; at least one name)."""
    firsts = array('I', [0])
    firsts.extend(compress(range(1, len(names)), map(ne, islice(names, 1, None), names)))
    return firsts


def _run_sizes(lengths, firsts):
    """(sizes, ends): the sum of the lengths of each run, run k from
    firsts[k] to ends[k] (the next run's first, or the end), by running
    sums in C loops.  OverflowError past 2^64."""
    ends = firsts[1:]
    ends.append(len(lengths))
    sums = array('Q', accumulate(lengths, initial=0))
    return array('Q', map(sub, map(sums.__getitem__, ends), map(sums.__getitem__, firsts))), ends


def _at(lineno):
    """Where an error is, for its message: the line if known."""
    return 'line %d: ' % lineno if lineno is not None else ''


def _add_segments(cwd, line, several, lineno=None, depth=0):
    """The file segments of one stream `line` (stream, its segment tokens),
    whose directory is `cwd`: line `lineno` of the manifest, `depth`
    directories deep, if known (a directory parsed when first visited
    keeps neither: 10^6 of them cost 56 MB; its errors say no line)."""
    try:
        _segments_into(cwd, line, several, lineno, depth)
    except ManifestError:
        raise
    except ValueError as e:
        # E.g. int() refuses a number of more digits than Python reads
        # (sys.get_int_max_str_digits, 4300): far out of any stream.
        raise ManifestError('%sa segment cannot be read: %s' % (_at(lineno), str(e)[:120])) from None


def _segments_into(cwd, line, several, lineno, depth):
    stream, rest = line
    sid = stream.sid
    stream_len = stream.length
    high = sid << 128
    if '\\' not in rest and '/' not in rest and '  ' not in rest:
        # The usual line: plain names, one space between tokens.  The
        # tokens are cut by a regular expression, in C; if any is not a
        # whole match, the general way below says which and why.
        matches = _SEGMENT_RE.findall(rest)
        if len(matches) == rest.count(' ') + 1:
            files = cwd.file_dict()
            dirs = cwd._child_names()
            for pos_text, len_text, leaf in matches:
                seg_pos, seg_len = int(pos_text), int(len_text)
                if seg_pos + seg_len > stream_len:
                    raise ManifestError(_at(lineno) + 'segment %r runs past the end of its stream (%d bytes)'
                                        % ('%s:%s:%s' % (pos_text, len_text, leaf[:60]), stream_len))
                if leaf == '.' and not seg_len:
                    continue  # the empty-directory placeholder
                if leaf in dirs:
                    raise ManifestError(_at(lineno) + '%r is both a file and a directory' % (leaf,))
                pieces = files.get(leaf, EMPTY_FILE)
                if pieces == EMPTY_FILE:
                    files[leaf] = (high | (seg_pos << 64) | seg_len) if seg_len else EMPTY_FILE
                elif seg_len:
                    was_list = type(pieces) is list
                    pieces = files[leaf] = _add_piece(pieces, sid, seg_pos, seg_len)
                    if type(pieces) is list and not was_list:
                        several.append((files, leaf))
            return
    tokens = rest.split(' ')
    if '' in tokens:
        tokens = [t for t in tokens if t]
    # Most segments name a new file in this stream's directory: that case
    # is kept short (10^6 of them take seconds of Python, with the GIL that
    # other requests need).
    files = cwd.file_dict()
    cwd_names = cwd._child_names()
    for token in tokens:
        fields = token.split(':', 2)
        if len(fields) != 3 or not fields[2] or not (fields[0].isdigit() and fields[0].isascii()
                                                     and fields[1].isdigit() and fields[1].isascii()):
            raise ManifestError(_at(lineno) + 'bad file segment %r' % (token[:80],))
        seg_pos, seg_len, name = int(fields[0]), int(fields[1]), fields[2]
        if seg_pos + seg_len > stream_len:
            raise ManifestError(_at(lineno) + 'segment %r runs past the end of its stream (%d bytes)'
                                % (token[:80], stream_len))
        if '\\' in name:
            name = unescape_name(name)
        if '/' in name:
            if len(name) > MAX_PATH:
                raise ManifestError(_at(lineno) + 'file path longer than %d bytes' % (MAX_PATH,))
            parts = name.split('/')
            if depth + len(parts) - 1 > MAX_DEPTH:
                raise ManifestError(_at(lineno) + 'file %r is more than %d directories deep'
                                    % (token[:80], MAX_DEPTH))
            leaf = parts[-1]
            d = cwd
            for part in parts[:-1]:
                if part not in ('', '.'):
                    d = d.subdir(part, lineno)
            target, target_dirs = d.file_dict(), d._child_names()
            cwd_names = None  # it may have given `cwd` its first subdirectory (a new dict)
        else:
            if cwd_names is None:
                cwd_names = cwd._child_names()
            leaf, target, target_dirs = name, files, cwd_names
        if leaf == '' or (leaf == '.' and not seg_len):
            # `0:0:\\056` is the empty-directory placeholder: a dir, no file.
            # A `.` file with bytes (only a Keep-only manifest can hold
            # one) is a file; the mount shows it as `_`, as the seed did.
            if seg_len:
                raise ManifestError(_at(lineno) + 'segment %r names a directory' % (token[:80],))
            continue
        if leaf in target_dirs:
            raise ManifestError(_at(lineno) + '%r is both a file and a directory' % (leaf,))
        pieces = target.get(leaf, EMPTY_FILE)
        if pieces == EMPTY_FILE:
            target[leaf] = (high | (seg_pos << 64) | seg_len) if seg_len else EMPTY_FILE
            continue
        if not seg_len:
            continue
        was_list = type(pieces) is list
        pieces = _add_piece(pieces, sid, seg_pos, seg_len)
        target[leaf] = pieces
        if type(pieces) is list and not was_list:
            several.append((target, leaf))


def resolve(segments, stream_table, max_pieces=None):
    """A file's segments (stream, position, length) as block pieces (block,
    offset, length), packed the same way; at most `max_pieces` of them."""
    if segments == EMPTY_FILE:
        return EMPTY_FILE
    out = EMPTY_FILE
    count = 0
    for sid, at, remaining in pieces_of(segments):
        stream = stream_table[sid]
        starts, stream_blocks = stream.starts, stream.blocks
        j = bisect.bisect_right(starts, at) - 1
        if j < 0:
            j = 0
        while remaining > 0:
            idx, size = stream_blocks[j]
            off = at - starts[j]
            if off >= size:
                j += 1
                continue
            n = min(size - off, remaining)
            count += 1
            if max_pieces is not None and count > max_pieces:
                raise ManifestError('a file is made of more than %d pieces of blocks' % max_pieces)
            out = _add_piece(out, idx, off, n)
            at += n
            remaining -= n
            j += 1
    return tuple(out) if type(out) is list else out


def block_locators(text):
    """The distinct block locators of manifest `text`, in the order (and
    so with the indexes) `parse` gives them: what renewing a block table's
    signatures needs, without parsing any file segment."""
    blocks = []
    seen = set()
    for lineno, line in enumerate(text.split('\n'), 1):
        line = line.strip(' ')
        if not line:
            continue
        head = _HEAD_RE.match(line)
        if head is None:
            raise ManifestError('line %d: no block locator' % lineno)
        for loc in head.group(2).split(' '):
            if loc and loc[:32] not in seen:
                seen.add(loc[:32])
                blocks.append(loc)
    return blocks


def earliest_expiry(locators):
    """The earliest signature expiry (unix time) of `locators`, or None
    when none is signed."""
    earliest = None
    seen = set()
    for loc in locators:
        at = loc.find('+A')
        if at < 0:
            continue
        hint = loc[at + 2:].split('+', 1)[0]
        stamp = hint.rpartition('@')[2]
        if stamp in seen:
            continue  # one API response signs everything with one expiry
        seen.add(stamp)
        expiry = signature_expiry(loc)
        if expiry is not None and (earliest is None or expiry < earliest):
            earliest = expiry
    return earliest


def signature_expiry(locator):
    """Unix time at which a `+A<sig>@<hex expiry>` hint expires, or None."""
    for hint in locator.split('+')[2:]:
        if hint.startswith('A') and '@' in hint:
            try:
                return int(hint.split('@', 1)[1], 16)
            except ValueError:
                return None
    return None


# A block locator token of a stream line (never a stream name, which starts
# with '.', nor a file segment, which starts with a digit and holds ':').
_TOKEN_LOCATOR_RE = re.compile(r'(?<= )%s(?= |\n|$)' % LOCATOR)


def resign(text, locators):
    """Manifest `text` with each block's permission signature replaced by
    the one in `locators` (the same blocks, signed anew); blocks not in
    `locators`, and everything else of the text, unchanged."""
    signature = {}
    for loc in locators:
        signature[loc[:32]] = [h for h in loc.split('+')[2:] if h.startswith('A')]

    def swap(m):
        token = m.group(0)
        new = signature.get(token[:32])
        if new is None:
            return token
        parts = token.split('+')
        hints = [h for h in parts[2:] if not h.startswith('A')]
        return '+'.join(parts[:2] + new + hints)

    return _TOKEN_LOCATOR_RE.sub(swap, text)
