"""A cached block is served only to locators that could have fetched it
from Keep: the right size, and a signature Keep accepts (blockcheck.py).

A real collection's file is read first, so its block is in the mount's block
cache; then Keep-only manifests (by_id/<signed locator of the manifest>)
name the same block with a smaller size, with no signature, and with a
made-up one: each read is EIO, never bytes.  Another valid signature of the
same block is served from the cache (no second download)."""

import errno
import os
import socket
import time
import urllib.request

import arvados
import pytest

from arvados_fuse.blocks.locators import signature_of
from mountutil import mounted

pytestmark = pytest.mark.timeout(180)

SIZE = 1000
FORGED = 'A' + '0' * 40 + '@ffffffff'


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _metric(port, name):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(' ', 1)[1]) for line in text.splitlines()
               if line.startswith(name + '{') or line.startswith(name + ' '))


def _read(path):
    with open(path, 'rb') as f:
        return f.read()


def _eio(path):
    with pytest.raises(OSError) as err:
        _read(path)
    assert err.value.errno == errno.EIO, err.value


@pytest.fixture(scope='module')
def block(module_cluster):
    """(keep client, data, signed locator, uuid of a collection of it)."""
    api = module_cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    data = os.urandom(SIZE)
    locator = keep.put(data)
    record = api.collections().create(body={'collection': {
        'name': 'cached block', 'manifest_text': '. %s 0:%d:f\n' % (locator, SIZE)}}).execute()
    return keep, data, locator, record['uuid']


def _keep_only(keep, manifest):
    return keep.put(manifest.encode())


def _manifests(locator):
    md5, _size, sig = locator.split('+', 2)
    return {
        'smaller size': '. %s+%d+%s 0:%d:f\n' % (md5, SIZE - 1, sig, SIZE - 1),
        # Not '0:SIZE:f' alone: this manifest stripped of its signatures
        # would be the collection's own, which the API finds by its
        # portable data hash.
        'no signature': '. %s+%d 0:%d:f 0:0:e\n' % (md5, SIZE, SIZE),
        'made-up signature': '. %s+%d+%s 0:%d:f\n' % (md5, SIZE, FORGED, SIZE),
    }


@pytest.mark.parametrize('kind', ['smaller size', 'no signature', 'made-up signature'])
def test_cached_block_needs_its_real_size_and_a_signature_keep_accepts(module_cluster, block, kind):
    keep, data, locator, uuid = block
    name = _keep_only(keep, _manifests(locator)[kind])
    with mounted(module_cluster.full_env('alice'), '--by-id', '--read-timeout', '20') as m:
        # In the cache now.
        assert _read(m.join(uuid, 'f')) == data
        assert 'f' in os.listdir(m.join(name))
        assert os.path.getsize(m.join(name, 'f')) == (SIZE - 1 if kind == 'smaller size' else SIZE)
        _eio(m.join(name, 'f'))
        if kind == 'smaller size':
            assert 'the block is %d bytes, not %d' % (SIZE, SIZE - 1) in m.log()
        # The real collection still reads.
        assert _read(m.join(uuid, 'f')) == data


def test_cached_block_reused_for_another_valid_signature(module_cluster, block):
    keep, data, locator, uuid = block
    port = _free_port()
    with mounted(module_cluster.full_env('alice'), '--by-id', '--prometheus-port', str(port)) as m:
        assert _read(m.join(uuid, 'f')) == data
        fetched = _metric(port, 'arvmount_keep_fetched_bytes_total')
        # Another valid signature of the same block (each signing has its
        # own expiry, a second later at least): served from the cache once
        # Keep says yes, downloading nothing but the manifest block.
        time.sleep(1.1)
        other = keep.put(data)
        assert signature_of(other) != signature_of(locator)
        text = '. %s 0:%d:g\n' % (other, SIZE)
        name = _keep_only(keep, text)
        assert _read(m.join(name, 'g')) == data
        assert _metric(port, 'arvmount_keep_fetched_bytes_total') == fetched + len(text)


def test_cached_manifest_block_needs_a_signature_keep_accepts(module_cluster, block):
    """A Keep-only manifest block itself, once cached, is not served to a
    made-up signature either: by_id answers ENOENT."""
    keep, _data, locator, _uuid = block
    name = _keep_only(keep, '. %s 0:%d:h\n' % (locator, SIZE))
    md5, size = name.split('+')[:2]
    forged = '%s+%s+%s' % (md5, size, FORGED)
    with mounted(module_cluster.full_env('alice'), '--by-id', '--read-timeout', '20') as m:
        assert os.listdir(m.join(name)) == ['h']
        with pytest.raises(OSError) as err:
            os.stat(m.join(forged))
        assert err.value.errno == errno.ENOENT
        with pytest.raises(OSError) as err:
            os.stat(m.join('%s+%s' % (md5, size)))
        assert err.value.errno == errno.ENOENT
