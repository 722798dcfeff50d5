"""Mounting one collection (--collection) through the kernel, against the
local cluster: byte-exact contents, attributes, and read-only refusals."""

import errno
import json
import os
import stat

import pytest

from mountutil import check_collection_tree, files_under, mounted

pytestmark = pytest.mark.timeout(180)


@pytest.mark.parametrize('name', ['many_files', 'odd_names', 'big_file'])
def test_collection_by_uuid_reads_every_byte(cluster, name):
    coll = cluster.demo['collections'][name]
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        check_collection_tree(m.path, coll)


def test_collection_by_pdh_attributes_and_record(cluster):
    coll = cluster.demo['collections']['odd_names']
    with mounted(cluster.full_env('alice'), '--collection', coll['pdh']) as m:
        check_collection_tree(m.path, coll)
        st = os.stat(m.path)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o555
        f = os.stat(m.join('with space.txt'))
        assert stat.S_ISREG(f.st_mode) and stat.S_IMODE(f.st_mode) == 0o555
        assert f.st_uid == os.getuid() and f.st_gid == os.getgid()
        # The hidden record file: never listed, always readable.
        assert '.arvados#collection' not in os.listdir(m.path)
        record = json.loads(open(m.join('.arvados#collection')).read())
        assert record['portable_data_hash'] == coll['pdh']
        assert stat.S_IMODE(os.stat(m.join('.arvados#collection')).st_mode) == 0o444
        assert os.getxattr(m.path, 'user.arvados.portable_data_hash').decode() == coll['pdh']


def test_collection_mtime_comes_from_modified_at(cluster):
    coll = cluster.demo['collections']['many_files']
    rec = cluster.api('alice').collections().get(uuid=coll['uuid']).execute()
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        from arvados_fuse.fs.fresh import convert_time
        want = convert_time(rec['modified_at'])
        assert abs(os.stat(m.path).st_mtime - want) < 1e-3
        some_file = next(iter(files_under(m.path).values()))
        assert abs(os.stat(some_file).st_mtime - want) < 1e-3


def test_every_write_is_refused_with_erofs_and_nothing_changes(cluster):
    coll = cluster.demo['collections']['odd_names']
    api = cluster.api('alice')
    before = api.collections().get(uuid=coll['uuid']).execute()
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        target = m.join('with space.txt')
        attempts = [
            lambda: open(target, 'w'),
            lambda: open(target, 'a'),
            lambda: open(target, 'r+'),
            lambda: os.open(target, os.O_RDONLY | os.O_TRUNC),
            lambda: open(m.join('new-file'), 'w'),
            lambda: os.mkdir(m.join('new-dir')),
            lambda: os.mknod(m.join('node')),
            lambda: os.unlink(target),
            lambda: os.rmdir(m.join('sub dir')),
            lambda: os.rename(target, m.join('renamed')),
            lambda: os.symlink('x', m.join('link')),
            lambda: os.link(target, m.join('hard')),
            lambda: os.chmod(target, 0o777),
            lambda: os.chown(target, 1, 1),
            lambda: os.truncate(target, 0),
            lambda: os.utime(target, (0, 0)),
            lambda: os.setxattr(target, 'user.x', b'1'),
            lambda: os.removexattr(m.path, 'user.arvados.uuid'),
        ]
        for attempt in attempts:
            with pytest.raises(OSError) as err:
                attempt()
            assert err.value.errno == errno.EROFS, attempt
        assert not os.access(target, os.W_OK)
    after = api.collections().get(uuid=coll['uuid']).execute()
    assert after['portable_data_hash'] == before['portable_data_hash']
    assert after['modified_at'] == before['modified_at']
