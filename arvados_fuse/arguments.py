"""The arv-mount command line: the seed's options plus the read-only subset
of what today's upstream arv-mount accepts."""

import argparse
import collections
import os
import re

from . import __version__

MIB = 1024 * 1024
DEFAULT_RETRIES = 10
DEFAULT_REFRESH = 15
# See api/safeapi.DEFAULT_TIMEOUT and keep/fetcher.DEFAULT_READ_TIMEOUT (not
# imported: --help must not load the SDK).
DEFAULT_TIMEOUT = 60
DEFAULT_READ_TIMEOUT = 60


def default_file_cache():
    """RAM block cache size: 1 GiB (16 blocks of 64 MiB), but at most an
    eighth of the machine's memory and at least the SDK's 256 MiB.

    256 MiB holds the block being read plus two prefetched, which is all a
    sequential reader needs; but random reads over a file of 8 blocks or
    more then evict on nearly every read and re-fetch 64 MiB for 4 KiB
    (measured: 7 reads/s on a 512 MiB file, against upstream's 188 with its
    disk cache).  16 blocks cover that working set without a disk cache's
    extra write on every cold block (measured ~25% slower sequential)."""
    try:
        ram = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES')
    except (ValueError, OSError):
        ram = 0
    return max(256 * MIB, min(1024 * MIB, ram // 8))


DEFAULT_FILE_CACHE = default_file_cache()
DEFAULT_DIRECTORY_CACHE = 128 * 1024 * 1024
# How long the kernel may cache a missing name (fs/kernelcache.py): long
# enough that a script probing the same missing names in a loop costs one
# FUSE request per name every few seconds, short enough that one waiting for
# a collection to appear sees it within seconds even without change events
# (with events, a name created is dropped from the kernel's cache at once).
DEFAULT_NEGATIVE_CACHE_TTL = 5.0

# --disk-cache-min-free: bytes, or a percentage of the cache's filesystem.
MinFree = collections.namedtuple('MinFree', 'bytes percent')
# Enough for the rest of the machine (logs, package updates, other users of
# a shared scratch disk) and for ext4's own reserve to stay untouched; see
# docs/operating.md.
DEFAULT_DISK_CACHE_MIN_FREE = MinFree(None, 10.0)
SIZE_UNITS = {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}


def min_free(text):
    """--disk-cache-min-free: bytes (500000000, or with K, M, G, T: powers
    of 1024, e.g. 2G) or a percentage of the filesystem (10%)."""
    t = text.strip()
    m = re.fullmatch(r'(\d+(?:\.\d*)?)\s*%', t)
    if m:
        percent = float(m.group(1))
        if percent >= 100:
            raise argparse.ArgumentTypeError('%r: a percentage of the filesystem must be below 100%%' % text)
        return MinFree(None, percent)
    m = re.fullmatch(r'(\d+(?:\.\d*)?)\s*([kmgt]?)(?:i?b)?', t, re.IGNORECASE)
    if not m or (not m.group(2) and '.' in m.group(1)):
        raise argparse.ArgumentTypeError(
            '%r is not an amount of free space: give bytes (500000000), a size with K, M, G or T (2G: powers of '
            '1024) or a percentage of the filesystem (10%%)' % text)
    return MinFree(int(float(m.group(1)) * SIZE_UNITS[m.group(2).lower()]), None)


def octal_mode(text):
    """--file-mode/--dir-mode: permission bits in octal (e.g. 0444, 755)."""
    try:
        mode = int(text, 8)
    except ValueError:
        raise argparse.ArgumentTypeError('%r is not an octal mode such as 0555' % text)
    if not 0 <= mode <= 0o7777:
        raise argparse.ArgumentTypeError('%r is not a mode between 0 and 07777' % text)
    return mode


def user_id(text):
    """--uid: a number or a user name."""
    if text.isdigit():
        return int(text)
    import pwd
    try:
        return pwd.getpwnam(text).pw_uid
    except KeyError:
        raise argparse.ArgumentTypeError('no such user: %r' % text)


def group_id(text):
    """--gid: a number or a group name."""
    if text.isdigit():
        return int(text)
    import grp
    try:
        return grp.getgrnam(text).gr_gid
    except KeyError:
        raise argparse.ArgumentTypeError('no such group: %r' % text)


class ArgumentParser(argparse.ArgumentParser):
    def __init__(self):
        super(ArgumentParser, self).__init__(
            prog='arv-mount',
            description='Mount Keep data under the local filesystem (read-only).  Default mode is --all.',
            epilog="""
Note: When using the --exec feature, you must either specify the
mountpoint before --exec, or mark the end of your --exec arguments
with "--".
""")
        self.add_argument('--version', action='version', version='%(prog)s ' + __version__)
        self.add_argument('mountpoint', type=str, help='Mount point.')
        self.add_argument('--allow-other', action='store_true', help='Let other users read the mount.')
        self.add_argument('--settings', type=str, metavar='FILE', default=None,
                          help='Read ARVADOS_API_HOST, ARVADOS_API_TOKEN, ARVADOS_API_HOST_INSECURE from FILE '
                               '(KEY=VALUE lines, as ~/.config/arvados/settings.conf); they win over the environment. '
                               'For fstab: -o settings=/etc/arvados/keep.conf keeps the token out of fstab.')
        self.add_argument('--subtype', type=str, default=None,
                          help='Filesystem subtype shown in /proc/mounts (default "arv-mount": fuse.arv-mount; "" for plain fuse). '
                               'With --unmount, --unmount-all or --replace: only mounts of that type.')

        modes = self.add_argument_group('Mount modes').add_mutually_exclusive_group()
        modes.add_argument('--all', action='store_const', const='all', dest='mode',
                           help='Mount a subdirectory for each mode: home, shared, users, by_tag, by_id (default).')
        modes.add_argument('--custom', action='store_const', const='custom', dest='mode',
                           help='Mount a top-level directory with only the --mount-* subdirectories.')
        modes.add_argument('--home', action='store_const', const='home', dest='mode',
                           help='Mount your home project.')
        modes.add_argument('--shared', action='store_const', const='shared', dest='mode',
                           help='Mount a subdirectory for each project shared with you.')
        modes.add_argument('--by-tag', action='store_const', const='by_tag', dest='mode',
                           help='Mount subdirectories listed by tag.')
        modes.add_argument('--by-id', action='store_const', const='by_id', dest='mode',
                           help='Mount subdirectories listed by portable data hash or uuid.')
        modes.add_argument('--by-pdh', action='store_const', const='by_pdh', dest='mode',
                           help='Mount subdirectories listed by portable data hash.')
        modes.add_argument('--project', type=str, metavar='UUID', help='Mount the specified project.')
        modes.add_argument('--collection', type=str, metavar='UUID_OR_PDH', help='Mount only the specified collection.')

        custom = self.add_argument_group('Custom mount options')
        for name, what in (('home', 'your home project'), ('shared', 'projects shared with you'),
                           ('users', 'the users directory (home projects by username)'),
                           ('by-id', 'the by_id magic directory'), ('by-pdh', 'the by_pdh magic directory'),
                           ('by-tag', 'the by_tag directory')):
            custom.add_argument('--mount-' + name, metavar='PATH', action='append', default=[],
                                help='Mount %s at PATH under the mount point (implies --custom).' % what)
        custom.add_argument('--mount-tmp', metavar='PATH', action='append', default=[],
                            help='Refused: this arv-mount is read-only.')

        self.add_argument('--filters', type=str, default=None, metavar='JSON',
                          help='Extra API filters for project, shared and tag listings: a JSON list (of '
                               '[attribute, operator, operand] lists or "(attr1 < attr2)" strings), '
                               'a file holding one, or "-" for standard input.')

        self.add_argument('--debug', action='store_true', help="Debug logging, and FUSE's own debug trace.")
        self.add_argument('--logfile', type=str, help='Also write the log (warnings and info; debug lines with --debug) to FILE.')
        self.add_argument('--foreground', action='store_true', default=False,
                          help='Stay in the foreground (default: daemonize once mounted).')
        self.add_argument('--encoding', type=str, default='utf-8',
                          help='Character encoding of file names (default utf-8).')
        self.add_argument('--retries', type=int, metavar='N', default=DEFAULT_RETRIES,
                          help='Retries of failed API and Keep requests (default %d; the startup check '
                               'of the API server retries at most twice, to fail fast).' % DEFAULT_RETRIES)
        self.add_argument('--timeout', type=float, metavar='SECONDS', default=DEFAULT_TIMEOUT,
                          help='Longest wait for one API call, its --retries included: past it the request '
                               'fails (EIO, or ENOENT for a missing name), whatever the retries left '
                               '(default %d; 0: no bound but the SDK\'s).' % DEFAULT_TIMEOUT)
        self.add_argument('--read-timeout', type=float, metavar='SECONDS', default=DEFAULT_READ_TIMEOUT,
                          help='Longest a read waits for Keep before it fails with EIO, retries included '
                               '(default %g).' % DEFAULT_READ_TIMEOUT)
        self.add_argument('--refresh-time', type=float, metavar='SECONDS', default=DEFAULT_REFRESH,
                          help='Longest time a uuid-addressed object may be stale (default %d).' % DEFAULT_REFRESH)
        self.add_argument('--disable-event-listening', action='store_true', default=False,
                          help="Don't subscribe to change events; rely on --refresh-time polling.")
        self.add_argument('--crunchstat-interval', type=float, metavar='SECONDS', default=0,
                          help='Write read statistics to stderr every SECONDS.')
        self.add_argument('--prometheus-port', type=int, metavar='PORT', default=None,
                          help='Serve Prometheus metrics at http://ADDRESS:PORT/metrics (default: off).')
        self.add_argument('--prometheus-address', type=str, metavar='ADDRESS', default='127.0.0.1',
                          help='Address for --prometheus-port to listen on (default 127.0.0.1).')
        self.add_argument('--read-write', action='store_true', default=False,
                          help='Refused: this arv-mount is read-only.')
        self.add_argument('--storage-classes', metavar='CLASSES', default=None,
                          help='Refused: this arv-mount is read-only and creates no collections.')
        self.add_argument('--read-only', action='store_true', default=True,
                          help='Mount read-only (the only mode; accepted for compatibility).')

        cache = self.add_argument_group('Caching')
        cache.add_argument('--file-cache', type=int, metavar='BYTES', default=None,
                           help='Block cache size in bytes (default %d MiB in RAM here: 1 GiB or an eighth of memory; '
                                'on disk, a share of the free space).' % (DEFAULT_FILE_CACHE // MIB))
        kind = cache.add_mutually_exclusive_group()
        kind.add_argument('--ram-cache', action='store_false', dest='disk_cache', default=False,
                          help='Keep cached blocks in RAM (default).')
        kind.add_argument('--disk-cache', action='store_true', dest='disk_cache',
                          help='Keep cached blocks on disk, under --disk-cache-dir.')
        cache.add_argument('--disk-cache-dir', type=str, default=None,
                           help='Disk cache location (default ~/.cache/arvados/keep).')
        cache.add_argument('--disk-cache-min-free', type=min_free, metavar='SIZE',
                           default=DEFAULT_DISK_CACHE_MIN_FREE,
                           help='Free space the disk cache leaves on its filesystem: bytes, K, M, G, T (2G) or a '
                                'percentage of the filesystem (default 10%%); the cache shrinks below --file-cache '
                                'when the disk runs short, and 0 turns this off.')
        cache.add_argument('--directory-cache', type=int, metavar='BYTES', default=DEFAULT_DIRECTORY_CACHE,
                           help='Memory for parsed collection trees (default %d MiB, about 250,000 files): beyond it, '
                                'the least recently used trees that no process is using are freed and reloaded '
                                'when next visited.' % (DEFAULT_DIRECTORY_CACHE // MIB))

        cache.add_argument('--negative-cache-ttl', type=float, metavar='SECONDS', default=DEFAULT_NEGATIVE_CACHE_TTL,
                           help='How long the kernel may cache a missing name, so repeated probes of it cost no '
                                'request (default %g; 0: never; a change event that creates the name ends it at '
                                'once).' % DEFAULT_NEGATIVE_CACHE_TTL)

        owners = self.add_argument_group('Ownership and modes')
        owners.add_argument('--uid', type=user_id, metavar='UID', default=None,
                            help='Owner of every file and directory (a number or a user name; default: the user '
                                 'who mounts).')
        owners.add_argument('--gid', type=group_id, metavar='GID', default=None,
                            help='Group of every file and directory (a number or a group name; default: the '
                                 'group of the user who mounts).')
        owners.add_argument('--file-mode', type=octal_mode, metavar='MODE', default=None,
                            help='Permission bits of every file, in octal (default 0555 for collection files, '
                                 '0444 for JSON record files).')
        owners.add_argument('--dir-mode', type=octal_mode, metavar='MODE', default=None,
                            help='Permission bits of every directory, in octal (default 0555).')
        owners.add_argument('--default-permissions', action='store_true', default=False,
                            help="Let the kernel enforce the owners and modes (FUSE's default_permissions); "
                                 'without it every user the mount lets in (--allow-other) can read everything.')

        unmount = self.add_argument_group('Unmounting')
        unmount.add_argument('--exec', type=str, nargs=argparse.REMAINDER, dest='exec_args', metavar='CMD',
                             help='Mount, run CMD (all the remaining arguments), unmount, exit with its status.')
        unmount.add_argument('--unmount', action='store_true', default=False,
                             help='Forcefully unmount the mount point and exit.')
        unmount.add_argument('--unmount-all', action='store_true', default=False,
                             help='Forcefully unmount every arv-mount at or below the mount point and exit.')
        unmount.add_argument('--replace', action='store_true', default=False,
                             help='Unmount anything already mounted at the mount point first.')
        unmount.add_argument('--unmount-timeout', type=float, default=2.0,
                             help='Seconds to wait for a clean unmount before aborting the connection (default 2).')
