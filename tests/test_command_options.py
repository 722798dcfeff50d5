"""arv-mount options through real mounts: logging (--debug, --logfile,
--crunchstat-interval), caches (--ram-cache/--disk-cache, --disk-cache-dir,
--file-cache, --directory-cache), --encoding, --retries, and freshness
(--refresh-time, --disable-event-listening)."""

import hashlib
import json
import os
import re
import sys
import time
import uuid

import pytest

from mountutil import crunchstat_last, mounted, run_arv_mount

pytestmark = pytest.mark.timeout(120)


def wait_until(pred, timeout=30, what='condition'):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.1)


MD5_SCRIPT = """
import hashlib, json, os, sys
out = {}
for d, _dirs, files in os.walk(sys.argv[1]):
    for name in files:
        path = os.path.join(d, name)
        with open(path, 'rb') as f:
            out[os.path.relpath(path, sys.argv[1])] = hashlib.md5(f.read()).hexdigest()
print(json.dumps(out))
"""


def md5_cmd(mnt, coll):
    """--exec arguments printing, as JSON, the md5 of every file below `mnt`."""
    return ['--exec', sys.executable, '-c', MD5_SCRIPT, mnt]


def check_md5_output(out, coll):
    assert json.loads(out) == {f['path']: f['md5'] for f in coll['files']}


def block_md5s(cluster, coll):
    manifest = cluster.api('alice').collections().get(uuid=coll['uuid']).execute()['manifest_text']
    # The empty block is never fetched: readers know it is empty.
    return {md5 for md5, size in re.findall(r' ([0-9a-f]{32})\+(\d+)', manifest) if int(size)}


# -- logging -------------------------------------------------------------------

def test_debug_logs_to_stderr_and_quiet_without(cluster, mnt):
    coll = cluster.demo['collections']['odd_names']
    env = cluster.full_env('alice')
    r = run_arv_mount(env, '--debug', '--collection', coll['uuid'], mnt, '--exec', 'ls', mnt)
    assert r.returncode == 0, r.stderr
    assert ' DEBUG: ' in r.stderr and 'mounted ' + mnt in r.stderr
    assert 'opcode: READDIR' in r.stderr    # FUSE's own debug trace
    quiet = run_arv_mount(env, '--collection', coll['uuid'], mnt, '--exec', 'ls', mnt)
    assert quiet.returncode == 0 and quiet.stderr == ''


def test_file_descriptor_limit_raised_as_upstream(cluster, mnt):
    coll = cluster.demo['collections']['odd_names']
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], mnt,
                      '--exec', sys.executable, '-c',
                      'import resource; print(*resource.getrlimit(resource.RLIMIT_NOFILE))')
    assert r.returncode == 0, r.stderr
    soft, hard = (int(n) for n in r.stdout.split())
    assert soft >= min(10240, hard) if hard >= 0 else soft == hard


def test_logfile_receives_the_daemon_logs(cluster, mnt, tmp_path):
    coll = cluster.demo['collections']['odd_names']
    log = tmp_path / 'arv-mount.log'
    r = run_arv_mount(cluster.full_env('alice'), '--debug', '--logfile', str(log), '--collection', coll['uuid'], mnt)
    assert r.returncode == 0, r.stderr
    try:
        assert 'with space.txt' in os.listdir(mnt)
        # Written by the daemon after it left the terminal.
        wait_until(lambda: 'mounted ' + mnt in log.read_text(), what='the mount line in the log file')
        assert ' DEBUG: ' in log.read_text()
    finally:
        assert run_arv_mount(cluster.full_env('alice'), '--unmount', mnt).returncode == 0
    wait_until(lambda: 'unmounted ' + mnt in log.read_text(), what='the unmount line in the log file')


def md5_with_crunchstat(cluster, mnt):
    """Mount the odd_names demo collection with crunchstat every 0.2 s and
    md5 every file through it (checked): the finished run, the collection
    and the bytes read."""
    coll = cluster.demo['collections']['odd_names']
    r = run_arv_mount(cluster.full_env('alice'), '--crunchstat-interval', '0.2', '--collection', coll['uuid'],
                      mnt, *md5_cmd(mnt, coll))
    assert r.returncode == 0, r.stderr
    check_md5_output(r.stdout, coll)
    return r, coll, sum(f['size'] for f in coll['files'])


def test_crunchstat_reports_keep_reads_cache_and_api_calls(cluster, mnt):
    r, coll, total = md5_with_crunchstat(cluster, mnt)
    def last(kind):
        return crunchstat_last(r.stderr, kind)
    puts, gets = last('keepcalls')
    tx, rx = last('net:keep0')
    hits, misses = last('keepcache')
    (api_calls,) = last('apicalls')
    assert puts == 0 and tx == 0                     # read-only
    assert gets >= len(block_md5s(cluster, coll))
    assert rx >= total
    assert misses >= len(block_md5s(cluster, coll)) and hits + misses == gets
    assert api_calls >= 2                            # at least discovery and the collection


# -- caches ----------------------------------------------------------------------

def test_disk_cache_writes_blocks_under_disk_cache_dir(cluster, mnt, tmp_path):
    coll = cluster.demo['collections']['odd_names']
    cache = tmp_path / 'keep-cache'
    r = run_arv_mount(cluster.full_env('alice'), '--disk-cache', '--disk-cache-dir', str(cache),
                      '--collection', coll['uuid'], mnt, *md5_cmd(mnt, coll))
    assert r.returncode == 0, r.stderr
    check_md5_output(r.stdout, coll)
    cached = {name.split('.')[0] for _d, _s, names in os.walk(cache) for name in names}
    assert block_md5s(cluster, coll) <= cached


def test_ram_cache_writes_nothing_to_disk(cluster, mnt, tmp_path):
    coll = cluster.demo['collections']['odd_names']
    cache = tmp_path / 'keep-cache'
    cache.mkdir()
    r = run_arv_mount(cluster.full_env('alice'), '--ram-cache', '--disk-cache-dir', str(cache),
                      '--file-cache', str(1 << 20), '--directory-cache', str(1 << 20),
                      '--collection', coll['uuid'], mnt, *md5_cmd(mnt, coll))
    assert r.returncode == 0, r.stderr
    check_md5_output(r.stdout, coll)
    assert list(os.walk(cache)) == [(str(cache), [], [])]


def test_small_file_cache_still_reads_a_big_file_exactly(cluster, mnt):
    coll = cluster.demo['collections']['big_file']
    r = run_arv_mount(cluster.full_env('alice'), '--file-cache', str(1 << 20), '--retries', '0',
                      '--collection', coll['uuid'], mnt, *md5_cmd(mnt, coll))
    assert r.returncode == 0, r.stderr
    check_md5_output(r.stdout, coll)


# -- names -------------------------------------------------------------------------

def test_encoding_latin1(cluster):
    coll = cluster.demo['collections']['odd_names']
    with mounted(cluster.full_env('alice'), '--encoding', 'latin-1', '--collection', coll['uuid']) as m:
        names = set(os.listdir(m.path.encode()))
        assert 'café é.txt'.encode('latin-1') in names
        # Names not encodable in latin-1 are left out; the rest are listed.
        top = {p.split('/')[0] for p in [f['path'] for f in coll['files']] + coll['empty_dirs']}
        encodable = set()
        for name in top:
            try:
                encodable.add(name.encode('latin-1'))
            except UnicodeEncodeError:
                pass
        assert len(encodable) < len(top)
        assert names == encodable
        data = open(os.path.join(m.path.encode(), 'café é.txt'.encode('latin-1')), 'rb').read()
        want = [f['md5'] for f in coll['files'] if f['path'] == 'café é.txt'][0]
        assert hashlib.md5(data).hexdigest() == want


# -- freshness -----------------------------------------------------------------------

def test_event_listening_versus_disabled_and_refresh_time(cluster):
    """Three mounts of one new project: with events (and a long refresh
    time), with --disable-event-listening (same refresh time), and with
    --disable-event-listening and a short --refresh-time.  A rename shows
    at once through events, within the refresh time through polling, and
    not at all in the mount that neither listens nor polls soon."""
    api = cluster.api('alice')
    alice = cluster.demo['users']['alice']['uuid']
    tag = uuid.uuid4().hex[:8]
    project = api.groups().create(body={'group_class': 'project', 'name': 'cmdopt-' + tag,
                                        'owner_uuid': alice}).execute()
    coll = api.collections().create(body={'owner_uuid': project['uuid'], 'name': 'before-' + tag,
                                          'manifest_text': ''}).execute()
    env = cluster.full_env('alice')
    with mounted(env, '--debug', '--refresh-time', '1000', '--project', project['uuid']) as events, \
            mounted(env, '--debug', '--disable-event-listening', '--refresh-time', '1000',
                    '--project', project['uuid']) as deaf, \
            mounted(env, '--disable-event-listening', '--refresh-time', '1', '--project', project['uuid']) as poll:
        for m in (events, deaf, poll):
            assert os.listdir(m.path) == ['before-' + tag]
        wait_until(lambda: 'change events: listener started' in events.log(), what='the listener')
        api.collections().update(uuid=coll['uuid'], body={'name': 'after-' + tag}).execute()
        wait_until(lambda: os.listdir(events.path) == ['after-' + tag], what='the event to show the rename')
        wait_until(lambda: os.listdir(poll.path) == ['after-' + tag], what='polling to show the rename')
        # The events mount got the change long ago; the deaf one never will
        # (until 1000 s pass): it has no subscription.
        assert os.listdir(deaf.path) == ['before-' + tag]
        assert 'change events: not listening' in deaf.log()
        assert 'change events: listener started' not in deaf.log()


def test_option_defaults_agree_with_the_modules_they_configure():
    """arguments.py copies two defaults so that --help does not load the
    SDK; they must not drift."""
    from arvados_fuse import arguments
    from arvados_fuse.api import safeapi
    from arvados_fuse.keep import fetcher as keepfetch
    assert arguments.DEFAULT_TIMEOUT == safeapi.DEFAULT_TIMEOUT
    assert arguments.DEFAULT_READ_TIMEOUT == keepfetch.DEFAULT_READ_TIMEOUT
