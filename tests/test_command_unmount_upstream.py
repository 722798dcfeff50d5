"""Upstream arv-mount's own unmount tests (services/fuse/tests/
test_unmount.py in the arvados repository, 3.2.1), ported: the same
commands and the same expectations, against the local cluster.  Each
arv-mount here daemonizes, as in upstream; every mount is taken down at the
end, pass or fail."""

import os
import subprocess
import time

import pytest

from mountutil import force_unmount, run_arv_mount

pytestmark = pytest.mark.timeout(180)


def _mounted(mounts):
    """The paths of `mounts` that `mount` lists, in the same order."""
    all_mounts = subprocess.check_output(['mount'])
    return [m for m in mounts if bytes(' ' + m + ' ', encoding='utf-8') in all_mounts]


def _wait_for_mounts(mounts):
    deadline = time.time() + 10
    while _mounted(mounts) != mounts:
        time.sleep(0.1)
        assert time.time() < deadline


@pytest.fixture
def tmp(tmp_path):
    base = str(tmp_path / 'base')
    os.mkdir(base)
    made = []
    try:
        yield base, made
    finally:
        for path in sorted(made + [base], key=len, reverse=True):
            force_unmount(path)


def check_call(env, *args):
    r = run_arv_mount(env, *args)
    assert r.returncode == 0, r.stderr
    return r


def test_replace(cluster, tmp):
    env = cluster.full_env('alice')
    mnt, made = tmp
    made.append(mnt)
    check_call(env, '--subtype', 'test', '--replace', mnt)
    check_call(env, '--subtype', 'test', '--replace', '--unmount-timeout', '60', mnt)
    check_call(env, '--subtype', 'test', '--replace', '--unmount-timeout', '60', mnt, '--exec', 'true')
    for m in subprocess.check_output(['mount']).splitlines():
        assert bytes(' ' + mnt + ' ', encoding='utf-8') not in m


def test_unmount_subtype(cluster, tmp):
    env = cluster.full_env('alice')
    base, made = tmp
    mounts = []
    for d in ['foo', 'bar']:
        mnt = base + '/' + d
        os.mkdir(mnt)
        made.append(mnt)
        mounts.append(mnt)
        check_call(env, '--subtype', d, mnt)

    _wait_for_mounts(mounts)
    assert mounts == _mounted(mounts)
    run_arv_mount(env, '--subtype', 'baz', '--unmount-all', base)
    assert mounts == _mounted(mounts)
    run_arv_mount(env, '--subtype', 'bar', '--unmount', mounts[0])
    assert mounts == _mounted(mounts)
    run_arv_mount(env, '--subtype', '', '--unmount', base)
    assert mounts == _mounted(mounts)
    check_call(env, '--subtype', 'foo', '--unmount', mounts[0])
    assert mounts[1:] == _mounted(mounts)
    check_call(env, '--subtype', '', '--unmount-all', mounts[0])
    assert mounts[1:] == _mounted(mounts)
    check_call(env, '--subtype', 'bar', '--unmount-all', base)
    assert [] == _mounted(mounts)


def test_unmount_children(cluster, tmp):
    env = cluster.full_env('alice')
    base, made = tmp
    for d in ['foo', 'foo/bar', 'bar']:
        mnt = base + '/' + d
        os.mkdir(mnt)
        made.append(mnt)
    mounts = []
    for d in ['bar', 'foo/bar']:
        mnt = base + '/' + d
        mounts.append(mnt)
        check_call(env, '--subtype', 'test', mnt)

    _wait_for_mounts(mounts)
    assert mounts == _mounted(mounts)
    check_call(env, '--unmount', base)
    assert mounts == _mounted(mounts)
    check_call(env, '--unmount-all', base)
    assert [] == _mounted(mounts)


def test_unmount_all_of_another_subtype_says_why_and_unmounts_nothing(cluster, tmp):
    env = cluster.full_env('alice')
    base, made = tmp
    mnt = base + '/foo'
    os.mkdir(mnt)
    made.append(mnt)
    check_call(env, '--subtype', 'foo', mnt)
    r = run_arv_mount(env, '--subtype', 'baz', '--unmount-all', base)
    assert r.returncode == 1
    assert r.stderr.strip() == ('arv-mount: cannot unmount %s: %s is mounted there with type fuse.foo, '
                                'not fuse.baz' % (base, mnt))
    assert _mounted([mnt]) == [mnt]
