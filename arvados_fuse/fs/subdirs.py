"""The directories of a collection: built as the kernel asks, and kept as
rows, with no object per directory.

A deep tree has a directory per file or more, and `ls -lR` looks up, opens
and lists every one, after which the kernel holds them all: an object per
directory (its slots, entries dict, inode-table slot) cost ~850 bytes with
its files, 89.6 MiB for 10^5 files five deep after an `ls -lR` walk
(`bench/handlers.py --shapes deep --traced`: tracemalloc, the handlers
driven in process); 32.5 MiB as rows.  Here the subdirectories of a
directory are the rows of one `SubdirTable` (names, inode range, lookup
counts: rowtable.py) and what each shows is one slot of a list, its
*state*:

    ManifestDir                 not built: its entries are made from the
                                parsed manifest when first asked for
    None                        built, empty
    LEAF                        one file, row i of the table's `leaves`
                                (leaves.py; shown as a Leaf)
    FileTable                   its files (filetable.py)
    SubdirTable                 its subdirectories
    (SubdirTable, FileTable)    both

`CollectionSubdirectory` is a view of one row, made when a request needs
it and dropped after, like `CollectionFile`; the collection itself
(collection.py) keeps the state of its top directory in a slot.

Guarded by the llfuse lock, like the inode table.
"""

import bisect
import logging
from itertools import islice
from operator import eq

from ..blocks.manifest import ManifestDir, ManifestError, ascending, deferred, gc_paused, one_segment
from .directory import NO_NAMES, Directory
from .filetable import FileTable
from .fresh import DEFAULT_POLL_TIME
from .leaves import LEAF, Leaf, LeafFiles
from .names import sanitize_filename
from .rowtable import DIRECTORY_ROW, RowTable

_logger = logging.getLogger('arvados.arvados_fuse')


class SubdirTable(RowTable):
    """The subdirectories of one directory of a collection."""

    __slots__ = ('states', 'leaves')

    rows_are_directories = DIRECTORY_ROW

    def __init__(self, parent_inode, tree, names, mdirs):
        """names: sorted, unique, sanitized; mdirs[i]: the ManifestDir of
        names[i], built when first visited."""
        super(SubdirTable, self).__init__(parent_inode, tree, names)
        self.states = mdirs
        self.leaves = None  # LeafFiles, once a row is a directory of one file

    def entry_at(self, i):
        return CollectionSubdirectory(self, i)

    def built(self, i):
        """What row `i` shows, built first if need be (see above); a Leaf
        for LEAF."""
        states = self.states
        state = states[i]
        if type(state) is ManifestDir:
            tree = self.tree
            one = state.one_file()
            if one is not None:  # most of a deep tree's: a row of `leaves`
                name, segment = one
                leaves = self.leaves
                if leaves is None:
                    leaves = self.leaves = tree.collection.inodes.add_rows(LeafFiles(self))
                leaves.add(i, sanitize_filename(name) if _bad_name(name) else name, segment)
                states[i] = LEAF
                return Leaf(leaves, i)
            with gc_paused():
                state = build(state, tree, tree.collection.inodes, self.base + i, self._describer(i))
            states[i] = state
        elif state is LEAF:
            return Leaf(self.leaves, i)
        return state

    def state_at(self, i):
        """What row `i` shows if built (a Leaf for LEAF), or its ManifestDir."""
        state = self.states[i]
        return Leaf(self.leaves, i) if state is LEAF else state

    def _describer(self, i):
        return lambda: CollectionSubdirectory(self, i).describe()

    def take_below(self):
        out = []
        for state in self.states:
            if state is None or state is LEAF or type(state) is ManifestDir:
                continue
            out.extend(table for table in parts(state) if table is not None)
        if self.leaves is not None:
            out.append(self.leaves)
        # A row the kernel still holds shows an empty directory from now on;
        # the same list, as a listing's lookups hold it (state_slot).
        self.states[:] = [None] * len(self.states)
        return out


def parts(state):
    """(SubdirTable or None, FileTable or None) of a built state."""
    if state is None:
        return None, None
    kind = type(state)
    if kind is FileTable or kind is Leaf:
        return None, state
    if kind is SubdirTable:
        return state, None
    return state


def _state_of(subdirs, files):
    if subdirs is None:
        return files
    if files is None:
        return subdirs
    return (subdirs, files)


def build(mdir, tree, inodes, inode, describe):
    """The state of directory `inode` made from the ManifestDir `mdir`: its
    rows added to the inode table.  Directories win over files when
    sanitizing makes two names equal; within a kind, sorted order decides.
    Deterministic either way."""
    one = mdir.one_file()
    if one is not None:  # most of a deep tree's directories
        return _one_file_table(inode, tree, inodes, one)
    subdirs = None
    dirs = mdir.built_subdirs()
    if mdir.has_packed_leaves():
        if not dirs:  # a deep tree's: leaves alone
            subdirs = _leaves_only(mdir.leaf_columns(), tree, inodes, inode)
        if subdirs is None:
            subdirs = _with_leaves(dirs, mdir.leaf_lines(), tree, inodes, inode)
        if subdirs is None:  # names to sanitize, or a leaf's name twice: as ManifestDirs
            dirs = mdir.dirs
    taken = None  # the names of its subdirectories, once its files need them
    if dirs and subdirs is None:
        dir_names = sorted(dirs)
        if _needs_sanitizing(dir_names):
            kept = {}
            for name in dir_names:
                clean = sanitize_filename(name)
                if clean in kept:
                    _logger.info('%s: %r clashes with another name after sanitizing; left out', describe(), name)
                    continue
                kept[clean] = dirs[name]
            dir_names = sorted(kept)
            mdirs = [kept[name] for name in dir_names]
        else:
            mdirs = [dirs[name] for name in dir_names]
        subdirs = inodes.add_rows(SubdirTable(inode, tree, dir_names, mdirs))
        taken = set(dir_names)
    try:
        names = mdir.file_names()  # the segments when a size is first asked for
        if names:
            taken = _taken(subdirs, taken)
            if not (taken and not taken.isdisjoint(names)) and not _needs_sanitizing(names):
                return _state_of(subdirs, inodes.add_rows(FileTable(inode, tree, names, later=mdir)))
        files = mdir.files
    except ManifestError as e:
        # Only this directory's files are lost, none is half made.
        _logger.warning('%s: a directory of its manifest is malformed (%s); its files are not shown',
                        tree.collection.describe(), e)
        files = {}
    if not files:
        return subdirs
    names = sorted(files)
    taken = _taken(subdirs, taken)
    if taken or _needs_sanitizing(names):
        names, pieces = _sanitized(names, files, taken or (), describe)
    else:
        pieces = [files[name] for name in names]
    return _state_of(subdirs, inodes.add_rows(FileTable(inode, tree, names, pieces)))


def _taken(subdirs, taken):
    if taken is None and subdirs is not None:
        return set(subdirs.names())
    return taken


def _leaves_only(columns, tree, inodes, inode):
    """The SubdirTable of directory `inode` whose subdirectories are all
    packed leaves of one plain segment each, from their `columns`
    (ManifestDir.leaf_columns), every row a row of its LeafFiles; None
    unless they are that and their names are in order, unique and need
    no sanitizing (the manifest's order: the usual case)."""
    if columns is None:
        return None
    names, stream, positions, lengths, file_names = columns
    if not ascending(names) or _needs_sanitizing(names):
        return None
    subdirs = inodes.add_rows(SubdirTable(inode, tree, names, [LEAF] * len(names)))
    subdirs.leaves = inodes.add_rows(LeafFiles(subdirs))
    if _needs_sanitizing(sorted(set(file_names))):
        file_names = [sanitize_filename(name) if _bad_name(name) else name for name in file_names]
    subdirs.leaves.fill_columns(file_names, stream.sid, positions, lengths)
    return subdirs


def _with_leaves(dirs, leaf_lines, tree, inodes, inode):
    """The SubdirTable of directory `inode`, whose subdirectories are the
    ManifestDirs `dirs` and the packed leaves `leaf_lines` (manifest.py):
    a leaf of one plain segment a row of its LeafFiles at once, any other
    a ManifestDir of its line.  None when a name needs sanitizing or
    names two of them: the caller makes ManifestDirs of them all."""
    names = list(dirs)
    names.extend(name for name, _stream, _rest in leaf_lines)
    order = sorted(range(len(names)), key=names.__getitem__)
    sorted_names = list(map(names.__getitem__, order))
    if any(map(eq, islice(sorted_names, 1, None), sorted_names)) or _needs_sanitizing(sorted_names):
        return None
    mdirs = list(dirs.values())
    first_leaf = len(mdirs)
    states = [LEAF] * len(order)  # no room to spare, as a list grown by append keeps
    ones = []
    for i, k in enumerate(order):
        if k < first_leaf:
            states[i] = mdirs[k]
            continue
        _name, stream, rest = leaf_lines[k - first_leaf]
        one = one_segment(stream, rest)
        if one is None:
            states[i] = deferred(stream, rest)
        else:
            ones.append((i, one))
    subdirs = inodes.add_rows(SubdirTable(inode, tree, sorted_names, states))
    if ones:
        subdirs.leaves = inodes.add_rows(LeafFiles(subdirs))
        subdirs.leaves.fill(ones, _bad_name, sanitize_filename)
    return subdirs


def _one_file_table(inode, tree, inodes, one):
    """The state of directory `inode` when it holds one file, (name,
    segment): ManifestDir.one_file."""
    name, segment = one
    if _bad_name(name):
        name = sanitize_filename(name)
    return inodes.add_rows(FileTable(inode, tree, [name], [segment]))


def _sanitized(names, files, taken, describe):
    kept = {}
    for name in names:
        clean = sanitize_filename(name)
        if clean in taken or clean in kept:
            _logger.info('%s: %r clashes with another name after sanitizing; left out', describe(), name)
            continue
        kept[clean] = files[name]
    clean_names = sorted(kept)
    return clean_names, [kept[name] for name in clean_names]


def _needs_sanitizing(names):
    """Whether any of `names` (sorted) is not a name Linux can hold as it is."""
    if len(names) == 1:  # most directories of a deep tree
        return _bad_name(names[0])
    at = bisect.bisect_left(names, '.')
    if names[0] == '' or names[at:at + 2] and names[at] in ('.', '..') or names[at + 1:at + 2] == ['..']:
        return True
    joined = '\n'.join(names)
    return '\x00' in joined or '/' in joined


def _bad_name(name):
    return name in ('', '.', '..') or '\x00' in name or '/' in name


class LazyTreeDirectory(Directory):
    """A directory of a collection whose entries are made from the parsed
    manifest the first time anything asks for them: `ls` of a collection
    of 10^6 files builds its top level, not the whole tree, and no request
    waits behind the building of directories nobody visited.  `_state` is
    what it shows (see above), `_tree` the CollectionTree (collection.py)
    its rows share."""

    __slots__ = ('_state', '_tree')

    def _init_tree(self):
        self._state = None
        self._tree = None

    def build_later(self, mdir, tree):
        """Fill it from the manifest directory `mdir` when first asked."""
        self._state = mdir
        self._tree = tree

    def _built(self):
        """(SubdirTable or None, FileTable or None), built first if need be."""
        state = self._state
        if type(state) is ManifestDir:
            with gc_paused():
                state = build(state, self._tree, self.inodes, self.inode, self.describe)
            self._state = state
        return parts(state)

    def entry(self, name):
        subdirs, files = self._built()
        self.inodes.tree_cache.touched(self._tree_owner())
        if files is not None:
            i = files.find(name)
            if i >= 0:
                return files.file(i)
        if subdirs is not None:
            i = subdirs.find(name)
            if i >= 0:
                return CollectionSubdirectory(subdirs, i)
        return super(LazyTreeDirectory, self).entry(name)  # the record file

    def ready_files(self):
        rows = self.ready_rows()
        return None if rows is None else parts(rows)[1]

    def ready_rows(self):
        state = self._state
        if state is None or type(state) is ManifestDir or self.detached or self.stale():
            return None
        self.inodes.tree_cache.touched(self._tree_owner())
        return state

    def listing(self):
        subdirs, files = self._built()
        self.inodes.tree_cache.touched(self._tree_owner())
        out = []
        if subdirs is not None:
            out.extend((name, CollectionSubdirectory(subdirs, i)) for i, name in enumerate(subdirs.names()))
        if files is not None:
            out.extend((name, files.file(i)) for i, name in enumerate(files.names()))
        return out

    def row_tables(self):
        subdirs, files = self._built()
        self.inodes.tree_cache.touched(self._tree_owner())
        return [table for table in (subdirs, files) if table is not None]

    def kernel_listing(self):
        subdirs, files = self._built()
        self.inodes.tree_cache.touched(self._tree_owner())
        if subdirs is None:
            return files.listing() if files is not None else []
        if files is None:
            return subdirs.listing()
        out = subdirs.listing() + files.listing()
        out.sort()
        return out

    def take_rows(self):
        state = self._state
        self._state = None
        if type(state) is ManifestDir or type(state) is Leaf:
            return []  # a Leaf's file is a row of its parent's LeafFiles, dropped with them
        return [table for table in parts(state) if table is not None]

    def remove_entries(self):
        super(LazyTreeDirectory, self).remove_entries()
        for table in self.take_rows():
            self.inodes.drop_rows(table)

    # The seed's accessors.
    def __getitem__(self, item):
        hidden = self.unrefreshed_entry(item)
        if hidden is not None:
            return hidden
        self.checkupdate()
        found = self.entry(item)
        if found is None:
            raise KeyError(item)
        return found

    def items(self):
        self.checkupdate()
        return self.listing()

    def __iter__(self):
        self.checkupdate()
        return iter([name for name, _entry in self.listing()])

    def _shows(self, name):
        return self.entry(name) is not None


class CollectionSubdirectory(LazyTreeDirectory):
    """A directory inside a collection: a view of one row of its parent's
    SubdirTable, made when a request needs it.  Everything it has lives in
    the row; it takes its times from the collection and never goes stale
    (the collection reloads as a whole)."""

    __slots__ = ('_rows', '_row')

    # What the base classes keep per object, the same for every row.
    _stale = False
    _poll = False
    _poll_time = DEFAULT_POLL_TIME
    _generation = 0
    _loaded_once = True
    _entries = _misses = _names_checked = NO_NAMES
    record_file = None

    def __init__(self, rows, row):
        self._rows = rows
        self._row = row

    inode = property(lambda self: self._rows.base + self._row)
    parent_inode = property(lambda self: self._rows.parent_inode)
    inodes = property(lambda self: self._rows.tree.collection.inodes)
    detached = property(lambda self: self._rows.detached)
    nlookup = property(lambda self: self._rows.count(self._row))
    collection = property(lambda self: self._rows.tree.collection)
    # For the inode table's lookup counts (Entry.row_table).
    row_table = property(lambda self: self._rows)
    index = property(lambda self: self._row)
    _tree = property(lambda self: self._rows.tree)

    @property
    def _state(self):
        return self._rows.state_at(self._row)

    @_state.setter
    def _state(self, state):
        self._rows.states[self._row] = state

    def state_slot(self):
        return self._rows.states, self._row

    # _built and ready_rows of a row, from the row (the base class's ask
    # the properties above one by one: a deep tree's walk calls each once
    # or twice per directory).
    def _built(self):
        return parts(self._rows.built(self._row))

    def ready_rows(self):
        rows = self._rows
        state = rows.states[self._row]
        if state is None or type(state) is ManifestDir:
            return None  # not built yet, or its tree is gone (take_below)
        if state is LEAF:
            state = Leaf(rows.leaves, self._row)
        collection = rows.tree.collection
        collection.inodes.tree_cache.touched(collection)
        return state

    def __eq__(self, other):
        return type(other) is CollectionSubdirectory and other.row_table is self._rows and other.index == self._row

    def __hash__(self):
        return hash((id(self._rows), self._row))

    def describe(self):
        return '%s: a directory' % self.collection.describe()

    def stale(self):
        return False

    def fresh(self):
        pass

    def invalidate(self):
        pass

    def accessed(self):
        pass

    def _tree_owner(self):
        return self.collection

    def mtime(self):
        return self._rows.tree.collection.mtime()

    def atime(self):
        return self._rows.tree.collection.mtime()

    def times(self):
        mtime = self._rows.tree.collection.mtime()
        return mtime, mtime

    def immutable(self):
        return self._rows.tree.immutable
