"""The inode table and `merge` against the kernel's lookup counts, without a
kernel: an entry leaves the table only when no directory shows it and the
kernel has forgotten every reference it was given."""

import time

from arvados_fuse import Directory, Inodes, StringFile
from arvados_fuse.fs.directory import MISSES_PRUNE_AT
from arvados_fuse.fs.inodes import REINVALIDATE_AFTER, ROOT_INODE


def _dir_with(inodes, parent, names):
    d = inodes.add_entry(Directory(parent, inodes))
    d.merge(names, lambda n: n, lambda a, n: a.contents == n.encode(), lambda n: StringFile(d.inode, n, 0))
    return d


def test_removed_entry_lives_until_the_kernel_forgets_it():
    inodes = Inodes()
    root = _dir_with(inodes, ROOT_INODE, ['a', 'b'])
    a, b = root.entry('a'), root.entry('b')
    inodes.remember(a.inode)
    inodes.remember(a.inode)
    root.merge([], lambda n: n, lambda e, n: True, lambda n: None)
    assert root.listing() == []
    assert b.inode not in inodes          # never referenced: freed at once
    assert a.inode in inodes and inodes.is_detached(a.inode)
    inodes.forget(a.inode, 1)
    assert a.inode in inodes              # one reference left
    inodes.forget(a.inode, 1)
    assert a.inode not in inodes


def test_forget_of_a_listed_entry_does_not_free_it():
    inodes = Inodes()
    root = _dir_with(inodes, ROOT_INODE, ['a'])
    a = root.entry('a')
    inodes.remember(a.inode)
    inodes.forget(a.inode, 1)
    assert a.inode in inodes and root.entry('a') is a


def test_detached_directory_is_emptied_and_its_subtree_freed_with_it():
    inodes = Inodes()
    root = inodes.add_entry(Directory(ROOT_INODE, inodes))
    sub = _dir_with(inodes, root.inode, ['x', 'y'])
    root._entries['sub'] = sub
    x = sub.entry('x')
    inodes.remember(sub.inode)   # a process has its cwd in sub
    inodes.remember(x.inode)
    root.merge([], lambda n: n, lambda e, n: True, lambda n: None)
    assert sub.detached and sub.listing() == []
    assert sub.inode in inodes and x.inode in inodes
    assert sub.entry('y') is None
    inodes.forget(x.inode, 1)
    inodes.forget(sub.inode, 1)
    assert len(inodes) == 1      # only the root is left: nothing leaked


def test_replaced_entry_of_same_name_gets_a_new_inode_and_the_old_is_freed():
    inodes = Inodes()
    root = _dir_with(inodes, ROOT_INODE, ['a'])
    old = root.entry('a')
    # Same name, different item: `same` says no, so a new entry replaces it.
    root.merge(['a'], lambda n: n, lambda e, n: False, lambda n: StringFile(root.inode, 'new', 0))
    new = root.entry('a')
    assert new is not old and new.inode != old.inode
    assert old.inode not in inodes and new.inode in inodes


def test_duplicate_names_keep_the_first_item_and_create_nothing_for_the_rest():
    inodes = Inodes()
    root = inodes.add_entry(Directory(ROOT_INODE, inodes))
    made = []

    def make(i):
        made.append(i)
        return StringFile(root.inode, i[1], 0)
    root.merge([('n', 'first'), ('n', 'second')], lambda i: i[0], lambda e, i: False, make)
    assert root.entry('n').contents == b'first'
    assert made == [('n', 'first')]
    assert len(inodes) == 2


def test_directories_are_found_by_the_uuids_they_show_until_freed():
    from arvados_fuse import CollectionDirectory, Inodes
    from fakes import FakeApi
    inodes = Inodes()
    api = FakeApi()
    a = inodes.add_entry(CollectionDirectory(1, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    b = inodes.add_entry(CollectionDirectory(1, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    assert inodes.inodes_for_uuids(['zzzzz-4zz18-aaaaaaaaaaaaaaa', 'other']) == [a.inode, b.inode]
    inodes.remember(b.inode)
    inodes.del_entry(a)
    inodes.del_entry(b)  # still referenced by the kernel
    assert inodes.inodes_for_uuids(['zzzzz-4zz18-aaaaaaaaaaaaaaa']) == [b.inode]
    inodes.forget(b.inode, 1)
    assert inodes.inodes_for_uuids(['zzzzz-4zz18-aaaaaaaaaaaaaaa']) == []


def test_a_removed_name_the_kernel_holds_is_invalidated_again_until_forgotten():
    """remove_name: the kernel is told at once, and again after each of
    REINVALIDATE_AFTER while it still holds the entry; once it forgets the
    entry, nothing more is sent."""
    sent = []
    inodes = Inodes(notifier=lambda kind, *args: sent.append((kind,) + args))
    root = _dir_with(inodes, ROOT_INODE, ['a', 'b'])
    a, b = root.take_children().values()
    inodes.remember(a.inode)                 # the kernel holds a, not b
    inodes.remove_name(root.inode, 'a', a)
    inodes.remove_name(root.inode, 'b', b)
    assert sent.count(('entry', root.inode, 'a')) == 1 and inodes.reinvalidation_pending()
    start, at = time.monotonic(), 0.0
    for n, after in enumerate(REINVALIDATE_AFTER[:2]):
        at += after
        inodes.reinvalidate(now=start + at + 0.001)
        assert sent.count(('entry', root.inode, 'a')) == 2 + n
    assert sent.count(('entry', root.inode, 'b')) == 1   # freed at once: never again
    inodes.forget(a.inode, 1)
    inodes.reinvalidate(now=start + 10 ** 6)
    assert sent.count(('entry', root.inode, 'a')) == 3 and not inodes.reinvalidation_pending()


def test_remembered_misses_are_pruned():
    inodes = Inodes()
    d = inodes.add_entry(Directory(ROOT_INODE, inodes))
    d.remember_misses = True
    d._poll_time = 0.01
    for i in range(MISSES_PRUNE_AT):
        d.note_missing('old%d' % i)
    time.sleep(0.02)
    d.note_missing('new')
    assert d.known_missing('new') and len(d._misses) == 1


def test_a_row_table_is_found_by_any_of_its_numbers_until_dropped_even_right_after_it_was_found():
    """table_of keeps the table it found last (a walk asks for one table's
    rows again and again); a table dropped since is not found, one by one
    or a whole tree at once (64 and more)."""
    from arvados_fuse.fs.rowtable import RowTable
    for count in (1, 3, 80):
        inodes = Inodes()
        tables = [inodes.add_rows(RowTable(ROOT_INODE, None, ['a', 'b', 'c'][:1 + k % 3])) for k in range(count)]
        for table in tables:
            for i in range(len(table)):
                assert inodes.table_of(table.base + i) is table
            assert inodes.table_of(table.base + len(table) + 1000) is not table
        last = tables[-1]
        assert inodes.table_of(last.base) is last
        for table in tables:
            inodes.drop_rows(table)
        assert inodes.table_of(last.base) is None
        assert all(inodes.table_of(table.base) is None for table in tables)
