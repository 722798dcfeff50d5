"""Every mount mode through the kernel against the local cluster's demo
data: what each root lists, byte-exact reads, the hidden record files,
READMEs, modes/times/owners, extended attributes, and `--filters`.

Read-only against the shared demo data; `module_cluster` is this
module's own cluster for the tests that create objects."""

import errno
import json
import os
import stat
import time

import pytest

from arvados_fuse.fs.fresh import convert_time
from arvados_fuse.fs.byid import MagicDirectory
from mountutil import check_collection_tree, md5_of, mounted, run_arv_mount

pytestmark = pytest.mark.timeout(240)


def _file(coll, path):
    return next(f for f in coll['files'] if f['path'] == path)


def _check_file(path, coll, rel):
    f = _file(coll, rel)
    assert os.path.getsize(path) == f['size'], path
    assert md5_of(path) == f['md5'], path


def _wait_for(what, fn, timeout=30):
    deadline = time.time() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.2)


def _check_readme_mentions(text, cluster, dirs):
    assert cluster.api_host in text
    assert cluster.users['alice']['email'] in text
    for d in dirs:
        assert '\n' + d + '/' in text, (d, text)


# -- --all: the default layout, attributes and records -----------------------

def test_all_mode_layout_readme_and_contents(cluster):
    demo = cluster.demo
    colls, projects = demo['collections'], demo['projects']
    with mounted(cluster.full_env('alice')) as m:
        assert sorted(os.listdir(m.path)) == ['README', 'by_id', 'by_tag', 'home', 'shared', 'users']
        _check_readme_mentions(open(m.join('README')).read(), cluster,
                               ['home', 'shared', 'users', 'by_tag', 'by_id'])

        home = os.listdir(m.join('home'))
        assert {'Project A', 'Big file', 'Fruit filter', colls['odd_names']['name']} <= set(home)
        assert sorted(os.listdir(m.join('home', 'Project A'))) == [
            'Demo workflow.workflow', 'Many files', 'Named by link', 'Sub project']
        check_collection_tree(m.join('home', 'Project A', 'Many files'), colls['many_files'])
        # The >64 MiB multi-block file, byte-exact through the kernel.
        _check_file(m.join('home', 'Big file', 'big.bin'), colls['big_file'], 'big.bin')
        # The old-style name link shows the collection it names.
        assert os.listdir(m.join('home', 'Project A', 'Named by link')) == ['deep.txt']
        _check_file(m.join('home', 'Project A', 'Named by link', 'deep.txt'), colls['deep'], 'deep.txt')
        deep = m.join('home', 'Project A', 'Sub project', 'Deep project', 'Deep collection', 'deep.txt')
        _check_file(deep, colls['deep'], 'deep.txt')
        # Other objects are `name.kind` JSON files of their record.
        wf = json.loads(open(m.join('home', 'Project A', 'Demo workflow.workflow')).read())
        assert wf['uuid'] == demo['workflows']['demo']['uuid'] and wf['kind'] == 'arvados#workflow'
        # The filter group lists what its filters match: blue collections.
        assert os.listdir(m.join('home', 'Fruit filter')) == ['Many files']

        # shared/: one directory per owner.
        assert os.listdir(m.join('shared')) == ['Bob Other']
        assert os.listdir(m.join('shared', 'Bob Other')) == ['Bob shared project']
        _check_file(m.join('shared', 'Bob Other', 'Bob shared project', 'Bob shared collection', 'shared.txt'),
                    colls['bob_shared'], 'shared.txt')

        # users/<username>: each home, as far as alice may read it.
        assert {'admin', 'alice', 'bob'} <= set(os.listdir(m.join('users')))
        assert os.listdir(m.join('users', 'bob')) == ['Bob shared project']
        assert sorted(os.listdir(m.join('users', 'alice'))) == sorted(home)

        # by_tag/<tag>/<uuid>
        tags = demo['links']['tags']
        assert set(tags) <= set(os.listdir(m.join('by_tag')))
        for tag, uuids in tags.items():
            assert sorted(os.listdir(m.join('by_tag', tag))) == sorted(uuids)
        _check_file(m.join('by_tag', 'deep tag', colls['deep']['uuid'], 'deep.txt'), colls['deep'], 'deep.txt')

        # by_id: README only until something is looked up.
        assert os.listdir(m.join('by_id')) == ['README']
        assert open(m.join('by_id', 'README')).read() == MagicDirectory.README_TEXT
        _check_file(m.join('by_id', colls['odd_names']['pdh'], 'with space.txt'), colls['odd_names'],
                    'with space.txt')
        assert sorted(os.listdir(m.join('by_id', projects['project_a']['uuid']))) == [
            'Demo workflow.workflow', 'Many files', 'Named by link', 'Sub project']
        assert sorted(os.listdir(m.join('by_id'))) == sorted(
            ['README', colls['odd_names']['pdh'], projects['project_a']['uuid']])


def test_all_mode_attributes_xattrs_and_hidden_records(cluster):
    demo = cluster.demo
    api = cluster.api('alice')
    many = demo['collections']['many_files']
    proj = demo['projects']['project_a']
    coll_rec = api.collections().get(uuid=many['uuid']).execute()
    proj_rec = api.groups().get(uuid=proj['uuid']).execute()
    wf_rec = api.workflows().get(uuid=demo['workflows']['demo']['uuid']).execute()
    link_rec = api.links().get(uuid=demo['links']['name_link']['uuid']).execute()
    with mounted(cluster.full_env('alice')) as m:
        pdir = m.join('home', 'Project A')
        cdir = os.path.join(pdir, 'Many files')
        readme_file = os.path.join(cdir, 'README.txt')
        wf_file = os.path.join(pdir, 'Demo workflow.workflow')
        for path, mode in [(m.path, 0o555), (m.join('home'), 0o555), (pdir, 0o555), (cdir, 0o555),
                           (os.path.join(cdir, 'dir0'), 0o555), (m.join('by_tag', 'fruit'), 0o555),
                           (readme_file, 0o555), (wf_file, 0o444), (m.join('README'), 0o444),
                           (m.join('by_id', 'README'), 0o444), (os.path.join(cdir, '.arvados#collection'), 0o444),
                           (os.path.join(pdir, '.arvados#project'), 0o444)]:
            st = os.stat(path)
            assert stat.S_IMODE(st.st_mode) == mode, path
            assert stat.S_ISDIR(st.st_mode) == (mode == 0o555 and path != readme_file), path
            assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path
        assert os.path.getsize(readme_file) == _file(many, 'README.txt')['size']

        # mtimes from modified_at, fractional seconds kept; files take the
        # collection's; a name link's collection its own or the link's.
        def mtime(path):
            return os.stat(path).st_mtime_ns / 1e9
        assert mtime(pdir) == pytest.approx(convert_time(proj_rec['modified_at']), abs=1e-6)
        assert convert_time(proj_rec['modified_at']) % 1 != 0
        assert mtime(cdir) == pytest.approx(convert_time(coll_rec['modified_at']), abs=1e-6)
        assert mtime(readme_file) == pytest.approx(convert_time(coll_rec['modified_at']), abs=1e-6)
        assert mtime(os.path.join(cdir, 'dir0')) == pytest.approx(convert_time(coll_rec['modified_at']), abs=1e-6)
        assert mtime(wf_file) == pytest.approx(convert_time(wf_rec['modified_at']), abs=1e-6)
        # Listed before anything loads the collection: the link's time.
        named = os.path.join(pdir, 'Named by link')
        assert mtime(named) == pytest.approx(convert_time(link_rec['modified_at']), abs=1e-6)
        tagged = m.join('by_tag', 'fruit', many['uuid'])
        assert mtime(tagged) == pytest.approx(convert_time(coll_rec['modified_at']), abs=1e-6)

        # Extended attributes.
        assert os.getxattr(cdir, 'user.arvados.uuid').decode() == many['uuid']
        assert os.getxattr(cdir, 'user.arvados.portable_data_hash').decode() == many['pdh']
        assert os.getxattr(cdir, 'user.arvados.owner_uuid').decode() == proj['uuid']
        assert json.loads(os.getxattr(cdir, 'user.arvados.properties')) == coll_rec['properties']
        assert os.getxattr(pdir, 'user.arvados.uuid').decode() == proj['uuid']
        assert os.getxattr(pdir, 'user.arvados.owner_uuid').decode() == cluster.users['alice']['uuid']
        assert json.loads(os.getxattr(pdir, 'user.arvados.properties')) == proj_rec['properties']
        blocks = os.getxattr(readme_file, 'user.arvados.blocks').decode().split()
        assert blocks and all(b.split('+')[0] in coll_rec['manifest_text'] for b in blocks)
        assert all(len(b.split('+')) == 2 for b in blocks)  # no signatures leak out
        with pytest.raises(OSError) as err:
            os.getxattr(cdir, 'user.nonexistent')
        assert err.value.errno == errno.ENODATA
        # What `ls -l` asks of every file: "not supported here", so it stops
        # asking (ENODATA would make it ask for each file again).
        for name in ('security.selinux', 'system.posix_acl_access', 'trusted.x'):
            with pytest.raises(OSError) as err:
                os.getxattr(readme_file, name)
            assert err.value.errno == errno.ENOTSUP, name

        # Hidden records: never listed, always readable, the API's record.
        assert '.arvados#collection' not in os.listdir(cdir)
        assert '.arvados#project' not in os.listdir(pdir)
        got = json.loads(open(os.path.join(cdir, '.arvados#collection')).read())
        for key in ('uuid', 'portable_data_hash', 'modified_at', 'owner_uuid', 'properties', 'name'):
            assert got[key] == coll_rec[key], key
        got = json.loads(open(os.path.join(pdir, '.arvados#project')).read())
        for key in ('uuid', 'modified_at', 'owner_uuid', 'name', 'group_class'):
            assert got[key] == proj_rec[key], key
        text = open(os.path.join(pdir, '.arvados#project')).read()
        assert text == json.dumps(json.loads(text), indent=4, sort_keys=True) + '\n'


# -- every other mode -----------------------------------------------------------

def _mode_home(m, demo):
    colls = demo['collections']
    assert {'Project A', 'Big file', 'Fruit filter'} <= set(os.listdir(m.path))
    _check_file(m.join('Project A', 'Many files', 'README.txt'), colls['many_files'], 'README.txt')
    assert json.loads(open(m.join('.arvados#project')).read())['uuid'] == demo['users']['alice']['uuid']


def _mode_shared(m, demo):
    assert os.listdir(m.path) == ['Bob Other']
    _check_file(m.join('Bob Other', 'Bob shared project', 'Bob shared collection', 'shared.txt'),
                demo['collections']['bob_shared'], 'shared.txt')


def _mode_by_tag(m, demo):
    assert set(demo['links']['tags']) <= set(os.listdir(m.path))
    deep = demo['collections']['deep']
    _check_file(m.join('deep tag', deep['uuid'], 'deep.txt'), deep, 'deep.txt')


def _mode_by_id(m, demo):
    odd, deep = demo['collections']['odd_names'], demo['collections']['deep']
    assert sorted(os.listdir(m.path)) == ['README', 'by_id']
    assert os.listdir(m.join('by_id')) == ['README']
    _check_file(m.join(odd['uuid'], 'with space.txt'), odd, 'with space.txt')
    assert sorted(os.listdir(m.path)) == sorted(['README', 'by_id', odd['uuid']])
    # The nested by_id works the same way, with its own listing.
    _check_file(m.join('by_id', deep['pdh'], 'deep.txt'), deep, 'deep.txt')
    assert sorted(os.listdir(m.join('by_id'))) == sorted(['README', deep['pdh']])
    assert open(m.join('README')).read() == MagicDirectory.README_TEXT


def _mode_by_pdh(m, demo):
    odd = demo['collections']['odd_names']
    # As upstream: the root also holds a nested (PDH-only) by_id, so paths
    # like MOUNT/by_id/PDH work in every magic mode.
    assert sorted(os.listdir(m.path)) == ['README', 'by_id']
    assert open(m.join('README')).read() == MagicDirectory.PDH_ONLY_README_TEXT
    assert not os.path.exists(m.join(odd['uuid']))
    assert not os.path.exists(m.join('by_id', odd['uuid']))
    check_collection_tree(m.join(odd['pdh']), odd)
    assert sorted(os.listdir(m.path)) == sorted(['README', 'by_id', odd['pdh']])


def _mode_project(m, demo):
    assert sorted(os.listdir(m.path)) == ['Demo workflow.workflow', 'Many files', 'Named by link', 'Sub project']
    deep = demo['collections']['deep']
    _check_file(m.join('Sub project', 'Deep project', 'Deep collection', 'deep.txt'), deep, 'deep.txt')
    assert os.listdir(m.join('Sub project', 'Empty collection')) == []


def _mode_collection(m, demo):
    check_collection_tree(m.path, demo['collections']['many_files'])


def _mode_custom(m, demo):
    colls = demo['collections']
    assert sorted(os.listdir(m.path)) == ['README', 'h', 'ids', 'p', 's', 't', 'u']
    readme = open(m.join('README')).read()
    for d in ('h', 'ids', 'p', 's', 't', 'u'):
        assert '\n' + d + '/' in readme
    _check_file(m.join('h', 'Project A', 'Many files', 'README.txt'), colls['many_files'], 'README.txt')
    _check_file(m.join('ids', colls['deep']['uuid'], 'deep.txt'), colls['deep'], 'deep.txt')
    assert os.listdir(m.join('ids')) == ['README', colls['deep']['uuid']]
    _check_file(m.join('p', colls['deep']['pdh'], 'deep.txt'), colls['deep'], 'deep.txt')
    assert not os.path.exists(m.join('p', colls['deep']['uuid']))
    assert os.listdir(m.join('s')) == ['Bob Other']
    assert sorted(os.listdir(m.join('t', 'fruit'))) == sorted(demo['links']['tags']['fruit'])
    assert os.listdir(m.join('u', 'bob')) == ['Bob shared project']


MODES = {
    'home': (lambda demo: ['--home'], _mode_home),
    'shared': (lambda demo: ['--shared'], _mode_shared),
    'by_tag': (lambda demo: ['--by-tag'], _mode_by_tag),
    'by_id': (lambda demo: ['--by-id'], _mode_by_id),
    'by_pdh': (lambda demo: ['--by-pdh'], _mode_by_pdh),
    'project': (lambda demo: ['--project', demo['projects']['project_a']['uuid']], _mode_project),
    'collection': (lambda demo: ['--collection', demo['collections']['many_files']['uuid']], _mode_collection),
    'custom': (lambda demo: ['--mount-home', 'h', '--mount-by-id', 'ids', '--mount-by-tag', 't',
                             '--mount-shared', 's', '--mount-by-pdh', 'p', '--mount-users', 'u'], _mode_custom),
}


@pytest.mark.parametrize('mode', sorted(MODES))
def test_mode_root_lists_and_reads(cluster, mode):
    args, check = MODES[mode]
    demo = cluster.demo
    with mounted(cluster.full_env('alice'), *args(demo)) as m:
        st = os.stat(m.path)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555
        check(m, demo)


# -- --filters ---------------------------------------------------------------

BLUE = [['collections.properties.color', '=', 'blue']]


def test_filters_string_narrow_project_listing(cluster):
    colls = cluster.demo['collections']
    with mounted(cluster.full_env('alice'), '--home', '--filters', json.dumps(BLUE)) as m:
        home = set(os.listdir(m.path))
        assert {'Project A', 'Fruit filter'} <= home
        assert colls['odd_names']['name'] not in home and 'Big file' not in home
        assert 'Many files' in os.listdir(m.join('Project A'))
        assert os.listdir(m.join('Project A', 'Sub project')) == ['Deep project']


def test_string_filters_compare_two_attributes(fresh_cluster):
    """Upstream's string filter form, "(attr1 op attr2)": only what was
    modified after its creation."""
    api = fresh_cluster.api('alice')
    for name in ('kept', 'changed'):
        api.collections().create(body={'collection': {'name': name, 'manifest_text': ''}}).execute()
    changed = api.collections().list(filters=[['name', '=', 'changed']]).execute()['items'][0]
    time.sleep(0.01)    # modified_at must differ from created_at
    api.collections().update(uuid=changed['uuid'], body={'collection': {'description': 'now'}}).execute()
    env = fresh_cluster.full_env('alice')
    with mounted(env, '--home', '--filters', '["(created_at < modified_at)"]') as m:
        assert os.listdir(m.path) == ['changed']
    with mounted(env, '--home', '--filters', '["(created_at <= modified_at)"]') as m:
        assert sorted(os.listdir(m.path)) == ['changed', 'kept']


def test_filters_file_narrow_tag_listing(cluster, tmp_path):
    path = tmp_path / 'filters.json'
    path.write_text(json.dumps(BLUE))
    colls = cluster.demo['collections']
    with mounted(cluster.full_env('alice'), '--by-tag', '--filters', str(path)) as m:
        assert os.listdir(m.join('fruit')) == [colls['many_files']['uuid']]
        assert os.listdir(m.join('vegetable')) == []


def test_filters_stdin_narrow_shared_listing(cluster, tmp_path):
    mnt = tmp_path / 'mnt'
    mnt.mkdir()
    env = cluster.full_env('alice')
    narrowed = run_arv_mount(env, '--shared', '--filters', '-', str(mnt), '--exec', 'ls', str(mnt),
                             input=json.dumps([['groups.name', '!=', 'Bob shared project']]))
    assert narrowed.returncode == 0, narrowed.stderr
    # Without the filter, shared/ holds 'Bob Other' (test_all_mode_...).
    assert narrowed.stdout == ''


# -- changes show up ---------------------------------------------------------------

def test_new_tag_found_at_once_and_listed_within_refresh_time(module_cluster):
    c = module_cluster
    api = c.api('alice')
    coll = api.collections().create(body={'collection': {'name': 'tagged later', 'manifest_text': ''}}).execute()
    with mounted(c.full_env('alice'), '--by-tag', '--refresh-time', '1') as m:
        assert os.listdir(m.path) == []
        api.links().create(body={'link': {'link_class': 'tag', 'name': 'brand new tag',
                                          'head_uuid': coll['uuid']}}).execute()
        # A lookup by name finds it right away...
        assert os.listdir(m.join('brand new tag')) == [coll['uuid']]
        # ...and listings show it once the refresh time has passed.
        _wait_for('the new tag in the listing', lambda: os.listdir(m.path) == ['brand new tag'])


def test_hidden_record_files_are_fresh(module_cluster):
    c = module_cluster
    api = c.api('alice')
    proj = api.groups().create(body={'group': {'name': 'fresh records', 'group_class': 'project'}}).execute()
    coll = api.collections().create(body={'collection': {'name': 'fresh coll', 'owner_uuid': proj['uuid'],
                                                         'manifest_text': ''}}).execute()
    with mounted(c.full_env('alice'), '--project', proj['uuid'], '--refresh-time', '1') as m:
        crec = m.join('fresh coll', '.arvados#collection')
        prec = m.join('.arvados#project')
        assert json.loads(open(crec).read())['properties'] == {}
        assert json.loads(open(prec).read())['properties'] == {}
        api.collections().update(uuid=coll['uuid'], body={'collection': {'properties': {'v': 2}}}).execute()
        api.groups().update(uuid=proj['uuid'], body={'group': {'properties': {'v': 3}}}).execute()
        _wait_for('new collection properties',
                  lambda: json.loads(open(crec).read())['properties'] == {'v': 2})
        _wait_for('new project properties',
                  lambda: json.loads(open(prec).read())['properties'] == {'v': 3})
        assert json.loads(os.getxattr(m.join('fresh coll'), 'user.arvados.properties')) == {'v': 2}


# -- kernel caching ------------------------------------------------------------------

def _in_thread(fn):
    """Run `fn` in a daemon thread (it may block on a stopped daemon);
    returns (done event, result list)."""
    import threading
    done, out = threading.Event(), []

    def run():
        out.append(fn())
        done.set()
    threading.Thread(target=run, daemon=True).start()
    return done, out


def _wait_until_stopped(pid):
    """kill(SIGSTOP) returns before every thread has stopped: on a loaded
    machine a worker could still answer one request.  Wait until each
    thread is in the stopped state."""
    tasks = '/proc/%d/task' % pid
    deadline = time.time() + 30
    while time.time() < deadline:
        states = []
        for tid in os.listdir(tasks):
            try:
                with open(os.path.join(tasks, tid, 'stat')) as f:
                    states.append(f.read().rsplit(')', 1)[1].split()[0])
            except FileNotFoundError:
                continue
        if states and all(s in ('T', 't') for s in states):
            return
        time.sleep(0.01)
    raise AssertionError('the daemon did not stop: %s' % states)


def test_kernel_caches_pdh_collections_long_and_the_rest_for_refresh_time(cluster):
    """With the daemon stopped (SIGSTOP), whatever the kernel still answers
    came from its caches: a PDH collection file's attributes and pages stay
    cached; a uuid collection file's attributes expire after --refresh-time
    and must come from the daemon again.  Calls on open descriptors (no
    path walk, which would need the by_id root's short-lived attributes),
    each in a thread, so the test itself never blocks on the stopped daemon."""
    import signal
    deep = cluster.demo['collections']['deep']
    with mounted(cluster.full_env('alice'), '--by-id', '--refresh-time', '1', '--disable-event-listening') as m:
        fd_pdh = os.open(m.join(deep['pdh'], 'deep.txt'), os.O_RDONLY)
        fd_uuid = os.open(m.join(deep['uuid'], 'deep.txt'), os.O_RDONLY)
        try:
            assert os.pread(fd_pdh, 100, 0) == b'deep down\n'
            os.fstat(fd_uuid)
            time.sleep(1.5)  # past the refresh time: uuid attributes expired
            os.kill(m.proc.pid, signal.SIGSTOP)
            try:
                _wait_until_stopped(m.proc.pid)
                cached, got = _in_thread(lambda: (os.fstat(fd_pdh).st_size, os.pread(fd_pdh, 100, 0)))
                assert cached.wait(20), 'a PDH collection file needed the daemon'
                assert got == [(10, b'deep down\n')]
                expired, _ = _in_thread(lambda: os.fstat(fd_uuid))
                assert not expired.wait(1), 'a uuid collection file attribute was served past --refresh-time'
            finally:
                os.kill(m.proc.pid, signal.SIGCONT)
            assert expired.wait(30)
        finally:
            os.close(fd_pdh)
            os.close(fd_uuid)
