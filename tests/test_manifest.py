"""Manifest parsing: pure logic, no cluster."""

import gc
import hashlib
import time
import tracemalloc
from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from arvados_fuse.blocks import manifest
from arvados_fuse.blocks.manifest import ManifestError, parse


def loc(data):
    return '%s+%d' % (hashlib.md5(data).hexdigest(), len(data))


def walk_files(mdir, prefix=''):
    """(path, pieces) of every file below `mdir` (lazy directories parse)."""
    for name, pieces in mdir.files.items():
        yield prefix + name, pieces
    for name, sub in mdir.dirs.items():
        yield from walk_files(sub, prefix + name + '/')


def read_file(parsed, mfile, blocks_by_hash):
    out = b''
    for idx, off, length in manifest.pieces_of(parsed.block_pieces(mfile)):
        data = blocks_by_hash[parsed.blocks[idx].split('+')[0]]
        out += data[off:off + length]
    return out


def test_streams_files_and_escapes():
    b1, b2 = b'hello world', b'0123456789'
    text = ('. %s 0:5:hello 5:6:space\\040name\n'
            './sub\\040dir %s %s 0:21:joined 11:0:empty 3:4:caf\\303\\251\n'
            './empty %s 0:0:\\056\n' % (loc(b1), loc(b1), loc(b2), manifest.EMPTY_BLOCK))
    p = parse(text)
    blocks = {loc(b1).split('+')[0]: b1, loc(b2).split('+')[0]: b2}
    assert sorted(p.root.files) == ['hello', 'space name']
    assert read_file(p, p.root.files['space name'], blocks) == b' world'
    sub = p.root.dirs['sub dir']
    assert read_file(p, sub.files['joined'], blocks) == b1 + b2
    assert manifest.pieces_of(p.block_pieces(sub.files['joined'])) == [(0, 0, 11), (1, 0, 10)]
    # Compact: one segment is one int, however many blocks it spans (they
    # are worked out when the file is opened).
    assert type(sub.files['joined']) is int and type(p.root.files['hello']) is int
    assert manifest.pieces_of(sub.files['joined']) == [(1, 0, 21)]  # (stream 1, position, length)
    assert manifest.size_of(sub.files['empty']) == 0
    assert read_file(p, sub.files['café'], blocks) == b'lo w'
    assert p.root.dirs['empty'].files == {} and p.root.dirs['empty'].dirs == {}


def test_signed_locators_are_kept_and_expiry_read():
    signed = 'acbd18db4cc2f85cedef654fccc4a4d8+3+A' + 'a' * 40 + '@65f00000'
    p = parse('. %s 0:3:foo\n' % signed)
    assert p.blocks == [signed]
    assert [manifest.bare_locator(b) for b in p.blocks] == ['acbd18db4cc2f85cedef654fccc4a4d8+3']
    assert manifest.signature_expiry(signed) == 0x65f00000


def test_file_in_several_segments_and_names_with_slashes():
    b = b'abcdefghij'
    p = parse('. %s 0:2:f 5:3:f 0:1:d/inner\n' % loc(b))
    assert read_file(p, p.root.files['f'], {loc(b).split('+')[0]: b}) == b'abfgh'
    assert 'inner' in p.root.dirs['d'].files


@pytest.mark.parametrize('text, why', [
    ('foo %s 0:1:a\n' % manifest.EMPTY_BLOCK, 'does not start'),
    ('. 0:1:a\n', 'no block locator'),
    ('. %s\n' % manifest.EMPTY_BLOCK, 'no file segment'),
    ('. %s 0:1:a\n' % manifest.EMPTY_BLOCK, 'past the end'),
    ('. %s zz:1:a\n' % manifest.EMPTY_BLOCK, 'bad file segment'),
    ('. %s+K 0:0:a\n' % manifest.EMPTY_BLOCK, 'no block locator'),  # a hint is two characters or more
    ('. %s 0:0:a 0:0:a/b\n' % manifest.EMPTY_BLOCK, 'both a file and a directory'),
    # The directory made by the first name, in a directory that had none
    # (found by tests/test_mount_fuzz.py).
    ('. %s 0:0:a/b 0:0:a\n' % manifest.EMPTY_BLOCK, 'both a file and a directory'),
    # Limits: time and memory linear in the text, depth, paths, sizes.
    ('%s %s 0:0:f\n' % ('.' + '/d' * 257, manifest.EMPTY_BLOCK), 'directories deep'),
    ('. %s 0:0:%sf\n' % (manifest.EMPTY_BLOCK, 'd/' * 257), 'directories deep'),
    ('./%s %s 0:0:f\n' % ('n' * 4096, manifest.EMPTY_BLOCK), 'longer than'),
    ('. %s 0:0:%s/f\n' % (manifest.EMPTY_BLOCK, 'n' * 4096), 'longer than'),
    ('. %032x+67108865 0:1:f\n' % 0, 'too large'),
    ('. %032x+9223372036854775808 0:9223372036854775808:f\n' % 0, 'too large'),
    ('. %032x+%d 0:1:f\n' % (0, 10 ** 40), 'too large'),
])
def test_malformed_manifests_are_refused_with_a_reason(text, why):
    started = time.time()
    with pytest.raises(ManifestError, match=why):
        parse(text)
    # Lazily: when the files are asked for, with the same reason.
    with pytest.raises(ManifestError, match=why):
        list(walk_files(parse(text, lazy=True).root))
    assert time.time() - started < 5


def test_a_file_of_too_many_block_pieces_is_refused_when_opened_not_listed():
    """One block listed 1,000 times and 1,000 segments of one file each
    spanning the whole stream: 10^6 pieces out of 50 KB of text.  Parsed
    lazily (a manifest the API validated), listing it costs a segment each
    and opening it is refused; parsed whole (stored only in Keep), it is
    refused at once.  In bounded time either way."""
    text = '. %s %s\n' % (' '.join(['%032x+1' % 0] * 1000), ' '.join(['0:1000:f'] * 1000))
    started = time.time()
    p = parse(text, lazy=True)
    assert manifest.size_of(p.root.files['f']) == 10 ** 6
    with pytest.raises(ManifestError, match='more than'):
        p.block_pieces(p.root.files['f'])
    with pytest.raises(ManifestError, match='more pieces'):
        parse(text)
    assert time.time() - started < 5


def test_limits_leave_real_manifests_alone():
    """Ten copies of a 1,000-block file in one stream (10,000 pieces from
    90 KB), a file of 2^40 bytes, 256 directories deep."""
    blocks = ['%032x+%d' % (i, 1 << 26) for i in range(1000)]
    p = parse('. %s %s\n' % (' '.join(blocks), ' '.join('0:%d:f%d' % (1000 << 26, i) for i in range(10))))
    assert sorted(p.root.files) == ['f%d' % i for i in range(10)]
    p = parse('. %s 0:%d:big\n' % (' '.join(['%032x+%d' % (i, 1 << 26) for i in range(1 << 14)]), 1 << 40))
    assert manifest.size_of(p.root.files['big']) == 1 << 40
    p = parse('%s %s 0:0:f\n' % ('.' + '/d' * 256, manifest.EMPTY_BLOCK))


names = st.text(alphabet=st.characters(blacklist_categories=('Cs',), blacklist_characters='/\x00'),
                min_size=1, max_size=12).filter(lambda s: s not in ('.', '..'))


def escape(name):
    """As the SDK writes names: bytes up to space, ':' and '\\' as octal;
    everything else (non-ASCII included) raw."""
    return ''.join('\\%03o' % ord(c) if (c <= ' ' or c in ':\\') else c for c in name)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(names, st.binary(max_size=40), min_size=1, max_size=8), st.integers(1, 17))
def test_round_trip_any_files_any_block_size(files, block_size):
    """Whatever files and block boundaries, parsing gives back every byte."""
    data = b''.join(files.values())
    blocks = [data[i:i + block_size] for i in range(0, len(data), block_size)] or [b'']
    store = {hashlib.md5(b).hexdigest(): b for b in blocks}
    segs, pos = [], 0
    for name, content in files.items():
        segs.append('%d:%d:%s' % (pos, len(content), escape(name)))
        pos += len(content)
    text = '. %s %s\n' % (' '.join(loc(b) for b in blocks), ' '.join(segs))
    p = parse(text)
    assert set(p.root.files) == set(files)
    for name, content in files.items():
        assert read_file(p, p.root.files[name], store) == content


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_garbage_never_crashes_the_parser(text):
    try:
        parse(text)
    except ManifestError:
        pass
    try:
        list(walk_files(parse(text, lazy=True).root))
    except ManifestError:
        pass


def tree(parsed):
    return {path: manifest.pieces_of(parsed.block_pieces(pieces)) for path, pieces in walk_files(parsed.root)}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(['.', './a', './a/b', './c']),
                          st.lists(st.tuples(st.sampled_from(['x', 'y', 'z']), st.integers(0, 9)),
                                   min_size=1, max_size=4)),
                min_size=1, max_size=6))
def test_lazy_parse_gives_the_same_tree(streams):
    """Streams repeating directories and files, in any order: parsing each
    directory's files on demand gives exactly the eager result."""
    block = loc(b'0123456789')
    lines = ['%s %s %s\n' % (name, block, ' '.join('%d:1:%s' % (pos, f) for f, pos in segs))
             for name, segs in streams]
    text = ''.join(lines)
    try:
        eager = tree(parse(text))
    except ManifestError as e:
        with pytest.raises(ManifestError, match=str(e).split(':')[-1].strip()[:20]):
            tree(parse(text, lazy=True))
        return
    lazy = parse(text, lazy=True)
    assert lazy.root.dirs.keys() == parse(text).root.dirs.keys()
    assert tree(lazy) == eager


def test_lazy_parse_reads_directories_only_when_asked_and_fails_whole():
    good, bad = loc(b'good'), loc(b'bad')
    text = ('. %s 0:4:top\n./sub %s 0:3:ok 0:9:toolong\n./other %s 0:4:fine\n' % (good, bad, good))
    p = parse(text, lazy=True)
    assert sorted(p.root.dirs) == ['other', 'sub'] and p.segments == 4 and p.streams == 3
    assert manifest.pieces_of(p.block_pieces(p.root.files['top'])) == [(0, 0, 4)]
    for _ in range(2):  # the same error each time, and no half of the directory
        with pytest.raises(ManifestError, match='past the end'):
            _ = p.root.dirs['sub'].files  # the property parses the directory
        assert p.root.dirs['sub']._files == {}
    assert manifest.pieces_of(p.block_pieces(p.root.dirs['other'].files['fine'])) == [(0, 0, 4)]
    with pytest.raises(ManifestError, match='past the end'):
        parse(text)


def test_names_with_slashes_are_parsed_at_once_even_lazily():
    """Their lines add to other directories: only the manifest's own order
    keeps the pieces in order."""
    a, b = loc(b'aaaa'), loc(b'bbbb')
    text = './d %s 0:4:f\n. %s 0:4:d/f\n' % (a, b)
    p = parse(text, lazy=True)
    assert p.root.dirs['d']._pending is None
    assert manifest.pieces_of(p.block_pieces(p.root.dirs['d'].files['f'])) == [(0, 0, 4), (1, 0, 4)]


def test_resign_replaces_only_block_signatures():
    from arvados_fuse.blocks.manifest import resign
    a, b = '0cc175b9c0f1b6a831c399e269772661', '92eb5ffee6ae2fec3ad71c777531578f'
    text = ('. %s+1+Aold1@00000001 %s+1+K@zzzzz+Aold2@00000001 0:2:%s+1+Aold1@00000001\n'
            './d %s+1 0:1:f\n' % (a, b, a, a))
    new = resign(text, ['%s+1+Anew1@00000002' % a, '%s+1+Anew2@00000002' % b])
    assert new == ('. %s+1+Anew1@00000002 %s+1+Anew2@00000002+K@zzzzz 0:2:%s+1+Aold1@00000001\n'
                   './d %s+1+Anew1@00000002 0:1:f\n' % (a, b, a, a))
    assert resign(text, []) == text


def _columns_as_files(columns):
    names, streams, positions, sizes, runs = columns
    out = {}
    for i, name in enumerate(names):
        if streams[i] == manifest.STREAM_EMPTY:
            out[name] = manifest.EMPTY_FILE
        elif streams[i] == manifest.STREAM_RUN:
            out[name] = manifest.run_segments(runs, i)
        else:
            out[name] = (streams[i] << 128) | (positions[i] << 64) | sizes[i]
        assert manifest.size_of(out[name]) == sizes[i], name
    return out


def _dirs(mdir):
    yield mdir
    for sub in mdir.dirs.values():
        yield from _dirs(sub)


_PLAIN_NAME = st.sampled_from(['a', 'b', 'c.txt', 'd d'.replace(' ', '_'), 'é', 'sub', '.', '..', 'x\x00y'])


@st.composite
def _plain_manifest(draw):
    """Lines of plain tokens where names repeat (within a line, across the
    lines of one directory), empty files, segments merging or not."""
    blocks = [loc(b'%d' % i * 100) for i in range(3)]
    lines = []
    for _ in range(draw(st.integers(1, 5))):
        stream = draw(st.sampled_from(['.', './sub', './sub/deeper', './other']))
        locs = draw(st.lists(st.sampled_from(blocks), min_size=1, max_size=3))
        length = sum(int(x.split('+')[1]) for x in locs)
        tokens = []
        for _ in range(draw(st.integers(1, 6))):
            a = draw(st.integers(0, length))
            n = draw(st.sampled_from([0, length - a, min(7, length - a)]))
            tokens.append('%d:%d:%s' % (a, n, draw(_PLAIN_NAME)))
        lines.append('%s %s %s\n' % (stream, ' '.join(locs), ' '.join(tokens)))
    return ''.join(lines)


@pytest.mark.parametrize('few_repeats', [0, 10 ** 9], ids=['repeats-folded-row-by-row', 'repeats-folded-at-once'])
@settings(max_examples=300, deadline=None)
@given(_plain_manifest())
def test_file_columns_agree_with_files(few_repeats, text):
    """The columns a directory's files are built from (the C-speed way) say
    what the parser's per-segment way says, or decline (None) and leave it
    to that way, or raise what it raises; files of several segments folded
    either way (FEW_REPEATS)."""
    with mock.patch.object(manifest, 'FEW_SEGMENTS', 0), \
            mock.patch.object(manifest, 'FEW_REPEATS', few_repeats):  # columns for every directory, however small
        _columns_agree(text)


def _twin_dirs(text):
    """(directory, the same directory of a second parse) of every
    directory of `text` parsed lazily twice; none if it does not parse."""
    try:
        lazy = parse(text, lazy=True)
        twin = parse(text, lazy=True)
    except ManifestError:
        return []
    return zip(_dirs(lazy.root), _dirs(twin.root))


@settings(max_examples=200, deadline=None)
@given(_plain_manifest(), st.integers(1, 40))
def test_file_columns_agree_with_files_a_piece_of_a_line_at_a_time(text, piece):
    """A long line is tokenized a piece at a time (manifest.PIECE
    characters, cut at a space): with pieces of a few characters, every
    line is many pieces, and the columns still say what the parser says."""
    with mock.patch.object(manifest, 'FEW_SEGMENTS', 0), mock.patch.object(manifest, 'PIECE', piece):
        _columns_agree(text)


def _columns_agree(text):
    for d, t in _twin_dirs(text):
        # What a listing shows before any number is read (the rest is read
        # at the first lookup): the columns' names, or a directory whose
        # files cannot be read at all; None only where columns are None.
        names = d.file_names()
        sizes = d.file_sizes()  # what an `ls -l` of the listing reads
        assert sizes is None or names is not None
        try:
            columns = d.file_columns()
        except ManifestError:
            with pytest.raises(ManifestError):
                t.expand()
            continue
        if names is None:
            assert columns is None
        elif columns is None:
            with pytest.raises(ManifestError):
                t.expand()
            continue
        else:
            assert columns[0] == names
        try:
            want = t.files
        except ManifestError:
            assert columns is None
            continue
        if sizes is not None:
            assert list(sizes) == [manifest.size_of(want[name]) for name in names]
        if columns is not None:
            assert columns[0] == sorted(columns[0]) and len(set(columns[0])) == len(columns[0])
            assert _columns_as_files(columns) == want


def test_file_sizes_are_read_from_the_lengths_when_the_names_come_in_order(monkeypatch):
    """A listing's `ls -l` reads the sizes from the segments' lengths alone
    when each file's segments come one after another in name order (as
    arv-put and the API server write them); otherwise (names out of order,
    a directory never listed by names) it declines."""
    monkeypatch.setattr(manifest, 'FEW_SEGMENTS', 0)
    b = loc(b'x' * 100)
    root = parse('. %s 0:5:a 5:0:b 5:10:c 15:2:c 20:3:d 23:1:e 24:1:f 25:1:g 26:1:h\n' % b, lazy=True).root
    assert root.file_names() == list('abcdefgh')
    assert list(root.file_sizes()) == [5, 0, 12, 3, 1, 1, 1, 1] == list(root.file_columns()[3])
    unsorted = parse('. %s 0:5:b 5:1:a\n' % b, lazy=True).root
    assert unsorted.file_names() == ['a', 'b'] and unsorted.file_sizes() is None
    # Most files of several segments (combined collections): by running sums.
    many = parse('. %s %s 9:4:b 13:1:c 14:2:c\n' % (b, ' '.join('%d:1:a' % i for i in range(9))), lazy=True).root
    assert many.file_names() == ['a', 'b', 'c']
    assert list(many.file_sizes()) == [9, 4, 3] == list(many.file_columns()[3])
    assert parse('. %s 0:5:a 5:1:b\n' % b, lazy=True).root.file_sizes() is None  # not listed yet


def test_a_number_of_more_digits_than_python_reads_is_a_manifest_error(monkeypatch):
    """int() refuses a number of over 4,300 digits (ValueError): each way
    of reading segments declines it or says the manifest is malformed,
    never lets the ValueError out."""
    monkeypatch.setattr(manifest, 'FEW_SEGMENTS', 0)
    b, huge = loc(b'x' * 100), '9' * 5000
    # A huge length, then a huge position (which the sizes never read).
    for text, sizes in (('. %s 0:%s:a 0:1:b\n' % (b, huge), None), ('. %s %s:1:a 0:1:b\n' % (b, huge), [1, 1])):
        with pytest.raises(ManifestError, match='digits'):
            parse(text)
        lazy = parse(text, lazy=True).root
        assert lazy.file_names() == ['a', 'b']  # listed: no number read
        assert lazy.file_columns() is None
        got = lazy.file_sizes()
        assert (got if got is None else list(got)) == sizes
        with pytest.raises(ManifestError, match='digits'):
            lazy.expand()
    leaf = parse('./d %s 0:%s:a\n' % (b, huge), lazy=True).root.dirs['d']
    assert leaf.one_file() is None
    with pytest.raises(ManifestError):
        leaf.expand()


def test_file_columns_of_a_plain_directory(monkeypatch):
    monkeypatch.setattr(manifest, 'FEW_SEGMENTS', 0)
    b = loc(b'x' * 100)
    text = '. %s 0:10:b 10:0:a 10:5:c 20:5:c 0:0:e\n. %s 15:5:c 50:50:d\n' % (b, b)
    columns = parse(text, lazy=True).root.file_columns()
    assert columns[0] == ['a', 'b', 'c', 'd', 'e'] == parse(text, lazy=True).root.file_names()
    files = _columns_as_files(columns)
    assert files == parse(text, lazy=True).root.files
    assert files['a'] == manifest.EMPTY_FILE and files['e'] == manifest.EMPTY_FILE
    assert manifest.pieces_of(files['c']) == [(0, 10, 5), (0, 20, 5), (0, 15, 5)]
    # Not plain: left to the parser's general way.
    assert parse('. %s 0:1:a\\040b\n' % b, lazy=True).root.file_columns() is None
    assert parse('. %s 0:1:a 0:0:.\n' % b, lazy=True).root.file_columns() is None
    assert parse('. %s 0:101:a\n' % b, lazy=True).root.file_columns() is None


@settings(max_examples=300, deadline=None)
@given(_plain_manifest())
def test_one_file_agrees_with_files(text):
    """A directory of one file on one line (a deep tree's) is taken without
    the parser's dict and tokenizer loop (ManifestDir.one_file): what it
    gives is what `files` gives; where it declines, `files` is untouched."""
    for d, t in _twin_dirs(text):
        one = d.one_file()
        try:
            want = t.files
        except ManifestError:
            assert one is None
            with pytest.raises(ManifestError):
                d.expand()
            continue
        if one is None:
            assert d.files == want
        else:
            assert {one[0]: one[1]} == want and not d.dirs


def test_one_file_declines_what_is_not_plain():
    b = loc(b'x' * 10)
    assert parse('./d %s 2:5:f.txt\n' % b, lazy=True).root.dirs['d'].one_file() == ('f.txt', (0 << 128) | (2 << 64) | 5)
    assert parse('./d %s 2:0:f\n' % b, lazy=True).root.dirs['d'].one_file() == ('f', manifest.EMPTY_FILE)
    assert parse('./d %s 2:5:a:b\n' % b, lazy=True).root.dirs['d'].one_file() == ('a:b', (2 << 64) | 5)
    for line in ('./d %s 0:1:a 1:1:b\n',   # two files
                 './d %s 0:1:a\\040b\n',    # an escape
                 './d %s 0:0:.\n',          # the empty-directory placeholder
                 './d %s 5:6:late\n',       # past the end of its stream
                 './d %s 0:1:a/b\n',        # a path
                 './d %s \u0663:1:a\n',     # a digit int() takes, the tokenizer does not
                 './d %s 0:\u0661:a\n',
                 './d %s :1:a\n',
                 './d %s 0:1:\n'):
        d = parse(line % b, lazy=True).root.dirs['d']
        assert d.one_file() is None, line
    d = parse('./d %s 5:6:late\n' % b, lazy=True).root.dirs['d']
    assert d.one_file() is None
    with pytest.raises(ManifestError, match='runs past the end'):
        d.expand()


def test_a_deep_tree_keeps_each_recurring_directory_name_once():
    """Unbuilt directories keep their names until their parent is built:
    a name that recurs in every parent (a deep tree's) is one string,
    whatever order the lines come in; unique names are all kept."""
    b = loc(b'x' * 10)
    text = ''.join('./t%d/lane%d %s 0:1:f\n' % (i, j, b) for j in range(3) for i in range(2000))
    root = parse(text, lazy=True).root
    names = [name for top in root.dirs.values() for name in top.dirs]
    assert len(names) == 6000 and len({id(name) for name in names}) == 3
    assert sorted(root.dirs['t1999'].dirs) == ['lane0', 'lane1', 'lane2']
    unique = parse(''.join('./u%d %s 0:1:f\n' % (i, b) for i in range(10000)), lazy=True).root
    assert sorted(unique.dirs) == sorted('u%d' % i for i in range(10000))


def test_a_lazy_parse_packs_the_one_line_directories_of_a_deep_tree_in_their_parent():
    """A deep tree's directories of one short line each are kept, until
    their parent is built, as lines of one string in the parent (not a
    ManifestDir and a string each, ~180 bytes): under 70 bytes each,
    whatever the line; asked for, they are directories as any other."""
    b = loc(b'x' * 1000)
    text = ''.join('./p%d/q%d/r%d/s%d %s %d:%d:file.txt\n' % (i // 1000, i // 100 % 10, i // 10 % 10, i % 10, b,
                                                               i % 500, 100 + i % 400) for i in range(20000))
    gc.collect()
    tracemalloc.start()
    try:
        parsed = parse(text, lazy=True)
        gc.collect()
        per_dir = tracemalloc.get_traced_memory()[0] / 20000
    finally:
        tracemalloc.stop()
    assert per_dir < 70, per_dir
    parent = parsed.root.dirs['p7'].dirs['q3'].dirs['r5']
    dirs, leaves = parent.built_subdirs(), parent.leaf_lines()
    assert not dirs and [name for name, _stream, _rest in leaves] == ['s%d' % i for i in range(10)]
    assert leaves[4][2] == '%d:%d:file.txt' % (7354 % 500, 100 + 7354 % 400)
    names, stream, positions, lengths, file_names = parent.leaf_columns()
    assert names == ['s%d' % i for i in range(10)] and stream is leaves[0][1] and file_names == ('file.txt',) * 10
    assert list(positions) == [i % 500 for i in range(7350, 7360)] and list(lengths) == [100 + i % 400 for i in range(7350, 7360)]
    assert parent.dirs['s4'].files == {'file.txt': (7354 % 500 << 64) | (100 + 7354 % 400)}
    assert parent.leaf_lines() == [] and not parent.has_packed_leaves()


def test_a_long_line_beside_packed_ones_is_a_directory_expanded_at_load_and_the_rest_stay_packed():
    """A one-line directory of more than LEAF_LINE_CHARS of segments gets a
    ManifestDir of its own (what expand_large parses at load) while its
    short siblings stay packed; a long line repeating a packed name makes
    directories of all of them, its segments after the packed line's."""
    b = loc(b'x' * 1000)
    long_rest = ' '.join('%d:1:f%05d' % (i % 1000, i) for i in range(manifest.LEAF_LINE_CHARS // 8))
    text = './top/a %s 0:1:one\n./top/b %s %s\n./top/c %s 2:3:three\n' % (b, b, long_rest, b)
    top = parse(text, lazy=True).root.dirs['top']
    assert list(top.built_subdirs()) == ['b'] and [n for n, _s, _r in top.leaf_lines()] == ['a', 'c']
    parsed = parse(text, lazy=True)
    parsed.expand_large(1024)
    long_dir = parsed.root.dirs['top'].built_subdirs()['b']
    assert long_dir.file_columns() is long_dir.file_columns()  # made at load, kept
    assert len(parse(text, lazy=True).root.dirs['top'].dirs['b'].files) == manifest.LEAF_LINE_CHARS // 8
    again = './top/a %s 0:1:one\n./top/a %s 5:1:one %s\n' % (b, b, long_rest)
    top = parse(again, lazy=True).root.dirs['top']
    assert not top.has_packed_leaves() and list(top.built_subdirs()) == ['a']
    assert manifest.pieces_of(top.dirs['a'].files['one']) == [(0, 0, 1), (0, 5, 1)]
