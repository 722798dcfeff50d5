"""The model's answers in llfuse's terms, for the adapter (operations.py):
errors as errno values, entries as attributes, the global lock as the
model's GlobalLock (fs/lock.py), and the refusal of every write."""

import errno
import functools
import logging
import stat
from time import perf_counter

import llfuse

from .errors import Answered, to_errno
from .fs.names import NAME_MAX

_logger = logging.getLogger('arvados.arvados_fuse')

# st_blksize: tools such as cp and cat size their reads by it; FUSE sends at
# most 128 KiB per read on this kernel (libfuse 2), so ask for that.
BLOCK_SIZE_HINT = 128 * 1024
# Every extended attribute we have is user.arvados.*.
XATTR_PREFIX = b'user.arvados.'
# Every request that would change something: each is refused (the mount is
# also `ro`, so most never get past the kernel).
WRITE_OPERATIONS = ('setattr', 'setxattr', 'removexattr', 'write', 'create', 'mkdir', 'mknod',
                    'unlink', 'rmdir', 'rename', 'symlink', 'link')


class _FuseLock(object):
    """llfuse's global lock, which every request handler holds."""

    def __enter__(self):
        llfuse.lock.acquire()

    def __exit__(self, *exc):
        llfuse.lock.release()

    def released(self):
        return llfuse.lock_released


FUSE_LOCK = _FuseLock()


def handler(fn):
    """A request handler: FUSEError passes through, an Answered becomes its
    errno, anything else is logged once and becomes EIO, so the llfuse main
    loop never dies.  When the operations are instrumented (instrumented.py:
    `meters` set), every request is counted and timed into meters[name], and
    the ones the meters cannot tell all of are reported to observe(name,
    seconds, error, cause, result): every error, every read (its size), and
    every request while `latencies.on` (histograms).  One wrapper does both,
    and the common case costs two clock reads and two additions."""
    name = fn.__name__
    observed = name == 'read'

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        meters = self.meters
        start = perf_counter() if meters is not None else 0.0
        try:
            result = fn(self, *args, **kwargs)
        except llfuse.FUSEError as e:
            if meters is not None:
                metered(self, name, start, e, e.__context__)
            raise
        except Answered as e:
            error = llfuse.FUSEError(to_errno(e))
            if meters is not None:
                metered(self, name, start, error, e)
            raise error from e
        except Exception as e:
            _logger.exception('unexpected error in %s', name)
            error = llfuse.FUSEError(errno.EIO)
            if meters is not None:
                metered(self, name, start, error, e)
            raise error
        if meters is not None:  # metered(), inline: `ls -l` makes a request per file
            took = perf_counter() - start
            meter = meters[name]
            meter.count += 1
            meter.seconds += took
            if observed or self.latencies.on:
                self.observe(name, took, None, None, result)
        return result
    return wrapper


def metered(ops, name, start, error, cause, result=None):
    """Request `name`, begun at `start` (perf_counter), counted and timed
    into its meter; reported to `observe` when the meters cannot tell all
    of it: an error, a read (its size), any request while `latencies.on`."""
    took = perf_counter() - start
    meter = ops.meters[name]
    meter.count += 1
    meter.seconds += took
    if error is not None or name == 'read' or ops.latencies.on:
        ops.observe(name, took, error, cause, result)


def negative(timeout):
    """The answer to a lookup of a missing name that the kernel may cache
    for `timeout` seconds: an entry with inode 0 (libfuse's negative entry;
    the kernel sends no FORGET for it)."""
    attr = llfuse.EntryAttributes()
    attr.st_ino = 0
    attr.generation = 0
    attr.entry_timeout = timeout
    attr.attr_timeout = 0
    return attr


def refuse_write(self, *args):
    raise llfuse.FUSEError(errno.EROFS)


def attributes(entry, timeout, uid, gid, file_mode=None, dir_mode=None):
    """`entry`'s attributes, cached by the kernel for `timeout` seconds.
    `file_mode`/`dir_mode` (--file-mode, --dir-mode): the permission bits of
    every file/directory; None: each kind's own (fs/files.py, fs/directory.py)."""
    mode = entry.st_mode()
    if mode & _S_IFMT == _S_IFDIR:
        if dir_mode is not None:
            mode = _S_IFDIR | dir_mode
    elif file_mode is not None:
        mode = (mode & _S_IFMT) | file_mode
    atime, mtime = entry.times()
    return stat_attributes(entry.inode, timeout, mode, entry.size(), int(atime * 1e9), int(mtime * 1e9), uid, gid)


def stat_attributes(inode, timeout, mode, size, atime_ns, mtime_ns, uid, gid):
    """The EntryAttributes the kernel is answered with.  Made for every file
    `ls -l` lists: kept to what the kernel uses (EntryAttributes starts at
    zero)."""
    attr = llfuse.EntryAttributes()
    attr.st_ino = inode
    attr.entry_timeout = attr.attr_timeout = timeout
    attr.st_mode = mode
    attr.st_nlink = 2 if mode & _S_IFMT == _S_IFDIR else 1
    attr.st_uid = uid
    attr.st_gid = gid
    attr.st_size = size
    attr.st_blksize = BLOCK_SIZE_HINT
    attr.st_blocks = (size + 511) // 512
    attr.st_atime_ns = atime_ns
    attr.st_mtime_ns = attr.st_ctime_ns = mtime_ns
    return attr


_S_IFMT = stat.S_IFMT(0o177777)
_S_IFDIR = stat.S_IFDIR


def filesystem_stats(files):
    """statfs: a read-only filesystem holding `files` entries."""
    st = llfuse.StatvfsData()
    st.f_bsize = st.f_frsize = BLOCK_SIZE_HINT
    st.f_blocks = st.f_bfree = st.f_bavail = 0
    st.f_files = files
    st.f_ffree = st.f_favail = 0
    st.f_namemax = NAME_MAX
    return st
