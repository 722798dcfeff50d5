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
from time import perf_counter

import llfuse

from .answers import (FUSE_LOCK, WRITE_OPERATIONS, XATTR_PREFIX, attributes, filesystem_stats, handler,
                      negative, refuse_write, stat_attributes)
from .fs.directory import DIR_MODE, Directory
from .fs.filetable import FileTable
from .fs.files import CollectionFile
from .fs.leaves import LEAF
from .fs.model import Model
from .fs.names import NAME_MAX, NameEncoder
from .fs.pending import PendingName
from .fs.rowtable import DIRECTORY_ROW
from .host.logtext import one_line
from .listed import FEW, LIMIT, ListedNames

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
        self._file_st_mode = stat.S_IFREG | (CollectionFile.mode if file_mode is None else file_mode)
        self._dir_st_mode = stat.S_IFDIR | (DIR_MODE if dir_mode is None else dir_mode)
        # fh -> FileHandle of an open file; fh -> the listing taken at
        # opendir ([(raw name, inode, is_dir)]).  One numbering for both.
        # Guarded by the llfuse lock (only handlers touch them).
        self._filehandles = {}
        self._dirhandles = {}
        self._fh_counter = itertools.count(1)
        self._listed = ListedNames()
        if type(self).lookup is Operations.lookup:  # not if a subclass has its own
            self.lookup = self._listed_lookup()
        if type(self).opendir is Operations.opendir:
            self.opendir = self._row_opendir()
        if type(self).readdir is Operations.readdir:
            self.readdir = self._row_readdir()
        # Set once the mount is up (the seed's name; its users wait on it).
        self.initlock = threading.Event()

    def open_handles(self):
        return len(self._filehandles) + len(self._dirhandles)

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
        return self._row_attributes(table, i, self._file_st_mode, table.size(i))

    def _listed_lookup(self):
        """The lookup handler, in one frame for a name just listed.

        `ls -l` lists a directory and looks up every name it was given: for
        10^6 files, 10^6 requests, each costing the daemon three to four
        times what its Python costs in process (each handler's thread time
        measured in the daemon, empty 10^5: 5.5-7.3 us per lookup, the
        measuring wrapper's clock reads included).  A file or subdirectory of a
        collection's directory listed last (listed.py) is answered here,
        metered as the handlers' wrapper does; anything else, or anything
        that goes wrong, by the handler (`Operations.lookup`), which
        answers it as any request."""
        general = Operations.lookup.__get__(self)
        known_of = self._listed.by_inode.get
        objects = self.inodes.objects()
        table_of = self.inodes.table_of
        touched = self.inodes.tree_cache.touched
        encoding = self.encoding
        files_timeout = self.model.kernel_cache.files_timeout
        file_mode, dir_mode, uid, gid = self._file_st_mode, self._dir_st_mode, self.uid, self.gid
        meter = self.meters['lookup'] if self.meters is not None else None
        latencies = self.latencies

        def lookup(parent_inode, name, ctx=None):
            start = perf_counter()
            known = known_of(parent_inode)
            i = None
            try:
                if known is not None:
                    i = known.index.get(name)
                    if i is None or not known.current():
                        i = None
                    elif i >= 0:
                        table = known.files
                        sizes = known.sizes
                        if sizes is None:
                            sizes = known.sizes = table.sizes()
                        size = sizes[i]
                        mode = file_mode
                    else:
                        i, table, size, mode = ~i, known.subdirs, 0, dir_mode
                    tree = known.tree
                elif parent_inode not in objects and len(name) <= NAME_MAX:
                    # A file of a subdirectory not listed here (most of a
                    # deep tree's hold one file, too few for an index).
                    rows = table_of(parent_inode)
                    if rows is not None and rows.rows_are_directories and not rows.detached:
                        row = parent_inode - rows.base
                        table = rows.states[row]
                        if table is LEAF:  # its one file is row `row` of the table's leaves
                            table = rows.leaves
                            if table.file_names[row] == name.decode(encoding):
                                i, size, mode, tree = row, table.size(row), file_mode, table.tree
                                touched(tree.collection)
                        elif type(table) is FileTable:
                            i = table.find(name.decode(encoding))
                            if i < 0:
                                i = None
                            else:
                                size, mode, tree = table.size(i), file_mode, table.tree
                                touched(tree.collection)
                if i is not None:
                    mtime_ns = tree.collection.mtime_ns()
                    timeout = files_timeout(tree.immutable)
            except Exception:
                i = None  # the handler says what went wrong
            if i is None:
                return general(parent_inode, name, ctx)
            attr = stat_attributes(table.base + i, timeout, mode, size, mtime_ns, mtime_ns, uid, gid)
            table.remember(i)
            if meter is not None:
                took = perf_counter() - start
                meter.count += 1
                meter.seconds += took
                if latencies.on:
                    self.observe('lookup', took, None, None, attr)
            return attr
        return lookup

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
        fh = next(self._fh_counter)
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

    def _row_opendir(self):
        """The opendir handler, in one frame for a subdirectory of a
        collection (a row of a SubdirTable, fs/subdirs.py): a deep tree's
        walk opens a directory per file.  Anything else, or anything that
        goes wrong, takes the handler's way (`Operations.opendir`)."""
        general = Operations.opendir.__get__(self)
        inodes = self.inodes
        objects = inodes.objects()
        table_of = inodes.table_of
        tree_cache = inodes.tree_cache
        misses = self.model.kernel_cache.holds_misses
        row_listing = self._row_listing
        dirhandles = self._dirhandles
        counter = self._fh_counter
        meter = self.meters['opendir'] if self.meters is not None else None
        latencies = self.latencies

        def opendir(inode, ctx=None):
            if inode in objects:
                return general(inode, ctx)
            start = perf_counter()
            table = table_of(inode)
            if table is None or table.rows_are_directories is None or table.detached or misses(inode):
                return general(inode, ctx)
            row = inode - table.base
            try:
                state = table.built(row)
            except Exception:
                return general(inode, ctx)  # the handler says what went wrong
            if type(state) is tuple:
                if not _listed_from_tables(state):
                    return general(inode, ctx)  # listed as one sorted list
                tables = state
            else:
                tables = () if state is None else (state,)
            tree_cache.touched(table.tree.collection)
            fh = next(counter)
            dirhandles[fh] = row_listing(inode, inode, table.parent_inode, tables, state, None, (table.states, row))
            if meter is not None:
                took = perf_counter() - start
                meter.count += 1
                meter.seconds += took
                if latencies.on:
                    self.observe('opendir', took, None, None, fh)
            return fh
        return opendir

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
        if tables and _listed_from_tables(tables):
            if holds_misses:
                kernel_cache.listed(inode, [name for table in tables for name in table.names()])  # misses no more
            listing = self._row_listing(inode, here, parent_inode, tables, entry.ready_rows(), entry)
        else:
            names = entry.kernel_listing()
            plain = list(map(_first, names))
            if holds_misses:
                kernel_cache.listed(inode, plain)
            raws = self.names.encode_all(plain)
            listing = _dots(here, parent_inode)
            if None in raws:  # names the kernel is not shown
                listing.extend([(raw, child, is_dir) for (_name, child, is_dir), raw in zip(names, raws)
                                if raw is not None])
            else:
                listing.extend(zip(raws, map(_second, names), map(_third, names)))
            rows = entry.ready_rows()
            if rows is not None:  # `ls -l` looks up what it was listed next
                self._listed.remember(inode, entry, rows, raws, names)
        fh = next(self._fh_counter)
        self._dirhandles[fh] = listing
        return fh

    def _row_listing(self, inode, here, parent_inode, tables, rows, directory, slot=None):
        """The RowListing of directory `here`, opened as `inode`, listed from
        its row `tables` (_listed_from_tables).  One table of at most LIMIT
        rows is encoded now and its names remembered for the lookups that
        follow (`ls -l`): `rows` is what the directory shows
        (Entry.ready_rows; None: not to be remembered), `directory` and
        `slot` as ListedNames.remember."""
        raws = None
        if len(tables) == 1 and len(tables[0]) <= LIMIT:
            table = tables[0]
            raws = self.names.encode_all(table.names())
            # Not the call for a few files, which remember() declines (most
            # of a deep tree's directories hold one).
            if rows is not None and (len(table) >= FEW or table.rows_are_directories):
                self._listed.remember(inode, directory, rows, raws, None, slot)
        return RowListing(_dots(here, parent_inode), tables, raws)

    def _row_readdir(self):
        """The readdir handler, in one frame for a listing of rows (a deep
        tree's walk reads two per directory).  Its entries come from a
        generator, which the handlers' wrapper would not guard anyway."""
        general = Operations.readdir.__get__(self)
        dirhandles = self._dirhandles
        encode_all = self.names.encode_all
        meter = self.meters['readdir'] if self.meters is not None else None
        latencies = self.latencies

        def readdir(fh, off):
            start = perf_counter()
            listing = dirhandles.get(fh)
            if type(listing) is not RowListing:
                return general(fh, off)
            entries = listing.entries(off, encode_all)
            if meter is not None:
                took = perf_counter() - start
                meter.count += 1
                meter.seconds += took
                if latencies.on:
                    self.observe('readdir', took, None, None, entries)
            return entries
        return readdir

    @handler
    def readdir(self, fh, off):
        listing = self._dirhandles.get(fh)
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
        self._dirhandles.pop(fh, None)

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


class RowListing(object):
    """What opendir took of a collection's directory listed from its row
    tables (fs/rowtable.py): `.` and `..`, the tables (subdirectories
    first), and the raw names when it needed them anyway (one table of at
    most listed.LIMIT rows); otherwise names are encoded as the kernel reads
    them, a few hundred at a time.  A table's names and numbers never
    change, so this is the listing as it was at opendir even if the
    collection is reloaded meanwhile."""

    __slots__ = ('dots', 'tables', 'raws')

    def __init__(self, dots, tables, raws):
        self.dots = dots
        self.tables = tables
        self.raws = raws

    def entries(self, off, encode_all):
        """(raw name, attributes, next offset) from offset `off`: `.` and
        `..` are 0 and 1, row i of the listing is i + 2 (a name the kernel
        is not shown is skipped, the others keep their offsets).  An entry
        carries only the inode number and the file type (libfuse 2 has no
        readdirplus).

        One attributes object serves every entry, changed before each is
        given: llfuse copies an entry into the kernel's buffer before it
        asks for the next (an object per entry: packed 10^5 in process,
        bench/handlers.py, 43.9 against 34.1 us per 100-file directory
        warm).  Whoever keeps entries must copy what it needs first."""
        attr = llfuse.EntryAttributes()
        attr.st_mode = stat.S_IFDIR
        for i in range(off, 2):
            name, inode, _kind = self.dots[i]
            attr.st_ino = inode
            yield name, attr, i + 1
        start = max(off - 2, 0)
        raws = self.raws
        if raws is not None:  # one table
            table = self.tables[0]
            base = table.base
            attr.st_mode = stat.S_IFREG if table.rows_are_directories is None else stat.S_IFDIR
            for i in range(start, len(raws)):
                raw = raws[i]
                if raw is not None:
                    attr.st_ino = base + i
                    yield raw, attr, i + 3
            return
        before = 0  # rows of the tables before this one
        for table in self.tables:
            count = len(table)
            if start < before + count:
                base = table.base
                local = max(start - before, 0)
                attr.st_mode = stat.S_IFREG if table.rows_are_directories is None else stat.S_IFDIR
                for first, raws in ((first, encode_all(names)) for first, names in table.name_chunks(local)):
                    for j in range(max(local - first, 0), len(raws)):
                        raw = raws[j]
                        if raw is not None:
                            i = first + j
                            attr.st_ino = base + i
                            yield raw, attr, before + i + 3
            before += count


def _dots(here, parent_inode):
    # Both stay while the directory is open (its dentry pins its parent's):
    # not looked for in readdir, as rows are not.
    return [(b'.', here, DIRECTORY_ROW), (b'..', parent_inode, DIRECTORY_ROW)]


def _listed_from_tables(tables):
    """Whether a directory showing row `tables` (subdirectories first) is
    listed from them (RowListing), not as one sorted list of tuples: rows
    of one kind, or more than LIMIT of both (a directory of 10^6 files held
    ~145 MiB of tuples open)."""
    return len(tables) == 1 or len(tables[0]) + len(tables[1]) > LIMIT


def _refusal(name):
    def refuse(self, *args):
        return refuse_write(self, *args)
    refuse.__name__ = name
    return handler(refuse)


for _name in WRITE_OPERATIONS:
    setattr(Operations, _name, _refusal(_name))
