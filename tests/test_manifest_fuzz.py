"""The fuzzed manifests of tests/fuzzmanifests.py through the model alone
(a Keep-only collection over tests/fakes.py, no kernel): many more of them
in seconds than a mount takes, for the parser and the tree building.  The
fake ignores signatures and sizes, so only the bytes of files whose blocks
a real Keep would serve are compared; test_mount_fuzz.py checks the rest
through a mount.

The unit tier runs UNIT_EXAMPLES of them (about a second); the slow tier
runs FUZZ_MODEL_EXAMPLES (default 400, some 5 s): the
plain ./test.sh runs both.  FUZZ_SEED picks other cases for both."""

import hashlib
import os

import pytest
from hypothesis import HealthCheck, given, seed, settings

import fuzzmanifests
from arvados_fuse import CollectionDirectory, Inodes
from arvados_fuse.fs.directory import Directory
from arvados_fuse.fs.inodes import ROOT_INODE
from arvados_fuse.blocks.manifest import ManifestError
from fakes import FakeApi, put_block

UNIT_EXAMPLES = 80
EXAMPLES = int(os.environ.get('FUZZ_MODEL_EXAMPLES', '400'))
SEED = os.environ.get('FUZZ_SEED')


def _pool(api):
    out = []
    for size in fuzzmanifests.POOL_SIZES:
        data = hashlib.sha256(b'%d' % size).digest() * (size // 32 + 1)
        data = data[:size]
        locator = put_block(api.blocks, data)
        out.append(('%s+A%s@7fffffff' % (locator, 'c' * 40), data))
    return out


API = FakeApi()
POOL = _pool(API)


def _walk(d):
    out = {}
    for name, entry in d.listing():
        shown = fuzzmanifests.visible(name)
        if shown is None:
            continue
        if isinstance(entry, Directory):
            out[name] = ('dir', _walk(entry))
        else:
            try:
                data = entry.readfrom(0, entry.size() + 1)
            except Exception:
                data = None
            out[name] = ('file', entry.size(), data)
    return out


def _agrees(got, want):
    assert sorted(got) == sorted(want)
    for name, w in want.items():
        g = got[name]
        assert g[0] == w[0], name
        if w[0] == 'dir':
            _agrees(g[1], w[1])
        else:
            assert g[1] == w[1], name
            if w[2] is not None:
                assert g[2] == w[2], name
            elif g[2] is not None:
                assert len(g[2]) == g[1], name


def _check(case):
    locator = put_block(API.blocks, case.text)
    inodes = Inodes()
    root = CollectionDirectory(ROOT_INODE, inodes, API, 0, locator)
    try:
        snapshot = root.fetch()
    except ManifestError:
        assert case.expect in ('ENOENT', None), case
        return
    assert case.expect != 'ENOENT', case
    inodes.add_entry(root)
    root.apply(snapshot)
    got = _walk(root)
    if case.expect is not None:
        _agrees(got, case.tree)
        assert len(inodes) <= 1 + (case.entries if case.entries is not None else 10 ** 6)
        _check_lazily(case)


def _check_lazily(case):
    """A valid manifest in a collection record (the API's, UTF-8 only) is
    parsed lazily (directories of one line packed in their parent until
    built, each directory's files when visited): the same tree."""
    try:
        text = case.text.decode('utf-8')
    except UnicodeDecodeError:
        return
    uuid = 'zzzzz-4zz18-%015d' % (len(API.collections_by_locator) + 1)
    API.add_collection({'uuid': uuid, 'portable_data_hash': hashlib.md5(case.text).hexdigest() + '+1',
                        'manifest_text': text, 'modified_at': '2024-01-01T00:00:00Z'})
    inodes = Inodes()
    root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, API, 0, uuid))
    root.update()
    _agrees(_walk(root), case.tree)


def _fuzz(examples):
    def wrap(test):
        test = given(fuzzmanifests.cases(POOL))(test)
        test = settings(max_examples=examples, deadline=None, derandomize=SEED is None, database=None,
                        suppress_health_check=list(HealthCheck))(test)
        return seed(int(SEED))(test) if SEED is not None else test
    return wrap


@pytest.mark.unit
@_fuzz(UNIT_EXAMPLES)
def test_fuzzed_manifests_through_the_model(case):
    _check(case)


@pytest.mark.slow
@_fuzz(EXAMPLES)
def test_many_fuzzed_manifests_through_the_model(case):
    _check(case)
