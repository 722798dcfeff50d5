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
import re

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


# A file is its pieces over the collection's block table, each piece
# (block_index, offset_in_block, length) packed into one int: a file of one
# piece (most files) is one int, a file of several a tuple of them, an empty
# file ().  With 10^6 files per collection, an object per file and per piece
# (and an int object per offset and length) is what fills memory.
EMPTY_FILE = ()
_BITS = 64
_MASK = (1 << _BITS) - 1

# Limits on what a manifest may ask of us.  Manifests stored only in Keep
# were never validated, and a shared collection's can be anyone's.
#
# Blocks of at most MAX_BLOCK_SIZE (Keep's 64 MiB, locators.py): a locator
# claiming more names a block no Keep server holds.  With the budget below,
# this also bounds a file's size far below 2^63 (st_size is signed 64-bit:
# a bigger file would vanish from listings).
# Pieces of files (a segment spanning blocks makes one per block): at most
# this many, plus PIECES_PER_BYTE for each byte of manifest text, so time
# and memory stay linear in the text's size.  One block listed 3,000 times
# with 3,000 segments each spanning the whole stream would otherwise make
# 9*10^6 pieces (1.4 GB) out of 300 KB.  A normal manifest makes at most
# one piece per segment plus one per block boundary: well below one per byte.
PIECES_FLOOR = 100000
PIECES_PER_BYTE = 4
# Directory depth (stream and file path components): what PATH_MAX (4096
# bytes) leaves room for with short names is ~2000; no real collection
# comes near this, and deep trees cost a recursion somewhere.
MAX_DEPTH = 256
# A stream name or a segment's file path, escaped: at most PATH_MAX.
MAX_PATH = 4096


class _Budget(object):
    """The pieces a manifest may still make (shared by a lazy parse's
    directories, which are expanded at different times)."""
    __slots__ = ('left',)

    def __init__(self, text_len):
        self.left = PIECES_FLOOR + PIECES_PER_BYTE * text_len

    def spend(self, n, where):
        self.left -= n
        if self.left < 0:
            raise ManifestError('%s: the manifest describes more pieces of files than %d per byte of its text '
                                '(segments spanning the same blocks over and over)' % (where, PIECES_PER_BYTE))


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


class ManifestDir(object):
    """A directory: subdirectories and files (their packed pieces) by
    (unescaped) name.  Subdirectories are known once the manifest is read;
    files may be parsed later, from the stream lines kept for them, the
    first time `files` is asked for (see `parse(lazy=True)`)."""
    __slots__ = ('dirs', '_files', '_pending')

    def __init__(self):
        self.dirs = {}
        self._files = {}
        # None: files parsed.  A list: the stream lines still to parse.
        # A ManifestError: parsing them failed (and fails again).
        self._pending = None

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
        self._pending = None
        several = []
        try:
            for line in pending:
                _add_segments(self, line, several)
        except ManifestError as e:
            self._files = {}
            self._pending = e
            raise
        _freeze(several)

    def defer(self, line):
        """Keep a stream line's file segments to parse when `files` is first
        asked for."""
        if self._pending is None:
            self._pending = []
        self._pending.append(line)

    def undefer(self):
        """Forget the lines kept: the caller parses them now."""
        self._pending = None

    def pending_bytes(self):
        pending = self._pending
        return sum(len(line[4]) for line in pending) if isinstance(pending, list) else 0

    def subdir(self, name, where):
        if name in self._files:
            raise ManifestError('%s: %r is both a file and a directory' % (where, name))
        return self.dirs.setdefault(name, ManifestDir())

    def check_file_name(self, name, where):
        if name in self.dirs:
            raise ManifestError('%s: %r is both a file and a directory' % (where, name))


class Manifest(object):
    """Parsed manifest: `root` tree plus `blocks`, the list of distinct
    blocks as locators exactly as given (signatures included), indexed by
    the pieces of every file."""

    def __init__(self, root, blocks, segments=0, streams=0):
        self.root = root
        self.blocks = blocks
        # What building entries from it will cost, roughly (the directory
        # cache's estimate): one file per segment, one directory per stream.
        self.segments = segments
        self.streams = streams
        # Read from a Keep block, not from the API: nobody will sign its
        # blocks again.
        self.keep_only = False
        self._expiry = False

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
        self.root.expand()
        stack = list(self.root.dirs.values())
        while stack:
            d = stack.pop()
            if d.pending_bytes() >= min_bytes:
                d.expand()
            stack.extend(d.dirs.values())


def _path_components(path):
    """Split a stream or file path; empty and `.` components vanish as the
    SDK does, other odd components are kept for the name sanitizer."""
    return [part for part in path.split('/') if part not in ('', '.')]


# A stream line's name and block locators; what follows is its file segments.
_HEAD_RE = re.compile(r'([^ ]+)((?: +%s(?= |$))+)' % LOCATOR)


def parse(text, lazy=False):
    """Parse manifest `text` (str) into a `Manifest`.  Raises ManifestError.

    lazy=True reads stream names and block locators now and keeps each
    directory's file segments to parse when its `files` are first asked for
    (a malformed segment is then reported at that point): what a collection
    of 10^6 files in 10^4 directories costs at mount time is its directory
    tree, not its files.  Manifests whose file names hold a `/` (never
    written by Arvados, possible in one stored only in Keep) are parsed
    whole at once either way, since their lines add files to other
    directories and the order of pieces must be the manifest's."""
    if not isinstance(text, str):
        raise ManifestError('manifest is not text')
    root = ManifestDir()
    budget = _Budget(len(text))
    blocks = []
    block_index = {}
    segments = streams = 0
    lines = []  # (directory, line) in manifest order
    slashed = False
    for lineno, line in enumerate(text.split('\n'), 1):
        # Only ASCII space separates tokens: str.split() would also split
        # on Unicode spaces (U+00A0...) that are legal, unescaped, in names.
        line = line.strip(' ')
        if not line:
            continue
        where = 'line %d' % lineno
        head = _HEAD_RE.match(line)
        stream = head.group(1) if head else line.split(' ', 1)[0]
        if stream != '.' and not stream.startswith('./'):
            raise ManifestError('%s: stream name %r does not start with "."' % (where, stream[:80]))
        if head is None:
            raise ManifestError('%s: stream %r has no block locator' % (where, stream[:80]))
        rest = line[head.end():].lstrip(' ')
        if not rest:
            raise ManifestError('%s: stream %r has no file segment' % (where, stream[:80]))
        # Blocks of this stream, with each one's start offset in the stream.
        stream_blocks = []
        starts = []
        pos = 0
        for loc in head.group(2).split(' '):
            if not loc:
                continue
            key, size_text = loc[:32], loc[33:].split('+', 1)[0]
            size = int(size_text) if len(size_text) < 20 else MAX_BLOCK_SIZE + 1
            if size > MAX_BLOCK_SIZE:
                raise ManifestError('%s: block size of %r is too large' % (where, loc[:80]))
            if key not in block_index:
                block_index[key] = len(blocks)
                blocks.append(loc)
            stream_blocks.append((block_index[key], size))
            starts.append(pos)
            pos += size
        streams += 1
        segments += rest.count(' ') + 1
        if not slashed and ('/' in rest or '\\057' in rest):
            slashed = True
        if len(stream) > MAX_PATH:
            raise ManifestError('%s: stream name longer than %d bytes' % (where, MAX_PATH))
        cwd = root
        parts = _path_components(unescape_name(stream))
        if len(parts) > MAX_DEPTH:
            raise ManifestError('%s: stream %r is more than %d directories deep' % (where, stream[:80], MAX_DEPTH))
        for part in parts:
            cwd = cwd.subdir(part, where)
        pending = (lineno, stream_blocks, starts, pos, rest, budget, len(parts))
        lines.append((cwd, pending))
        cwd.defer(pending)
    if slashed or not lazy:
        for d, _pending in lines:
            d.undefer()
        several = []
        for d, pending in lines:
            _add_segments(d, pending, several)
        _freeze(several)
    return Manifest(root, blocks, segments, streams)


def _freeze(several):
    """Files of several pieces were lists while being added to; tuples after."""
    for files, name in several:
        files[name] = tuple(files[name])


def _add_segments(cwd, pending, several):
    """The file segments of one stream line, whose directory is `cwd`."""
    lineno, stream_blocks, starts, stream_len, rest, budget, depth = pending
    where = 'line %d' % lineno
    tokens = rest.split(' ')
    if '' in tokens:
        tokens = [t for t in tokens if t]
    budget.spend(len(tokens), where)
    # Most segments name a new file in this stream's directory and lie
    # within one block: that case is kept short (10^6 of them take
    # seconds of Python, with the GIL that other requests need).
    for token in tokens:
        fields = token.split(':', 2)
        if len(fields) != 3 or not fields[2] or not (fields[0].isdigit() and fields[0].isascii()
                                                     and fields[1].isdigit() and fields[1].isascii()):
            raise ManifestError('%s: bad file segment %r' % (where, token[:80]))
        seg_pos, seg_len, name = int(fields[0]), int(fields[1]), fields[2]
        if seg_pos + seg_len > stream_len:
            raise ManifestError('%s: segment %r runs past the end of its stream (%d bytes)'
                                % (where, token[:80], stream_len))
        if '\\' in name:
            name = unescape_name(name)
        if '/' in name:
            if len(name) > MAX_PATH:
                raise ManifestError('%s: file path longer than %d bytes' % (where, MAX_PATH))
            parts = name.split('/')
            if depth + len(parts) - 1 > MAX_DEPTH:
                raise ManifestError('%s: file %r is more than %d directories deep' % (where, token[:80], MAX_DEPTH))
            leaf = parts[-1]
            d = cwd
            for part in parts[:-1]:
                if part not in ('', '.'):
                    d = d.subdir(part, where)
        else:
            leaf, d = name, cwd
        if leaf == '' or (leaf == '.' and not seg_len):
            # `0:0:\\056` is the empty-directory placeholder: a dir, no file.
            # A `.` file with bytes (only a Keep-only manifest can hold
            # one) is a file; the mount shows it as `_`, as the seed did.
            if seg_len:
                raise ManifestError('%s: segment %r names a directory' % (where, token[:80]))
            continue
        if leaf in d.dirs:
            d.check_file_name(leaf, where)
        files = d._files
        pieces = files.get(leaf, EMPTY_FILE)
        j = bisect.bisect_right(starts, seg_pos) - 1
        if j < 0:
            j = 0
        if pieces == EMPTY_FILE:
            idx, size = stream_blocks[j]
            off = seg_pos - starts[j]
            if off + seg_len <= size:
                files[leaf] = ((idx << 128) | (off << 64) | seg_len) if seg_len else EMPTY_FILE
                continue
        was_list = type(pieces) is list
        # Map the stream range onto blocks.
        remaining = seg_len
        at = seg_pos
        while remaining > 0:
            budget.spend(1, where)
            idx, size = stream_blocks[j]
            off = at - starts[j]
            if off >= size:
                j += 1
                continue
            n = min(size - off, remaining)
            pieces = _add_piece(pieces, idx, off, n)
            at += n
            remaining -= n
            j += 1
        files[leaf] = pieces
        if type(pieces) is list and not was_list:
            several.append((files, leaf))


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
