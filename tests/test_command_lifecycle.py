"""arv-mount's lifecycle through real mounts: signals, --exec, --unmount,
--unmount-all, --replace, --unmount-timeout, --subtype, --allow-other, and
a crash of the FUSE loop.  Whatever ends a mount, the mount point must be
usable afterwards (never 'Transport endpoint is not connected')."""

import errno
import os
import signal
import subprocess
import sys
import time

import pytest

from arvados_fuse.host import mountpoint
from mountutil import ROOT, arv_mount_command, force_unmount, mount_env, mounted, run_arv_mount

pytestmark = pytest.mark.timeout(120)


def wait_until(pred, timeout=30, what='condition'):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError('timed out waiting for ' + what)
        time.sleep(0.05)


def mount_line(path):
    """The /proc/mounts entry of `path` as (source, fstype, options)."""
    for m in open('/proc/self/mounts').read().splitlines():
        f = m.split()
        if f[1] == path:
            return f[0], f[2], f[3].split(',')
    return None


def assert_cleanly_gone(path):
    assert not mountpoint.is_mounted(path)
    assert os.listdir(path) == []       # no ENOTCONN: the plain directory again


def pid_alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False


def daemon_pid(path):
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                args = open('/proc/%s/cmdline' % pid, 'rb').read().split(b'\0')
            except OSError:
                continue
            if path.encode() in args and any(a.endswith(b'arv-mount') for a in args):
                return int(pid)
    return None


def wait_exit(proc, timeout=60):
    """proc's exit status; if it hangs, its threads' stacks (faulthandler
    is on in every arv-mount these tests start) are in the failure."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(10)
        raise AssertionError('arv-mount did not exit within %ss' % timeout)


def traced_env(cluster):
    env = cluster.full_env('alice')
    env['PYTHONFAULTHANDLER'] = '1'
    return env


@pytest.fixture
def coll(cluster):
    return cluster.demo['collections']['odd_names']


# -- signals ------------------------------------------------------------------

@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_signal_to_foreground_mount_unmounts_and_exits_0(cluster, coll, sig):
    with mounted(traced_env(cluster), '--collection', coll['uuid']) as m:
        assert 'with space.txt' in os.listdir(m.path)
        m.proc.send_signal(sig)
        try:
            assert wait_exit(m.proc) == 0, m.log()
        except AssertionError as e:
            raise AssertionError('%s\n%s' % (e, m.log()))
        assert_cleanly_gone(m.path)
        assert 'Traceback' not in m.log()


@pytest.mark.parametrize('sig', [signal.SIGTERM, signal.SIGINT])
def test_signal_to_daemon_unmounts(cluster, coll, mnt, sig):
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], mnt)
    assert r.returncode == 0, r.stderr
    pid = daemon_pid(mnt)
    assert pid and mountpoint.is_mounted(mnt)
    os.kill(pid, sig)
    wait_until(lambda: not pid_alive(pid), what='the daemon to exit')
    assert_cleanly_gone(mnt)


def test_sigterm_while_a_process_sits_inside_the_mount(cluster, coll):
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid'], '--unmount-timeout', '0.5') as m:
        holder = subprocess.Popen(['sleep', '60'], cwd=m.join('sub dir'))
        try:
            m.proc.terminate()
            assert m.proc.wait(30) == 0, m.log()
            assert_cleanly_gone(m.path)
        finally:
            holder.kill()
            holder.wait()


def test_crash_of_the_fuse_loop_is_logged_and_unmounts(cluster, coll, mnt):
    """llfuse.main raising (here: made to raise) must not leave a dead mount."""
    script = ('import sys, llfuse\n'
              'def broken_main(**kwargs):\n'
              '    raise RuntimeError("injected loop failure")\n'
              'llfuse.main = broken_main\n'
              'sys.path.insert(0, %r)\n'
              'from arvados_fuse.command import main\n'
              'sys.exit(main())\n') % ROOT
    r = subprocess.run([sys.executable, '-c', script, '--foreground', '--collection', coll['uuid'], mnt],
                       env=mount_env(cluster.full_env('alice')), capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert 'the FUSE loop failed' in r.stderr and 'injected loop failure' in r.stderr
    assert_cleanly_gone(mnt)


# -- --exec -------------------------------------------------------------------

@pytest.mark.parametrize('code', [0, 3])
def test_exec_exits_with_the_command_status(cluster, coll, mnt, code):
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], mnt,
                      '--exec', 'sh', '-c', 'ls "$1"; exit %d' % code, 'sh', mnt)
    assert r.returncode == code, r.stderr
    assert 'with space.txt' in r.stdout.splitlines()
    assert_cleanly_gone(mnt)


def test_exec_command_killed_by_a_signal(cluster, coll, mnt):
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], mnt,
                      '--exec', 'sh', '-c', 'kill -KILL $$')
    assert r.returncode == 128 + signal.SIGKILL
    assert_cleanly_gone(mnt)


def test_exec_command_not_found(cluster, coll, mnt):
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'], mnt,
                      '--exec', 'no-such-command-anywhere')
    assert r.returncode == 127
    assert 'no-such-command-anywhere' in r.stderr and 'Traceback' not in r.stderr
    assert_cleanly_gone(mnt)


def test_exec_with_the_mount_point_after_the_command(cluster, coll, mnt):
    r = run_arv_mount(cluster.full_env('alice'), '--collection', coll['uuid'],
                      '--exec', 'cat', os.path.join(mnt, 'plus+name.txt'), '--', mnt)
    assert r.returncode == 0, r.stderr
    assert r.stdout
    assert_cleanly_gone(mnt)


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM, signal.SIGQUIT])
def test_exec_forwards_signals_to_the_command(cluster, coll, mnt, tmp_path, sig):
    ready = tmp_path / 'ready'
    # The command reports which signal it got through its exit status, and
    # proves it runs inside the mount by listing it first.
    shell = ('trap "exit 10" INT; trap "exit 11" TERM; trap "exit 12" QUIT; '
             'ls "$1" > "$2"; while :; do sleep 0.1; done')
    log = tmp_path / 'arv-mount.log'
    with open(log, 'w') as log_file:
        proc = subprocess.Popen(arv_mount_command('--collection', coll['uuid'], mnt,
                                                  '--exec', 'sh', '-c', shell, 'sh', mnt, str(ready)),
                                env=mount_env(traced_env(cluster)), stdout=subprocess.DEVNULL,
                                stderr=log_file)
    try:
        wait_until(lambda: ready.exists() and ready.stat().st_size > 0, what='the command to start')
        assert 'with space.txt' in ready.read_text().splitlines()
        proc.send_signal(sig)
        try:
            rc = wait_exit(proc)
        except AssertionError as e:
            raise AssertionError('%s\n%s' % (e, log.read_text()))
        assert rc == {signal.SIGINT: 10, signal.SIGTERM: 11, signal.SIGQUIT: 12}[sig], log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_cleanly_gone(mnt)


# -- unmounting -----------------------------------------------------------------

def test_unmount_removes_the_mount_of_a_killed_daemon(cluster, coll):
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        m.proc.kill()
        m.proc.wait(10)
        with pytest.raises(OSError) as err:
            os.listdir(m.path)
        assert err.value.errno == errno.ENOTCONN
        r = run_arv_mount(cluster.full_env('alice'), '--unmount', m.path)
        assert r.returncode == 0, r.stderr
        assert_cleanly_gone(m.path)


def test_unmount_all_unmounts_nested_mounts(cluster, coll, tmp_path):
    env = cluster.full_env('alice')
    base = tmp_path / 'base'
    outer, other = base / 'outer', base / 'deeper' / 'other'
    outer.mkdir(parents=True)
    other.mkdir(parents=True)
    paths = [str(outer), str(outer / 'home'), str(other)]
    try:
        assert run_arv_mount(env, str(outer)).returncode == 0
        # A mount on a directory inside another arv-mount.
        r = run_arv_mount(env, '--collection', coll['uuid'], str(outer / 'home'))
        assert r.returncode == 0, r.stderr
        assert run_arv_mount(env, '--collection', coll['uuid'], str(other)).returncode == 0
        assert all(mountpoint.is_mounted(p) for p in paths)
        pids = [daemon_pid(p) for p in paths]
        r = run_arv_mount(env, '--unmount-all', str(base))
        assert r.returncode == 0, r.stderr
        for p in paths:
            assert not mountpoint.is_mounted(p)
        assert os.listdir(str(outer)) == [] and os.listdir(str(other)) == []
        for pid in pids:
            wait_until(lambda: not pid_alive(pid), what='daemon %s to exit' % pid)
    finally:
        for p in reversed(paths):
            force_unmount(p)


def test_replace_replaces_an_existing_mount(cluster, mnt):
    env = cluster.full_env('alice')
    first = cluster.demo['collections']['odd_names']
    second = cluster.demo['collections']['deep']
    assert run_arv_mount(env, '--collection', first['uuid'], mnt).returncode == 0
    old = daemon_pid(mnt)
    r = run_arv_mount(env, '--replace', '--collection', second['uuid'], mnt)
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(mnt)) == sorted(f['path'] for f in second['files'])
    wait_until(lambda: not pid_alive(old), what='the replaced daemon to exit')
    assert len([m for m in mountpoint.fuse_mounts() if m.path == mnt]) == 1


def _fusectl_mounted():
    with open('/proc/self/mounts') as f:
        return any(line.split()[2] == 'fusectl' for line in f)


def test_unmount_timeout_bounds_the_wait_on_a_busy_mount(cluster, coll):
    fusectl_mounted = _fusectl_mounted()
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        holder = subprocess.Popen(['sleep', '60'], cwd=m.join('sub dir'))
        try:
            r = run_arv_mount(cluster.full_env('alice'), '--unmount', '--unmount-timeout', '0.5', m.path,
                              timeout=30)
            assert r.returncode == 0, r.stderr
            assert_cleanly_gone(m.path)
            # The daemon, its connection aborted, exits by itself.
            assert m.proc.wait(30) is not None
            # fusectl, if it had to be mounted for the abort, is gone again.
            assert fusectl_mounted == _fusectl_mounted()
        finally:
            holder.kill()
            holder.wait()


def test_unmount_of_a_path_with_nothing_mounted(cluster, mnt):
    r = run_arv_mount(cluster.full_env('alice'), '--unmount', mnt)
    assert r.returncode == 0
    assert 'no FUSE mount' in r.stderr


# -- mount options ----------------------------------------------------------------

def test_subtype_and_allow_other_show_in_proc_mounts(cluster, coll):
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid'], '--subtype', 'mytype',
                 '--allow-other') as m:
        source, fstype, options = mount_line(m.path)
        assert (source, fstype) == ('arvados', 'fuse.mytype')
        assert 'ro' in options and 'allow_other' in options


def test_default_subtype_and_no_allow_other(cluster, coll):
    with mounted(cluster.full_env('alice'), '--collection', coll['uuid']) as m:
        source, fstype, options = mount_line(m.path)
        assert (source, fstype) == ('arvados', 'fuse.arv-mount')
        assert 'ro' in options and 'allow_other' not in options


def test_sigint_during_startup_is_a_clean_exit(cluster, mnt):
    env = cluster.full_env('alice')
    env['ARVADOS_API_HOST'] = '127.0.0.1:1'     # startup sits in retry back-off
    # SIGINT as a terminal delivers it, whatever this test was started
    # from: a background job of a shell ignores it, and so would its children.
    proc = subprocess.Popen(arv_mount_command('--foreground', '--debug', mnt), env=mount_env(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # Wait for the first retry line: the process is inside startup.
        line = ''
        while 'before retry' not in line:
            line = proc.stderr.readline()
            assert line, 'arv-mount ended before retrying'
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(30) == 1
        assert 'arv-mount: interrupted' in rest and 'Traceback' not in rest
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert not mountpoint.is_mounted(mnt)
