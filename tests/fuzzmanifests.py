"""Hypothesis strategies for Keep-only manifests, each with what a mount
must show for it (tests/test_mount_fuzz.py).

A `Case` is the manifest's bytes plus the expected outcome:
- `tree`: built from the same random choices as the text (not by parsing
  it), a dict name -> ('dir', subtree) or ('file', size, bytes or None);
  None: the file touches a block no locator of it may read (EIO);
- 'ENOENT': malformed by construction (every such manifest is refused);
- None ('anything'): a valid manifest mutated at random; the mount may
  refuse it or show a tree, which must then be consistent in itself.

The valid manifests have odd names (escapes, bad escapes, non-UTF-8 bytes,
NUL, `/` in file names), streams repeated and nested, segments spanning
blocks, empty files and blocks, and blocks whose locator Keep refuses
(made-up or no signature, a smaller size, never stored).
"""

import hashlib
import random

from hypothesis import strategies as st

from arvados_fuse.blocks.manifest import MAX_DEPTH
from arvados_fuse.fs.names import NAME_MAX, sanitize_filename

EMPTY = 'd41d8cd98f00b204e9800998ecf8427e+0'
FORGED = 'A' + 'f' * 40 + '@7fffffff'
# Sizes of the blocks stored in Keep once per test module: shared by many
# manifests, so most reads are block cache hits under another locator.
POOL_SIZES = (1, 3, 17, 100, 700, 4096)


class Case(object):
    def __init__(self, text, tree=None, expect='tree', kind='', entries=None):
        self.text = text if isinstance(text, bytes) else text.encode('utf-8', 'surrogateescape')
        self.tree = tree
        # Every entry the tree holds, listed or not (None: those listed).
        self.entries = entries
        self.expect = expect
        self.kind = kind

    def __repr__(self):
        return 'Case(%s, %r, expect=%r)' % (self.kind, self.text[:2000], self.expect)


# -- names ------------------------------------------------------------------
_LITERAL = st.characters(blacklist_categories=('Cs',), blacklist_characters='/\\\x00\n ')
_ESCAPED = st.characters(blacklist_categories=('Cs',), blacklist_characters='/')
# Backslashes that are no escape (`\ooo` needs a first digit 0-3 and two
# octal digits): kept as they are.
_BAD_ESCAPES = ('\\9', '\\8z', '\\4', '\\38', '\\x')


@st.composite
def _component(draw, leaf=False):
    """(text as written in the manifest, the name it stands for).  Now
    and then '..' (shown as '__'), a name longer than NAME_MAX (not
    listed), and for a file, '.' (shown as '_')."""
    special = draw(st.sampled_from([None] * 20 + ['..', '\\056\\056', 'long'] + (['\\056'] if leaf else [])))
    if special == 'long':
        return 'L' * (NAME_MAX + 1), 'L' * (NAME_MAX + 1)
    if special is not None:
        return special, special.replace('\\056', '.')
    text, raw = [], b''
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(['literal'] * 14 + ['escaped'] * 6 + ['bad'] * 2 + ['invalid']))
        if kind == 'literal':
            c = draw(_LITERAL)
            text.append(c)
            raw += c.encode('utf-8')
        elif kind == 'escaped':
            c = draw(_ESCAPED)
            text.append(''.join('\\%03o' % b for b in c.encode('utf-8')))
            raw += c.encode('utf-8')
        elif kind == 'bad':
            e = draw(st.sampled_from(_BAD_ESCAPES))
            text.append(e)
            raw += e.encode()
        else:
            text.append('\\377')
            raw += b'\xff'
    name = raw.decode('utf-8', 'surrogateescape')
    if name in ('.', '..') or len(raw) > NAME_MAX:
        # '.' and '..' are no names a directory can hold (the sanitizer
        # has its own tests); keep every name within NAME_MAX.
        return draw(_component())
    return ''.join(text), name


def visible(name):
    """The name as listed, or None when it cannot be (not UTF-8)."""
    try:
        raw = name.encode('utf-8')
    except UnicodeEncodeError:
        return None
    return sanitize_filename(name) if len(raw) <= NAME_MAX else None


# -- blocks -----------------------------------------------------------------
class Block(object):
    """A locator as written, its size as the manifest lays it out, its
    bytes, and whether reading through it may succeed."""

    def __init__(self, locator, data, readable):
        self.locator = locator
        self.size = int(locator.split('+')[1])
        self.data = data[:self.size]
        self.readable = readable


def _block(pool, index, kind, seed):
    locator, data = pool[index]
    md5, size, sig = locator.split('+', 2)
    if kind == 'good':
        return Block(locator, data, True)
    if kind == 'forged':
        return Block('%s+%s+%s' % (md5, size, FORGED), data, False)
    if kind == 'unsigned':
        return Block('%s+%s' % (md5, size), data, False)
    if kind == 'smaller':
        return Block('%s+%d+%s' % (md5, int(size) - 1, sig), data, False)
    if kind == 'empty':
        return Block(EMPTY, b'', True)
    # Never stored.
    data = hashlib.sha256(b'%d' % seed).digest() * (1 + seed % 5)
    return Block('%s+%d+%s' % (hashlib.md5(data).hexdigest(), len(data), FORGED), data, False)


# -- valid manifests ----------------------------------------------------------
@st.composite
def valid_manifest(draw, pool):
    """A manifest and the tree a mount must show for it."""
    kinds = {}
    dirs = {(): set()}          # path -> names of subdirectories
    files = {}                  # (path, name) -> [bytes or None per segment]
    lines = []
    for _ in range(draw(st.integers(1, 4))):
        path_parts = draw(st.lists(_component(), max_size=3))
        # Empty and '.' components are no directories.
        stream = '.' + ''.join(draw(st.sampled_from(['/'] * 6 + ['//', '/./'])) + t for t, _n in path_parts)
        path = tuple(n for _t, n in path_parts)
        blocks = []
        for _ in range(draw(st.integers(1, 3))):
            index = draw(st.integers(0, len(pool) - 1))
            # One locator per stored block in a manifest: the mount keeps
            # the first locator it sees for each block.
            kind = kinds.setdefault(index, draw(st.sampled_from(
                ['good'] * 5 + ['forged', 'unsigned', 'smaller', 'empty', 'missing'])))
            seed = draw(st.integers(0, 1 << 30)) if kind == 'missing' else 0
            blocks.append(_block(pool, index, kind, seed))
        starts, pos = [], 0
        for b in blocks:
            starts.append(pos)
            pos += b.size
        length = pos
        segments = []
        for _ in range(draw(st.integers(1, 4))):
            parts = draw(st.lists(_component(), max_size=1)) + [draw(_component(leaf=True))]
            a = draw(st.integers(0, length))
            n = draw(st.integers(0, length - a))
            segments.append(('%d:%d:%s' % (a, n, '/'.join(t for t, _n in parts)),
                             path + tuple(nm for _t, nm in parts), a, n))
        lines.append('%s %s %s' % (stream, ' '.join(b.locator for b in blocks), ' '.join(s[0] for s in segments)))
        for i in range(len(path)):
            dirs.setdefault(path[:i], set()).add(path[i])
            dirs.setdefault(path[:i + 1], set())
        for _tok, fpath, a, n in segments:
            for i in range(len(fpath) - 1):
                dirs.setdefault(fpath[:i], set()).add(fpath[i])
                dirs.setdefault(fpath[:i + 1], set())
            if fpath[-1] == '.' and not n:
                # `0:0:\\056` is an empty directory's placeholder: its
                # directories, no file.
                continue
            key = (fpath[:-1], fpath[-1])
            if key not in files:
                files[key] = []
            files[key].append((n, _bytes_of(blocks, starts, a, n)))
    text = '\n'.join(lines) + draw(st.sampled_from(['\n', '', '\n\n']))
    if any(fpath + (name,) in dirs for fpath, name in files):
        # A name both a file and a directory: the manifest is refused.
        return Case(text, expect='ENOENT', kind='file and directory')
    return Case(text, _tree((), dirs, files), kind='valid', entries=len(dirs) - 1 + len(files))


def _bytes_of(blocks, starts, a, n):
    """Stream bytes [a, a+n), or None if a block it touches is unreadable."""
    out = b''
    for b, s in zip(blocks, starts):
        lo, hi = max(a, s), min(a + n, s + b.size)
        if lo < hi:
            if not b.readable:
                return None
            out += b.data[lo - s:hi - s]
    return out


def _tree(path, dirs, files):
    """What listing `path` shows: directories win name clashes after
    sanitizing, then files; within a kind, sorted order decides."""
    out = {}
    for name in sorted(dirs.get(path, ())):
        shown = visible(name)
        if shown is not None and shown not in out:
            out[shown] = ('dir', _tree(path + (name,), dirs, files))
    for name in sorted(n for p, n in files if p == path):
        shown = visible(name)
        if shown is None or shown in out:
            continue
        pieces = files[(path, name)]
        data = None if any(p is None for _n, p in pieces) else b''.join(p for _n, p in pieces)
        out[shown] = ('file', sum(n for n, _p in pieces), data)
    return out


# -- malformed ones -------------------------------------------------------------
def _bad_lines(good, md5):
    deep = '.' + '/d' * 300
    return [
        'zzz %s 0:1:f' % good,                         # stream name not '.'
        '. 0:1:f',                                     # no locator
        '. %s' % good,                                 # no segment
        '. %s 1:f' % good,                             # bad segments
        '. %s a:1:f' % good,
        '. %s 0:1:' % good,
        '. %s -1:1:f' % good,
        '. %s 0:2:f' % good,                           # past the stream's end
        '. %s+abc 0:1:f' % md5,                        # bad locators
        '. %s+1+a 0:1:f' % md5,
        '. %s+67108865 0:1:f' % md5,                   # over Keep's block size
        '. %s+99999999999999999999999 0:1:f' % md5,    # a huge size
        '. %s+1 0:18446744073709551616:f' % md5,
        '%s %s 0:1:f' % (deep, good),                  # deep stream
        '. %s 0:1:%s' % (good, '/'.join(['d'] * 300)), # deep file path
        './%s %s 0:1:f' % ('n' * 5000, good),          # long stream name
        '. %s 0:1:x\n./x %s 0:1:y' % (good, good),     # file and directory
    ]


@st.composite
def malformed_manifest(draw, pool):
    """A valid manifest with one bad line put in, or made non-UTF-8: the
    mount must refuse it (ENOENT)."""
    base = draw(valid_manifest(pool))
    text = base.text
    good, _data = pool[0]  # a 1-byte block
    md5 = good.split('+')[0]
    if draw(st.booleans()):
        bad = draw(st.sampled_from(_bad_lines(good, md5))).encode()
        lines = text.split(b'\n')
        at = draw(st.integers(0, len(lines)))
        return Case(b'\n'.join(lines[:at] + [bad] + lines[at:]), expect='ENOENT', kind='bad line')
    at = draw(st.integers(0, len(text)))
    return Case(text[:at] + draw(st.sampled_from([b'\xff', b'\xc3', b'\xed\xa0\x80'])) + text[at:],
                expect='ENOENT', kind='not UTF-8')


@st.composite
def mutated_manifest(draw, pool):
    """A valid manifest with a few random edits: anything may come of it."""
    text = bytearray(draw(valid_manifest(pool)).text)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(['delete', 'insert', 'duplicate']))
        if op == 'delete' and text:
            del text[min(at, len(text) - 1)]
        elif op == 'insert':
            text[at:at] = draw(st.sampled_from([b' ', b':', b'+', b'\\', b'\n', b'0', b'.', b'/', b'9' * 12]))
        else:
            text[at:at] = text[at:at + draw(st.integers(1, 40))]
    return Case(bytes(text), expect=None, kind='mutated')


@st.composite
def edge_manifest(draw, pool):
    """At and just past the parser's limits (manifest.MAX_DEPTH directories
    deep, by stream or by file path), and wide streams."""
    good, data = pool[2]
    size = len(data)
    kind = draw(st.sampled_from(['deep stream', 'deep file', 'wide']))
    if kind == 'wide':
        n = draw(st.integers(1, 400))
        text = '. %s %s\n' % (good, ' '.join('%d:%d:f%d' % (i % size, 1, i) for i in range(n)))
        return Case(text, {'f%d' % i: ('file', 1, data[i % size:i % size + 1]) for i in range(n)}, kind=kind)
    depth = draw(st.sampled_from([1, 255, 256, 257]))
    if kind == 'deep stream':
        text = '.%s %s 0:%d:f\n' % ('/d' * depth, good, size)
    else:
        text = '. %s 0:%d:%sf\n' % (good, size, 'd/' * depth)
    if depth > MAX_DEPTH:
        return Case(text, expect='ENOENT', kind=kind)
    tree = {'f': ('file', size, data)}
    for _ in range(depth):
        tree = {'d': ('dir', tree)}
    return Case(text, tree, kind=kind)


def empty_manifests():
    return st.sampled_from([Case(t, {}, kind='empty') for t in ('', '\n', '   \n\n ')])


def cases(pool):
    return st.one_of(valid_manifest(pool), valid_manifest(pool), malformed_manifest(pool),
                     mutated_manifest(pool), edge_manifest(pool), empty_manifests())


def pool_blocks(keep, seed=7):
    """Store POOL_SIZES blocks in Keep: [(signed locator, bytes)]."""
    rnd = random.Random(seed)
    out = []
    for size in POOL_SIZES:
        data = bytes(rnd.getrandbits(8) for _ in range(size))
        out.append((keep.put(data), data))
    return out

