"""The directory/file model against a fake cluster: no network, no kernel."""

import gc
import json
import sys
import tracemalloc
from unittest import mock

from hypothesis import given, settings, strategies as st

from arvados_fuse import CollectionDirectory, Inodes, MagicDirectory, StreamReaderFile
from arvados_fuse.blocks import manifest
from arvados_fuse.fs.collection import CollectionTree
from arvados_fuse.fs.inodes import ROOT_INODE

from fakes import FakeApi, put_block

PDH = 'ffffffffffffffffffffffffffffffff+10'


def make_collection(api, manifest, uuid='zzzzz-4zz18-aaaaaaaaaaaaaaa', pdh=PDH):
    rec = {'uuid': uuid, 'portable_data_hash': pdh, 'manifest_text': manifest,
           'modified_at': '2024-01-02T03:04:05.250000000Z', 'owner_uuid': 'zzzzz-tpzed-000000000000000',
           'properties': {'a': 1}}
    api.add_collection(rec)
    return rec


def test_collection_tree_names_bytes_and_record_file():
    api = FakeApi()
    a = put_block(api.blocks, b'hello ')
    b = put_block(api.blocks, b'world')
    make_collection(api, '. %s %s 0:11:greeting 0:5:..\n./dir %s 0:0:\\056 0:5:sub\\072file\n' % (a, b, a))
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    assert root.inode == ROOT_INODE
    assert root.update()
    assert sorted(n for n, _ in root.listing()) == ['__', 'dir', 'greeting']
    greeting = root.entry('greeting')
    assert isinstance(greeting, StreamReaderFile)
    assert greeting.readfrom(0, 100) == b'hello world'
    assert greeting.readfrom(4, 3) == b'o w'
    assert greeting.mtime() == 1704164645.25
    assert root.entry('dir').entry('sub:file').readfrom(0, 10) == b'hello'
    record = json.loads(root.entry('.arvados#collection').readfrom(0, 10000))
    assert record['uuid'] == 'zzzzz-4zz18-aaaaaaaaaaaaaaa'


def test_a_directory_of_one_file_on_one_line_shows_it_sanitized_and_exact():
    """A deep tree's directories (one line, one file) are built without the
    parser's general way (ManifestDir.one_file): the name is still made
    one Linux can hold, the bytes still exact, a bad line still hides only
    its own directory's files."""
    api = FakeApi()
    a = put_block(api.blocks, b'hello world')
    make_collection(api, './d1 %s 6:5:..\n./d2 %s 0:5:hi\n./d3 %s 9:5:late\n' % (a, a, a))
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    root.update()
    assert [n for n, _ in root.entry('d1').listing()] == ['__']
    assert root.entry('d1').entry('__').readfrom(0, 100) == b'world'
    assert root.entry('d2').entry('hi').readfrom(0, 100) == b'hello'
    assert root.entry('d3').listing() == []  # past the end of its stream: logged, not shown
    assert '.arvados#collection' not in dict(root.listing())
    assert root.xattrs()['user.arvados.portable_data_hash'] == PDH


def test_reload_with_new_manifest_replaces_entries_and_frees_unreferenced_inodes():
    api = FakeApi()
    a = put_block(api.blocks, b'one')
    make_collection(api, '. %s 0:3:first\n' % a)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    root.update()
    first = root.entry('first')
    inodes.remember(first.inode)  # the kernel holds a reference
    make_collection(api, '. %s 0:3:second\n' % a, pdh='eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee+10')
    root.invalidate()
    root.update()
    assert [n for n, _ in root.listing()] == ['second']
    assert first.inode in inodes  # still referenced: not freed yet
    inodes.forget(first.inode, 1)
    assert first.inode not in inodes


def test_subdirectories_are_rows_held_as_long_as_the_kernel_holds_them():
    """A collection's subdirectories are rows of their parent's table
    (fs/subdirs.py): views made per request, with the kernel's counts in
    the table.  Asked to let go, the kernel is told every name it holds,
    deepest first; after a reload, the rows it holds stay, empty, until it
    forgets them, and the others are gone at once."""
    api = FakeApi()
    a = put_block(api.blocks, b'data')
    make_collection(api, './a/b %s 0:4:f\n./a %s 0:4:g\n./c %s 0:4:h\n' % (a, a, a))
    sent = []
    inodes = Inodes(notifier=lambda *args: sent.append(args))
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    root.update()
    dir_a = root.entry('a')
    dir_b = dir_a.entry('b')
    f = dir_b.entry('f')
    assert [n for n, _ in dir_a.listing()] == ['b', 'g'] and dir_b.parent_inode == dir_a.inode
    assert dir_b == dir_a.entry('b') and inodes[dir_b.inode] == dir_b and dir_b.mtime() == root.mtime()
    assert f.readfrom(0, 4) == b'data' and f.parent_inode == dir_b.inode
    for entry in (dir_a, dir_b, f):
        inodes.remember_entry(entry)
    unheld = root.entry('c').inode
    root.ask_kernel_to_forget()
    assert sent == [('entry', dir_b.inode, 'f'), ('entry', dir_a.inode, 'b'), ('entry', root.inode, 'a')]
    make_collection(api, '. %s 0:4:new\n' % a, pdh='eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee+10')
    root.invalidate()
    root.update()
    assert [n for n, _ in root.listing()] == ['new']
    assert unheld not in inodes
    for entry in (dir_a, dir_b, f):
        assert entry.inode in inodes and inodes.is_detached(entry.inode)
    assert inodes[dir_a.inode].listing() == [] and inodes[dir_a.inode].entry('b') is None
    for entry in (f, dir_b, dir_a):
        inodes.forget(entry.inode, 1)
        assert entry.inode not in inodes
    assert len(inodes) == 2  # the root and its new file


def test_a_reload_drops_a_whole_tree_of_tables_but_what_the_kernel_holds():
    """A tree of many tables is dropped in one pass over the inode table's
    list of tables (inodes.drop_rows): numbers are still found right after
    it, in the new tree, and in what the kernel held."""
    api = FakeApi()
    a = put_block(api.blocks, b'data')
    make_collection(api, ''.join('./d%03d/e %s 0:4:f\n' % (i, a) for i in range(100)))
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    root.update()
    files = [root.entry('d%03d' % i).entry('e').entry('f') for i in range(100)]
    assert len(inodes) == 1 + 100 + 100 + 100
    held = files[57]
    inodes.remember_entry(held)
    make_collection(api, ''.join('./n%03d %s 0:4:g\n' % (i, a) for i in range(100)),
                    pdh='eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee+10')
    root.invalidate()
    root.update()
    new = [root.entry('n%03d' % i).entry('g') for i in range(100)]
    assert len(inodes) == 1 + 100 + 100 + 1
    assert held.inode in inodes and inodes.is_detached(held.inode) and inodes[held.inode].readfrom(0, 4) == b'data'
    assert all(f.inode not in inodes for f in files if f is not held)
    assert [inodes[g.inode].parent_inode for g in new] == [root.entry('n%03d' % i).inode for i in range(100)]
    inodes.forget(held.inode, 1)
    assert held.inode not in inodes and len(inodes) == 1 + 100 + 100


def test_the_one_files_of_a_deep_tree_are_rows_of_their_parents_table():
    """A directory of one file (most of a deep tree's) keeps it as a row of
    its parent's LeafFiles (fs/leaves.py), not in a table of its own: a
    walk of 2,000 such directories holds well under the ~190 bytes each
    such a table cost; each file keeps its own inode, parent, lookup count,
    bytes; a reload drops all but what the kernel holds, which stays
    readable, and forgetting it frees it."""
    api = FakeApi()
    a = put_block(api.blocks, b'0123456789')
    lines = ''.join('./top/d%04d %s %d:3:f\n' % (i, a, i % 7) for i in range(2000))
    make_collection(api, lines)
    sent = []
    inodes = Inodes(notifier=lambda *args: sent.append(args))
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    root.update()
    top = root.entry('top')
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        dirs = [top.entry('d%04d' % i) for i in range(2000)]
        files = [d.entry('f') for d in dirs]
        del dirs
        gc.collect()
        per_dir = (tracemalloc.get_traced_memory()[0] - before - sys.getsizeof(files)
                   - sum(map(sys.getsizeof, files))) / 2000
    finally:
        tracemalloc.stop()
    assert per_dir < 120, per_dir  # a FileTable each: 252
    assert len(inodes) == 1 + 1 + 2000 + 2000
    for i in (0, 6, 1999):
        f = files[i]
        assert f.readfrom(0, 10) == b'0123456789'[i % 7:i % 7 + 3]
        assert inodes[f.inode] == f and f.parent_inode == top.entry('d%04d' % i).inode
        assert [n for n, _ in inodes[f.parent_inode].listing()] == ['f']
    assert len({f.inode for f in files}) == 2000
    held = files[1234]
    inodes.remember_entry(held)
    inodes.remember_entry(top.entry('d1234'))
    make_collection(api, '. %s 0:4:new\n' % a, pdh='eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee+10')
    root.invalidate()
    root.update()
    assert ('entry', held.parent_inode, 'f') in sent
    assert [n for n, _ in root.listing()] == ['new']
    assert len(inodes) == 1 + 1 + 1 + 1  # the root, its new file, the held directory and file
    assert inodes.is_detached(held.inode) and inodes[held.inode].readfrom(0, 3) == b'234'  # 1234 % 7 == 2
    assert files[1233].inode not in inodes
    inodes.forget(held.inode, 1)
    assert held.inode not in inodes and len(inodes) == 3


def test_pdh_collection_renews_signatures_without_new_inodes():
    api = FakeApi()
    a = put_block(api.blocks, b'data')
    rec = make_collection(api, '. %s+Aaaaa@00000001 0:4:f\n' % a)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, PDH))
    root.update()
    f = root.entry('f')
    rec['manifest_text'] = '. %s+Abbbb@00000002 0:4:f\n' % a
    root.update()
    assert root.entry('f') == f and root.entry('f').inode == f.inode  # the same file (a view of it)
    assert f.reader.block_locators() == [a + "+Abbbb@00000002"]
    assert f.readfrom(0, 4) == b'data'
    assert root.immutable() and f.immutable()


def test_keep_only_manifest_by_pdh():
    api = FakeApi()
    a = put_block(api.blocks, b'kept')
    text = ('. %s 0:4:only-in-keep\n' % a).encode()
    pdh = put_block(api.blocks, text)
    inodes = Inodes()
    root = inodes.add_entry(MagicDirectory(ROOT_INODE, inodes, api, 0))
    assert sorted(dict(root.listing())) == ['README', 'by_id']
    assert pdh in root
    assert root[pdh].entry('only-in-keep').readfrom(0, 10) == b'kept'
    assert pdh in dict(root.listing())
    assert 'zzzzz-4zz18-bbbbbbbbbbbbbbb' not in root
    assert 'not-an-id' not in root


def test_merge_keeps_first_of_duplicate_names_and_drops_removed():
    from arvados_fuse import Directory, StringFile
    inodes = Inodes()
    d = inodes.add_entry(Directory(ROOT_INODE, inodes))
    items = [('x', 'first'), ('x', 'second'), ('y/z', 'slash')]
    d.merge(items, lambda i: i[0], lambda a, i: a.contents == i[1].encode(),
            lambda i: StringFile(d.inode, i[1], 0))
    assert d.entry('x').contents == b'first'
    assert d.entry('y_z').contents == b'slash'
    kept = d.entry('x')
    d.merge([('x', 'first')], lambda i: i[0], lambda a, i: a.contents == i[1].encode(),
            lambda i: StringFile(d.inode, i[1], 0))
    assert d.entry('x') is kept and d.entry('y_z') is None


def test_an_invalidation_during_a_fetch_is_not_lost():
    """fetch() runs without the lock; an event may invalidate the directory
    meanwhile, and the (older) snapshot applied afterwards must not make it
    look fresh."""
    api = FakeApi()
    a = put_block(api.blocks, b'x')
    make_collection(api, '. %s 0:1:f\n' % a)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    generation = root._generation
    snapshot = root.fetch()
    root.invalidate()  # the event
    root.apply(snapshot)
    assert root._generation != generation  # what Refresher.refresh checks
    assert root.loaded()


def test_pdh_collection_renews_at_half_the_signature_lifetime():
    import time as _time
    api = FakeApi()
    a = put_block(api.blocks, b'data')
    expiry = int(_time.time()) + 4000
    rec = make_collection(api, '. %s+A%s@%08x 0:4:f\n' % (a, 'a' * 40, expiry))
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, PDH))
    root.update()
    assert not root.stale()
    assert 1900 < root._renew_at - _time.time() <= 2000
    # Before renewal is due, a refresh reads the record without its
    # manifest: same contents, nothing parsed, nothing renewed.
    root.invalidate()
    root.update()
    assert not root.stale() and 1900 < root._renew_at - _time.time() <= 2000
    # Once due, the manifest is read again.
    rec['manifest_text'] = '. %s 0:4:f\n' % a  # unsigned: nothing to renew
    root._renew_at = _time.time() - 1
    root.invalidate()
    root.update()
    assert root._renew_at is None and not root.stale()


def test_refresh_with_the_same_pdh_keeps_the_tree_and_parses_nothing():
    api = FakeApi()
    a = put_block(api.blocks, b'data')
    rec = make_collection(api, '. %s 0:4:f\n./d %s 0:4:g\n' % (a, a))
    rec['uuid'] = 'zzzzz-4zz18-000000000000001'
    api.add_collection(rec)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, rec['uuid']))
    root.update()
    g = root.entry('d').entry('g')
    rec['manifest_text'] = 'not a manifest at all'  # would fail to parse
    rec['modified_at'] = '2030-01-01T00:00:00.000000000Z'
    root.invalidate()
    assert root.update()
    assert root.entry('d').entry('g') == g and g.readfrom(0, 4) == b'data'
    assert root.mtime() > 1.8e9
    rec['portable_data_hash'] = 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee+10'
    root.invalidate()
    assert not root.update()  # new contents: parsed, and this one is bad


def _cached_collections(api, n, files=20):
    block = put_block(api.blocks, b'data')
    pdhs = []
    for i in range(n):
        text = '. %s %s\n' % (block, ' '.join('0:4:f%02d-%d' % (j, i) for j in range(files)))
        pdh = put_block(api.blocks, text.encode())  # Keep-only manifests: by_id finds them
        pdhs.append(pdh)
    return pdhs


def test_directory_cache_unloads_least_recently_used_trees_nobody_uses():
    api = FakeApi()
    pdhs = _cached_collections(api, 3)
    told = []
    inodes = Inodes(notifier=lambda *args: told.append(args))
    root = inodes.add_entry(MagicDirectory(ROOT_INODE, inodes, api, 0))
    first = root[pdhs[0]]
    first.update()
    one_tree = inodes.tree_cache.total
    assert one_tree > 0 and first.tree_bytes() == one_tree
    inodes.tree_cache.limit = one_tree * 3 // 2
    inodes.remember(first.inode)  # the kernel holds it (an open file below, a cwd)
    opened = first.entry('f00-0')  # what an open file handle keeps
    name_in_parent = [args for args in told]

    second = root[pdhs[1]]
    second.update()
    # Over the limit, but the least recently used tree is in use: the
    # kernel is asked to drop its name, and nothing is freed yet.
    assert first.collection_object is not None
    assert ('entry', first.parent_inode, pdhs[0]) in told[len(name_in_parent):]
    assert opened.inode in inodes

    # The kernel lets go: the tree goes, an open file still reads its bytes.
    inodes.forget(first.inode, 1)
    assert first.collection_object is None and first.listing() == []
    assert opened.inode not in inodes
    assert opened.readfrom(0, 4) == b'data'
    assert inodes.tree_cache.total == second.tree_bytes()

    # A third load pushes out the second at once (nobody references it).
    third = root[pdhs[2]]
    third.update()
    assert second.collection_object is None and third.collection_object is not None
    assert inodes.tree_cache.unloads == 2 and inodes.tree_cache.total <= inodes.tree_cache.limit
    # What an unloaded tree's rows shared (its streams) goes with it; the
    # first's stays only for its open file.
    gc.collect()
    trees = [o for o in gc.get_objects() if type(o) is CollectionTree]
    assert sorted(tree.collection.collection_locator for tree in trees) == sorted([pdhs[0], pdhs[2]])

    # A visit loads it again, with the same names and bytes.
    assert first.stale() and not first.loaded()
    first.update()
    assert first.entry('f19-0').readfrom(0, 4) == b'data'
    assert third.collection_object is None  # least recently used, unreferenced


def test_without_a_directory_cache_limit_nothing_is_unloaded():
    api = FakeApi()
    pdhs = _cached_collections(api, 5)
    inodes = Inodes()
    root = inodes.add_entry(MagicDirectory(ROOT_INODE, inodes, api, 0))
    colls = [root[p] for p in pdhs]
    for c in colls:
        c.update()
    assert all(c.collection_object is not None for c in colls)
    assert len(inodes.tree_cache) == 5 and inodes.tree_cache.unloads == 0



def test_a_malformed_directory_of_a_uuid_collection_costs_only_its_own_files(caplog):
    """API records are parsed a directory at a time (the server validated
    them); should one directory still be bad, only its files are missing,
    never half of them, and the rest of the collection reads."""
    api = FakeApi()
    a = put_block(api.blocks, b'abcd')
    make_collection(api, '. %s 0:4:top\n./bad %s 0:2:ok 0:99:too-long\n./good %s 1:2:bc\n' % (a, a, a))
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    assert root.update()
    assert sorted(dict(root.listing())) == ['bad', 'good', 'top']
    assert root.entry('good').entry('bc').readfrom(0, 10) == b'bc'
    assert root.entry('bad').listing() == [] and root.entry('bad').entry('ok') is None
    assert 'its files are not shown' in caplog.text
    assert root.entry('top').readfrom(0, 10) == b'abcd'


def test_record_file_follows_signatures_renewed_in_the_block_table():
    """What the background renewer does (BlockTable.renew from its own
    thread): the record file shows the new signatures at its next read,
    and the renewer's callback asks the kernel to drop the old pages."""
    api = FakeApi()
    a = put_block(api.blocks, b'hello')
    md5 = a.split('+')[0]
    old = '%s+5+A%s@00000001' % (md5, 'a' * 40)
    new = '%s+5+A%s@00000002' % (md5, 'b' * 40)
    make_collection(api, '. %s 0:5:f\n' % old)
    notified = []
    inodes = Inodes(notifier=lambda kind, *args: notified.append((kind,) + args))
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    assert root.update()
    record_file = root.entry('.arvados#collection')
    assert json.loads(record_file.readfrom(0, 10000))['manifest_text'] == '. %s 0:5:f\n' % old
    root._block_table.renew([new])
    root._renewed_in_background()
    assert ('inode', record_file.inode) in notified
    size = record_file.size()
    text = record_file.read_now(0, 10000)
    assert len(text) == size
    assert json.loads(text)['manifest_text'] == '. %s 0:5:f\n' % new


def test_a_reloaded_record_gets_a_new_record_file_and_the_old_keeps_its_text():
    """The kernel keeps a file's pages across opens and learns a new size
    from getattr possibly before our invalidation of the pages arrives: new
    text of another length under the same inode was read as the old text
    padded with NULs.  So a reload gives the record file a new inode, and
    the old one, while the kernel holds it, keeps the text that matches its
    pages and size."""
    api = FakeApi()
    a = put_block(api.blocks, b'hello')
    rec = make_collection(api, '. %s 0:5:f\n' % a)
    notified = []
    inodes = Inodes(notifier=lambda kind, *args: notified.append((kind,) + args))
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    assert root.update()
    old = root.entry('.arvados#collection')
    inodes.remember(old.inode)  # the kernel holds it
    old_text = old.readfrom(0, 100000)
    assert old.size() == len(old_text)
    api.add_collection(dict(rec, properties={'a': 1, 'much': 'longer ' * 20},  # same PDH
                            modified_at='2024-01-02T03:04:06.000000000Z'))
    root.invalidate()
    root.update()
    new = root.entry('.arvados#collection')
    assert new.inode != old.inode
    assert json.loads(new.readfrom(0, 100000))['properties']['much'].startswith('longer')
    assert old.readfrom(0, 100000) == old_text and old.size() == len(old_text)
    assert ('entry', ROOT_INODE, '.arvados#collection') in notified
    inodes.forget(old.inode, 1)
    assert old.inode not in inodes


def test_a_big_manifest_is_kept_compressed_and_shown_whole_in_the_record_file():
    from arvados_fuse.fs.collection import PACK_TEXT_AT, PackedText
    api = FakeApi()
    a = put_block(api.blocks, b'data')
    text = ''.join('./d%05d %s 0:4:f\n' % (i, a) for i in range(PACK_TEXT_AT // 40 + 1))
    assert len(text) >= PACK_TEXT_AT
    make_collection(api, text)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, PDH))
    assert root.update()
    kept = root.collection_object['manifest_text']
    assert isinstance(kept, PackedText) and len(kept) < len(text) / 3
    record = json.loads(root.entry('.arvados#collection').readfrom(0, 10 ** 8))
    assert record['manifest_text'] == text
    assert root.entry('d00007').entry('f').readfrom(0, 4) == b'data'


def test_a_packed_text_is_the_text_whatever_its_pieces(monkeypatch):
    from arvados_fuse.fs.collection import PackedText
    text = ''.join('./d%d é\udcff %s 0:4:f\u00e9\n' % (i, 'a' * (i % 50)) for i in range(3000))
    for piece in (7, 1000, 1 << 20):
        monkeypatch.setattr(PackedText, 'PIECE', piece)
        packed = PackedText(text)
        assert packed.text() == text and bool(packed) and len(packed) < len(text)
    assert not PackedText('') and PackedText('').text() == ''


def test_a_packed_text_gives_its_lines_as_the_text_does_and_parses_the_same(monkeypatch):
    """A big manifest is packed before it is parsed, and parsed from the
    packed pieces (collection.py: the text and its parse are not held at
    once): its lines, cut wherever the pieces end (UTF-8 characters, a
    surrogate-escaped byte), are the text's, and so is the parse."""
    from arvados_fuse.blocks import manifest
    from arvados_fuse.fs.collection import PackedText
    a = put_block(FakeApi().blocks, b'0123456789')
    texts = ['', '\n', 'one', 'one\n', 'a\n\nb\n\n', 'x\u00e9\udcff\n' * 500 + 'last',
             ''.join('./d%d/\u00e9\u00e9 %s %d:3:f\u00e9%d\n' % (i, a, i % 7, i) for i in range(2000))]
    for piece in (1, 7, 1000, 1 << 20):
        monkeypatch.setattr(PackedText, 'PIECE', piece)
        for text in texts:
            packed = PackedText(text)
            want = text.split('\n')
            if want and want[-1] == '':
                want.pop()
            assert list(packed.lines()) == want and packed.chars == len(text)
    text = texts[-1]
    for lazy in (False, True):
        plain, from_packed = manifest.parse(text, lazy), manifest.parse(PackedText(text), lazy)
        assert from_packed.max_pieces == plain.max_pieces and from_packed.streams == plain.streams
        for name in ('d0', 'd1999'):
            got = from_packed.root.dirs[name].dirs['\u00e9\u00e9']
            assert got.files == plain.root.dirs[name].dirs['\u00e9\u00e9'].files


def test_a_directory_listed_by_names_keeps_its_lines_until_a_size_is_asked_then_not():
    """A plain directory's files are listed from their names; the lines
    they were read from are kept for the first lookup, and let go once its
    segments are made, though the parse of the directory above still holds
    the directory's parse."""
    api = FakeApi()
    a = put_block(api.blocks, b'x' * 64)
    text = './d %s %s\n' % (a, ' '.join('%d:1:f%02d' % (i, i) for i in range(40)))
    make_collection(api, text)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, PDH))
    assert root.update()
    d = root.entry('d')
    assert [name for name, _inode, _is_dir in d.kernel_listing()][:2] == ['f00', 'f01']
    table = d.ready_files()
    parse = table._later
    assert parse is not None and parse.pending_bytes() > 0  # listed, nothing read yet
    assert table.size(7) == 1 and table._later is None
    assert parse.pending_bytes() == 0
    assert d.entry('f39').readfrom(0, 10) == b'x'


def _model_tree(d, prefix=''):
    """{path: size or 'dir'} and {path: bytes} of everything below `d`."""
    shape, data = {}, {}
    for name, entry in d.listing():
        path = prefix + name
        if hasattr(entry, 'readfrom'):
            shape[path] = entry.size()
            data[path] = entry.readfrom(0, entry.size() + 1)
        else:
            shape[path] = 'dir'
            more_shape, more_data = _model_tree(entry, path + '/')
            shape.update(more_shape)
            data.update(more_data)
    return shape, data


def _parsed_tree(parsed, blocks, mdir=None, prefix=''):
    """The same from an eager parse (manifest.py alone, no packing)."""
    from arvados_fuse.blocks import manifest
    mdir = parsed.root if mdir is None else mdir
    shape, data = {}, {}
    for name, segments in mdir.files.items():
        shape[prefix + name] = manifest.size_of(segments)
        data[prefix + name] = b''.join(blocks[parsed.blocks[i]][off:off + n]
                                       for i, off, n in manifest.pieces_of(parsed.block_pieces(segments)))
    for name, sub in mdir.dirs.items():
        shape[prefix + name] = 'dir'
        more_shape, more_data = _parsed_tree(parsed, blocks, sub, prefix + name + '/')
        shape.update(more_shape)
        data.update(more_data)
    return shape, data


_STREAMS = ['.', './a', './a/b', './a/b/c', './a/x', './a/x y', './a/b-2', './c', './c/d', './c/d/e', './a\\040b',
            './a/n\\012l', './c/\\012']


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(_STREAMS), st.integers(0, 1),
                          st.lists(st.tuples(st.sampled_from(['f', 'g', 'h\\040i']), st.integers(0, 6),
                                             st.integers(0, 4)), min_size=1, max_size=3)),
                min_size=1, max_size=12), st.booleans())
def test_a_lazily_parsed_tree_is_built_as_the_whole_parse_says(lines, short_packing):
    """A collection of the API is parsed lazily: a directory of one short
    line is kept packed in its parent until the parent is built (a row of
    its LeafFiles when one plain segment, else a directory of its line),
    and a line through one, or after a line elsewhere, makes directories
    of them after all; so does a long line of a packed name (only short
    lines are packed: `short_packing` makes most lines long).  Whatever
    the order and repeats of the lines, the model shows the directories,
    sizes and bytes of the whole parse."""
    api = FakeApi()
    data = [b'0123456789', b'abcdefghij']
    locs = [put_block(api.blocks, d) for d in data]
    blocks = dict(zip(locs, data))
    text = ''.join('%s %s %s\n' % (stream, locs[b], ' '.join('%d:%d:%s' % (pos, n, name) for name, pos, n in segs))
                   for stream, b, segs in lines)
    from arvados_fuse.blocks.manifest import ManifestError, parse
    try:
        want = _parsed_tree(parse(text), blocks)
    except ManifestError:
        return  # a name both a file and a directory: refused whole here, a directory's files lost there
    make_collection(api, text)
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    with mock.patch.object(manifest, 'LEAF_LINE_CHARS', 8 if short_packing else manifest.LEAF_LINE_CHARS):
        root.update()
    got = _model_tree(root)
    assert got == want


def test_packed_directories_with_names_to_sanitize_or_twice_are_built_as_directories():
    """A directory's packed one-line subdirectories (manifest.py) whose
    names the kernel cannot hold as they are, or that appear twice, are
    shown as the eager parse's directories are: sanitized, merged."""
    api = FakeApi()
    a = put_block(api.blocks, b'0123456789')
    make_collection(api, './t/.. %s 0:2:f\n./t/ok %s 2:3:f\n./t/nul\\000x %s 4:1:g\n./u/d %s 0:1:f\n'
                         './u/d %s 1:1:g\n./u/e %s 3:1:f 4:1:f\n' % ((a,) * 6))
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, api, 0, 'zzzzz-4zz18-aaaaaaaaaaaaaaa'))
    root.update()
    assert _model_tree(root) == (
        {'t': 'dir', 't/__': 'dir', 't/__/f': 2, 't/nul_x': 'dir', 't/nul_x/g': 1, 't/ok': 'dir', 't/ok/f': 3,
         'u': 'dir', 'u/d': 'dir', 'u/d/f': 1, 'u/d/g': 1, 'u/e': 'dir', 'u/e/f': 2},
        {'t/__/f': b'01', 't/nul_x/g': b'4', 't/ok/f': b'234', 'u/d/f': b'0', 'u/d/g': b'1', 'u/e/f': b'34'})
