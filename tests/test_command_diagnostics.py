"""What a mount tells its operator when something is wrong, through real
mounts: who keeps a mount busy when it must be unmounted, and a block cache
too small for the working set (thrashing)."""

import hashlib
import os
import signal
import subprocess
import sys

import arvados
import pytest

from mountutil import mounted, mountpoint, run_arv_mount

pytestmark = pytest.mark.timeout(180)

HOLDER = """
import os, sys, time
f = open(sys.argv[1], 'rb')
print('holding', flush=True)
time.sleep(300)
"""


def test_busy_unmount_names_each_culprit(cluster):
    coll = cluster.demo['collections']['odd_names']
    env = cluster.full_env('alice')
    with mounted(env, '--collection', coll['uuid']) as m:
        name = coll['files'][0]['path']
        holder = subprocess.Popen([sys.executable, '-c', HOLDER, m.join(name)], cwd=m.path,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == 'holding'
            r = run_arv_mount(env, '--unmount', '--unmount-timeout', '0.5', m.path)
            assert r.returncode == 0, r.stderr
            ours = [line for line in r.stderr.splitlines() if 'is busy: pid %d ' % holder.pid in line]
            assert any(line.endswith('has its working directory in ' + m.path) for line in ours), r.stderr
            assert any(line.endswith('has open ' + m.join(name)) for line in ours), r.stderr
            assert all('python' in line for line in ours)
            assert not mountpoint.is_mounted(m.path)
        finally:
            holder.kill()
            holder.wait()


def test_busy_at_the_end_of_exec_names_the_culprit(cluster, mnt, tmp_path):
    """The --exec command leaves a process behind in the mount."""
    coll = cluster.demo['collections']['odd_names']
    pidfile = tmp_path / 'pid'
    # The command ends only once the culprit is inside the mount (else the
    # unmount can win the race and find nothing busy).
    shell = ('(cd "$1" && exec sleep 120) >/dev/null 2>&1 </dev/null & '
             'while [ "$(readlink /proc/$!/cwd)" != "$1" ]; do sleep 0.05; done; echo $! > "$2"')
    try:
        r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], '--unmount-timeout', '0.5',
                          mnt, '--exec', 'sh', '-c', shell, 'sh', mnt, str(pidfile))
        assert r.returncode == 0, r.stderr
        pid = int(pidfile.read_text())
        assert '%s is busy: pid %d (sleep 120) has its working directory in %s' % (mnt, pid, mnt) in r.stderr
        assert not mountpoint.is_mounted(mnt)
    finally:
        if pidfile.exists():
            try:
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def test_busy_at_sigterm_names_the_culprit(cluster):
    coll = cluster.demo['collections']['odd_names']
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid'], '--unmount-timeout', '0.5') as m:
        holder = subprocess.Popen(['sleep', '120'], cwd=m.path)
        try:
            m.proc.send_signal(signal.SIGTERM)
            assert m.proc.wait(30) == 0
            assert '%s is busy: pid %d (sleep 120) has its working directory in %s' % (
                m.path, holder.pid, m.path) in m.log()
            assert not mountpoint.is_mounted(m.path)
        finally:
            holder.kill()
            holder.wait()


BLOCK = 25 * 1024 * 1024


def test_block_cache_thrash_warning_names_the_size_that_would_hold_it(module_cluster):
    """Three 25 MiB blocks read twice through a 64 MiB cache: the second
    pass fetches again blocks evicted moments before."""
    c = module_cluster
    api = c.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    md5 = hashlib.md5()
    locators = []
    for i in range(3):
        chunk = bytes([i + 1]) * BLOCK
        md5.update(chunk)
        locators.append(keep.put(chunk))
    coll = api.collections().create(body={'collection': {
        'name': 'thrash', 'manifest_text': '. %s 0:%d:big.bin\n' % (' '.join(locators), 3 * BLOCK)}}).execute()
    with mounted(c.full_env('alice'), '--collection', coll['uuid'], '--file-cache', str(64 * 1024 * 1024)) as m:
        for _ in range(2):
            h = hashlib.md5()
            with open(m.join('big.bin'), 'rb') as f:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    h.update(chunk)
                # Else the kernel would serve the second pass from its page cache.
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            assert h.hexdigest() == md5.hexdigest()
        warnings = [line for line in m.log().splitlines() if 'block cache thrashing' in line]
    assert len(warnings) == 1, m.log()
    size_mib = int(warnings[0].split('a cache of ')[1].split(' MiB')[0])
    assert size_mib > 64 and '--file-cache %d' % (size_mib * 1024 * 1024) in warnings[0]
    assert 'it is 64 MiB now' in warnings[0]
