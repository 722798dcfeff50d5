"""The fetcher's receive buffers (keep/fetcher.py): private anonymous
memory, populated ahead of the bytes received, and left closable."""

import mmap

from arvados_fuse.keep import fetcher


def test_a_fresh_buffer_is_private_and_populated_ahead_then_closable(monkeypatch):
    calls = []
    real = fetcher._madvise

    def madvise(address, length, advice):
        calls.append((address, length, advice))
        return real(address, length, advice) if real is not None else 0
    monkeypatch.setattr(fetcher, '_madvise', madvise)
    size = 20 << 20
    buf = fetcher._anonymous(size)
    populator = fetcher._Populator(buf)
    for end in range(1 << 20, size + 1, 1 << 20):
        populator.ahead_of(end)
        buf[end - 4:end] = b'abcd'  # writable all along
    # A step at a time, covering the buffer once, page-aligned.
    assert [length for _a, length, _adv in calls] == [fetcher.POPULATE_STEP, fetcher.POPULATE_STEP,
                                                      size - 2 * fetcher.POPULATE_STEP]
    assert sum(length for _a, length, _adv in calls) == size
    assert all(advice == fetcher.MADV_POPULATE_WRITE and address % mmap.PAGESIZE == 0
               for address, _l, advice in calls)
    assert buf[size - 4:] == b'abcd'
    buf.close()  # no buffer export left behind by the populator


def test_where_the_advice_is_refused_pages_are_faulted_in_as_received(monkeypatch):
    calls = []

    def refused(address, length, advice):
        calls.append(length)
        return -1
    monkeypatch.setattr(fetcher, '_madvise', refused)
    buf = fetcher._anonymous(16 << 20)
    populator = fetcher._Populator(buf)
    for end in range(1 << 20, (16 << 20) + 1, 1 << 20):
        populator.ahead_of(end)
    assert len(calls) == 1  # asked once, then left to page faults
    buf[:] = b'x' * (16 << 20)
    buf.close()
