"""--directory-cache through a real mount: parsed collection trees beyond
the limit are freed once the kernel lets go of them, and reloaded on the
next visit; a file kept open meanwhile reads on, byte-exact."""

import hashlib
import os
import time

import arvados.collection
import pytest

from mountutil import files_under, mounted

pytestmark = [pytest.mark.timeout(180)]


def new_collection(api, name, files):
    c = arvados.collection.Collection(api_client=api)
    for path, data in files.items():
        with c.open(path, 'wb') as f:
            f.write(data)
    c.save_new(name=name)
    return c


def contents(n):
    # Several blocks' worth for the file held open, so reads go to Keep
    # after the eviction; small files elsewhere.
    files = {'dir%d/small%02d.txt' % (d, i): b'%d-%d-%d\n' % (n, d, i) * 10 for d in range(3) for i in range(20)}
    files['big.bin'] = hashlib.sha256(b'%d' % n).digest() * (3 * 1024 * 1024 // 32)
    return files


def read_tree(root):
    out = {}
    for rel, full in files_under(root).items():
        with open(full, 'rb') as f:
            out[rel] = f.read()
    return out


def wait_for(predicate, timeout=20):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, 'condition not met within %ss' % timeout
        time.sleep(0.1)


def test_trees_beyond_the_limit_are_freed_and_reloaded_and_open_files_read_on(fresh_cluster):
    api = fresh_cluster.api('alice')
    expected = [contents(n) for n in range(3)]
    pdhs = [new_collection(api, 'c%d' % n, files).portable_data_hash() for n, files in enumerate(expected)]
    # One byte: every tree but the one being visited goes as soon as
    # nothing uses it.
    with mounted(fresh_cluster.full_env('alice'), '--by-pdh', '--directory-cache', '1', '--debug') as m:
        unloaded = lambda n: 'directory cache: unloading collection %s' % pdhs[n] in m.log()  # noqa: E731
        held = open(m.join(pdhs[0], 'big.bin'), 'rb')
        try:
            first_part = held.read(1 << 20)
            os.chdir(m.join(pdhs[1], 'dir1'))  # a working directory keeps its tree too
            try:
                assert read_tree(m.join(pdhs[2])) == expected[2]
                assert 'is in use; asking the kernel to let it go' in m.log()
                assert not unloaded(0) and not unloaded(1)
                rest = held.read()
                assert sorted(os.listdir('.')) == ['small%02d.txt' % i for i in range(20)]
            finally:
                os.chdir('/')
        finally:
            held.close()
        assert first_part + rest == expected[0]['big.bin']
        # In use no more: the kernel forgets them, and their trees go.
        wait_for(lambda: unloaded(0) and unloaded(1))
        for n in (0, 1, 2, 0):
            assert read_tree(m.join(pdhs[n])) == expected[n]
        wait_for(lambda: unloaded(2))
        assert 'Traceback' not in m.log()
