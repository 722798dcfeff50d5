"""The read path without a kernel: file offsets -> block pieces, the block
kept between reads, and when prefetch is asked for."""

import hashlib
import random

from hypothesis import given, settings, strategies as st

from arvados_fuse.manifest import parse
from arvados_fuse.readpath import BlockTable, FileReader


class CountingSource(object):
    def __init__(self, blocks):
        self.blocks = blocks
        self.gets = []
        self.prefetches = []

    def get(self, locator):
        self.gets.append(locator)
        return self.blocks[locator.split('+')[0]]

    def prefetch(self, locator):
        self.prefetches.append(locator)


def build(data, block_size, name='f'):
    blocks = [data[i:i + block_size] for i in range(0, len(data), block_size)]
    store = {hashlib.md5(b).hexdigest(): b for b in blocks}
    locs = ['%s+%d' % (hashlib.md5(b).hexdigest(), len(b)) for b in blocks]
    parsed = parse('. %s 0:%d:%s\n' % (' '.join(locs), len(data), name))
    source = CountingSource(store)
    reader = FileReader(parsed.root.files[name], BlockTable(parsed.blocks), source)
    return reader, source, locs


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.integers(1, 700),
       st.lists(st.integers(0, 3000), max_size=6),
       st.lists(st.tuples(st.integers(0, 3100), st.integers(0, 900)), max_size=20))
def test_any_read_returns_exactly_the_bytes(data, block_size, cuts, reads):
    """Files packed into one stream at arbitrary cut points: a file may start
    mid-block and span several blocks."""
    bounds = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    blocks = [data[i:i + block_size] for i in range(0, len(data), block_size)]
    store = {hashlib.md5(b).hexdigest(): b for b in blocks}
    locs = ['%s+%d' % (hashlib.md5(b).hexdigest(), len(b)) for b in blocks]
    segments = ['%d:%d:f%d' % (a, b - a, n) for n, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    parsed = parse('. %s %s\n' % (' '.join(locs), ' '.join(segments)))
    for n, (a, b) in enumerate(zip(bounds, bounds[1:])):
        content = data[a:b]
        reader = FileReader(parsed.root.files['f%d' % n], BlockTable(parsed.blocks), CountingSource(store))
        for off, size in reads:
            assert reader.readfrom(off, size) == content[off:off + size]
            now = reader.read_now(off, size)
            assert now is None or now == content[off:off + size]


def test_sequential_reads_fetch_each_block_once_and_prefetch_ahead():
    data = random.Random(3).randbytes(10 * 1024)
    reader, source, locs = build(data, 1024)
    out = b''
    off = 0
    while off < len(data):
        chunk = reader.read_now(off, 128)
        if chunk is None:
            chunk = reader.readfrom(off, 128)
        out += chunk
        off += 128
    assert out == data
    assert source.gets == locs  # each block fetched once, in order
    assert set(source.prefetches) == set(locs[1:])


def test_random_reads_do_not_prefetch_and_closing_forgets_the_block():
    data = random.Random(4).randbytes(10 * 1024)
    reader, source, locs = build(data, 1024)
    assert reader.readfrom(5000, 10) == data[5000:5010]
    assert reader.readfrom(2000, 10) == data[2000:2010]
    assert source.prefetches == []
    assert reader.read_now(2005, 5) == data[2005:2010]
    reader.forget()
    assert reader.read_now(2005, 5) is None
