"""Mounting arv-mount in tests: the daemon always runs as a subprocess (llfuse
inside the pytest process deadlocks on the GIL), and every mount is unmounted
when the test ends, pass or fail."""

import contextlib
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARV_MOUNT = os.path.join(ROOT, 'bin', 'arv-mount')

sys.path.insert(0, ROOT)
from arvados_fuse import mountpoint  # noqa: E402


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
def mounted(env, *args, timeout=60):
    """Run `arv-mount --foreground ARGS MOUNTPOINT` until the mount is up;
    yield a `Mounted`; always unmount and stop the daemon afterwards."""
    path = tempfile.mkdtemp(prefix='arvmount-')
    log_fd, log_path = tempfile.mkstemp(prefix='arvmount-', suffix='.log')
    cmd = arv_mount_command('--foreground', *args, path)
    proc = subprocess.Popen(cmd, env=mount_env(env), stdout=log_fd, stderr=log_fd, stdin=subprocess.DEVNULL)
    os.close(log_fd)
    mount = Mounted(path, proc, log_path)
    try:
        deadline = time.time() + timeout
        while not mountpoint.is_mounted(path):
            if proc.poll() is not None:
                raise AssertionError('arv-mount exited with %s before mounting:\n%s' % (proc.returncode, mount.log()))
            if time.time() > deadline:
                raise AssertionError('arv-mount did not mount within %ss:\n%s' % (timeout, mount.log()))
            time.sleep(0.05)
        yield mount
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        force_unmount(path)
        try:
            os.rmdir(path)
        except OSError:
            pass


def run_arv_mount(env, *args, timeout=60, input=None):
    """Run arv-mount to completion (for --exec, --unmount, startup errors)."""
    return subprocess.run(arv_mount_command(*args), env=mount_env(env), capture_output=True,
                          timeout=timeout, input=input, text=True)
