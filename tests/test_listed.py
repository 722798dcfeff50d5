"""The names of the directories listed last (listed.py): what a lookup
after a listing is answered from, and its bound.  That an index is used
only while its directory shows that very table is the adapter's check
(tests/test_adapter.py, a lookup after a refresh)."""

from arvados_fuse import listed
from arvados_fuse.listed import ListedNames


class Table(object):
    """Stands for a FileTable: only its identity matters here."""


def _index(names, inode):
    known = names.by_inode.get(inode)
    return None if known is None else known[2]


def test_a_listing_is_remembered_by_raw_name_and_replaced_when_listed_again():
    names = ListedNames()
    table = Table()
    names.remember(5, 'dir', table, [b'a', None, b'c'] + [b'z%d' % i for i in range(listed.FEW)])
    assert names.by_inode[5][:2] == ('dir', table)
    assert _index(names, 5)[b'a'] == 0 and _index(names, 5)[b'c'] == 2
    assert None not in _index(names, 5)  # a name the kernel is not shown
    names.remember(5, 'dir', table, [b'x%d' % i for i in range(listed.FEW)])  # listed again
    assert _index(names, 5)[b'x1'] == 1 and b'c' not in _index(names, 5)
    assert len(names) == listed.FEW
    names.remember(5, 'dir', table, [b'y'])  # too few to be worth a dict
    assert _index(names, 5) is None and len(names) == 0


def test_at_most_limit_names_are_held_the_oldest_dropped_first(monkeypatch):
    monkeypatch.setattr(listed, 'LIMIT', 10)
    monkeypatch.setattr(listed, 'FEW', 2)
    names = ListedNames()
    for inode in range(4):
        names.remember(inode, 'dir', Table(), [b'%d' % i for i in range(4)])
        assert len(names) <= 10
    assert _index(names, 0) is None and _index(names, 1) is None
    assert _index(names, 2)[b'1'] == 1 and _index(names, 3)[b'3'] == 3
    names.remember(9, 'dir', Table(), [b'%d' % i for i in range(11)])  # too big: not kept, nothing dropped
    assert len(names) == 8 and _index(names, 9) is None
