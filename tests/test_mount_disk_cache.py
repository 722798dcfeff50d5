"""The disk cache never serves wrong bytes (issue 23): a block file in
--disk-cache-dir that was damaged (bytes flipped, truncated, replaced by a
directory) is found out by its MD5 before its first use, removed and
fetched again from Keep; a disk that is full when a block is written leaves
nothing half-written behind, and the block is served from memory."""

import glob
import hashlib
import os
import subprocess
import threading
import time

import arvados
import pytest

from mountutil import md5_of, mounted

pytestmark = pytest.mark.timeout(180)

BLOCK = 4 << 20
SUFFIX = '.keepcacheblock'
MIB = 1 << 20


def _collection(cluster, name, nblocks, block=BLOCK):
    api = cluster.api('alice')
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    blocks = [os.urandom(block) for _ in range(nblocks)]
    locs = [keep.put(b) for b in blocks]
    data = b''.join(blocks)
    coll = api.collections().create(body={'collection': {
        'name': name, 'manifest_text': '. %s 0:%d:data.bin\n' % (' '.join(locs), len(data))}}).execute()
    return coll, [loc[:32] for loc in locs], hashlib.md5(data).hexdigest()


def _block_file(cache_dir, md5):
    return os.path.join(cache_dir, md5[:3], md5 + SUFFIX)


def _file_md5(path):
    with open(path, 'rb') as f:
        return hashlib.md5(f.read()).hexdigest()


def _flip(path, at, n=16):
    with open(path, 'r+b') as f:
        f.seek(at)
        good = f.read(n)
        f.seek(at)
        f.write(bytes(b ^ 0xff for b in good))


def _mount_args(coll, cache_dir):
    return ('--collection', coll['uuid'], '--disk-cache', '--disk-cache-dir', cache_dir, '--file-cache',
            str(64 << 20))


def test_damaged_block_files_are_never_served(module_cluster, tmp_path):
    """Flipped bytes (while unmounted), a truncated file and a directory in
    place of a file: each is found before its first use, removed, and the
    block fetched again; the file reads exact, and the cache holds the
    right bytes again."""
    c = module_cluster
    coll, md5s, whole = _collection(c, 'disk cache damage', 4)
    cache_dir = str(tmp_path / 'cache')
    with mounted(c.full_env('alice'), *_mount_args(coll, cache_dir)) as m:
        assert md5_of(m.join('data.bin')) == whole
    for md5 in md5s:
        assert _file_md5(_block_file(cache_dir, md5)) == md5
    flipped, truncated, gone, intact = md5s
    _flip(_block_file(cache_dir, flipped), BLOCK // 2)
    os.truncate(_block_file(cache_dir, truncated), BLOCK // 3)
    os.unlink(_block_file(cache_dir, gone))
    os.mkdir(_block_file(cache_dir, gone))
    with mounted(c.full_env('alice'), *_mount_args(coll, cache_dir)) as m:
        assert md5_of(m.join('data.bin')) == whole
        log = m.log()
        damaged = [line for line in log.splitlines() if 'disk cache' in line and 'damaged' in line]
        assert len([line for line in damaged if flipped in line]) == 1, log[-3000:]
        assert len([line for line in damaged if truncated in line]) == 1, log[-3000:]
        assert 'Traceback' not in log, log[-3000:]
    for md5 in md5s:
        assert _file_md5(_block_file(cache_dir, md5)) == md5, md5
    assert not glob.glob(os.path.join(cache_dir, '*', 'tmp*'))


def test_a_block_damaged_under_a_running_mount_before_its_first_use(module_cluster, tmp_path):
    """Blocks mapped at start are checked at their first use, not before:
    one damaged after the mount started (and before it was read) is found
    out too."""
    c = module_cluster
    coll, md5s, whole = _collection(c, 'disk cache damage while mounted', 2)
    cache_dir = str(tmp_path / 'cache')
    with mounted(c.full_env('alice'), *_mount_args(coll, cache_dir)) as m:
        assert md5_of(m.join('data.bin')) == whole
    with mounted(c.full_env('alice'), *_mount_args(coll, cache_dir)) as m:
        _flip(_block_file(cache_dir, md5s[1]), 0)
        assert md5_of(m.join('data.bin')) == whole
        assert sum(md5s[1] in line and 'damaged' in line for line in m.log().splitlines()) == 1
    assert _file_md5(_block_file(cache_dir, md5s[1])) == md5s[1]


def test_a_full_disk_serves_from_memory_and_leaves_nothing_half_written(module_cluster, tmp_path):
    """The cache on a filesystem with room for one block: the others cannot
    be written (ENOSPC); they are served from memory, the file reads exact,
    and no temporary file is left behind.  (--disk-cache-min-free 0: with a
    minimum, the cache would evict to make room instead, below.)"""
    c = module_cluster
    coll, md5s, whole = _collection(c, 'disk cache full', 3)
    cache_dir = str(tmp_path / 'small')
    os.mkdir(cache_dir)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=%d' % (BLOCK + BLOCK // 2), 'tmpfs', cache_dir])
    try:
        with mounted(c.full_env('alice'), *_mount_args(coll, cache_dir), '--disk-cache-min-free', '0') as m:
            assert md5_of(m.join('data.bin')) == whole
            assert md5_of(m.join('data.bin')) == whole
            log = m.log()
            assert 'disk cache' in log and 'No space left on device' in log, log[-3000:]
            assert 'Traceback' not in log, log[-3000:]
        assert not glob.glob(os.path.join(cache_dir, '*', 'tmp*'))
        files = glob.glob(os.path.join(cache_dir, '*', '*' + SUFFIX))
        for path in files:  # whatever is there is whole
            assert _file_md5(path) == os.path.basename(path)[:32]
    finally:
        subprocess.call(['umount', cache_dir])


def test_the_disk_cache_leaves_the_minimum_free(module_cluster, tmp_path):
    """--disk-cache-min-free 25% on a 200 MiB tmpfs, with a --file-cache of
    1 GiB: a 192 MiB file (12 blocks of 16 MiB, more than the 150 MiB the
    cache may use) reads exact, twice, and the tmpfs never has less than
    50 MiB free (statvfs sampled every few milliseconds while reading); the
    cache shrinking is said once."""
    c = module_cluster
    coll, md5s, whole = _collection(c, 'disk cache min free', 12, block=16 << 20)
    cache_dir = str(tmp_path / 'small')
    os.mkdir(cache_dir)
    subprocess.check_call(['mount', '-t', 'tmpfs', '-o', 'size=200M', 'tmpfs', cache_dir])
    try:
        st = os.statvfs(cache_dir)
        minimum = st.f_blocks * st.f_frsize // 4
        lowest = [st.f_bavail * st.f_frsize]
        done = threading.Event()

        def sample():
            while not done.is_set():
                st = os.statvfs(cache_dir)
                lowest[0] = min(lowest[0], st.f_bavail * st.f_frsize)
                time.sleep(0.002)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            with mounted(c.full_env('alice'), '--collection', coll['uuid'], '--disk-cache', '--disk-cache-dir',
                         cache_dir, '--file-cache', str(1 << 30), '--disk-cache-min-free', '25%') as m:
                assert md5_of(m.join('data.bin')) == whole
                assert md5_of(m.join('data.bin')) == whole
                log = m.log()
        finally:
            done.set()
            sampler.join(10)
        assert lowest[0] >= minimum, (lowest[0], minimum)
        assert 'Traceback' not in log, log[-3000:]
        short = [line for line in log.splitlines() if '--disk-cache-min-free' in line]
        assert len(short) == 1 and 'shrinks' in short[0], log[-3000:]
        assert 'No space left on device' not in log, log[-3000:]
        files = glob.glob(os.path.join(cache_dir, '*', '*' + SUFFIX))
        assert 0 < len(files) < 12
        assert sum(os.path.getsize(path) for path in files) <= 200 * MIB - minimum
        for path in files:
            assert _file_md5(path) == os.path.basename(path)[:32]
        assert not glob.glob(os.path.join(cache_dir, '*', 'tmp*'))
    finally:
        subprocess.call(['umount', cache_dir])
