"""The llfuse adapter: kernel requests in, model calls out, and nothing else.

Each handler turns llfuse's arguments into model calls (fs/) and the
model's answers into llfuse's: attributes, listings, bytes, errno values.
What keeps the model fresh lives in fs/ (refresh.py, kernelcache.py,
changes.py), built together by `fs.model.Model`.

llfuse runs every handler holding one global lock (FUSE_LOCK to the model).
Model calls that may wait (a refresh, a lookup of a name not listed, a read
of a block not yet here) give it up while they wait, so one slow server
never freezes the mount.  A handler never lets an exception escape into
llfuse (which would end the main loop): answers the model decided arrive as
`errors.Answered`, anything unexpected is logged and answered with EIO.
"""

import errno
import itertools
import logging
import os
import stat
import threading
from operator import itemgetter

import llfuse

from . import rowhandlers
from .answers import (FUSE_LOCK, WRITE_OPERATIONS, XATTR_PREFIX, attributes, filesystem_stats, handler,
                      negative, refuse_write, stat_attributes)
from .fs.directory import DIR_MODE, Directory
from .fs.files import CollectionFile
from .fs.model import Model
from .fs.names import NAME_MAX, NameEncoder
from .fs.pending import PendingName
from .host.logtext import one_line
from .listed import ListedNames
from .rowhandlers import RowListing, dots, listed_from_tables, row_listing

_logger = logging.getLogger('arvados.arvados_fuse')

_first, _second, _third = itemgetter(0), itemgetter(1), itemgetter(2)


class FileHandle(object):
    """Connects a numeric file handle to an open File, or to a directory
    listing snapshot taken at opendir."""

    def __init__(self, fh, entry):
        self.fh = fh
        self.entry = entry


class Operations(llfuse.Operations):
    """Serves `model` (built here if not given, as the seed's
    `Operations(uid, gid)` did); `inodes` is its inode table.  `file_mode`,
    `dir_mode`: --file-mode, --dir-mode (None: each kind's own)."""

    # Every request counted and timed when set (instrumented.py; see
    # answers.handler).
    meters = None
    latencies = None

    def __init__(self, uid, gid, encoding='utf-8', *, refresh_time=15, model=None, file_mode=None, dir_mode=None):
        super(Operations, self).__init__()
        self.model = model if model is not None else Model(FUSE_LOCK, refresh_time)
        self.inodes = self.model.inodes
        self.uid = uid
        self.gid = gid
        self.file_mode = file_mode
        self.dir_mode = dir_mode
        self.encoding = encoding
        self.names = NameEncoder(encoding)
        self.file_st_mode = stat.S_IFREG | (CollectionFile.mode if file_mode is None else file_mode)
        self.dir_st_mode = stat.S_IFDIR | (DIR_MODE if dir_mode is None else dir_mode)
        # fh -> FileHandle of an open file; fh -> the listing taken at
        # opendir ([(raw name, inode, is_dir)]).  One numbering for both.
        # Guarded by the llfuse lock (only handlers touch them).
        self._filehandles = {}
        self.dirhandles = {}
        self.fh_counter = itertools.count(1)
        self.listed = ListedNames()
        # The walk's requests, in one frame for rows (rowhandlers.py); not
        # if a subclass has its own.
        if type(self).lookup is Operations.lookup:
            self.lookup = rowhandlers.lookup_handler(self, Operations.lookup.__get__(self))
        if type(self).opendir is Operations.opendir:
            self.opendir = rowhandlers.opendir_handler(self, Operations.opendir.__get__(self))
        if type(self).readdir is Operations.readdir:
            self.readdir = rowhandlers.readdir_handler(self, Operations.readdir.__get__(self))
        # Set once the mount is up (the seed's name; its users wait on it).
        self.initlock = threading.Event()

    def open_handles(self):
        return len(self._filehandles) + len(self.dirhandles)

    def init(self):
        self.model.start(self._send_invalidation)
        self.initlock.set()

    def destroy(self):
        self.model.stop()

    def _send_invalidation(self, inode, name):
        """In the invalidation thread (fs/kernelcache.py), without the lock."""
        if name is None:
            llfuse.invalidate_inode(inode)
            return
        raw = self.names.encode(name)
        if raw is not None:
            llfuse.invalidate_entry(inode, raw)

    def _entry(self, inode):
        """The entry behind `inode`.  If it stands for a by_id lookup still
        in flight, RELEASES THE LOCK until that lookup ends."""
        entry = self.inodes.get(inode)
        if entry is None:
            raise llfuse.FUSEError(errno.ENOENT)
        if type(entry) is PendingName:
            return self.model.refresher.settled(entry)
        return entry

    def _attributes(self, entry):
        return attributes(entry, self.model.kernel_cache.timeout(entry), self.uid, self.gid,
                          self.file_mode, self.dir_mode)

    @handler
    def getattr(self, inode, ctx=None):
        attr = self._attributes(self._entry(inode))
        attr.st_ino = inode  # a settled PendingName answers under its own number
        return attr

    def _row_attributes(self, table, i, st_mode, size):
        """Attributes of row `i` of a collection's table (rowtable.py): its
        times are the collection's."""
        tree = table.tree
        mtime_ns = tree.collection.mtime_ns()
        return stat_attributes(table.base + i, self.model.kernel_cache.files_timeout(tree.immutable),
                               st_mode, size, mtime_ns, mtime_ns, self.uid, self.gid)

    def _file_attributes(self, table, i):
        return self._row_attributes(table, i, self.file_st_mode, table.size(i))

    @handler
    def lookup(self, parent_inode, name, ctx=None):
        parent = self._entry(parent_inode)
        # The files of a built collection directory (a FileTable): `ls -l`
        # of 10^6 files asks this 10^6 times, so it is answered in a few
        # calls.  Anything else (directories, the record file, misses, a
        # directory that must refresh first) takes the general way below.
        table = parent.ready_files()
        if table is not None:
            try:
                i = table.find(name.decode(self.encoding)) if len(name) <= NAME_MAX else -1
            except UnicodeError:
                i = -1
            if i >= 0:
                attr = self._file_attributes(table, i)
                table.remember(i)  # once nothing can fail
                return attr
        if name == b'.':
            entry = parent
        elif name == b'..':
            entry = self._entry(parent.parent_inode)
        else:
            if not isinstance(parent, Directory):
                raise llfuse.FUSEError(errno.ENOTDIR)
            if len(name) > NAME_MAX:
                raise llfuse.FUSEError(errno.ENAMETOOLONG)
            text = self.names.decode(name)
            if text is None or parent.detached:
                # A detached directory's object is gone: nothing below it,
                # not even its (freed) record file.
                raise llfuse.FUSEError(errno.ENOENT)
            generation = parent.generation()
            entry = self.model.refresher.lookup(parent, text)  # may release the lock
            if entry is None:  # a miss the kernel may cache (--negative-cache-ttl)
                ttl = self.model.kernel_cache.cache_miss(parent, text, generation)
                if not ttl:
                    raise llfuse.FUSEError(errno.ENOENT)
                return negative(ttl)
        self.inodes.remember_entry(entry)
        return self._attributes(entry)

    @handler
    def forget(self, inode_list):
        for inode, nlookup in inode_list:
            self.inodes.forget(inode, nlookup)

    @handler
    def open(self, inode, flags, ctx=None):
        entry = self._entry(inode)
        if isinstance(entry, Directory):
            raise llfuse.FUSEError(errno.EISDIR)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT):
            raise llfuse.FUSEError(errno.EROFS)
        fh = next(self.fh_counter)
        self._filehandles[fh] = FileHandle(fh, entry)
        return fh

    @handler
    def read(self, fh, off, size):
        handle = self._filehandles.get(fh)
        if handle is None:
            raise llfuse.FUSEError(errno.EBADF)
        entry = handle.entry
        try:
            # Most reads are served from the block the file already holds:
            # no need to give up the lock (and wake other threads) for those.
            data = entry.read_now(off, size)
            if data is not None:
                return data
            with llfuse.lock_released:  # Keep may be slow
                return entry.readfrom(off, size)
        except Exception as e:
            _logger.warning('read of inode %d at %d failed: %s', entry.inode, off, one_line(e, named=True, limit=400))
            raise llfuse.FUSEError(errno.EIO)

    @handler
    def release(self, fh):
        handle = self._filehandles.pop(fh, None)
        if handle is not None:
            handle.entry.closed()

    @handler
    def opendir(self, inode, ctx=None):
        entry = self._entry(inode)
        if not isinstance(entry, Directory):
            raise llfuse.FUSEError(errno.ENOTDIR)
        self.model.refresher.refresh(entry)  # releases the lock if stale
        here = entry.inode
        parent_inode = entry.parent_inode
        if entry.detached and parent_inode not in self.inodes:
            parent_inode = here  # its parent is gone: `..` is itself
        entry.accessed()
        kernel_cache = self.model.kernel_cache
        holds_misses = kernel_cache.holds_misses(inode)
        tables = entry.row_tables()
        if tables and listed_from_tables(tables):
            if holds_misses:
                kernel_cache.listed(inode, [name for table in tables for name in table.names()])  # misses no more
            listing = row_listing(self, inode, here, parent_inode, tables, entry.ready_rows(), entry)
        else:
            names = entry.kernel_listing()
            plain = list(map(_first, names))
            if holds_misses:
                kernel_cache.listed(inode, plain)
            raws = self.names.encode_all(plain)
            listing = dots(here, parent_inode)
            if None in raws:  # names the kernel is not shown
                listing.extend([(raw, child, is_dir) for (_name, child, is_dir), raw in zip(names, raws)
                                if raw is not None])
            else:
                listing.extend(zip(raws, map(_second, names), map(_third, names)))
            rows = entry.ready_rows()
            if rows is not None:  # `ls -l` looks up what it was listed next
                self.listed.remember(inode, entry, rows, raws, names)
        fh = next(self.fh_counter)
        self.dirhandles[fh] = listing
        return fh

    @handler
    def readdir(self, fh, off):
        listing = self.dirhandles.get(fh)
        if listing is None:
            raise llfuse.FUSEError(errno.EBADF)
        return self._readdir_entries(listing, off)

    def _readdir_entries(self, listing, off):
        if type(listing) is RowListing:
            return listing.entries(off, self.names.encode_all)
        return self._listed_entries(listing, off)

    def _listed_entries(self, listing, off):
        # A generator, so a huge directory is only turned into entries as far
        # as the kernel's buffer reaches.  Inode numbers are never reused,
        # so one removed since opendir names nothing else; an entry is left
        # out all the same (a row of a table, is_dir None or DIRECTORY_ROW,
        # is not looked for: 10^6 of them).
        inodes = self.inodes
        attr = llfuse.EntryAttributes()  # one for all, as RowListing.entries
        for i in range(off, len(listing)):
            name, child, is_dir = listing[i]
            if (is_dir is True or is_dir is False) and child not in inodes:
                continue
            attr.st_ino = child
            attr.st_mode = stat.S_IFDIR if is_dir else stat.S_IFREG
            yield name, attr, i + 1

    @handler
    def releasedir(self, fh):
        self.dirhandles.pop(fh, None)

    @handler
    def statfs(self, ctx=None):
        # What the tree holds; not what was removed but is still held.
        return filesystem_stats(self.inodes.live_count())

    @handler
    def getxattr(self, inode, name, ctx=None):
        # `ls -l` asks every file for security.selinux and
        # system.posix_acl_access.  ENOTSUP says the namespace is not
        # supported at all, which ls remembers for the whole filesystem, so
        # it stops asking (ENOATTR would cost a round trip per file).
        if not name.startswith(b'user.'):
            raise llfuse.FUSEError(errno.ENOTSUP)
        if not name.startswith(XATTR_PREFIX):
            raise llfuse.FUSEError(llfuse.ENOATTR)
        value = self._entry(inode).xattrs().get(name.decode('utf-8', 'replace'))
        if value is None:
            raise llfuse.FUSEError(llfuse.ENOATTR)
        return value.encode('utf-8')

    @handler
    def listxattr(self, inode, ctx=None):
        return [k.encode('utf-8') for k in sorted(self._entry(inode).xattrs())]

    @handler
    def access(self, inode, mode, ctx=None):
        self._entry(inode)
        if mode & os.W_OK:
            raise llfuse.FUSEError(errno.EROFS)
        return True


def _refusal(name):
    def refuse(self, *args):
        return refuse_write(self, *args)
    refuse.__name__ = name
    return handler(refuse)


for _name in WRITE_OPERATIONS:
    setattr(Operations, _name, _refusal(_name))
