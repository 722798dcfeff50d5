"""Keep permission signatures renewed before they expire, for everything
that can still be read: open files (of a collection by uuid and by PDH),
PDH paths the kernel keeps cached for a day, and `--collection <pdh>`.

The cluster signs for TTL seconds; the mounts are read for several
lifetimes, each read reaching Keep (blocks of 36 MiB, so that the SDK's
smallest block cache, 64 MiB, holds one; every read in a mount going to
another block than the one before, with the kernel's page cache dropped
first)."""

import json
import os
import re
import time

import arvados
import pytest

from localcluster.testing import LocalCluster, keep_request
from mountutil import mounted

pytestmark = pytest.mark.timeout(300)

TTL = 20
BLOCK = 36 << 20
BLOCKS = 3
# Long enough for three and a half lifetimes; today's code fails within two.
READ_FOR = 3.5 * TTL
READ_EVERY = 3


@pytest.fixture(scope='module')
def ttl_cluster(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp('ttl-cluster'), blob_ttl=TTL) as c:
        yield c


def _collection(cluster):
    """A collection of one file over BLOCKS distinct blocks: (record, data)."""
    api = cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    blocks = [os.urandom(BLOCK) for _ in range(BLOCKS)]
    locators = [keep.put(b) for b in blocks]
    manifest = '. %s 0:%d:f\n' % (' '.join(locators), BLOCK * BLOCKS)
    record = api.collections().create(body={'manifest_text': manifest, 'name': 'ttl'}).execute()
    return record, b''.join(blocks)


class Reader(object):
    """Reads one 4 KiB piece of a file per call, through an open descriptor
    or by opening its path each time, after dropping its cached pages."""

    def __init__(self, name, path, keep_open):
        self.name = name
        self.path = path
        self.fd = os.open(path, os.O_RDONLY) if keep_open else None

    def read(self, off):
        fd = self.fd if self.fd is not None else os.open(self.path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            return os.pread(fd, 4096, off)
        finally:
            if fd != self.fd:
                os.close(fd)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)


def test_signatures_renewed_for_open_files_and_cached_pdh_paths(ttl_cluster):
    record, data = _collection(ttl_cluster)
    uuid, pdh = record['uuid'], record['portable_data_hash']
    env = ttl_cluster.full_env('alice')
    # The smallest block cache: it holds one block, so every read of
    # another block goes to Keep.
    cache = ['--file-cache', str(64 << 20)]
    with mounted(env, '--by-id', *cache) as by_id, mounted(env, '--collection', pdh, *cache) as one:
        mounts = {
            'by_id': [Reader('open uuid file', by_id.join(uuid, 'f'), True),
                      Reader('open pdh file', by_id.join(pdh, 'f'), True),
                      Reader('pdh path', by_id.join(pdh, 'f'), False)],
            '--collection pdh': [Reader('open file', one.join('f'), True),
                                 Reader('path', one.join('f'), False)],
        }
        failures = []
        reads = 0
        counters = {name: 0 for name in mounts}
        start = time.time()
        try:
            while time.time() - start < READ_FOR:
                for mount_name, readers in mounts.items():
                    for reader in readers:
                        n = counters[mount_name]
                        counters[mount_name] += 1
                        # Another block than this mount's last read, at an
                        # offset not read before.
                        off = (n % BLOCKS) * BLOCK + (n // BLOCKS) * 65536 % BLOCK
                        try:
                            got = reader.read(off)
                        except OSError as e:
                            failures.append('%s, %s at %.0fs: %s' % (mount_name, reader.name,
                                                                    time.time() - start, e))
                            continue
                        reads += 1
                        assert got == data[off:off + 4096], (mount_name, reader.name, off)
                time.sleep(READ_EVERY)
        finally:
            for readers in mounts.values():
                for reader in readers:
                    reader.close()
        assert not failures, '%d reads, then:\n%s' % (reads, '\n'.join(failures[:10]))
        # Every reader read in every lifetime.
        assert min(counters.values()) >= 2 * 4


def _expiry(locator):
    return int(locator.split('+A', 1)[1].split('@', 1)[1].split('+', 1)[0], 16)


def test_record_file_shows_renewed_signatures(ttl_cluster):
    """`.arvados#collection` shows the manifest as signed now, not as first
    loaded: once the first signatures have expired, every locator it shows
    still reads from Keep (by uuid and by PDH, the file read before)."""
    api = ttl_cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    data = os.urandom(1000)
    record = api.collections().create(body={'collection': {
        'name': 'record file', 'manifest_text': '. %s 0:1000:f\n' % keep.put(data)}}).execute()
    locator_re = re.compile(r'[0-9a-f]{32}\+[0-9]+\+A[0-9a-f]{40}@[0-9a-f]{8}')
    with mounted(ttl_cluster.full_env('alice'), '--by-id') as m:
        paths = [m.join(record['uuid'], '.arvados#collection'),
                 m.join(record['portable_data_hash'], '.arvados#collection')]
        first = []
        for path in paths:
            with open(path) as f:
                first += locator_re.findall(json.load(f)['manifest_text'])
        assert first
        # Past every signature the mount was first given: only renewed
        # ones can be good now.
        time.sleep(max(_expiry(loc) for loc in first) - time.time() + 2)
        for path in paths:
            with open(path, 'rb') as f:
                raw = f.read()
            assert os.stat(path).st_size == len(raw)
            shown = locator_re.findall(json.loads(raw)['manifest_text'])
            assert shown and not set(shown) & set(first), (path, shown, first)
            for loc in shown:
                status, body = keep_request(ttl_cluster.info['keep_urls'][0] + loc, ttl_cluster.token('alice'))
                assert (status, body) == (200, data), (path, loc, status)
