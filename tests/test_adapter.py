"""The llfuse adapter without a kernel: `Operations` called directly, as
llfuse would call it, over the model and the fake cluster (s3ql's
t3_fs_api tests are the model).

llfuse calls every handler with its global lock held, and handlers release
it around network calls; so each call here holds `llfuse.lock` too
(`call`).  `init()` is never called: it starts the threads that talk to
the kernel, and no kernel is attached."""

import errno
import itertools
import hashlib
import os
import stat
import threading

import llfuse
import pytest

from arvados_fuse import listed
from arvados_fuse import CollectionDirectory, MagicDirectory, ObjectFile, Operations, ProjectDirectory
from arvados_fuse.fs.directory import Directory
from arvados_fuse.fs.inodes import ROOT_INODE
from arvados_fuse.fs.names import NameRule
from arvados_fuse.fs.kernelcache import IMMUTABLE_TIMEOUT

from fakes import FakeApi

# How long a test waits for another thread to reach a point before giving
# up (so a bug hangs no run); never a measure of speed.
HANG_GUARD = 60


def call(method, *args):
    with llfuse.lock:
        return method(*args)


def errno_of(method, *args):
    with pytest.raises(llfuse.FUSEError) as e:
        call(method, *args)
    return e.value.errno


def lookup(ops, parent, name):
    return call(ops.lookup, parent, name.encode())


def names(ops, inode):
    fh = call(ops.opendir, inode)
    try:
        return [name for name, _attr, _next in call(lambda: list(ops.readdir(fh, 0)))]
    finally:
        call(ops.releasedir, fh)


@pytest.fixture
def api():
    return FakeApi()


@pytest.fixture
def ops():
    return Operations(os.getuid(), os.getgid(), refresh_time=15)


def collection_root(ops, api, files, by_pdh=False):
    rec = api.store_collection('c', files)
    root = CollectionDirectory(ROOT_INODE, ops.inodes, api, 0,
                               rec['portable_data_hash'] if by_pdh else rec['uuid'])
    ops.inodes.add_entry(root)
    return root


def test_lookup_getattr_open_read_release(ops, api):
    collection_root(ops, api, {'hello.txt': b'hello world'}, by_pdh=True)
    attr = lookup(ops, ROOT_INODE, 'hello.txt')
    assert stat.S_ISREG(attr.st_mode) and attr.st_size == 11
    assert attr.entry_timeout == attr.attr_timeout == IMMUTABLE_TIMEOUT  # a PDH never changes
    again = call(ops.getattr, attr.st_ino)
    assert (again.st_ino, again.st_size, again.st_mtime_ns) == (attr.st_ino, 11, attr.st_mtime_ns)
    fh = call(ops.open, attr.st_ino, os.O_RDONLY)
    assert call(ops.read, fh, 0, 5) == b'hello'
    assert call(ops.read, fh, 6, 100) == b'world'
    assert call(ops.read, fh, 100, 10) == b''
    call(ops.release, fh)
    assert errno_of(ops.read, fh, 0, 1) == errno.EBADF
    root = call(ops.getattr, ROOT_INODE)
    assert stat.S_ISDIR(root.st_mode) and root.st_nlink == 2


def test_readdir_lists_dot_dotdot_and_children_in_order(ops, api):
    collection_root(ops, api, {'b': b'2', 'a': b'1', 'c': b'3'})
    assert names(ops, ROOT_INODE) == [b'.', b'..', b'a', b'b', b'c']
    fh = call(ops.opendir, ROOT_INODE)
    # Resuming at an offset gives the rest.
    assert [n for n, _a, _o in call(lambda: list(ops.readdir(fh, 3)))] == [b'b', b'c']
    call(ops.releasedir, fh)


def _read_as_the_kernel_does(ops, fh, per_call):
    """Every entry of an open directory, read `per_call` entries at a time,
    each call resuming at the offset the last entry gave."""
    out, off = [], 0
    while True:
        # As llfuse does: an entry's attributes are copied before the next
        # is asked for (the listing reuses one object).
        got = call(lambda: [(name, attr.st_ino, attr.st_mode, next_)
                            for name, attr, next_ in itertools.islice(ops.readdir(fh, off), per_call)])
        if not got:
            return out
        out.extend((name, ino, stat.S_ISDIR(mode)) for name, ino, mode, _next in got)
        assert got[-1][3] > off  # the kernel would ask for the same entries again, forever
        off = got[-1][3]


@pytest.mark.parametrize('count', [3, listed.LIMIT + 500])
def test_a_directory_of_one_kind_is_listed_from_its_table_in_any_pieces(ops, api, count):
    """A collection directory of files only (or subdirectories only) is
    listed from its table (rowhandlers.RowListing), its names encoded as the
    kernel reads them when there are more than listed.LIMIT: read in
    pieces of any size, from the offsets it gave, it lists every name once,
    in order, with its number and kind; a name the kernel cannot be shown
    (over 255 bytes) is left out and the others keep their offsets."""
    files = {'f%06d' % i: b'' for i in range(count)}
    files['g' + 'x' * 300] = b''
    collection_root(ops, api, files)
    fh = call(ops.opendir, ROOT_INODE)
    whole = _read_as_the_kernel_does(ops, fh, 10 ** 9)
    expect = sorted(n.encode() for n in files if len(n) <= 255)
    assert [n for n, _i, _d in whole] == [b'.', b'..'] + expect
    assert [d for _n, _i, d in whole] == [True, True] + [False] * len(expect)
    for per_call in (1, 7, 128, 1000):
        assert _read_as_the_kernel_does(ops, fh, per_call) == whole
    call(ops.releasedir, fh)
    for name, inode, _is_dir in whole[2:2 + 5] + whole[-3:]:
        assert call(ops.lookup, ROOT_INODE, name).st_ino == inode


def test_a_big_directory_of_files_and_subdirectories_is_listed_from_its_tables(ops, api):
    """Past listed.LIMIT rows, a directory of both kinds is listed from its
    two tables too, subdirectories first: every name once, with its number
    and kind, however the kernel reads it (the order of a listing is not
    the kernel's concern; `ls` sorts)."""
    files = {'f%06d' % i: b'' for i in range(listed.LIMIT + 100)}
    files.update({'d%d/inside' % i: b'' for i in range(3)})
    collection_root(ops, api, files)
    fh = call(ops.opendir, ROOT_INODE)
    whole = _read_as_the_kernel_does(ops, fh, 10 ** 9)
    assert [n for n, _i, _d in whole[:5]] == [b'.', b'..', b'd0', b'd1', b'd2']
    assert [n for n, _i, _d in whole[5:]] == sorted(n.encode() for n in files if '/' not in n)
    assert [d for _n, _i, d in whole] == [True] * 5 + [False] * (len(whole) - 5)
    for per_call in (1, 3, 100):
        assert _read_as_the_kernel_does(ops, fh, per_call) == whole
    call(ops.releasedir, fh)
    for name, inode, is_dir in whole[2:6] + whole[-2:]:
        attr = call(ops.lookup, ROOT_INODE, name)
        assert (attr.st_ino, stat.S_ISDIR(attr.st_mode)) == (inode, is_dir)


def test_a_directory_of_subdirectories_only_is_listed_from_its_table(ops, api):
    collection_root(ops, api, {'d%03d/f' % i: b'' for i in range(20)})
    fh = call(ops.opendir, ROOT_INODE)
    assert _read_as_the_kernel_does(ops, fh, 3)[2:] == [
        (b'd%03d' % i, call(ops.lookup, ROOT_INODE, b'd%03d' % i).st_ino, True) for i in range(20)]
    call(ops.releasedir, fh)


def test_errno_mapping(ops, api):
    collection_root(ops, api, {'f': b'data'})
    f = lookup(ops, ROOT_INODE, 'f').st_ino
    assert errno_of(ops.lookup, ROOT_INODE, b'missing') == errno.ENOENT
    assert errno_of(ops.lookup, f, b'x') == errno.ENOTDIR
    assert errno_of(ops.lookup, ROOT_INODE, b'x' * 256) == errno.ENAMETOOLONG
    assert errno_of(ops.open, ROOT_INODE, os.O_RDONLY) == errno.EISDIR
    assert errno_of(ops.opendir, f) == errno.ENOTDIR
    assert errno_of(ops.open, f, os.O_WRONLY) == errno.EROFS
    assert errno_of(ops.getattr, 999999) == errno.ENOENT
    assert errno_of(ops.getxattr, f, b'security.selinux') == errno.ENOTSUP
    assert errno_of(ops.getxattr, f, b'user.other') == llfuse.ENOATTR
    assert errno_of(ops.mkdir, ROOT_INODE, b'new', 0o755, None) == errno.EROFS
    assert errno_of(ops.unlink, ROOT_INODE, b'f', None) == errno.EROFS
    assert errno_of(ops.write, 1, 0, b'x') == errno.EROFS


def test_keep_failure_is_eio_and_the_mount_goes_on(ops, api):
    collection_root(ops, api, {'gone': b'will vanish', 'kept': b'stays'})
    gone = lookup(ops, ROOT_INODE, 'gone').st_ino
    api.blocks.pop(hashlib.md5(b'will vanish').hexdigest())
    fh = call(ops.open, gone, os.O_RDONLY)
    assert errno_of(ops.read, fh, 0, 10) == errno.EIO
    kept = lookup(ops, ROOT_INODE, 'kept').st_ino
    fh2 = call(ops.open, kept, os.O_RDONLY)
    assert call(ops.read, fh2, 0, 10) == b'stays'


def test_an_unexpected_error_is_eio(ops, api):
    class Broken(Directory):
        def listing(self):
            raise RuntimeError('a bug')
    ops.inodes.add_entry(Broken(ROOT_INODE, ops.inodes))
    assert errno_of(ops.opendir, ROOT_INODE) == errno.EIO


def test_forget_frees_a_detached_entry_only_after_the_last_reference(ops, api):
    root = collection_root(ops, api, {'old': b'old'})
    old = lookup(ops, ROOT_INODE, 'old').st_ino
    lookup(ops, ROOT_INODE, 'old')  # the kernel now holds two references
    api.add_collection(dict(api.collections_by_locator[root.collection_locator],
                            portable_data_hash='e' * 32 + '+0', manifest_text=''))
    root.invalidate()
    assert names(ops, ROOT_INODE) == [b'.', b'..']
    assert call(ops.getattr, old).st_size == 3  # detached, still served
    call(ops.forget, [(old, 1)])
    assert old in ops.inodes
    call(ops.forget, [(old, 1)])
    assert old not in ops.inodes
    assert errno_of(ops.getattr, old) == errno.ENOENT


def test_a_lookup_after_a_refresh_answers_from_the_new_files_not_the_last_listing(ops, api):
    """Lookups after a listing are answered from the names it sent
    (listed.py); once the collection changed and its directory was built
    again, they must come from the new files, though nothing listed them."""
    more = {'z%02d' % i: b'z' for i in range(listed.FEW)}  # enough to be remembered
    root = collection_root(ops, api, dict(more, a=b'1', b=b'22', c=b'333'))
    assert names(ops, ROOT_INODE)[:5] == [b'.', b'..', b'a', b'b', b'c']
    assert [lookup(ops, ROOT_INODE, n).st_size for n in 'abc'] == [1, 2, 3]
    new = api.store_collection('c', dict(more, b=b'4444', c=b'55555', d=b'6'))
    api.add_collection(dict(api.collections_by_locator[root.collection_locator],
                            portable_data_hash=new['portable_data_hash'], manifest_text=new['manifest_text']))
    root.invalidate()
    assert lookup(ops, ROOT_INODE, 'b').st_size == 4  # refreshes: a new table, the old listing
    assert lookup(ops, ROOT_INODE, 'c').st_size == 5
    assert errno_of(ops.lookup, ROOT_INODE, b'a') == errno.ENOENT
    assert lookup(ops, ROOT_INODE, 'd').st_size == 1
    fh = call(ops.open, lookup(ops, ROOT_INODE, 'c').st_ino, os.O_RDONLY)
    assert call(ops.read, fh, 0, 10) == b'55555'
    call(ops.release, fh)


@pytest.mark.parametrize('dir_mode', [None, 0o750])
def test_a_listed_subdirectory_is_answered_as_the_handler_answers_it(api, dir_mode):
    """Subdirectories of a collection are rows (fs/subdirs.py); one just
    listed is answered ahead of the handler (listed.py): the same
    attributes, and the kernel's count kept in the same row."""
    ops = Operations(os.getuid(), os.getgid(), refresh_time=15, dir_mode=dir_mode)
    collection_root(ops, api, {'sub/f': b'1', 'sub/g': b'22', 'other/h': b'333', 'top': b'4'}, by_pdh=True)
    assert names(ops, ROOT_INODE) == [b'.', b'..', b'other', b'sub', b'top']
    listed_attr = lookup(ops, ROOT_INODE, 'sub')
    handler_attr = call(Operations.lookup.__get__(ops), ROOT_INODE, b'sub')
    fields = ('st_ino', 'st_mode', 'st_nlink', 'st_size', 'st_uid', 'st_gid', 'st_atime_ns', 'st_mtime_ns',
              'st_ctime_ns', 'entry_timeout', 'attr_timeout')
    assert [getattr(listed_attr, f) for f in fields] == [getattr(handler_attr, f) for f in fields]
    assert listed_attr.st_mode == stat.S_IFDIR | (0o555 if dir_mode is None else dir_mode)
    assert listed_attr.entry_timeout == IMMUTABLE_TIMEOUT
    sub = listed_attr.st_ino
    assert ops.inodes.get(sub).nlookup == 2
    assert names(ops, sub) == [b'.', b'..', b'f', b'g']
    assert lookup(ops, sub, 'g').st_size == 2
    call(ops.forget, [(sub, 2)])
    assert ops.inodes.get(sub).nlookup == 0 and not ops.inodes.referenced(sub)


def test_every_lookup_is_counted_and_timed_the_listed_ones_too(api):
    """Lookups of names just listed are answered ahead of the handlers'
    wrapper (rowhandlers.lookup_handler): still counted and timed for
    crunchstat and /metrics, hits and misses alike."""
    from arvados_fuse.host import metrics
    from arvados_fuse.instrumented import InstrumentedOperations
    ops = InstrumentedOperations(os.getuid(), os.getgid())
    collection_root(ops, api, {'f%02d' % i: b'x' * i for i in range(listed.FEW + 4)})
    meter = metrics.op_totals.meters['lookup']
    listed_names = [n for n in names(ops, ROOT_INODE) if n not in (b'.', b'..')]
    count, seconds = meter.count, meter.seconds
    sizes = [call(ops.lookup, ROOT_INODE, n).st_size for n in listed_names]
    assert sizes == list(range(listed.FEW + 4))
    assert errno_of(ops.lookup, ROOT_INODE, b'nothing') == errno.ENOENT
    assert meter.count == count + len(listed_names) + 1 and meter.seconds > seconds


def test_a_directory_listed_by_names_whose_segments_are_out_of_bounds_is_eio_and_logged_once(ops, api, caplog):
    """A directory's names are listed without reading a number (`find`
    needs no more); the lookups that follow a listing (`ls -l`) read the
    segments' lengths alone, and the segments are read when a file is
    read.  A segment out of its stream there (the API server would
    refuse such a manifest) makes every file of that directory EIO,
    logged once; the rest of the collection is read as ever."""
    from fakes import put_block
    block = put_block(api.blocks, b'x' * 100)
    bad = ' '.join('%d:1:f%02d' % (i, i) for i in range(30)) + ' 99:2:g'  # 99+2 > 100
    good = ' '.join('%d:1:h%02d' % (i, i) for i in range(30))
    text = './bad %s %s\n./good %s %s\n' % (block, bad, block, good)
    rec = {'uuid': 'zzzzz-4zz18-bbbbbbbbbbbbbbb', 'portable_data_hash': 'b' * 32 + '+9', 'manifest_text': text,
           'modified_at': '2024-01-01T00:00:00Z'}
    api.add_collection(rec)
    ops.inodes.add_entry(CollectionDirectory(ROOT_INODE, ops.inodes, api, 0, rec['uuid']))
    bad_dir = lookup(ops, ROOT_INODE, 'bad').st_ino
    assert len(names(ops, bad_dir)) == 2 + 31  # listed from the names alone
    caplog.clear()
    f03, g = lookup(ops, bad_dir, 'f03'), lookup(ops, bad_dir, 'g')
    assert (f03.st_size, g.st_size) == (1, 2)  # as the manifest says
    for attr in (f03, g):
        fh = call(ops.open, attr.st_ino, os.O_RDONLY)
        assert errno_of(ops.read, fh, 0, 10) == errno.EIO
        call(ops.release, fh)
    assert len([r for r in caplog.records if 'malformed' in r.getMessage()]) == 1
    good_dir = lookup(ops, ROOT_INODE, 'good').st_ino
    attr = lookup(ops, good_dir, 'h07')
    fh = call(ops.open, attr.st_ino, os.O_RDONLY)
    assert attr.st_size == 1 and call(ops.read, fh, 0, 10) == b'x'
    call(ops.release, fh)


def by_id_root(ops, api):
    def project(parent_inode, record):
        return ProjectDirectory(parent_inode, ops.inodes, api, 0, record)
    return ops.inodes.add_entry(MagicDirectory(ROOT_INODE, ops.inodes, api, 0, project_factory=project))


def test_by_id_as_root_has_a_readme_and_a_by_id_subdirectory(ops, api):
    by_id_root(ops, api)
    assert names(ops, ROOT_INODE) == [b'.', b'..', b'README', b'by_id']
    sub = lookup(ops, ROOT_INODE, 'by_id').st_ino
    assert names(ops, sub) == [b'.', b'..', b'README']
    fh = call(ops.open, lookup(ops, sub, 'README').st_ino, os.O_RDONLY)
    assert b'portable data hash' in call(ops.read, fh, 0, 4096)


def test_by_id_missing_project_and_user_are_enoent_and_remembered(ops, api):
    by_id_root(ops, api)
    for name in ('zzzzz-j7d0g-000000000000999', 'zzzzz-tpzed-000000000000999'):
        for _ in range(3):
            assert errno_of(ops.lookup, ROOT_INODE, name.encode()) == errno.ENOENT
        assert sum(1 for c in api.calls if c[1] == name) == 1  # asked once, then remembered


def test_by_id_finds_a_project_and_a_collection(ops, api):
    by_id_root(ops, api)
    project = api.add_project('p')
    coll = api.store_collection('inside', {'f': b'f'}, owner_uuid=project['uuid'])
    p = lookup(ops, ROOT_INODE, project['uuid']).st_ino
    assert names(ops, p) == [b'.', b'..', b'inside']
    c = lookup(ops, ROOT_INODE, coll['portable_data_hash']).st_ino
    assert names(ops, c) == [b'.', b'..', b'f']


class SlowApi(FakeApi):
    """Calls about `slow_uuid` wait until `go` is set, after saying so
    through `entered`."""

    def __init__(self):
        super(SlowApi, self).__init__()
        self.slow_uuid = None
        self.entered = threading.Event()
        self.go = threading.Event()

    def _call(self, name, arg=None):
        super(SlowApi, self)._call(name, arg)
        if arg is not None and arg == self.slow_uuid:
            self.entered.set()
            assert self.go.wait(HANG_GUARD)


def in_thread(fn):
    result = {}

    def run():
        try:
            result['value'] = fn()
        except llfuse.FUSEError as e:
            result['errno'] = e.errno
    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def test_a_directory_detached_during_its_refresh_stays_empty():
    """fetch runs with the lock released; if the directory is removed from
    its parent meanwhile, the snapshot must not refill it (its new children
    would never be freed)."""
    api = SlowApi()
    ops = Operations(os.getuid(), os.getgid())
    top = api.add_project('top')
    sub = api.add_project('sub', owner_uuid=top['uuid'])
    api.store_collection('deep', {'d': b'd'}, owner_uuid=sub['uuid'])
    ops.inodes.add_entry(ProjectDirectory(ROOT_INODE, ops.inodes, api, 0, top))
    sub_inode = lookup(ops, ROOT_INODE, 'sub').st_ino  # the kernel holds it
    sub_dir = ops.inodes.get(sub_inode)
    size_before = len(ops.inodes)
    api.slow_uuid = sub['uuid']
    thread, result = in_thread(lambda: names(ops, sub_inode))
    try:
        assert api.entered.wait(HANG_GUARD)
        with llfuse.lock:  # the refresh is waiting on the network, unlocked
            ops.inodes.del_entry(sub_dir)
    finally:
        api.go.set()
        thread.join(HANG_GUARD)
    assert result == {'value': [b'.', b'..']}
    assert sub_dir.detached and sub_dir.listing() == []
    assert len(ops.inodes) == size_before  # nothing added below it


def test_a_lookup_in_a_directory_detached_meanwhile_is_enoent():
    api = SlowApi()
    ops = Operations(os.getuid(), os.getgid())
    coll = api.store_collection('c', {'f': b'f'})
    top = ops.inodes.add_entry(Directory(ROOT_INODE, ops.inodes))
    by_id = ops.inodes.add_entry(MagicDirectory(top.inode, ops.inodes, api, 0))
    call(ops.inodes.remember, by_id.inode)
    size_before = len(ops.inodes)
    api.slow_uuid = coll['uuid']
    thread, result = in_thread(lambda: lookup(ops, by_id.inode, coll['uuid']))
    try:
        assert api.entered.wait(HANG_GUARD)
        with llfuse.lock:
            ops.inodes.del_entry(by_id)
    finally:
        api.go.set()
        thread.join(HANG_GUARD)
    assert result == {'errno': errno.ENOENT}
    assert by_id.listing() == []
    assert len(ops.inodes) < size_before  # its README went; nothing came


class SlowBlocks(object):
    """A block source whose get() waits until `go` is set."""

    def __init__(self, keep):
        self.keep = keep
        self.entered = threading.Event()
        self.go = threading.Event()

    def get(self, locator):
        self.entered.set()
        assert self.go.wait(HANG_GUARD)
        return self.keep.get(locator)

    def prefetch(self, locator):
        pass


def test_a_read_waiting_on_keep_does_not_hold_the_lock(ops, api):
    """The lock-release rule: while one read waits for a block, every other
    request is served."""
    slow = SlowBlocks(api.keep)
    api.block_source = lambda num_retries=None: slow
    collection_root(ops, api, {'big': b'slow bytes', 'other': b'quick'})
    big = lookup(ops, ROOT_INODE, 'big').st_ino
    fh = call(ops.open, big, os.O_RDONLY)
    thread, result = in_thread(lambda: call(ops.read, fh, 0, 100))
    try:
        assert slow.entered.wait(HANG_GUARD)
        assert llfuse.lock.acquire(timeout=HANG_GUARD), 'the read kept the llfuse lock'
        try:
            assert ops.getattr(big).st_size == 10
        finally:
            llfuse.lock.release()
        assert names(ops, ROOT_INODE) == [b'.', b'..', b'big', b'other']
    finally:
        slow.go.set()
        thread.join(HANG_GUARD)
    assert result == {'value': b'slow bytes'}


# -- lookups in projects: one name, not the whole listing (issue 20) ---------------

def _project_root(ops, api, n_collections=30):
    top = api.add_project('top')
    for i in range(n_collections):
        api.store_collection('c%03d' % i, {'f': b'%d' % i}, owner_uuid=top['uuid'])
    ops.inodes.add_entry(ProjectDirectory(ROOT_INODE, ops.inodes, api, 0, top))
    return top


def _routes(api):
    routes = [name for name, _arg in api.calls]
    api.calls.clear()
    return routes


def test_a_lookup_in_a_project_not_listed_asks_for_that_name_alone(ops, api):
    _project_root(ops, api)
    api.calls.clear()
    found = lookup(ops, ROOT_INODE, 'c007')
    # The fake answers find_in_project as one groups.contents (the name) and
    # the project's name links, which the real client sends together.
    assert _routes(api) == ['groups.contents', 'links.list']
    assert stat.S_ISDIR(found.st_mode)
    # Only the name asked for was made; a listing then shows everything and
    # keeps the entry (and its inode) the lookup made.
    assert len(ops.inodes) == 2  # the root and c007
    listed = names(ops, ROOT_INODE)
    assert len(listed) == 2 + 30
    assert lookup(ops, ROOT_INODE, 'c007').st_ino == found.st_ino


def test_a_missing_name_probed_again_costs_nothing_more(ops, api):
    _project_root(ops, api)
    api.calls.clear()
    assert errno_of(ops.lookup, ROOT_INODE, b'nothing') == errno.ENOENT
    assert _routes(api) == ['groups.contents', 'links.list']
    assert errno_of(ops.lookup, ROOT_INODE, b'nothing') == errno.ENOENT
    assert _routes(api) == []  # no second query, and above all no listing
    # Another name: its query alone (the name links are known now).
    lookup(ops, ROOT_INODE, 'c001')
    assert _routes(api) == ['groups.contents']


def _uuid_of(entry):
    if entry is None:
        return None
    return entry.uuid if isinstance(entry, ObjectFile) else entry.record().get('uuid')


def test_a_name_lookup_finds_what_the_listing_shows_under_that_name(api):
    """Sanitized names ('/' shown as '_'), objects shown as name.kind, and the
    winner among items sharing a name: the same as in the full listing."""
    top = api.add_project('top')
    sub = api.add_project('x', owner_uuid=top['uuid'], created_at='2024-02-01T00:00:00Z')
    coll = api.store_collection('x', {'f': b'f'}, owner_uuid=top['uuid'])
    slashed = api.store_collection('a/b', {'g': b'g'}, owner_uuid=top['uuid'])
    api.store_collection('aXb', {'h': b'h'}, owner_uuid=top['uuid'])
    api.contents[top['uuid']].append({'uuid': 'zzzzz-7fd4e-000000000000001', 'name': 'x', 'kind': 'arvados#workflow',
                                      'owner_uuid': top['uuid'], 'created_at': '2024-01-01T00:00:00Z',
                                      'modified_at': '2024-01-01T00:00:00Z'})

    def looked_up(names_):
        ops = Operations(os.getuid(), os.getgid())
        ops.inodes.add_entry(ProjectDirectory(ROOT_INODE, ops.inodes, api, 0, top))
        out = {}
        for name in names_:
            try:
                entry = ops.inodes.get(lookup(ops, ROOT_INODE, name).st_ino)
            except llfuse.FUSEError:
                entry = None
            out[name] = _uuid_of(entry)
        return ops, out

    wanted = ['x', 'x.workflow', 'a_b', 'aXb', 'x.collection']
    _ops, by_name = looked_up(wanted)
    ops, _ = looked_up([])
    listed = {name.decode() for name in names(ops, ROOT_INODE)}
    by_listing = {}
    for name in wanted:
        if name in listed:
            by_listing[name] = _uuid_of(ops.inodes.get(lookup(ops, ROOT_INODE, name).st_ino))
        else:
            by_listing[name] = None
    assert by_name == by_listing
    assert by_name['x'] == sub['uuid']  # a subproject wins over a collection
    assert by_name['a_b'] == slashed['uuid']
    assert by_name['x.workflow'] == 'zzzzz-7fd4e-000000000000001'
    assert coll['uuid'] not in by_name.values()  # hidden by the subproject, as in the listing


@pytest.mark.parametrize('setting', ['', None, '/', '%2f', '-', '\N{DIVISION SLASH}', '{slash}'])
def test_a_name_lookup_equals_the_listing_under_the_name_rule(api, setting):
    """With the cluster's ForwardSlashNameSubstitution S (one character,
    several, none, or no such key): `/` shows as S, a literal name wins over
    one that only looks like it, and a lookup of any name (a spelling with
    S or `_`, a probe that matches nothing) finds what the listing shows."""
    rule = NameRule.for_setting(setting)
    s = rule.substitute
    top = api.add_project('top')
    made = {}

    def coll(name, when='2024-01-01T00:00:00Z'):
        made[name] = api.store_collection(name, {'f': name.encode()}, owner_uuid=top['uuid'])
        made[name]['created_at'] = when
    coll('a/b')
    coll('a%sb' % s, when='2024-03-01T00:00:00Z')  # newer, but literal: it wins
    coll('a/b/c')
    coll('a/b%sc' % s)
    coll('/')
    coll('x%s' % s)
    coll('u_v')
    coll('u/v%')
    coll('100%/')
    sub = api.add_project('m%sn' % s, owner_uuid=top['uuid'], created_at='2024-05-01T00:00:00Z')
    coll('m/n')  # a collection: the subproject wins its name, literal or not
    api.contents[top['uuid']].append({'uuid': 'zzzzz-7fd4e-000000000000009', 'name': 'w/f',
                                      'kind': 'arvados#workflow', 'owner_uuid': top['uuid'],
                                      'created_at': '2024-01-01T00:00:00Z', 'modified_at': '2024-01-01T00:00:00Z'})

    def fresh_ops():
        ops = Operations(os.getuid(), os.getgid())
        ops.inodes.name_rule = rule
        ops.inodes.add_entry(ProjectDirectory(ROOT_INODE, ops.inodes, api, 0, top))
        return ops

    listing_ops = fresh_ops()
    listed = {name.decode() for name in names(listing_ops, ROOT_INODE)}
    probes = sorted(listed | {'a/b'.replace('/', '_'), 'a%sb%sc' % (s, s), 'x_', 'u_v', 'nothing%s' % s,
                              'a%sb' % s, 's%sq' % s, 'w%sf.workflow' % s, '100%' + s, '100_' + s})
    for name in probes:
        try:
            by_listing = _uuid_of(listing_ops.inodes.get(lookup(listing_ops, ROOT_INODE, name).st_ino))
        except llfuse.FUSEError:
            by_listing = None
        ops = fresh_ops()
        try:
            by_name = _uuid_of(ops.inodes.get(lookup(ops, ROOT_INODE, name).st_ino))
        except llfuse.FUSEError:
            by_name = None
        assert by_name == by_listing, name
    assert 'a%sb' % s in listed and 'a%sb%sc' % (s, s) in listed
    by_name = {n: _uuid_of(listing_ops.inodes.get(lookup(listing_ops, ROOT_INODE, n).st_ino)) for n in listed}
    assert by_name['a%sb' % s] == made['a%sb' % s]['uuid']  # the literal name wins
    assert by_name['m%sn' % s] == sub['uuid']
    assert 'w%sf.workflow' % s in listed
    assert by_name['%s' % s if s != '_' else '_'] == made['/']['uuid']
    if s != '_':
        # Neither a/b/c nor a/b<S>c is literal: the smaller uuid wins.
        assert by_name['a%sb%sc' % (s, s)] == made['a/b/c']['uuid']
        assert '/' not in ''.join(listed)


# -- .arvados#versions (issue 22) -----------------------------------------------

def _read(ops, inode):
    fh = call(ops.open, inode, os.O_RDONLY)
    try:
        return call(ops.read, fh, 0, 1 << 20)
    finally:
        call(ops.release, fh)


def test_every_version_of_a_collection_under_its_hidden_versions_directory(ops, api):
    rec = api.store_collection('c', {'f': b'one'})
    old1, rec = api.new_version(rec, {'f': b'two'})
    old2, rec = api.new_version(rec, {'f': b'three', 'g': b'new'})
    root = CollectionDirectory(ROOT_INODE, ops.inodes, api, 0, rec['uuid'])
    ops.inodes.add_entry(root)
    api.calls.clear()
    versions = lookup(ops, ROOT_INODE, '.arvados#versions')
    # Looked up without loading the collection, in one listing call.
    assert stat.S_ISDIR(versions.st_mode)
    assert names(ops, versions.st_ino) == [b'.', b'..', b'1', b'2', b'3']
    assert [name for name, _arg in api.calls] == ['collections.list']
    # Never listed in its collection.
    assert b'.arvados#versions' not in names(ops, ROOT_INODE)
    wanted = {'1': {'f': b'one'}, '2': {'f': b'two'}, '3': {'f': b'three', 'g': b'new'}}
    for number, files in wanted.items():
        d = lookup(ops, versions.st_ino, number)
        assert names(ops, d.st_ino)[2:] == sorted(n.encode() for n in files)
        for name, data in files.items():
            assert _read(ops, lookup(ops, d.st_ino, name).st_ino) == data
        record = _read(ops, lookup(ops, d.st_ino, '.arvados#collection').st_ino)
        assert ('"version": %s' % number).encode() in record
    # Old versions never change: cached as long as a PDH collection.
    old = lookup(ops, versions.st_ino, '1')
    assert old.entry_timeout == IMMUTABLE_TIMEOUT
    assert ops.inodes.get(old.st_ino).immutable()
    assert _uuid_of(ops.inodes.get(old.st_ino)) == old1['uuid']
    # A version has no versions of its own; a missing number is ENOENT.
    assert errno_of(ops.lookup, old.st_ino, b'.arvados#versions') == errno.ENOENT
    assert errno_of(ops.lookup, versions.st_ino, b'4') == errno.ENOENT


def test_versions_of_an_old_version_are_its_collection_s(ops, api):
    rec = api.store_collection('c', {'f': b'one'})
    old1, rec = api.new_version(rec, {'f': b'two'})
    by_id = MagicDirectory(ROOT_INODE, ops.inodes, api, 0)
    ops.inodes.add_entry(by_id)
    old = lookup(ops, ROOT_INODE, old1['uuid'])
    assert _read(ops, lookup(ops, old.st_ino, 'f').st_ino) == b'one'
    versions = lookup(ops, old.st_ino, '.arvados#versions')
    assert names(ops, versions.st_ino) == [b'.', b'..', b'1', b'2']
    assert _read(ops, lookup(ops, lookup(ops, versions.st_ino, '2').st_ino, 'f').st_ino) == b'two'
