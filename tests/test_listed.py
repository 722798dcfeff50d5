"""The names of the directories listed last (listed.py): what a lookup
after a listing is answered from, and its bound.  That an index is used
only while its directory shows those very rows is the adapter's check
(tests/test_adapter.py, a lookup after a refresh)."""

from arvados_fuse import listed
from arvados_fuse.blocks.manifest import EMPTY_FILE
from arvados_fuse.fs.filetable import FileTable
from arvados_fuse.fs.inodes import Inodes
from arvados_fuse.fs.subdirs import SubdirTable
from arvados_fuse.listed import ListedNames


def _rows(inodes, files=(), subdirs=()):
    """What a collection's directory shows, and its kernel listing."""
    shown, listing = [], []
    if subdirs:
        table = inodes.add_rows(SubdirTable(1, None, list(subdirs), [None] * len(subdirs)))
        shown.append(table)
        listing.extend(table.listing())
    if files:
        table = inodes.add_rows(FileTable(1, None, list(files), [EMPTY_FILE] * len(files)))
        shown.append(table)
        listing.extend(table.listing())
    listing.sort()
    return (tuple(shown) if len(shown) > 1 else shown[0]), listing


class _Directory(object):
    """What a listing needs of a directory that is no row (a collection's
    top: it is asked whether it still shows the same rows)."""

    def __init__(self, rows=None):
        self.rows = rows

    def state_slot(self):
        return None

    def ready_rows(self):
        return self.rows


DIR = _Directory()


def _raws(listing):
    return [name.encode() for name, _inode, _is_dir in listing]


def _index(names, inode):
    known = names.by_inode.get(inode)
    return None if known is None else known.index


def test_a_listing_is_remembered_by_raw_name_and_replaced_when_listed_again():
    inodes = Inodes()
    names = ListedNames()
    rows, listing = _rows(inodes, files=['a', 'b', 'c'])
    raws = _raws(listing)
    raws[1] = None  # a name the kernel is not shown
    names.remember(5, DIR, rows, raws, listing)
    assert (names.by_inode[5].directory, names.by_inode[5].rows) == (DIR, rows)
    assert _index(names, 5) == {b'a': 0, b'c': 2}
    rows, listing = _rows(inodes, files=['x', 'y'])
    names.remember(5, DIR, rows, _raws(listing), listing)  # listed again
    assert _index(names, 5) == {b'x': 0, b'y': 1} and len(names) == 2
    rows, listing = _rows(inodes, files=['z'])
    names.remember(5, DIR, rows, _raws(listing), listing)  # one file: the handler's way costs no more
    assert _index(names, 5) is None and len(names) == 0


def test_subdirectories_are_indexed_by_their_row_inverted_files_by_their_row():
    inodes = Inodes()
    names = ListedNames()
    rows, listing = _rows(inodes, files=['b', 'd'], subdirs=['a', 'c'])
    names.remember(5, DIR, rows, _raws(listing), listing)
    assert _index(names, 5) == {b'a': ~0, b'b': 0, b'c': ~1, b'd': 1}
    rows, listing = _rows(inodes, subdirs=['only'])
    names.remember(6, DIR, rows, _raws(listing), listing)  # a subdirectory alone is worth it
    assert _index(names, 6) == {b'only': ~0}


def test_at_most_limit_names_are_held_the_oldest_dropped_first(monkeypatch):
    monkeypatch.setattr(listed, 'LIMIT', 10)
    inodes = Inodes()
    names = ListedNames()
    for inode in range(4):
        rows, listing = _rows(inodes, files=['%d' % i for i in range(4)])
        names.remember(inode, DIR, rows, _raws(listing), listing)
        assert len(names) <= 10
    assert _index(names, 0) is None and _index(names, 1) is None
    assert _index(names, 2)[b'1'] == 1 and _index(names, 3)[b'3'] == 3
    rows, listing = _rows(inodes, files=['%d' % i for i in range(11)])
    names.remember(9, DIR, rows, _raws(listing), listing)  # too big: not kept, nothing dropped
    assert len(names) == 8 and _index(names, 9) is None


def test_a_listing_is_current_while_its_directory_shows_the_same_rows():
    """A subdirectory's listing is checked in the slot of its parent's
    table where it keeps what it shows; that slot is emptied in place when
    the tree is dropped (SubdirTable.take_below), so a listing held since
    is seen as stale.  A collection's top directory is asked."""
    inodes = Inodes()
    names = ListedNames()
    rows, listing = _rows(inodes, files=['a', 'b'])
    parent = inodes.add_rows(SubdirTable(1, None, ['sub'], [rows]))
    names.remember(parent.base, parent.entry_at(0), rows, _raws(listing), listing)
    known = names.by_inode[parent.base]
    assert known.current() and known.files is rows and known.subdirs is None
    assert parent.take_below() == [rows]
    assert not known.current()
    top = _Directory(rows)
    names.remember(1, top, rows, _raws(listing), listing)
    assert names.by_inode[1].current()
    top.rows = None  # refreshed, stale, or unloaded
    assert not names.by_inode[1].current()
