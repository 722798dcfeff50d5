"""Mounting arv-mount in tests: the daemon always runs as a subprocess (llfuse
inside the pytest process deadlocks on the GIL), and every mount is unmounted
when the test ends, pass or fail."""

import contextlib
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARV_MOUNT = os.path.join(ROOT, 'bin', 'arv-mount')

sys.path.insert(0, ROOT)
from arvados_fuse.host import mountpoint  # noqa: E402


def arv_mount_command(*args):
    return [sys.executable, ARV_MOUNT] + list(args)


def mount_env(env):
    env = dict(env)
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    return env


def force_unmount(path):
    if mountpoint.is_mounted(path):
        mountpoint.unmount(path, timeout=2)
    if mountpoint.is_mounted(path):
        subprocess.call(['fusermount', '-u', '-z', path], stderr=subprocess.DEVNULL)


class Mounted(object):
    def __init__(self, path, proc, log_path):
        self.path = path
        self.proc = proc
        self.log_path = log_path

    def join(self, *parts):
        return os.path.join(self.path, *parts)

    def log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()


@contextlib.contextmanager
def mounted(env, *args, timeout=60, command=None):
    """Run `arv-mount --foreground ARGS MOUNTPOINT` until the mount is up;
    yield a `Mounted`; always unmount and stop the daemon afterwards.

    `command`: another arv-mount executable (upstream's), run with `env` as
    given (our PYTHONPATH would shadow its own arvados_fuse)."""
    path = tempfile.mkdtemp(prefix='arvmount-')
    log_fd, log_path = tempfile.mkstemp(prefix='arvmount-', suffix='.log')
    if command is None:
        argv, env = arv_mount_command('--foreground', *args, path), mount_env(env)
    else:
        argv = [command, '--foreground'] + list(args) + [path]
    proc = subprocess.Popen(argv, env=env, stdout=log_fd, stderr=log_fd, stdin=subprocess.DEVNULL)
    os.close(log_fd)
    mount = Mounted(path, proc, log_path)
    try:
        deadline = time.time() + timeout
        while not mountpoint.is_mounted(path):
            if proc.poll() is not None:
                raise AssertionError('%s exited with %s before mounting:\n%s' % (argv[0], proc.returncode, mount.log()))
            if time.time() > deadline:
                raise AssertionError('%s did not mount within %ss:\n%s' % (argv[0], timeout, mount.log()))
            time.sleep(0.05)
        yield mount
    finally:
        # Both arv-mounts exit once their mount goes away (upstream may sit
        # on a SIGTERM until the next FUSE request; ours has its own tests).
        if proc.poll() is None:
            force_unmount(path)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        force_unmount(path)
        for remove in (lambda: os.rmdir(path), lambda: os.unlink(log_path)):
            try:
                remove()
            except OSError:
                pass


def md5_of(path, bufsize=1 << 20):
    """MD5 of a file read with read() calls of `bufsize` bytes (unbuffered)."""
    h = hashlib.md5()
    with open(path, 'rb', buffering=0) as f:
        for chunk in iter(lambda: f.read(bufsize), b''):
            h.update(chunk)
    return h.hexdigest()


def keep_servers(cluster):
    return [s for s in cluster.info['servers'] if s.startswith('keep')]


def read_all(path):
    with open(path, 'rb') as f:
        return f.read()


def read_while_keep_faulty(cluster, path, clear_after=None, **fault):
    """Read `path` in a thread while every Keep server has `fault` (cleared
    after `clear_after` seconds if given, else once the read has ended):
    {'data': ...} or {'errno': ...}.  The join guards against a hang (the
    read must end); it is not a timing assertion."""
    import threading
    result = {}

    def read():
        try:
            result['data'] = read_all(path)
        except OSError as e:
            result['errno'] = e.errno
    reader = threading.Thread(target=read, daemon=True)
    try:
        for server in keep_servers(cluster):
            cluster.set_fault(server, **fault)
        reader.start()
        if clear_after is not None:
            time.sleep(clear_after)
            cluster.clear_faults()
        reader.join(150)
        assert not reader.is_alive(), 'the read is still waiting'
    finally:
        cluster.clear_faults()
    return result


def concurrently(fn, calls, timeout=120):
    """fn(*args) for every args of `calls`, each in its own thread, all at
    once; returns when all are done (each waited for at most `timeout`
    seconds: a hung one shows as a missing result)."""
    threads = [threading.Thread(target=fn, args=args) for args in calls]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return len(threads)


def crunchstat_last(stderr, kind):
    """The numbers of the last crunchstat line of `kind` (e.g. 'apicalls',
    'keepcalls', 'net:keep0') in a daemon's log, before its ' -- ' part."""
    tag = 'crunchstat: ' + kind + ' '
    lines = [line for line in stderr.splitlines() if tag in line]
    assert lines, stderr[-2000:]
    return [int(n) for n in re.findall(r'\d+', lines[-1].split(tag, 1)[1].split(' -- ')[0])]


def rss_of(pid, field='VmRSS'):
    """Resident memory of process `pid` in bytes (field='VmHWM': its peak);
    0 once the process is gone."""
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def drop_pages(path):
    """Make the kernel forget the cached pages of `path`, so the next read
    reaches the filesystem."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


def files_under(root):
    out = {}
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            out[os.path.relpath(full, root)] = full
    return out


def check_collection_tree(mount_path, collection):
    """Every file of the demo collection, with its size and md5; no others;
    its empty directories exist."""
    found = files_under(mount_path)
    expected = {f['path']: f for f in collection['files']}
    assert sorted(found) == sorted(expected)
    for rel, f in expected.items():
        assert os.path.getsize(found[rel]) == f['size'], rel
        assert md5_of(found[rel]) == f['md5'], rel
    for d in collection['empty_dirs']:
        assert os.path.isdir(os.path.join(mount_path, d)) and os.listdir(os.path.join(mount_path, d)) == []


def run_arv_mount(env, *args, timeout=60, input=None):
    """Run arv-mount to completion (for --exec, --unmount, startup errors)."""
    return subprocess.run(arv_mount_command(*args), env=mount_env(env), capture_output=True,
                          timeout=timeout, input=input, text=True)
