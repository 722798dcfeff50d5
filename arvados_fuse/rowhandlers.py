"""The handlers of the requests a walk makes most, each in one Python frame
for the rows of a collection's tables (fs/rowtable.py), installed per
instance by `Operations` (operations.py) over its own general handlers,
which answer anything else and anything that goes wrong.

Why a frame: `ls -lR` of 10^6 files makes 10^6 lookups, and a deep tree's
walk opens and reads a directory per file; each request costs the daemon
three to four times what its Python costs in process, and a call or an
attribute lookup is most of a lookup's cost.  Each handler here meters
itself as the handlers' wrapper (answers.handler) does, the same six
lines in each: a helper would be the call the frame is there to save.  `RowListing` is a
directory's listing kept as its tables, read by both this readdir and the
general one.

They read and fill the adapter's own tables (its directory handles, the
names listed last): the adapter in two modules, one of them this.
Guarded by the llfuse lock (only handlers run these).
"""

import stat
from time import perf_counter

import llfuse

from .answers import BLOCK_SIZE_HINT
from .fs.filetable import FileTable
from .fs.leaves import LEAF
from .fs.names import NAME_MAX
from .fs.rowtable import DIRECTORY_ROW
from .listed import FEW, LIMIT


def lookup_handler(ops, general):
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
    known_of = ops.listed.by_inode.get
    objects = ops.inodes.objects()
    table_of = ops.inodes.table_of
    touched = ops.inodes.tree_cache.touched
    encoding = ops.encoding
    files_timeout = ops.model.kernel_cache.files_timeout
    file_mode, dir_mode, uid, gid = ops.file_st_mode, ops.dir_st_mode, ops.uid, ops.gid
    meter = ops.meters['lookup'] if ops.meters is not None else None
    latencies = ops.latencies
    entry_attributes = llfuse.EntryAttributes

    def lookup(parent_inode, name, ctx=None):
        start = perf_counter()
        known = known_of(parent_inode)
        i = None
        try:
            if known is not None:
                i = known.index.get(name)
                if i is not None:
                    slot = known.slot  # known.current(), in this frame
                    if (slot[known.at] if slot is not None else known.directory.ready_rows()) is not known.rows:
                        i = None
                    elif i >= 0:
                        table = known.files
                        sizes = known.sizes
                        if sizes is None:
                            sizes = known.sizes = table.sizes()
                        size, mode, nlink = sizes[i], file_mode, 1
                    else:
                        i, table, size, mode, nlink = ~i, known.subdirs, 0, dir_mode, 2
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
                        if table.file_name(row) == name.decode(encoding):
                            i, size, mode, nlink, tree = row, table.size(row), file_mode, 1, table.tree
                            touched(tree.collection)
                    elif type(table) is FileTable:
                        i = table.find(name.decode(encoding))
                        if i < 0:
                            i = None
                        else:
                            size, mode, nlink, tree = table.size(i), file_mode, 1, table.tree
                            touched(tree.collection)
            if i is not None:
                mtime_ns = tree.collection.mtime_ns()
                timeout = files_timeout(tree.immutable)
        except Exception:
            i = None  # the handler says what went wrong
        if i is None:
            return general(parent_inode, name, ctx)
        attr = entry_attributes()  # answers.stat_attributes, in this frame
        attr.st_ino = table.base + i
        attr.entry_timeout = attr.attr_timeout = timeout
        attr.st_mode = mode
        attr.st_nlink = nlink
        attr.st_uid = uid
        attr.st_gid = gid
        attr.st_size = size
        attr.st_blksize = BLOCK_SIZE_HINT
        attr.st_blocks = (size + 511) // 512
        attr.st_atime_ns = attr.st_mtime_ns = attr.st_ctime_ns = mtime_ns
        table.remember(i)
        if meter is not None:
            took = perf_counter() - start
            meter.count += 1
            meter.seconds += took
            if latencies.on:
                ops.observe('lookup', took, None, None, attr)
        return attr
    return lookup


def opendir_handler(ops, general):
    """The opendir handler, in one frame for a subdirectory of a
    collection (a row of a SubdirTable, fs/subdirs.py): a deep tree's
    walk opens a directory per file.  Anything else, or anything that
    goes wrong, takes the handler's way (`Operations.opendir`)."""
    inodes = ops.inodes
    objects = inodes.objects()
    table_of = inodes.table_of
    tree_cache = inodes.tree_cache
    misses = ops.model.kernel_cache.holds_misses
    dirhandles = ops.dirhandles
    counter = ops.fh_counter
    meter = ops.meters['opendir'] if ops.meters is not None else None
    latencies = ops.latencies

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
            if not listed_from_tables(state):
                return general(inode, ctx)  # listed as one sorted list
            tables = state
        else:
            tables = () if state is None else (state,)
        tree_cache.touched(table.tree.collection)
        fh = next(counter)
        dirhandles[fh] = row_listing(ops, inode, inode, table.parent_inode, tables, state, None, (table.states, row))
        if meter is not None:
            took = perf_counter() - start
            meter.count += 1
            meter.seconds += took
            if latencies.on:
                ops.observe('opendir', took, None, None, fh)
        return fh
    return opendir


def row_listing(ops, inode, here, parent_inode, tables, rows, directory, slot=None):
    """The RowListing of directory `here`, opened as `inode`, listed from
    its row `tables` (listed_from_tables).  One table of at most LIMIT
    rows is encoded now and its names remembered for the lookups that
    follow (`ls -l`): `rows` is what the directory shows
    (Entry.ready_rows; None: not to be remembered), `directory` and
    `slot` as ListedNames.remember."""
    raws = None
    if len(tables) == 1:
        table = tables[0]
        count = len(table)
        if count <= LIMIT:
            # One name (most of a deep tree's directories): no strings to
            # encode it from.
            raws = ops.names.encode_rows(table) if count > 1 else ops.names.encode_all(table.names())
            # Not the call for a few files, which remember() declines.
            if rows is not None and (count >= FEW or table.rows_are_directories):
                ops.listed.remember(inode, directory, rows, raws, None, slot)
    return RowListing(dots(here, parent_inode), tables, raws)


def readdir_handler(ops, general):
    """The readdir handler, in one frame for a listing of rows (a deep
    tree's walk reads two per directory).  Its entries come from a
    generator, which the handlers' wrapper would not guard anyway."""
    dirhandles = ops.dirhandles
    encode_all = ops.names.encode_all
    meter = ops.meters['readdir'] if ops.meters is not None else None
    latencies = ops.latencies

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
                ops.observe('readdir', took, None, None, entries)
        return entries
    return readdir


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


def dots(here, parent_inode):
    # Both stay while the directory is open (its dentry pins its parent's):
    # not looked for in readdir, as rows are not.
    return [(b'.', here, DIRECTORY_ROW), (b'..', parent_inode, DIRECTORY_ROW)]


def listed_from_tables(tables):
    """Whether a directory showing row `tables` (subdirectories first) is
    listed from them (RowListing), not as one sorted list of tuples: rows
    of one kind, or more than LIMIT of both (a directory of 10^6 files held
    ~145 MiB of tuples open)."""
    return len(tables) == 1 or len(tables[0]) + len(tables[1]) > LIMIT


