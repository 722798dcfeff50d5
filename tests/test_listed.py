"""The names of the directories listed last (listed.py): what a lookup
after a listing is answered from, and its bound."""

from arvados_fuse import listed
from arvados_fuse.listed import ListedNames


class Table(object):
    """Stands for a FileTable: only its identity matters here."""


def test_a_listed_name_is_found_in_the_table_it_was_listed_from_only():
    names = ListedNames()
    table = Table()
    names.remember(5, None, table, [b'a', None, b'c'] + [b'z%d' % i for i in range(listed.FEW)])
    assert names.find(5, table, b'a') == 0
    assert names.find(5, table, b'c') == 2
    assert names.find(5, table, b'b') is None  # not listed: search the table
    assert names.find(5, Table(), b'a') is None  # the directory shows another table now
    assert names.find(6, table, b'a') is None
    names.remember(5, None, table, [b'x%d' % i for i in range(listed.FEW)])  # listed again
    assert names.find(5, table, b'x1') == 1 and names.find(5, table, b'c') is None
    assert len(names) == listed.FEW
    names.remember(5, None, table, [b'y'])  # too few to be worth a dict
    assert names.find(5, table, b'y') is None and len(names) == 0


def test_at_most_limit_names_are_held_the_oldest_dropped_first(monkeypatch):
    monkeypatch.setattr(listed, 'LIMIT', 10)
    monkeypatch.setattr(listed, 'FEW', 2)
    names = ListedNames()
    tables = [Table() for _ in range(4)]
    for inode, table in enumerate(tables):
        names.remember(inode, None, table, [b'%d' % i for i in range(4)])
        assert len(names) <= 10
    assert names.find(0, tables[0], b'1') is None and names.find(1, tables[1], b'1') is None
    assert names.find(2, tables[2], b'1') == 1 and names.find(3, tables[3], b'3') == 3
    names.remember(9, None, Table(), [b'%d' % i for i in range(11)])  # too big: not kept, nothing dropped
    assert len(names) == 8 and names.find(9, tables[0], b'1') is None
