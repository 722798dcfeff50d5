"""Hostile manifests stored only in Keep, looked up through a real mount
(by_id/<signed locator>): refused with ENOENT and one log line, in time and
memory linear in the manifest's size, leaving no inode behind, and the
miss remembered (no new fetch, no new log line)."""

import errno
import os
import time

import arvados
import pytest

from mountutil import mounted, rss_of

pytestmark = pytest.mark.timeout(180)

BLOCK = '0cc175b9c0f1b6a831c399e269772661+1'  # md5('a')


def _quadratic(n=2000):
    # One block listed n times, n segments each spanning the whole stream:
    # n^2 pieces of one file from O(n) text.
    return '. %s %s\n' % (' '.join([BLOCK] * n), ' '.join('0:%d:f' % n for _ in range(n)))


HOSTILE = {
    'quadratic': _quadratic(),
    'deep': '%s %s 0:1:f\n' % ('.' + '/d' * 1000, BLOCK),
    'deep file path': '. %s 0:1:%s\n' % (BLOCK, '/'.join(['d'] * 1000) + '/f'),
    'huge file': '. 0cc175b9c0f1b6a831c399e269772661+9223372036854775808 0:9223372036854775808:big\n',
    'long stream name': '%s %s 0:1:f\n' % ('./' + 'n' * 5000, BLOCK),
}


@pytest.mark.parametrize('kind', sorted(HOSTILE))
def test_hostile_keep_only_manifest_is_a_remembered_miss(cluster, kind):
    keep = arvados.KeepClient(api_client=cluster.api('alice'), num_retries=2)
    name = keep.put(HOSTILE[kind].encode())
    with mounted(cluster.full_env('alice'), '--by-id') as m:
        os.listdir(m.path)
        inodes = os.statvfs(m.path).f_files
        rss = rss_of(m.proc.pid)
        start = time.time()
        for _ in range(5):
            with pytest.raises(OSError) as err:
                os.stat(m.join(name))
            assert err.value.errno == errno.ENOENT
        # Generous: the old code took 20 s and 1.4 GB for n=3000.
        assert time.time() - start < 10
        assert rss_of(m.proc.pid) - rss < 100 * 1024 * 1024
        assert os.statvfs(m.path).f_files == inodes
        assert sorted(os.listdir(m.path)) == ['README', 'by_id']
        mentions = [line for line in m.log().splitlines() if name[:32] in line]
        assert len(mentions) == 1, mentions
