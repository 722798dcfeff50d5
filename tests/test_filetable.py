"""FileTable: a directory's files without an object per file, found by
name and index exactly as a list and a dict would, in both of its layouts
(names joined in strings of CHUNK, or a list when a name holds a newline)."""

from hypothesis import example, given, settings, strategies as st

from arvados_fuse.blocks.manifest import EMPTY_FILE, size_of
from arvados_fuse.fs import rowtable
from arvados_fuse.fs.filetable import FileTable
from arvados_fuse.fs.inodes import Inodes

_names = st.lists(st.text(st.characters(blacklist_categories=('Cs',)), min_size=1, max_size=12), unique=True,
                  max_size=40)
# Stream numbers below the markers (filetable._RUN and up); a manifest has
# fewer than 2^27 lines.
_segment = st.tuples(st.integers(0, 2 ** 32 - 4), st.integers(0, 2 ** 62), st.integers(0, 2 ** 62)).map(
    lambda t: (t[0] << 128) | (t[1] << 64) | t[2])
_segments = st.one_of(_segment, st.just(EMPTY_FILE), st.lists(_segment, min_size=2, max_size=4).map(tuple))


@settings(max_examples=200, deadline=None)
@given(_names, st.data(), st.booleans())
def test_a_table_answers_as_a_dict_of_its_files(names, data, small_chunks):
    names = sorted(names)
    segments = [data.draw(_segments) for _ in names]
    old = rowtable.CHUNK, rowtable.CHUNK_CHARS
    if small_chunks:
        rowtable.CHUNK, rowtable.CHUNK_CHARS = 3, 10
    try:
        table = Inodes().add_rows(FileTable(7, None, list(names), segments))
    finally:
        rowtable.CHUNK, rowtable.CHUNK_CHARS = old
    assert len(table) == len(names) and table.names() == names
    for i, name in enumerate(names):
        assert table.find(name) == i
        assert table.segments(i) == segments[i]
        assert table.size(i) == size_of(segments[i])
        assert table.entry_at(i).inode == table.base + i and table.entry_at(i).parent_inode == 7
    for missing in ('', '\n', 'zz\nzz', names[0] + 'x' if names else 'x', '\n'.join(names[:2])):
        if missing not in names:
            assert table.find(missing) == -1
    assert [n for n, _inode, _is_dir in table.listing()] == names


def test_lookup_counts_free_a_detached_table_when_the_last_is_forgotten():
    inodes = Inodes()
    table = inodes.add_rows(FileTable(1, None, ['a', 'b', 'c'], [EMPTY_FILE] * 3))
    a, c = table.base, table.base + 2
    inodes.remember(a)
    inodes.remember(a)
    inodes.remember_entry(table.entry_at(2))
    assert table.held_names() == [(0, 'a'), (2, 'c')] and len(inodes) == 3
    inodes.drop_rows(table, notify=False)
    assert a in inodes and c in inodes and table.base + 1 not in inodes  # only what the kernel holds
    assert len(inodes) == 2  # the rows held count, not the table's three
    inodes.forget(a, 1)
    assert a in inodes and len(inodes) == 2
    inodes.forget(a, 1)
    assert a not in inodes and c in inodes and len(inodes) == 1
    inodes.forget(c, 1)
    assert c not in inodes and len(inodes) == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=20), st.sampled_from(['utf-8', 'UTF8', 'latin-1']))
@example(['a\udcff', 'b\n', 'x' * 256], 'utf-8')
def test_names_encoded_at_once_are_encoded_as_one_by_one(names, encoding):
    """The adapter encodes a listing's names in one call (names.py):
    exactly what encoding each would give, odd names left out alike."""
    from arvados_fuse.fs.names import NameEncoder
    encoder = NameEncoder(encoding)
    assert encoder.encode_all(names) == [NameEncoder(encoding).encode(n) for n in names]


def test_lookup_counts_past_a_byte_are_kept_exactly():
    """A row's lookup count is a byte until the kernel holds it more than
    255 times: then every row's is widened, none lost."""
    table = rowtable.RowTable(1, None, ['a', 'b', 'c'])
    for _ in range(3):
        table.remember(0)
    for _ in range(300):
        table.remember(2)
    assert [table.count(i) for i in range(3)] == [3, 0, 300] and table.held == 2
    assert table.nlookup.itemsize == 8
    table.forget(2, 299)
    assert table.count(2) == 1 and table.held == 2 and table.held_indexes() == [0, 2]
    table.forget(2, 5)
    table.forget(0, 3)
    assert table.held == 0 and table.held_indexes() == [] and [table.count(i) for i in range(3)] == [0, 0, 0]
