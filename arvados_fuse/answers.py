"""The model's answers in llfuse's terms, for the adapter (operations.py):
errors as errno values, entries as attributes, the global lock as the
model's GlobalLock (fs/lock.py), and the refusal of every write."""

import errno
import functools
import logging
import stat

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
    loop never dies."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except llfuse.FUSEError:
            raise
        except Answered as e:
            raise llfuse.FUSEError(to_errno(e)) from e
        except Exception:
            _logger.exception('unexpected error in %s', fn.__name__)
            raise llfuse.FUSEError(errno.EIO)
    return wrapper


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
    attr = llfuse.EntryAttributes()
    attr.st_ino = entry.inode
    attr.generation = 0
    attr.entry_timeout = attr.attr_timeout = timeout
    mode = entry.st_mode()
    if stat.S_ISDIR(mode):
        if dir_mode is not None:
            mode = stat.S_IFDIR | dir_mode
    elif file_mode is not None:
        mode = stat.S_IFMT(mode) | file_mode
    attr.st_mode = mode
    attr.st_nlink = 2 if stat.S_ISDIR(attr.st_mode) else 1
    attr.st_uid = uid
    attr.st_gid = gid
    attr.st_rdev = 0
    size = entry.size()
    attr.st_size = size
    attr.st_blksize = BLOCK_SIZE_HINT
    attr.st_blocks = (size + 511) // 512
    mtime_ns = int(entry.mtime() * 1e9)
    attr.st_atime_ns = int(entry.atime() * 1e9)
    attr.st_mtime_ns = attr.st_ctime_ns = mtime_ns
    return attr


def filesystem_stats(files):
    """statfs: a read-only filesystem holding `files` entries."""
    st = llfuse.StatvfsData()
    st.f_bsize = st.f_frsize = BLOCK_SIZE_HINT
    st.f_blocks = st.f_bfree = st.f_bavail = 0
    st.f_files = files
    st.f_ffree = st.f_favail = 0
    st.f_namemax = NAME_MAX
    return st
