"""The seed's public interface, used exactly as the seed's own tests used it:
build `Operations`, add a root directory object by hand, `llfuse.init`,
`llfuse.main` in a thread, wait on `initlock`, read through the mount,
unmount with fusermount.  Run in a subprocess (llfuse must never run inside
pytest), once per root class."""

import json
import subprocess
import sys
import tempfile
import textwrap

import pytest

from mountutil import force_unmount, mount_env

pytestmark = pytest.mark.timeout(120)

SCRIPT = textwrap.dedent('''
    import hashlib, json, os, subprocess, sys, threading, time
    import arvados
    import llfuse
    import arvados_fuse

    mnt, kind, arg, relpath = sys.argv[1:5]
    operations = arvados_fuse.Operations(os.getuid(), os.getgid())
    api = arvados_fuse.SafeApi(arvados.config)
    user_record = api.users().current().execute()
    if kind == 'collection':
        root = arvados_fuse.CollectionDirectory(llfuse.ROOT_INODE, operations.inodes, api, 0, arg)
    elif kind == 'tags':
        root = arvados_fuse.TagsDirectory(llfuse.ROOT_INODE, operations.inodes, api, 0, poll_time=1)
    elif kind == 'project':
        root = arvados_fuse.ProjectDirectory(llfuse.ROOT_INODE, operations.inodes, api, 0, user_record)
    elif kind == 'shared':
        root = arvados_fuse.SharedDirectory(llfuse.ROOT_INODE, operations.inodes, api, 0, user_record['uuid'])
    elif kind == 'magic':
        root = arvados_fuse.MagicDirectory(llfuse.ROOT_INODE, operations.inodes, api, 0)
    operations.inodes.add_entry(root)
    llfuse.init(operations, mnt, [])
    loop = threading.Thread(None, llfuse.main)
    loop.start()
    # wait until the driver is finished initializing
    operations.initlock.wait()
    result = {}
    try:
        result['root'] = sorted(os.listdir(mnt))
        with open(os.path.join(mnt, relpath), 'rb') as f:
            result['md5'] = hashlib.md5(f.read()).hexdigest()
    finally:
        for _ in range(10):
            if subprocess.call(['fusermount', '-u', mnt]) == 0:
                break
            time.sleep(0.5)
        loop.join(30)
    result['loop_ended'] = not loop.is_alive()
    print(json.dumps(result))
''')


def _case(demo, kind):
    colls = demo['collections']
    if kind == 'collection':
        return colls['many_files']['pdh'], 'README.txt', colls['many_files'], 'README.txt'
    if kind == 'tags':
        deep = colls['deep']
        return '', 'deep tag/%s/deep.txt' % deep['uuid'], deep, 'deep.txt'
    if kind == 'project':
        return '', 'Project A/Many files/README.txt', colls['many_files'], 'README.txt'
    if kind == 'shared':
        return ('', 'Bob Other/Bob shared project/Bob shared collection/shared.txt',
                colls['bob_shared'], 'shared.txt')
    if kind == 'magic':
        return '', '%s/deep.txt' % colls['deep']['pdh'], colls['deep'], 'deep.txt'
    raise ValueError(kind)


@pytest.mark.parametrize('kind', ['collection', 'tags', 'project', 'shared', 'magic'])
def test_seed_style_mount_reads_a_file(cluster, tmp_path, kind):
    demo = cluster.demo
    arg, relpath, coll, path_in_coll = _case(demo, kind)
    script = tmp_path / 'seed_mount.py'
    script.write_text(SCRIPT)
    mnt = tempfile.mkdtemp(prefix='arvmount-seed-', dir=str(tmp_path))
    try:
        proc = subprocess.run([sys.executable, str(script), mnt, kind, arg, relpath],
                              env=mount_env(cluster.full_env('alice')), capture_output=True, text=True,
                              timeout=90)
    finally:
        force_unmount(mnt)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    want = next(f for f in coll['files'] if f['path'] == path_in_coll)
    assert result['md5'] == want['md5']
    assert result['loop_ended']
    if kind == 'magic':
        assert result['root'] == ['README', 'by_id']
    elif kind == 'shared':
        assert result['root'] == ['Bob Other']
    elif kind == 'tags':
        assert set(demo['links']['tags']) <= set(result['root'])
    elif kind == 'collection':
        assert 'README.txt' in result['root']
    else:
        assert 'Project A' in result['root']
