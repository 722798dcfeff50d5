"""Manifests of the shapes real clusters hold, for bench/scale.py and the
tests that check a mount shows them exactly.

    manifest_text = shapes.make('packed', 100000)

Every shape has `files` files (rounded to its layout).  Locators are made
up (md5 of a counter, with a size): the walks never read a byte, so a
benchmark cluster takes them from the admin, who may reference blocks it
holds no signature for.  `make(..., block=...)` takes real locators instead,
for a test that reads the bytes back.

  spread     files/100 directories of 100 files, each file a 100-2,099 byte
             segment at a random offset of its stream's 10 shared 64 KiB
             blocks (what bench/scale.py measured before shapes)
  packed     as arv-put writes: files of 1 B-200 KB packed one after another
             into 64 MiB blocks, each stream listing the blocks its files
             span, a file on a block boundary in two pieces
  combined   files/1000 directories of 1,000 files; each stream lists 100
             blocks of 1 MiB drawn from a shared pool and every file is a
             random 1 B-3 MiB range of the stream, most spanning 2-4 blocks
             (collections combined from others)
  deep       one file per stream at the end of a path five (10^5 files) or
             six (10^6) directories deep, ten to a level
  longnames  as spread, every name 150-200 bytes with some UTF-8
  empty      files/100 directories of 100 empty files

Not in SHAPES (bench/ab.py --shape flat): `flat`, every file in the
collection's top directory, as arv-put writes a flat folder (one stream,
files packed one after another into 64 MiB blocks).
"""

import hashlib
import math
import random

SHAPES = ('spread', 'packed', 'combined', 'deep', 'longnames', 'empty')
EMPTY_BLOCK = 'd41d8cd98f00b204e9800998ecf8427e+0'
KiB, MiB = 1024, 1024 * 1024


def fake_locator(i, size):
    return '%s+%d' % (hashlib.md5(b'block %d' % i).hexdigest(), size)


def make(shape, files, seed=1, block=None, small=False):
    """Manifest text of `shape` with about `files` files.  `block`: a
    function (index, size) -> locator for the blocks (default: made up).
    small: blocks and files of `packed` and `combined` 256 times smaller
    (the same layout), for a test that writes every block."""
    rng = random.Random(seed)
    block = block or fake_locator
    scale = 256 if small else 1
    return ''.join(globals()['_' + shape](files, rng, block, scale))


def _spread(files, rng, block, scale=1, name=lambda rng, f: 'f%05d.txt' % f):
    size = 64 * KiB
    locs = ' '.join(block(i, size) for i in range(10))
    stream_len = 10 * size
    for d in range(max(1, files // 100)):
        segs = []
        for f in range(100):
            n = 100 + rng.randrange(2000)
            segs.append('%d:%d:%s' % (rng.randrange(stream_len - n), n, name(rng, f)))
        yield './d%05d %s %s\n' % (d, locs, ' '.join(segs))


def _packed(files, rng, block, scale):
    bsize = 64 * MiB // scale
    at = 0  # offset in the whole collection's data
    for d in range(max(1, files // 100)):
        sizes = [1 + rng.randrange(200 * KiB // scale) for _ in range(100)]
        start, end = at, at + sum(sizes)
        first, last = start // bsize, (end - 1) // bsize
        base = first * bsize
        locs = ' '.join(block(b, bsize) for b in range(first, last + 1))
        segs = []
        for f, n in enumerate(sizes):
            segs.append('%d:%d:f%05d.dat' % (at - base, n, f))
            at += n
        yield './d%05d %s %s\n' % (d, locs, ' '.join(segs))


def _flat(files, rng, block, scale):
    bsize = 64 * MiB // scale
    sizes = [1 + rng.randrange(200 * KiB // scale) for _ in range(files)]
    blocks = (sum(sizes) + bsize - 1) // bsize
    segs, at = [], 0
    for f, n in enumerate(sizes):
        segs.append('%d:%d:f%07d.dat' % (at, n, f))
        at += n
    yield '. %s %s\n' % (' '.join(block(b, bsize) for b in range(blocks)), ' '.join(segs))


def _combined(files, rng, block, scale):
    bsize = MiB // scale
    pool = 1000 if scale == 1 else 100
    for d in range(max(1, files // 1000)):
        picks = rng.sample(range(pool), 100)
        locs = ' '.join(block(b, bsize) for b in picks)
        stream_len = 100 * bsize
        segs = []
        for f in range(1000):
            n = 1 + rng.randrange(3 * bsize)
            segs.append('%d:%d:f%05d.bin' % (rng.randrange(stream_len - n), n, f))
        yield './d%04d %s %s\n' % (d, locs, ' '.join(segs))


def _deep(files, rng, block, scale):
    depth = max(1, round(math.log10(max(files, 10))))
    size = 64 * KiB
    loc = block(0, size)
    for i in range(10 ** depth):
        digits = '%0*d' % (depth, i)
        path = '/'.join('p' + c for c in digits)
        n = 100 + rng.randrange(2000)
        yield './%s %s %d:%d:file.txt\n' % (path, loc, rng.randrange(size - n), n)


_WORDS = ('genome', 'assembly', 'sample', 'read', 'variant', 'r\u00e9sultat', '\u00e9chantillon', 'lane',
          'flowcell', 'alignment', 'coverage', 'qualit\u00e9')


def _long_names(rng, count=64):
    names = []
    for _ in range(count):
        parts = []
        while sum(len(p.encode()) + 1 for p in parts) < 150 + rng.randrange(50):
            parts.append(rng.choice(_WORDS))
        name = '_'.join(parts)
        while len(name.encode()) > 190:
            name = name[:-1]
        names.append(name)
    return names


def _longnames(files, rng, block, scale):
    stems = _long_names(rng)
    return _spread(files, rng, block, name=lambda rng, f: '%05d_%s.txt' % (f, rng.choice(stems)))


def _empty(files, rng, block, scale):
    for d in range(max(1, files // 100)):
        yield './d%05d %s %s\n' % (d, EMPTY_BLOCK, ' '.join('0:0:f%05d.txt' % f for f in range(100)))
