"""keep.blockcache with --disk-cache, without a mount: a block file is
checked against its MD5 at its first use after being loaded from disk; a
damaged one (other bytes, short, unreadable, empty, a directory) is removed
and never served; a block the disk cannot store is served from memory and
leaves no file behind."""

import errno
import glob
import hashlib
import os

import pytest

from arvados_fuse.host import metrics
from arvados_fuse.keep import blockcache
from arvados_fuse.keep.blockcache import CheckedDiskSlot, ObservedBlockCache

pytestmark = pytest.mark.unit

SIZE = 3 << 20


def _block(seed=b'x'):
    data = hashlib.sha256(seed).digest() * (SIZE // 32)
    return hashlib.md5(data).hexdigest(), data


def _cache(path):
    return ObservedBlockCache(cache_max=256 << 20, disk_cache=True, disk_cache_dir=str(path))


def _stored(path, seed=b'x'):
    """A cache directory holding one block, written through the cache."""
    md5, data = _block(seed)
    cache = _cache(path)
    slot, first = cache.reserve_cache(md5)
    assert first
    cache.set(slot, data)
    assert bytes(slot.get()) == data
    return md5, data, blockcache._path_of(str(path), md5)


def _counter(counter):
    return counter._value.get()


def test_a_good_block_file_is_served_and_checked_once(tmp_path, monkeypatch):
    md5, data, path = _stored(tmp_path)
    checks = []
    real = blockcache._md5_of_file
    monkeypatch.setattr(blockcache, '_md5_of_file', lambda fd: checks.append(fd) or real(fd))
    cache = _cache(tmp_path)  # found at start
    slot, first = cache.reserve_cache(md5)
    assert not first and isinstance(slot, CheckedDiskSlot) and not slot.checked
    assert bytes(slot.get()) == data and bytes(slot.get()) == data
    assert len(checks) == 1


@pytest.mark.parametrize('damage', ['flipped', 'short', 'longer'])
def test_a_damaged_block_file_is_removed_and_never_served(tmp_path, damage):
    md5, data, path = _stored(tmp_path)
    with open(path, 'r+b') as f:
        if damage == 'flipped':
            f.seek(SIZE // 2)
            f.write(b'\0' * 16 if data[SIZE // 2:SIZE // 2 + 16] != b'\0' * 16 else b'\1' * 16)
        elif damage == 'short':
            f.truncate(SIZE - 1)
        else:
            f.seek(0, 2)
            f.write(b'!')
    before = _counter(metrics.disk_cache_damaged)
    for found_at_start in (True, False):
        if not os.path.exists(path):
            with open(path, 'wb') as f:
                f.write(data[:-1] + b'?')
        cache = _cache(tmp_path) if found_at_start else None
        if cache is None:
            cache = _cache(tmp_path / 'elsewhere')
            cache._disk_cache_dir = str(tmp_path)  # loaded at its first reservation, not at start
        slot, first = cache.reserve_cache(md5)
        assert not first
        assert slot.get() is None
        assert not os.path.exists(path)
        # The next reservation is a miss: the block is fetched again.
        slot, first = cache.reserve_cache(md5)
        assert first
        cache.set(slot, data)
        assert bytes(slot.get()) == data
        assert hashlib.md5(open(path, 'rb').read()).hexdigest() == md5
        os.remove(path)
    assert _counter(metrics.disk_cache_damaged) == before + 2


def test_an_unreadable_block_file_is_removed(tmp_path, monkeypatch):
    """An I/O error while checking (a bad disk): removed, not served."""
    md5, data, path = _stored(tmp_path)

    def eio(*args):
        raise OSError(errno.EIO, 'Input/output error')
    cache = _cache(tmp_path)
    monkeypatch.setattr(blockcache.os, 'preadv', eio)
    slot, first = cache.reserve_cache(md5)
    assert not first and slot.get() is None
    assert not os.path.exists(path)
    assert cache.cache_total == 0


def test_what_the_sdk_could_not_map_is_removed_at_start(tmp_path):
    """An empty block file and a directory in a block file's place are
    removed before the SDK maps the directory (it printed a traceback for
    each, and a directory kept the block from ever being stored)."""
    md5, data, path = _stored(tmp_path)
    other, _ = _block(b'y')
    empty = blockcache._path_of(str(tmp_path), other)
    os.makedirs(os.path.dirname(empty), exist_ok=True)
    open(empty, 'wb').close()
    os.remove(path)
    os.mkdir(path)
    cache = _cache(tmp_path)
    assert not os.path.exists(empty) and not os.path.exists(path)
    slot, first = cache.reserve_cache(md5)
    assert first
    cache.set(slot, data)
    assert bytes(slot.get()) == data and os.path.isfile(path)


def test_a_block_the_disk_cannot_store_is_served_from_memory(tmp_path):
    md5, data = _block(b'z')
    cache = _cache(tmp_path)
    # The block's directory cannot be made: a file is in its place.
    open(os.path.join(str(tmp_path), md5[:3]), 'wb').close()
    before = _counter(metrics.disk_cache_write_failures)
    slot, first = cache.reserve_cache(md5)
    assert first
    cache.set(slot, data)
    assert bytes(slot.get()) == data
    assert _counter(metrics.disk_cache_write_failures) == before + 1
    assert cache.cache_total >= len(data)
    assert not glob.glob(os.path.join(str(tmp_path), '*', 'tmp*'))
    # Evicted like any other block.
    total = cache.cache_total
    cache.cap_cache()
    cache._resize_cache(0, 0)
    assert cache.cache_total == total - len(data) and slot.content is None


def test_a_prefetched_block_is_checked_ahead_of_its_reader(tmp_path):
    """check_soon (the fetcher's prefetch of a block found on disk): checked
    in the background; a damaged one is removed before anyone reads it."""
    import time
    good, good_data, _ = _stored(tmp_path, b'good')
    bad, _bad_data, bad_path = _stored(tmp_path, b'bad')
    with open(bad_path, 'r+b') as f:
        f.write(b'damaged')
    cache = _cache(tmp_path)
    good_slot, _ = cache.reserve_cache(good)
    bad_slot, _ = cache.reserve_cache(bad)
    cache.check_soon(good_slot)
    cache.check_soon(bad_slot)
    deadline = time.monotonic() + 10
    while not (good_slot.checked and not os.path.exists(bad_path)) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert good_slot.checked and bytes(good_slot.get()) == good_data
    assert not os.path.exists(bad_path) and bad_slot.content is None
    assert cache.reserve_cache(bad)[1]  # a miss: fetched again
