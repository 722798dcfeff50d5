"""Names through the kernel: the seed's sanitizing of odd names (from a
manifest stored only in Keep, since the API refuses `.`/`..` there, and
from object names), octal escapes, names the --encoding cannot hold, names
too long for the kernel, and deterministic winners of duplicate names."""

import errno
import os

import arvados
import pytest

from localcluster.testing import LocalCluster
from mountutil import mounted

pytestmark = pytest.mark.timeout(180)

DATA = b'abcdefghijklmnopqrstuvwxyz'
# (manifest-escaped name, name in the mount) for files and directories.
EDGE_NAMES = [('\\072', ':'), ('\\056', '_'), ('\\056\\056', '__'), ('\\056\\056\\056', '...'),
              ('-', '-'), ('*', '*'), ('\\001', '\x01'), ('\\134', '\\'), ('\\040', ' ')]
# A `.` directory component means "this directory", as in the seed.
DIR_EDGE_NAMES = [e for e in EDGE_NAMES if e[0] != '\\056']


@pytest.fixture(scope='module')
def unsigned_cluster(tmp_path_factory):
    """A cluster with blob signing off (bare PDHs readable); this module
    creates its own objects here."""
    with LocalCluster(tmp_path_factory.mktemp('names-cluster'), blob_signing=False) as c:
        yield c


def _put_edge_manifest(cluster):
    """Store the edge-case manifest in Keep only; returns (locator Keep
    returned, expected {path: bytes}, expected dirs)."""
    keep = arvados.KeepClient(api_client=cluster.api('alice'), num_retries=2)
    data_loc = keep.put(DATA)
    lines = ['. %s %s\n' % (data_loc, ' '.join('%d:1:%s' % (i, esc) for i, (esc, _) in enumerate(EDGE_NAMES)))]
    files = {name: DATA[i:i + 1] for i, (_, name) in enumerate(EDGE_NAMES)}
    for i, (esc, name) in enumerate(DIR_EDGE_NAMES):
        lines.append('./dirs/%s %s %d:2:f\n' % (esc, data_loc, i))
        files['dirs/%s/f' % name] = DATA[i:i + 2]
    lines.append('./dirs/\\056 %s 20:3:dot-dir-file\n' % data_loc)
    files['dirs/dot-dir-file'] = DATA[20:23]
    lines.append('./a/b/c %s 0:5:deep\n' % data_loc)
    files['a/b/c/deep'] = DATA[0:5]
    manifest_loc = keep.put(''.join(lines).encode())
    dirs = {'dirs', 'a', 'a/b', 'a/b/c'} | {'dirs/' + name for _, name in DIR_EDGE_NAMES}
    return manifest_loc, files, dirs


def _tree(root):
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        for d in dirnames:
            dirs.add(os.path.normpath(os.path.join(rel, d)))
        for f in filenames:
            with open(os.path.join(dirpath, f), 'rb') as fh:
                files[os.path.normpath(os.path.join(rel, f))] = fh.read()
    return files, dirs


@pytest.mark.parametrize('signed', [True, False], ids=['signed-locator', 'bare-pdh'])
def test_keep_only_manifest_with_edge_names(request, signed):
    cluster = request.getfixturevalue('cluster' if signed else 'unsigned_cluster')
    manifest_loc, want_files, want_dirs = _put_edge_manifest(cluster)
    name = manifest_loc if signed else '+'.join(manifest_loc.split('+')[:2])
    assert ('+A' in name) == signed
    with mounted(cluster.full_env('alice'), '--by-id') as m:
        assert sorted(os.listdir(m.path)) == ['README', 'by_id']
        files, dirs = _tree(m.join(name))
        assert files == want_files
        assert dirs == want_dirs
        assert sorted(os.listdir(m.path)) == sorted(['README', 'by_id', name])
        # Its record file describes the manifest it was read from.
        record = open(m.join(name, '.arvados#collection')).read()
        assert '+'.join(manifest_loc.split('+')[:2]) in record


def test_bare_pdh_of_keep_only_manifest_where_signatures_are_enforced(cluster):
    bare = cluster.demo['keep_only']['pdh']
    with mounted(cluster.full_env('alice'), '--by-id', '--retries', '0') as m:
        with pytest.raises(OSError) as err:
            os.listdir(m.join(bare))
        assert err.value.errno == errno.ENOENT
        assert os.listdir(m.join(cluster.demo['keep_only']['signed_locator_alice'])) == ['keep-only.txt']


def test_object_names_are_sanitized(unsigned_cluster):
    api = unsigned_cluster.api('alice')
    proj = api.groups().create(body={'group': {'name': 'object names', 'group_class': 'project'}}).execute()
    for name in ('.', '..'):
        api.groups().create(body={'group': {'name': 'sub' + name, 'group_class': 'project',
                                            'owner_uuid': proj['uuid']}}).execute()
    # Arvados refuses the names `.` and `..`; a cluster older than that rule
    # (no ForwardSlashNameSubstitution in its config) took them.
    unsigned_cluster.set_settings(forward_slash_name_substitution=None)
    try:
        api.collections().create(body={'collection': {'name': '.', 'owner_uuid': proj['uuid'],
                                                      'manifest_text': ''}}).execute()
        api.groups().create(body={'group': {'name': '..', 'group_class': 'project',
                                            'owner_uuid': proj['uuid']}}).execute()
    finally:
        unsigned_cluster.set_settings(forward_slash_name_substitution='')
    with mounted(unsigned_cluster.full_env('alice'), '--project', proj['uuid']) as m:
        assert sorted(os.listdir(m.path)) == sorted(['_', '__', 'sub.', 'sub..'])
        assert os.path.exists(m.join('__', '.arvados#project'))
        assert os.path.exists(m.join('_', '.arvados#collection'))


def test_octal_escapes_decode(unsigned_cluster):
    api = unsigned_cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    loc = keep.put(b'caf\xc3\xa9 bytes')
    manifest = ('. %s 0:5:caf\\303\\251\\040x 5:6:tab\\011name\n'
                './d\\303\\251j\\303\\240 %s 0:3:vu\n') % (loc, loc)
    coll = api.collections().create(body={'collection': {'name': 'escapes', 'manifest_text': manifest}}).execute()
    with mounted(unsigned_cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        assert sorted(os.listdir(m.path)) == sorted(['café x', 'tab\tname', 'déjà'])
        assert open(m.join('café x'), 'rb').read() == 'café'.encode()
        assert open(m.join('déjà', 'vu'), 'rb').read() == b'caf'


def test_unencodable_names_are_left_out_with_one_log_line(cluster):
    odd = cluster.demo['collections']['odd_names']
    with mounted(cluster.full_env('alice'), '--encoding', 'ascii', '--collection', odd['uuid']) as m:
        top = {f['path'].split('/')[0] for f in odd['files']} | {d.split('/')[0] for d in odd['empty_dirs']}
        ascii_names = {n for n in top if n.isascii()}
        assert top - ascii_names  # the demo has names ascii cannot hold
        for _ in range(2):
            assert set(os.listdir(m.path)) == ascii_names
        # Deeper down too: 'sub dir/é' is left out, the rest is there.
        assert sorted(os.listdir(m.join('sub dir'))) == ['empty inner', 'empty too']
        log = m.log()
        for name in top - ascii_names:
            assert sum(1 for line in log.splitlines() if ascii(name)[1:-1] in line) == 1, (name, log)
        # The mount lives on and reads.
        f = next(f for f in odd['files'] if f['path'] == 'with space.txt')
        assert len(open(m.join('with space.txt'), 'rb').read()) == f['size']
        assert m.proc.poll() is None


def test_names_too_long_for_the_kernel_are_left_out(unsigned_cluster):
    api = unsigned_cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    loc = keep.put(b'0123456789')
    long_file = 'f' * 300
    proj = api.groups().create(body={'group': {'name': 'long names', 'group_class': 'project'}}).execute()
    api.collections().create(body={'collection': {
        'name': 'c' * 256, 'owner_uuid': proj['uuid'], 'manifest_text': ''}}).execute()
    coll = api.collections().create(body={'collection': {
        'name': 'short', 'owner_uuid': proj['uuid'],
        'manifest_text': '. %s 0:4:%s 4:6:ok\n' % (loc, long_file)}}).execute()
    # 255 bytes is the limit and fits: 127 two-byte characters + 1 byte.
    api.collections().create(body={'collection': {
        'name': 'é' * 127 + 'x', 'owner_uuid': proj['uuid'], 'manifest_text': ''}}).execute()
    with mounted(unsigned_cluster.full_env('alice'), '--project', proj['uuid']) as m:
        assert sorted(os.listdir(m.path)) == sorted(['short', 'é' * 127 + 'x'])
        assert os.listdir(m.join('short')) == ['ok']
        assert open(m.join('short', 'ok'), 'rb').read() == b'456789'
        with pytest.raises(OSError) as err:
            os.stat(m.join('short', long_file))
        assert err.value.errno == errno.ENAMETOOLONG
        log = m.log()
        assert sum(1 for line in log.splitlines() if 'left out' in line and 'f' * 100 in line) == 1
        assert sum(1 for line in log.splitlines() if 'left out' in line and 'c' * 100 in line) == 1
        assert os.getxattr(m.join('short'), 'user.arvados.uuid').decode() == coll['uuid']


def test_duplicate_names_have_deterministic_winners(unsigned_cluster):
    api = unsigned_cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    proj = api.groups().create(body={'group': {'name': 'duplicates', 'group_class': 'project'}}).execute()
    owner = proj['uuid']

    def coll(name, text):
        loc = keep.put(text)
        return api.collections().create(body={'collection': {
            'name': name, 'owner_uuid': owner, 'manifest_text': '. %s 0:%d:which\n' % (loc, len(text))}}).execute()
    # A collection made first still loses to a subproject of the same name.
    loser = coll('dup', b'collection')
    api.groups().create(body={'group': {'name': 'dup', 'group_class': 'project', 'owner_uuid': owner}}).execute()
    # A collection beats another kind whose `name.kind` equals its name.
    api.workflows().create(body={'workflow': {'name': 'flow', 'owner_uuid': owner, 'definition': ''}}).execute()
    coll('flow.workflow', b'collection beats workflow')
    # Collection vs name link (same rank): the older wins.
    older = coll('linked', b'older')
    newer = coll('other', b'newer')
    api.links().create(body={'link': {'link_class': 'name', 'name': 'linked', 'tail_uuid': owner,
                                      'head_uuid': newer['portable_data_hash']}}).execute()
    with mounted(unsigned_cluster.full_env('alice'), '--all') as m:
        p = m.join('home', 'duplicates')
        assert sorted(os.listdir(p)) == ['dup', 'flow.workflow', 'linked', 'other']
        assert os.path.exists(os.path.join(p, 'dup', '.arvados#project'))
        assert open(os.path.join(p, 'flow.workflow', 'which'), 'rb').read() == b'collection beats workflow'
        assert open(os.path.join(p, 'linked', 'which'), 'rb').read() == b'older'
        assert older['uuid']
        # The loser is still reachable by uuid.
        assert open(m.join('by_id', loser['uuid'], 'which'), 'rb').read() == b'collection'
