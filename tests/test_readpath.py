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


def _packed(n_files, file_size, block_size, seed):
    """n_files files of file_size bytes packed in one stream of block_size
    blocks (so neighbours share a block when the sizes do not divide)."""
    data = random.Random(seed).randbytes(n_files * file_size)
    blocks = [data[i:i + block_size] for i in range(0, len(data), block_size)]
    store = {hashlib.md5(b).hexdigest(): b for b in blocks}
    locs = ['%s+%d' % (hashlib.md5(b).hexdigest(), len(b)) for b in blocks]
    files = ' '.join('%d:%d:f%d' % (n * file_size, file_size, n) for n in range(n_files))
    parsed = parse('. %s %s\n' % (' '.join(locs), files))
    return data, parsed, BlockTable(parsed.blocks), store, locs


def _read_all(reader, size, step=128):
    out = b''
    for off in range(0, size, step):
        chunk = reader.read_now(off, step)
        out += chunk if chunk is not None else reader.readfrom(off, step)
    return out


def test_the_next_file_read_in_order_starts_at_the_pace_of_the_last():
    """`cat dir/*`: a file read from its start right after a sequential
    reader finished the file before it (its first block is that one's last,
    or the next) starts with that reader's window, not one block."""
    from arvados_fuse.blocks.readpath import PrefetchBudget
    # Files of 2.5 blocks: f1 starts in f0's last block, f2 in f1's.
    data, parsed, table, store, locs = _packed(3, 2560, 1024, 11)
    budget = PrefetchBudget(4 * 1024, per_reader=4 * 1024)
    source = CountingSource(store)
    first = FileReader(parsed.block_pieces(parsed.root.files['f0']), table, source, budget=budget)
    assert _read_all(first, 2560) == data[:2560]
    first.forget()
    source.prefetches.clear()
    second = FileReader(parsed.block_pieces(parsed.root.files['f1']), table, source, budget=budget)
    assert second.readfrom(0, 128) == data[2560:2688]
    # Its first read asked at once for every block the window covers (a
    # new reader would ask for the next one only): its own (3, 4), then,
    # going on in the collection's order, those stored after it (f2's 5, 6).
    assert source.prefetches == locs[3:7]
    assert _read_all(second, 2560) == data[2560:5120]
    second.forget()
    # Each block asked for once, and f2 goes on at the same pace.
    assert len(source.prefetches) == len(set(source.prefetches)) == 5
    source.prefetches.clear()
    third = FileReader(parsed.block_pieces(parsed.root.files['f2']), table, source, budget=budget)
    assert _read_all(third, 2560) == data[5120:]
    # (Blocks asked for again by a new reader are no new fetch: the block
    # source fetches each once.)
    assert locs[7] in source.prefetches and set(source.prefetches) <= set(locs[6:8])
    # The same file read alone (nothing finished just before) ramps up.
    source.prefetches.clear()
    alone = FileReader(parsed.block_pieces(parsed.root.files['f1']), BlockTable(parsed.blocks), source, budget=budget)
    alone.readfrom(0, 128)
    assert source.prefetches == locs[3:4]


def test_no_head_start_after_a_pause_a_random_reader_or_another_place(monkeypatch):
    from arvados_fuse.blocks import readpath
    data, parsed, table, store, locs = _packed(4, 3072, 1024, 12)
    source = CountingSource(store)
    budget = readpath.PrefetchBudget(4 * 1024, per_reader=4 * 1024)

    def first_prefetches(name, table=table):
        source.prefetches.clear()
        reader = FileReader(parsed.block_pieces(parsed.root.files[name]), table, source, budget=budget)
        reader.readfrom(0, 128)
        reader.forget()
        return len(source.prefetches)
    # f0 read in order to its end, then f1: a head start.
    reader = FileReader(parsed.block_pieces(parsed.root.files['f0']), table, source, budget=budget)
    _read_all(reader, 3072)
    reader.forget()
    assert first_prefetches('f1') > 1
    # f3 does not go on from where f0 ended (f2 comes between): none.
    reader = FileReader(parsed.block_pieces(parsed.root.files['f0']), table, source, budget=budget)
    _read_all(reader, 3072)
    reader.forget()
    assert first_prefetches('f3') == 1
    # A reader that jumped to the end of f0 (random: no window): none.
    other = BlockTable(parsed.blocks)
    reader = FileReader(parsed.block_pieces(parsed.root.files['f0']), other, source, budget=budget)
    reader.readfrom(2900, 172)
    reader.forget()
    assert first_prefetches('f1', other) == 1
    # Long after f0 was finished: none.
    reader = FileReader(parsed.block_pieces(parsed.root.files['f0']), table, source, budget=budget)
    _read_all(reader, 3072)
    reader.forget()
    now = readpath.time.monotonic()
    monkeypatch.setattr(readpath.time, 'monotonic', lambda: now + readpath.CONTINUE_WITHIN + 1)
    assert first_prefetches('f1') == 1


def test_a_sequential_reader_passes_the_block_two_behind_it():
    """Issue 24: the block two behind a sequential reader is passed to the
    source (the cache may receive a new block into its buffer); one behind
    is kept (the kernel's reads of one reader may still ask for it), and
    a seek passes nothing."""
    data = random.Random(7).randbytes(6 * 1000)
    reader, source, locs = build(data, 1000)
    source.passes = []
    source.passed = source.passes.append
    for off in range(0, len(data), 250):
        assert reader.readfrom(off, 250) == data[off:off + 250]
    assert source.passes == locs[:4]  # on entering blocks 2, 3, 4 and 5
    reader2, source2, locs2 = build(data, 1000)
    source2.passes = []
    source2.passed = source2.passes.append
    for off in (0, 3500, 1200, 5100, 2500):
        assert reader2.readfrom(off, 100) == data[off:off + 100]
    assert source2.passes == []
    # Through blocks 0-3, back to the start, on into block 1: what was left
    # before the seek is not behind the reader (block 2 is ahead of it).
    reader3, source3, locs3 = build(data, 1000)
    source3.passes = []
    source3.passed = source3.passes.append
    for off in list(range(0, 4000, 250)) + list(range(0, 1500, 250)):
        assert reader3.readfrom(off, 250) == data[off:off + 250]
    assert source3.passes == locs3[:2]  # on entering blocks 2 and 3; none after the seek
