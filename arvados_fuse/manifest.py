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

_LOCATOR_RE = re.compile(r'^([0-9a-f]{32})\+([0-9]+)((\+[A-Z][A-Za-z0-9@_-]*)*)$')
_SEGMENT_RE = re.compile(r'^([0-9]+):([0-9]+):(.+)$', re.S)
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
    m = _LOCATOR_RE.match(locator)
    if not m:
        raise ManifestError('bad locator %r' % locator)
    return '%s+%s' % (m.group(1), m.group(2))


class ManifestFile(object):
    """One file: an ordered list of (block_index, offset_in_block, length)
    pieces over the collection's block table."""
    __slots__ = ('pieces', 'size')

    def __init__(self):
        self.pieces = []
        self.size = 0

    def add_piece(self, block_index, offset, length):
        if length == 0:
            return
        if self.pieces:
            last_block, last_off, last_len = self.pieces[-1]
            if last_block == block_index and last_off + last_len == offset:
                self.pieces[-1] = (last_block, last_off, last_len + length)
                self.size += length
                return
        self.pieces.append((block_index, offset, length))
        self.size += length


class ManifestDir(object):
    """A directory: subdirectories and files by (unescaped) name."""
    __slots__ = ('dirs', 'files')

    def __init__(self):
        self.dirs = {}
        self.files = {}

    def subdir(self, name, where):
        if name in self.files:
            raise ManifestError('%s: %r is both a file and a directory' % (where, name))
        return self.dirs.setdefault(name, ManifestDir())

    def file(self, name, where):
        if name in self.dirs:
            raise ManifestError('%s: %r is both a file and a directory' % (where, name))
        return self.files.setdefault(name, ManifestFile())


class Manifest(object):
    """Parsed manifest: `root` tree plus `blocks`, the list of distinct
    blocks as locators exactly as given (signatures included), indexed by
    the pieces of every file."""

    def __init__(self, root, blocks):
        self.root = root
        self.blocks = blocks

    @property
    def bare_blocks(self):
        return [bare_locator(b) for b in self.blocks]


def _path_components(path):
    """Split a stream or file path; empty and `.` components vanish as the
    SDK does, other odd components are kept for the name sanitizer."""
    return [part for part in path.split('/') if part not in ('', '.')]


def parse(text):
    """Parse manifest `text` (str) into a `Manifest`.  Raises ManifestError."""
    if not isinstance(text, str):
        raise ManifestError('manifest is not text')
    root = ManifestDir()
    blocks = []
    block_index = {}
    for lineno, line in enumerate(text.split('\n'), 1):
        # Only ASCII space separates tokens: str.split() would also split
        # on Unicode spaces (U+00A0...) that are legal, unescaped, in names.
        tokens = [t for t in line.split(' ') if t]
        if not tokens:
            continue
        where = 'line %d' % lineno
        stream = tokens[0]
        if stream != '.' and not stream.startswith('./'):
            raise ManifestError('%s: stream name %r does not start with "."' % (where, stream[:80]))
        # Blocks of this stream, with each one's start offset in the stream.
        stream_blocks = []
        starts = []
        pos = 0
        i = 1
        while i < len(tokens):
            m = _LOCATOR_RE.match(tokens[i])
            if not m:
                break
            loc = tokens[i]
            key = m.group(1)
            if key not in block_index:
                block_index[key] = len(blocks)
                blocks.append(loc)
            stream_blocks.append((block_index[key], int(m.group(2))))
            starts.append(pos)
            pos += int(m.group(2))
            i += 1
        if not stream_blocks:
            raise ManifestError('%s: stream %r has no block locator' % (where, stream[:80]))
        if i == len(tokens):
            raise ManifestError('%s: stream %r has no file segment' % (where, stream[:80]))
        stream_len = pos
        cwd = root
        for part in _path_components(unescape_name(stream)):
            cwd = cwd.subdir(part, where)
        for token in tokens[i:]:
            m = _SEGMENT_RE.match(token)
            if not m:
                raise ManifestError('%s: bad file segment %r' % (where, token[:80]))
            seg_pos, seg_len = int(m.group(1)), int(m.group(2))
            if seg_pos + seg_len > stream_len:
                raise ManifestError('%s: segment %r runs past the end of its stream (%d bytes)'
                                    % (where, token[:80], stream_len))
            parts = unescape_name(m.group(3)).split('/')
            dirparts = [p for p in parts[:-1] if p not in ('', '.')]
            leaf = parts[-1]
            d = cwd
            for part in dirparts:
                d = d.subdir(part, where)
            if leaf == '' or (leaf == '.' and not seg_len):
                # `0:0:\056` is the empty-directory placeholder: a dir, no file.
                # A `.` file with bytes (only a Keep-only manifest can hold
                # one) is a file; the mount shows it as `_`, as the seed did.
                if seg_len:
                    raise ManifestError('%s: segment %r names a directory' % (where, token[:80]))
                continue
            f = d.file(leaf, where)
            # Map the stream range onto blocks.
            remaining = seg_len
            at = seg_pos
            j = max(bisect.bisect_right(starts, at) - 1, 0)
            while remaining > 0:
                idx, size = stream_blocks[j]
                off = at - starts[j]
                if off >= size:
                    j += 1
                    continue
                n = min(size - off, remaining)
                f.add_piece(idx, off, n)
                at += n
                remaining -= n
                j += 1
    return Manifest(root, blocks)


def signature_expiry(locator):
    """Unix time at which a `+A<sig>@<hex expiry>` hint expires, or None."""
    for hint in locator.split('+')[2:]:
        if hint.startswith('A') and '@' in hint:
            try:
                return int(hint.split('@', 1)[1], 16)
            except ValueError:
                return None
    return None
