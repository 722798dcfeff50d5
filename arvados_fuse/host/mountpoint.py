"""Mount points: what FUSE filesystems are mounted where, and unmounting
them by force, so that no dead daemon leaves 'Transport endpoint is not
connected' behind."""

import collections
import logging
import os
import subprocess
import time

from .culprits import describe as describe_culprits

_logger = logging.getLogger('arvados.arvados_fuse')

FUSECTL = '/sys/fs/fuse/connections'
# The fsname every arv-mount mounts with (the "source" column of
# /proc/mounts), whatever its --subtype.
FSNAME = 'arvados'

FuseMount = collections.namedtuple('FuseMount', 'path minor fstype source')


def _unescape_mountinfo(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo octal.
    return field.encode('latin-1').decode('unicode_escape').encode('latin-1').decode('utf-8', 'surrogateescape')


def _mountinfo():
    """Every mount this process can see, FUSE or not, as FuseMount tuples."""
    out = []
    try:
        with open('/proc/self/mountinfo', encoding='utf-8', errors='surrogateescape') as f:
            lines = f.readlines()
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        try:
            sep = fields.index('-')
        except ValueError:
            continue
        source = _unescape_mountinfo(fields[sep + 2]) if len(fields) > sep + 2 else ''
        minor = fields[2].split(':')[1]
        out.append(FuseMount(_unescape_mountinfo(fields[4]), minor, fields[sep + 1], source))
    return out


def fuse_mounts():
    """Every FUSE mount this process can see, as FuseMount tuples."""
    return [m for m in _mountinfo() if m.fstype == 'fuse' or m.fstype.startswith('fuse.')]


def canonical_path(path, mounts=None):
    """`path` as /proc/self/mountinfo would spell it, without looking at
    the last component: a stat of a mount point would ask its daemon, which
    hangs if the daemon is stopped or is this very process."""
    path = os.path.abspath(path)
    if any(m.path == path for m in (fuse_mounts() if mounts is None else mounts)):
        return path
    return os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))


def is_mounted(path):
    mounts = fuse_mounts()
    path = canonical_path(path, mounts)
    return any(m.path == path for m in mounts)


def _fusermount_u(path, lazy=False):
    cmd = ['fusermount', '-u', '-q'] + (['-z'] if lazy else []) + [path]
    return subprocess.call(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0


def _abort_connection(minor):
    """Make every pending and future request on the connection fail, so a
    hung or stopped daemon can no longer hold the mount (or its users)."""
    mounted_here = False
    if not os.path.isdir(FUSECTL) or not os.listdir(FUSECTL):
        # fusectl is not mounted; mounting it (for the moment of the abort,
        # leaving the machine as it was) lets us abort a hung daemon.
        mounted_here = subprocess.call(['mount', '-t', 'fusectl', 'none', FUSECTL],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0
    try:
        with open(os.path.join(FUSECTL, minor, 'abort'), 'w') as f:
            f.write('1')
    except OSError as e:
        _logger.debug('cannot abort FUSE connection %s: %s', minor, e)
    finally:
        if mounted_here:
            subprocess.call(['umount', FUSECTL], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _unmount_one(m, timeout):
    """Polite unmounts until `timeout`; then abort the connection and try
    again; as a last resort detach lazily (the mount point is usable at
    once, processes still inside see errors)."""
    deadline = time.monotonic() + timeout
    while True:
        if _fusermount_u(m.path) or not is_mounted(m.path):
            return
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    culprits = describe_culprits(m.path)
    for line in culprits:
        _logger.warning('%s', line)
    _logger.warning('%s is %s; aborting its connection', m.path,
                    'busy' if culprits else 'busy or its daemon does not answer')
    _abort_connection(m.minor)
    if _fusermount_u(m.path) or not is_mounted(m.path):
        return
    _fusermount_u(m.path, lazy=True)


class MountTypeError(Exception):
    """A mount is not of the type asked for (--subtype): nothing unmounted."""


def fstype_of(subtype):
    """The mount type of --subtype SUBTYPE: 'fuse.SUBTYPE', '' -> 'fuse'."""
    return 'fuse.' + subtype if subtype else 'fuse'


def unmount(path, timeout=2.0, recursive=False, fstype=None):
    """Unmount the FUSE mount at `path`; with `recursive`, also every
    arv-mount below it.  Returns the list of paths unmounted.

    `fstype` (from --subtype), as upstream: only a mount of that type is
    unmounted at `path`; with `recursive`, every FUSE mount at or below
    `path` of that type, and if any mount there is of another type, none
    (MountTypeError)."""
    mounts = fuse_mounts()
    path = canonical_path(path, mounts)
    prefix = path.rstrip('/') + '/'
    if fstype is None:
        targets = [m for m in mounts
                   if m.path == path or (recursive and m.source == FSNAME and m.path.startswith(prefix))]
    elif recursive:
        for m in _mountinfo():
            if (m.path == path or m.path.startswith(prefix)) and m.fstype != fstype:
                raise MountTypeError('cannot unmount %s: %s is mounted there with type %s, not %s'
                                     % (path, m.path, m.fstype, fstype))
        targets = [m for m in mounts if m.path == path or m.path.startswith(prefix)]
    else:
        targets = [m for m in mounts if m.path == path and m.fstype == fstype]
    # Deepest first, so that nested mounts do not hold up their parents.
    targets.sort(key=lambda m: -len(m.path))
    done = []
    for m in targets:
        _unmount_one(m, timeout)
        done.append(m.path)
    return done
