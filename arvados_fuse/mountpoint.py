"""Mount points: is something mounted here, and unmounting it by force."""

import logging
import os
import subprocess
import time

_logger = logging.getLogger('arvados.arvados_fuse')

FUSECTL = '/sys/fs/fuse/connections'


def _unescape_mountinfo(field):
    return field.encode('latin-1').decode('unicode_escape').encode('latin-1').decode('utf-8', 'surrogateescape')


def fuse_mounts():
    """(mount point, device minor, fs type) of every FUSE mount we can see."""
    out = []
    try:
        with open('/proc/self/mountinfo') as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        try:
            sep = fields.index('-')
        except ValueError:
            continue
        fstype = fields[sep + 1]
        if fstype != 'fuse' and not fstype.startswith('fuse.'):
            continue
        minor = fields[2].split(':')[1]
        out.append((_unescape_mountinfo(fields[4]), minor, fstype))
    return out


def is_mounted(path):
    path = os.path.realpath(path)
    return any(mp == path for mp, _minor, _t in fuse_mounts())


def _abort_connection(minor):
    if not os.path.isdir(FUSECTL) or not os.listdir(FUSECTL):
        # fusectl is not mounted; mounting it lets us abort a hung daemon.
        subprocess.call(['mount', '-t', 'fusectl', 'none', FUSECTL],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with open(os.path.join(FUSECTL, minor, 'abort'), 'w') as f:
            f.write('1')
    except OSError:
        pass


def unmount(path, timeout=2.0, recursive=False):
    """Unmount the FUSE mount at `path` (and below it with `recursive`):
    ask politely first, then abort the connection so that a dead or hung
    daemon cannot leave 'Transport endpoint is not connected' behind.
    Returns the list of paths unmounted."""
    path = os.path.realpath(path)
    done = []
    # Deepest first, so that nested mounts do not hold up their parents.
    targets = sorted((m for m in fuse_mounts()
                      if m[0] == path or (recursive and m[0].startswith(path.rstrip('/') + '/'))),
                     key=lambda m: -len(m[0]))
    for mp, minor, _t in targets:
        if subprocess.call(['fusermount', '-u', '-q', mp], stderr=subprocess.DEVNULL) != 0:
            deadline = time.time() + timeout
            _abort_connection(minor)
            while time.time() < deadline:
                if subprocess.call(['fusermount', '-u', '-q', mp], stderr=subprocess.DEVNULL) == 0:
                    break
                time.sleep(0.1)
            else:
                subprocess.call(['fusermount', '-u', '-z', '-q', mp], stderr=subprocess.DEVNULL)
        done.append(mp)
    return done
