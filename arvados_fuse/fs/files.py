"""File entries: the seed's File, StreamReaderFile, StringFile, ObjectFile.

Plain objects with no llfuse import.  `readfrom` of a StreamReaderFile goes
to Keep and may block: the adapter calls it with the llfuse lock released."""

import json
import stat

from .fresh import FreshBase, convert_time
from .uuids import strip_hints

# Scripts kept in collections must run from the mount, so collection files
# are executable; generated text (README, JSON records) is not.
DATA_FILE_MODE = 0o555
TEXT_FILE_MODE = 0o444


class File(FreshBase):
    """Base for file objects."""

    mode = TEXT_FILE_MODE
    # Set by the inode table when the file is removed from its directory.
    detached = False

    def __init__(self, parent_inode, _mtime=0):
        super(File, self).__init__()
        self.inode = None
        self.parent_inode = parent_inode
        self._mtime = _mtime

    def size(self):
        return 0

    def readfrom(self, off, size):
        return b''

    def read_now(self, off, size):
        """The bytes if they can be had without blocking, else None."""
        return None

    def mtime(self):
        return self._mtime

    def closed(self):
        """A handle on this file was released."""
        pass

    def attached(self):
        """Called by the inode table once this entry has its inode number."""
        pass

    def immutable(self):
        """True when the content can never change (it belongs to a PDH), so
        the kernel may cache it for as long as it likes.  The same method
        on directories (Directory.immutable)."""
        return False

    def st_mode(self):
        return stat.S_IFREG | self.mode

    def xattrs(self):
        return {}


class StreamReaderFile(File):
    """A file of a collection; `reader` has size() and readfrom(off, size)."""

    mode = DATA_FILE_MODE

    def __init__(self, parent_inode, reader, _mtime, immutable=False):
        super(StreamReaderFile, self).__init__(parent_inode, _mtime)
        self.reader = reader
        self._immutable = immutable

    def immutable(self):
        return self._immutable

    def size(self):
        return self.reader.size()

    def readfrom(self, off, size):
        return self.reader.readfrom(off, size)

    def read_now(self, off, size):
        return self.reader.read_now(off, size) if hasattr(self.reader, 'read_now') else None

    def closed(self):
        # Let go of the block kept for the next read, so memory stays bounded
        # by the block cache rather than by the number of files ever read.
        if hasattr(self.reader, 'forget'):
            self.reader.forget()

    def stale(self):
        return False

    def xattrs(self):
        if hasattr(self.reader, 'block_locators'):
            bare = [strip_hints(loc) for loc in self.reader.block_locators()]
            return {'user.arvados.blocks': ' '.join(bare)}
        return {}


class CollectionFile(StreamReaderFile):
    """A file of a collection: a view of one index of its directory's
    FileTable (filetable.py), made when a request needs it.  Its reader is
    made when it is first read and dropped when it is closed; an open file
    handle keeps its own view, and so its reader.

    The table's `tree` is shared by every file of one version of a
    collection (block table, block source, the collection for times): a
    file left open across a change keeps reading the blocks of its own
    version."""

    __slots__ = ('table', 'index', '_reader')
    ST_MODE = stat.S_IFREG | DATA_FILE_MODE

    def __init__(self, table, index):
        self.table = table
        self.index = index
        self._reader = None

    def st_mode(self):
        return self.ST_MODE

    def times(self):
        mtime = self.table.tree.collection.mtime()
        return mtime, mtime

    @property
    def row_table(self):
        return self.table

    @property
    def inode(self):
        return self.table.base + self.index

    @property
    def parent_inode(self):
        return self.table.parent_of(self.index)

    @property
    def nlookup(self):
        return self.table.count(self.index)

    @property
    def detached(self):
        return self.table.detached

    @property
    def tree(self):
        return self.table.tree

    @property
    def pieces(self):
        """Its packed segments (manifest.py)."""
        return self.table.segments(self.index)

    def __eq__(self, other):
        return type(other) is CollectionFile and other.table is self.table and other.index == self.index

    def __hash__(self):
        return hash((id(self.table), self.index))

    def immutable(self):
        return self.table.tree.immutable

    @property
    def reader(self):
        reader = self._reader
        if reader is None:
            # Readers run without the llfuse lock: two may race to make
            # one, and either is correct.
            reader = self._reader = self.table.tree.reader(self.pieces)
        return reader

    def size(self):
        return self.table.size(self.index)

    def mtime(self):
        return self.table.tree.mtime()

    def atime(self):
        return self.table.tree.mtime()

    def read_now(self, off, size):
        reader = self._reader
        return reader.read_now(off, size) if reader is not None else None

    def closed(self):
        reader = self._reader
        self._reader = None
        if reader is not None:
            reader.forget()  # leaves the prefetch budget to other readers

    def xattrs(self):
        return {'user.arvados.blocks': ' '.join(self.table.tree.bare_locators(self.pieces))}


class StringFile(File):
    """A string (or bytes) as a file."""

    def __init__(self, parent_inode, contents, _mtime):
        super(StringFile, self).__init__(parent_inode, _mtime)
        self.contents = contents

    @property
    def contents(self):
        return self._contents

    @contents.setter
    def contents(self, value):
        self._contents = value.encode('utf-8') if isinstance(value, str) else bytes(value)

    def size(self):
        return len(self._contents)

    def readfrom(self, off, size):
        return self._contents[off:(off + size)]

    read_now = readfrom


class ObjectFile(StringFile):
    """An API record as sorted, indented JSON."""

    def __init__(self, parent_inode, obj):
        super(ObjectFile, self).__init__(parent_inode, b'', 0)
        self.uuid = obj['uuid']
        self.update(obj)

    def update(self, obj):
        self._mtime = convert_time(obj.get('modified_at'))
        self.contents = json.dumps(obj, indent=4, sort_keys=True) + '\n'
        self.fresh()

    def xattrs(self):
        return {'user.arvados.uuid': self.uuid}
