"""Keep-only manifests made by hypothesis (tests/fuzzmanifests.py), looked
up through one real mount (by_id/<signed locator of the manifest>, as
tests/test_mount_hostile.py does): never a crash, a hang or a leak.

For each manifest the lookup and the walk of its tree answer within
HANG seconds, and
- a valid one shows exactly the expected tree: names, sizes, and the
  exact bytes of every file whose blocks its locators may read, EIO for
  the others;
- a malformed one is ENOENT, again on a second lookup, leaving no inode;
- a randomly mutated one is ENOENT or a tree that agrees with itself
  (every file reads its size in bytes, or EIO);
the mount stays up, a failed lookup adds no inode, a shown tree adds at
most its own entries, and the daemon's RSS grows by less than RSS_GROWTH
over the whole run.

FUZZ_EXAMPLES (default 800, some 40 s) sets the number of manifests; FUZZ_SEED a
seed (default: derandomized, the same manifests each run)."""

import concurrent.futures
import errno
import os

import arvados
import pytest
from hypothesis import HealthCheck, given, seed, settings
from arvados_fuse.fs.collection import FILE_BYTES

import fuzzmanifests
from mountutil import mounted, rss_of

pytestmark = pytest.mark.timeout(600)

EXAMPLES = int(os.environ.get('FUZZ_EXAMPLES', '800'))
SEED = os.environ.get('FUZZ_SEED')
# A lookup or walk taking longer than this is a hang: --read-timeout is 10 s
# and no lookup here needs the API twice.
HANG = 60
RSS_GROWTH = 100 << 20
# Small, so that trees are unloaded (and asked out of the kernel) all along.
# Small, so that trees are dropped and loaded again all along the run.
DIRECTORY_CACHE = 128 << 10


class Fuzz(object):
    def __init__(self, keep, pool, mount):
        self.keep = keep
        self.pool = pool
        self.mount = mount
        self.pool_exec = concurrent.futures.ThreadPoolExecutor(1)
        self.counts = {}

    def bounded(self, fn, *args):
        """fn(*args) in another thread; a hang fails the test (the mount
        is aborted at teardown, which frees the thread)."""
        future = self.pool_exec.submit(fn, *args)
        try:
            return future.result(HANG)
        except concurrent.futures.TimeoutError:
            raise AssertionError('no answer within %ss: %s%r' % (HANG, fn.__name__, args))

    def count(self, what):
        self.counts[what] = self.counts.get(what, 0) + 1

    def inodes(self):
        return os.statvfs(self.mount.path).f_files


def _walk(path):
    """('error', errno) or ('tree', the tree under path as the mount
    shows it)."""
    try:
        os.stat(path)
    except OSError as e:
        return ('error', e.errno)
    return ('tree', _tree(path))


def _tree(path):
    out = {}
    for name in os.listdir(path):
        full = os.path.join(path, name)
        st = os.lstat(full)
        if os.path.isdir(full):
            out[name] = ('dir', _tree(full))
            continue
        try:
            with open(full, 'rb') as f:
                data = f.read()
        except OSError as e:
            assert e.errno == errno.EIO, (full, e)
            data = None
        out[name] = ('file', st.st_size, data)
    return out


def _count(tree):
    return sum(1 + (_count(v[1]) if v[0] == 'dir' else 0) for v in tree.values())


def _file_data(tree):
    for v in tree.values():
        if v[0] == 'dir':
            yield from _file_data(v[1])
        else:
            yield v[2]


def _consistent(tree):
    for name, v in tree.items():
        if v[0] == 'dir':
            _consistent(v[1])
        else:
            assert v[2] is None or len(v[2]) == v[1], (name, v[1], len(v[2]))


@pytest.fixture(scope='module')
def fuzz(module_cluster):
    keep = arvados.KeepClient(api_client=module_cluster.api('alice'), num_retries=2)
    pool = fuzzmanifests.pool_blocks(keep)
    with mounted(module_cluster.full_env('alice'), '--by-id', '--read-timeout', '10', '--retries', '1',
                 '--directory-cache', str(DIRECTORY_CACHE)) as m:
        f = Fuzz(keep, pool, m)
        try:
            yield f
        finally:
            f.pool_exec.shutdown(wait=False)


def _check(fuzz, case):
    m = fuzz.mount
    name = fuzz.keep.put(case.text)
    before = fuzz.inodes()
    got = fuzz.bounded(_walk, m.join(name))
    added = fuzz.inodes() - before
    outcome = errno.errorcode[got[1]] if got[0] == 'error' else 'tree'
    fuzz.count('%s: %s' % (case.kind, outcome))
    if got[0] == 'tree':
        for data in _file_data(got[1]):
            fuzz.count('files read' if data is not None else 'files EIO')
    if case.expect == 'ENOENT' or (case.expect is None and got[0] == 'error'):
        assert got == ('error', errno.ENOENT), (case, got)
        # (Fewer: the kernel let go of a tree the directory cache dropped.)
        assert added <= 0, (case, added)
        # Remembered: the same answer, still nothing added.
        assert fuzz.bounded(_walk, m.join(name)) == ('error', errno.ENOENT)
        assert fuzz.inodes() <= before
    elif case.expect is None:
        _consistent(got[1])
        assert added <= 1 + len(case.text), (case, added)
    else:
        assert got == ('tree', case.tree), (case, got)
        # The collection, and at most its entries (listed or not).
        entries = _count(case.tree) if case.entries is None else case.entries
        assert added <= 1 + entries, (case, added, case.tree)
    if case.text:
        # The manifest block is cached now; names of it Keep would refuse
        # (no signature, a made-up one) find nothing, and add nothing.
        md5, size = name.split('+')[:2]
        before = fuzz.inodes()
        for other in ('%s+%s' % (md5, size), '%s+%s+%s' % (md5, size, fuzzmanifests.FORGED)):
            assert fuzz.bounded(_walk, m.join(other)) == ('error', errno.ENOENT), (case, other)
        assert fuzz.inodes() <= before
    assert 'README' in os.listdir(m.path)


def test_fuzzed_keep_only_manifests_through_one_mount(fuzz):
    pid = fuzz.mount.proc.pid
    rss = rss_of(pid)
    inodes = fuzz.inodes()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=SEED is None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzzmanifests.cases(fuzz.pool))
    def run(case):
        _check(fuzz, case)

    if SEED is not None:
        run = seed(int(SEED))(run)
    run()
    grown = rss_of(pid) - rss
    print('fuzz: %s; inodes %d -> %d; RSS %+.1f MiB'
          % (', '.join('%s %d' % kv for kv in sorted(fuzz.counts.items())), inodes, fuzz.inodes(), grown / 2 ** 20))
    assert fuzz.mount.proc.poll() is None
    assert grown < RSS_GROWTH, grown
    # Bounded by the directory cache: the collections looked up (by_id
    # keeps them), and the trees it holds, twice over for trees the kernel
    # has yet to let go of.  The cache charges a file at least FILE_BYTES
    # and its segment token (6 characters or more, `0:0:a `); a tree kept
    # for good would pass that bound within the first few hundred cases.
    trees = sum(n for what, n in fuzz.counts.items() if what.endswith(': tree'))
    per_entry = FILE_BYTES + len('0:0:a ')
    assert fuzz.inodes() <= inodes + trees + 2 * DIRECTORY_CACHE // per_entry, (inodes, fuzz.inodes())
    # Every block of the pool still reads, exactly, through a valid manifest.
    text = ''.join('. %s 0:%d:f%d\n' % (loc, len(data), i) for i, (loc, data) in enumerate(fuzz.pool))
    path = fuzz.mount.join(fuzz.keep.put(text.encode()))
    for i, (_loc, data) in enumerate(fuzz.pool):
        with open(os.path.join(path, 'f%d' % i), 'rb') as f:
            assert f.read() == data
