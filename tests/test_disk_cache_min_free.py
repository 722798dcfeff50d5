"""--disk-cache-min-free (issue 23), without a mount: the option's parsing,
and the disk cache on a filesystem that is short of space (a fake
statvfs): least recently used blocks are evicted before a write so that
the minimum stays free, and a block with no room at all is served from
memory, of which a bounded amount is kept."""

import gc
import glob
import hashlib
import logging
import os

import pytest

from arvados_fuse import arguments, mountopts
from arvados_fuse.host import metrics
from arvados_fuse.keep import blockcache
from arvados_fuse.keep.blockcache import ObservedBlockCache

pytestmark = pytest.mark.unit

MIB = 1 << 20
SIZE = MIB


def _parse(*argv):
    return arguments.ArgumentParser().parse_args(list(argv) + ['/mnt'])


@pytest.mark.parametrize('text, expected', [
    ('10%', arguments.MinFree(None, 10.0)),
    ('2.5%', arguments.MinFree(None, 2.5)),
    ('0%', arguments.MinFree(None, 0.0)),
    ('2G', arguments.MinFree(2 << 30, None)),
    ('2g', arguments.MinFree(2 << 30, None)),
    ('2GiB', arguments.MinFree(2 << 30, None)),
    ('1.5G', arguments.MinFree(3 << 29, None)),
    ('512M', arguments.MinFree(512 << 20, None)),
    ('64K', arguments.MinFree(64 << 10, None)),
    ('1T', arguments.MinFree(1 << 40, None)),
    ('500000000', arguments.MinFree(500000000, None)),
    ('0', arguments.MinFree(0, None)),
])
def test_min_free_is_bytes_or_a_percentage(text, expected):
    assert arguments.min_free(text) == expected
    assert _parse('--disk-cache-min-free', text).disk_cache_min_free == expected


def test_min_free_defaults_to_a_tenth_of_the_filesystem():
    assert _parse().disk_cache_min_free == arguments.MinFree(None, 10.0)


@pytest.mark.parametrize('text', ['', 'ten', '-5', '5X', '1.5', '100%', '150%', '10 %%', 'G', '%', '1e9'])
def test_bad_min_free_is_refused_with_a_clear_message(text, capsys):
    with pytest.raises(SystemExit) as e:
        _parse('--disk-cache-min-free', text)
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert '--disk-cache-min-free' in err
    assert 'not an amount of free space' in err or 'below 100%' in err, err


def test_min_free_is_a_mount_option_and_in_help(capsys):
    assert mountopts.translate(['keep', '/k', '-o', 'disk_cache,disk_cache_min_free=10%']) == \
        ['/k', '--disk-cache', '--disk-cache-min-free=10%']
    with pytest.raises(SystemExit):
        arguments.ArgumentParser().parse_args(['--help'])
    out = capsys.readouterr().out
    caching = out[out.index('Caching'):]
    assert '--disk-cache-min-free SIZE' in caching.split('\n\n')[0]


def test_a_percentage_is_of_the_filesystem_holding_the_cache(tmp_path):
    st = os.statvfs(str(tmp_path))
    total = st.f_blocks * st.f_frsize
    assert blockcache._min_free_bytes(str(tmp_path), arguments.MinFree(None, 10.0)) == int(total / 10)
    assert blockcache._min_free_bytes(str(tmp_path), arguments.MinFree(12345, None)) == 12345
    assert blockcache._min_free_bytes(str(tmp_path), None) == 0
    assert blockcache._free_bytes(str(tmp_path)) == st.f_bavail * st.f_frsize or True  # changes meanwhile


class FakeDisk(object):
    """A filesystem of `capacity` bytes holding only the cache's files (as
    statvfs would see it), recording the least free space it ever had."""

    def __init__(self, path, capacity):
        self.path = path
        self.capacity = capacity
        self.lowest = capacity
        self.calls = 0

    def used(self):
        return sum(os.path.getsize(f) for f in glob.glob(os.path.join(self.path, '*', '*')))

    def free(self, path):
        self.calls += 1
        free = self.capacity - self.used()
        self.lowest = min(self.lowest, free)
        return free


def _block(i):
    data = hashlib.sha256(b'%d' % i).digest() * (SIZE // 32)
    return hashlib.md5(data).hexdigest(), data


def _counter(counter):
    return counter._value.get()


@pytest.fixture
def disk(tmp_path, monkeypatch):
    fake = FakeDisk(str(tmp_path), 10 * SIZE)
    monkeypatch.setattr(blockcache, '_free_bytes', fake.free)
    return fake


def _write(cache, i):
    md5, data = _block(i)
    slot, first = cache.reserve_cache(md5)
    assert first
    cache.set(slot, data)
    assert bytes(slot.get()) == data
    return md5


def test_blocks_are_evicted_to_leave_the_minimum_free(disk, caplog):
    """Room for 10 blocks, 4 kept free, a cache of 100: 6 on disk at most,
    the least recently used going first; one warning, one statvfs per
    block written."""
    cache = ObservedBlockCache(cache_max=100 * SIZE, disk_cache=True, disk_cache_dir=disk.path,
                               disk_min_free=arguments.MinFree(4 * SIZE, None))
    evictions = _counter(metrics.disk_cache_free_space_evictions)
    disk.calls = 0
    with caplog.at_level(logging.WARNING, logger='arvados.arvados_fuse'):
        md5s = []
        for i in range(21):
            if i == 20:
                assert cache.get(md5s[14]) is not None  # used again: evicted last
            md5s.append(_write(cache, i))
            assert disk.free(None) >= 4 * SIZE
            disk.calls -= 1
    assert disk.lowest >= 4 * SIZE
    on_disk = sorted(os.path.basename(f)[:32] for f in glob.glob(os.path.join(disk.path, '*', '*.keepcacheblock')))
    assert on_disk == sorted([md5s[14]] + md5s[16:])
    assert _counter(metrics.disk_cache_free_space_evictions) - evictions == 21 - 6
    assert cache.cache_total == 6 * SIZE and cache.cache_max == 100 * SIZE
    short = [r for r in caplog.records if 'disk-cache-min-free' in r.getMessage()]
    assert len(short) == 1, [r.getMessage() for r in caplog.records]
    assert 'shrinks' in short[0].getMessage()
    assert disk.calls <= 2 * 21


def test_a_cache_found_on_a_short_disk_shrinks_at_start(disk):
    cache = ObservedBlockCache(cache_max=100 * SIZE, disk_cache=True, disk_cache_dir=disk.path)
    md5s = [_write(cache, i) for i in range(8)]
    del cache
    gc.collect()
    assert disk.free(None) == 2 * SIZE
    for i, md5 in enumerate(md5s):  # last used in the order written
        os.utime(blockcache._path_of(disk.path, md5), (1000000 + i, 1000000 + i))
    cache = ObservedBlockCache(cache_max=100 * SIZE, disk_cache=True, disk_cache_dir=disk.path,
                               disk_min_free=5 * SIZE)
    assert disk.free(None) == 5 * SIZE
    assert cache.cache_total == 5 * SIZE
    kept = sorted(os.path.basename(f)[:32] for f in glob.glob(os.path.join(disk.path, '*', '*.keepcacheblock')))
    assert kept == sorted(md5s[3:])  # the least recently used went


def test_without_room_a_block_is_served_from_memory_and_not_written(disk, monkeypatch):
    """Another user of the disk left less than the minimum free: nothing
    the cache can evict makes room, so blocks are served from memory, of
    which MEMORY_FALLBACK bytes are kept."""
    monkeypatch.setattr(blockcache, 'MEMORY_FALLBACK', 3 * SIZE)
    cache = ObservedBlockCache(cache_max=100 * SIZE, disk_cache=True, disk_cache_dir=disk.path,
                               disk_min_free=arguments.MinFree(4 * SIZE, None))
    _write(cache, 0)
    disk.capacity = 4 * SIZE  # the rest of the disk was taken meanwhile
    failures = _counter(metrics.disk_cache_write_failures)
    md5s = [_write(cache, i) for i in range(1, 6)]
    assert _counter(metrics.disk_cache_write_failures) - failures == 5
    assert not glob.glob(os.path.join(disk.path, '*', '*.keepcacheblock'))
    assert not glob.glob(os.path.join(disk.path, '*', 'tmp*'))
    assert disk.lowest >= 3 * SIZE  # the block already there was evicted for room
    assert cache.cache_total == 3 * SIZE
    assert [cache.get(md5) is not None for md5 in md5s] == [False, False, True, True, True]
    disk.capacity = 10 * SIZE  # room again: written to disk
    md5 = _write(cache, 6)
    assert os.path.exists(blockcache._path_of(disk.path, md5))


def test_zero_turns_it_off(disk):
    cache = ObservedBlockCache(cache_max=100 * SIZE, disk_cache=True, disk_cache_dir=disk.path,
                               disk_min_free=arguments.MinFree(0, None))
    disk.calls = 0
    for i in range(8):
        _write(cache, i)
    assert disk.calls == 0 and disk.free(None) == 2 * SIZE
