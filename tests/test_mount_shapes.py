"""Every manifest shape of the scale benchmark (bench/shapes.py) through a
real mount: the tree, every size and every byte exactly as the local
cluster's own, independent manifest parser (localcluster/manifests.py)
says, with --directory-cache unloading trees and loading them again."""

import hashlib
import json
import os
import random
import stat

import arvados.keep
import pytest

from bench import shapes
from localcluster import manifests as reference
from mountutil import mounted

pytestmark = [pytest.mark.timeout(300)]

FILES = 1000


def expected_tree(text, blocks):
    """{relative path: bytes} and the set of directories, by the cluster's
    parser."""
    files, dirs = {}, set()
    stack = [(b'', reference.parse(text))]
    while stack:
        path, node = stack.pop()
        for name, pieces in node.files.items():
            files[(path + name).decode()] = b''.join(blocks[loc][off:off + n] for loc, _size, off, n in pieces)
        for name, sub in node.dirs.items():
            dirs.add((path + name).decode())
            stack.append((path + name + b'/', sub))
    return files, dirs


def mounted_tree(root):
    files, dirs = {}, set()
    for dirpath, dirnames, filenames in os.walk(root):
        # What readdir gave (number and kind, one attributes object reused
        # for every entry) is what a lookup of each name says.
        for entry in os.scandir(dirpath):
            st = os.lstat(entry.path)
            assert (entry.inode(), entry.is_dir(follow_symlinks=False)) == (st.st_ino, stat.S_ISDIR(st.st_mode)), \
                entry.path
        rel = os.path.relpath(dirpath, root)
        dirs.update(os.path.normpath(os.path.join(rel, d)) for d in dirnames)
        for name in filenames:
            full = os.path.join(dirpath, name)
            with open(full, 'rb') as f:
                data = f.read()
            assert os.stat(full).st_size == len(data), full
            files[os.path.normpath(os.path.join(rel, name))] = data
    return files, dirs


def _keep_blocks(api):
    """(block(i, size): the signed locator of block i, stored in Keep once,
    of random bytes; `stored`, bare locator -> bytes; `signed`, i -> signed
    locator, cleared to make new blocks)."""
    keep = arvados.keep.KeepClient(api_client=api)
    stored, signed = {}, {}

    def block(i, size):
        if i not in signed:
            data = random.Random(i).randbytes(size)
            signed[i] = keep.put(data, copies=1)
            stored['+'.join(signed[i].split('+')[:2])] = data
        return signed[i]
    return block, stored, signed


def test_every_shape_is_exact_through_the_mount_with_trees_unloaded_and_reloaded(fresh_cluster):
    api = fresh_cluster.api('alice')
    block, stored, signed = _keep_blocks(api)
    made = {}
    for shape in shapes.SHAPES:
        signed.clear()
        text = shapes.make(shape, FILES, seed=shapes.SHAPES.index(shape) + 1, block=block, small=True)
        rec = api.collections().create(body={'collection': {'name': shape, 'manifest_text': text}}).execute()
        made[shape] = (rec['portable_data_hash'], expected_tree(text, stored))
        assert len(made[shape][1][0]) == FILES, shape
    # One byte of directory cache: each tree goes once the kernel lets go
    # of it, and the next visit loads it again.
    with mounted(fresh_cluster.full_env('alice'), '--by-pdh', '--directory-cache', '1', '--debug') as m:
        for shape in list(shapes.SHAPES) + ['packed', 'deep']:
            pdh, (files, dirs) = made[shape]
            got_files, got_dirs = mounted_tree(m.join(pdh))
            assert got_dirs == dirs, shape
            assert sorted(got_files) == sorted(files), shape
            for path, data in files.items():
                assert hashlib.md5(got_files[path]).digest() == hashlib.md5(data).digest(), (shape, path)
            with open(m.join(pdh, '.arvados#collection')) as f:
                assert reference.portable_data_hash(json.load(f)['manifest_text']) == pdh, shape
        assert 'directory cache: unloading collection' in m.log()
        assert 'Traceback' not in m.log()


def test_a_manifest_big_enough_to_be_packed_is_parsed_from_its_packed_pieces_exactly(fresh_cluster):
    """A text of PACK_TEXT_AT or more is packed before it is parsed and
    parsed from the packed pieces (collection.py), and a record of
    BIG_BODY or more has its manifest packed straight from the response
    body (api/bigfield.py): a deep tree of 10^4 files (a 0.7 MB manifest;
    its one-file directories packed in their parents until built), by uuid
    (parsed a directory at a time) and by PDH, shows every directory and
    every size the cluster's own parser says, the bytes of a sample of
    files, and its whole text in the record file."""
    from arvados_fuse.api.bigfield import BIG_BODY
    from arvados_fuse.fs.collection import PACK_TEXT_AT
    api = fresh_cluster.api('alice')
    block, stored, _signed = _keep_blocks(api)
    text = shapes.make('deep', 10000, seed=7, block=block, small=True)
    rec = api.collections().create(body={'collection': {'name': 'packed deep', 'manifest_text': text}}).execute()
    files, dirs = expected_tree(text, stored)
    assert len(files) == 10000 and len(text) > max(PACK_TEXT_AT, BIG_BODY)
    sample = sorted(files)[::500]
    for args, sub in ((('--collection', rec['uuid']), ()), (('--by-pdh',), (rec['portable_data_hash'],))):
        with mounted(fresh_cluster.full_env('alice'), *args) as m:
            root = m.join(*sub)
            got_dirs, got_sizes = set(), {}
            for dirpath, dirnames, filenames in os.walk(root):
                rel = os.path.relpath(dirpath, root)
                got_dirs.update(os.path.normpath(os.path.join(rel, d)) for d in dirnames)
                for name in filenames:
                    got_sizes[os.path.normpath(os.path.join(rel, name))] = os.lstat(os.path.join(dirpath, name)).st_size
            assert got_dirs == dirs, args
            assert got_sizes == {path: len(data) for path, data in files.items()}, args
            for path in sample:
                with open(os.path.join(root, path), 'rb') as f:
                    assert f.read() == files[path], (args, path)
            with open(os.path.join(root, '.arvados#collection')) as f:
                assert reference.portable_data_hash(json.load(f)['manifest_text']) == rec['portable_data_hash']
            assert 'Traceback' not in m.log()
