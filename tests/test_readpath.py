"""The read path without a kernel: file offsets -> block pieces, the block
kept between reads, and when prefetch is asked for."""

import hashlib
import random

from hypothesis import given, settings, strategies as st

from arvados_fuse.blocks.manifest import parse
from arvados_fuse.blocks.readpath import BlockTable, FileReader


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
    reader = FileReader(parsed.block_pieces(parsed.root.files[name]), BlockTable(parsed.blocks), source)
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
        reader = FileReader(parsed.block_pieces(parsed.root.files['f%d' % n]), BlockTable(parsed.blocks), CountingSource(store))
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


def _sequential(reader, size, step=128):
    off = 0
    while off < size:
        if reader.read_now(off, step) is None:
            reader.readfrom(off, step)
        off += step


def test_the_prefetch_window_doubles_while_sequential_up_to_its_share():
    """One block ahead at the start, then two, then four, ... up to the
    reader's share of the budget (in bytes)."""
    from arvados_fuse.blocks.readpath import PrefetchBudget
    data = random.Random(6).randbytes(40 * 1024)
    blocks = [data[i:i + 1024] for i in range(0, len(data), 1024)]
    store = {hashlib.md5(b).hexdigest(): b for b in blocks}
    locs = ['%s+%d' % (hashlib.md5(b).hexdigest(), len(b)) for b in blocks]
    parsed = parse('. %s 0:%d:f\n' % (' '.join(locs), len(data)))
    source = CountingSource(store)
    budget = PrefetchBudget(8 * 1024)
    reader = FileReader(parsed.block_pieces(parsed.root.files['f']), BlockTable(parsed.blocks), source, budget=budget)
    ahead = []
    for n in range(8):
        reader.readfrom(n * 1024, 10)
        ahead.append(locs.index(source.prefetches[-1]) - n)
    assert ahead == [1, 2, 4, 8, 8, 8, 8, 8]
    assert len(source.prefetches) == len(set(source.prefetches))  # each asked for once
    # A second sequential reader halves the first one's share.
    other = FileReader(parsed.block_pieces(parsed.root.files['f']), BlockTable(parsed.blocks), CountingSource(store), budget=budget)
    other.readfrom(0, 10)
    assert budget.readers() == 2
    reader.readfrom(8 * 1024, 10)
    assert locs.index(source.prefetches[-1]) - 8 <= 8
    reader.readfrom(9 * 1024, 10)
    assert budget.total // 2 == 4 * 1024
    # A seek resets the window and leaves the budget to the other reader.
    reader.readfrom(30 * 1024, 10)
    assert budget.readers() == 1
    before = len(source.prefetches)
    reader.readfrom(20 * 1024, 10)
    assert len(source.prefetches) == before
    other.forget()
    assert budget.readers() == 0


def test_random_reads_fetch_only_the_blocks_they_read():
    """Blocks fetched / blocks read = 1 for random 4 KiB reads: nothing is
    prefetched for a reader that jumps around."""
    data = random.Random(7).randbytes(64 * 1024)
    reader, source, locs = build(data, 4096)
    rng = random.Random(8)
    wanted = set()
    for _ in range(200):
        off = rng.randrange(0, len(data) // 4096) * 4096
        assert reader.readfrom(off, 4096) == data[off:off + 4096]
        wanted.add(locs[off // 4096])
    assert set(source.gets) | set(source.prefetches) == wanted


def test_a_random_read_that_lands_in_the_next_block_prefetches_nothing():
    """Moving to the next block counts as sequential only when the read
    goes on from where the last one ended (the old path prefetched two
    blocks whenever a read landed in the next block)."""
    data = random.Random(9).randbytes(12 << 20)
    reader, source, locs = build(data, 3 << 20)
    for off in [1 << 20, (3 << 20) + (1 << 20), (6 << 20) + (2 << 20), (9 << 20) + (2 << 20)]:
        assert reader.readfrom(off, 4096) == data[off:off + 4096]
    assert source.prefetches == []
    # Going on from there is sequential again: the next block is prefetched.
    off = (9 << 20) + (2 << 20) + 4096
    while off < (12 << 20) - (1 << 20):
        assert reader.readfrom(off, 128 << 10) == data[off:off + (128 << 10)]
        off += 128 << 10
    assert reader.readfrom(0, 10) == data[:10]
    reader.forget()
    source.prefetches.clear()
    assert reader.readfrom(0, 4096) == data[:4096]
    assert source.prefetches == [locs[1]]
