"""The background signature renewer (renewal.py) against a stub API: it
renews ahead of the earliest expiry whatever the lifetime, retries a
failing API, and lets go of a block table nothing references."""

import gc
import time

import pytest

from arvados_fuse.errors import NotFound
from arvados_fuse.blocks.manifest import block_locators, earliest_expiry, parse
from arvados_fuse.blocks.readpath import BlockTable
from arvados_fuse.blocks.renewal import COMPACT_SLACK, SignatureRenewer

MD5 = ['%032x' % i for i in range(3)]


def _manifest(expiry):
    locs = ['%s+3+A%s@%08x' % (m, 'f' * 40, expiry) for m in MD5]
    return '. %s 0:9:f\n./d %s 0:3:g\n' % (' '.join(locs), locs[0])


class StubApi(object):
    def __init__(self, lifetime):
        self.lifetime = lifetime
        self.calls = 0
        self.fail = 0

    def get_collection(self, pdh, num_retries=None):
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise IOError('API down')
        if pdh == 'gone':
            raise NotFound(pdh)
        return {'portable_data_hash': pdh, 'manifest_text': _manifest(int(time.time()) + self.lifetime)}


def _wait(cond, limit=10):
    deadline = time.time() + limit
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def test_block_locators_index_as_parse_does():
    text = _manifest(1000)
    assert block_locators(text) == parse(text).blocks
    assert earliest_expiry(block_locators(text)) == 1000
    assert earliest_expiry([MD5[0] + '+3']) is None


# Signatures expire on whole seconds, so these two wait seconds of real time
# (about 8 and 3): the slow tier (tests/conftest.py).
@pytest.mark.slow
def test_renews_short_lifetimes_ahead_of_expiry_and_retries_failures():
    api = StubApi(lifetime=4)
    renewer = SignatureRenewer()
    renewer.start()
    try:
        locators = block_locators(_manifest(int(time.time()) + 4))
        table = BlockTable(locators)
        renewer.track(table, 'pdh', api, 0, earliest_expiry(locators))
        # Renewed before the first expiry, and again before the next ones.
        first = table.locator(0)
        assert _wait(lambda: table.locator(0) != first, 4)
        api.fail = 1
        deadline = time.time() + 6
        while time.time() < deadline:
            assert earliest_expiry([table.locator(i) for i in range(3)]) >= int(time.time())
            time.sleep(0.2)
        assert api.calls >= 3 and renewer.failures == 1
    finally:
        renewer.stop()


@pytest.mark.slow
def test_lets_go_of_unreferenced_and_unrenewable_tables():
    api = StubApi(lifetime=2)
    renewer = SignatureRenewer()
    renewer.start()
    try:
        expiry = int(time.time()) + 2
        table = BlockTable(block_locators(_manifest(expiry)))
        renewer.track(table, 'pdh', api, 0, expiry)
        gone = BlockTable(block_locators(_manifest(expiry)))
        renewer.track(gone, 'gone', api, 0, expiry)
        assert renewer.tracked() == 2
        del table
        gc.collect()
        assert _wait(lambda: renewer.tracked() == 0, 5)
        calls = api.calls
        time.sleep(2)
        assert api.calls == calls
    finally:
        renewer.stop()


def test_the_schedule_does_not_keep_dropped_tables_until_their_due_time():
    """Tables nobody references any more, and reschedules, leave stale
    entries; the schedule is compacted instead of growing by one entry per
    collection loaded until each one's due time (a week by default)."""
    renewer = SignatureRenewer()  # not started: nothing is renewed
    far = time.time() + 14 * 86400
    kept = BlockTable(['a' * 32 + '+1'])
    renewer.track(kept, 'pdh', None, 0, far)
    for _ in range(10 * COMPACT_SLACK):
        renewer.track(BlockTable(['b' * 32 + '+1']), 'pdh', None, 0, far)  # dropped at once
        renewer.renewed(kept, far)
    gc.collect()
    assert renewer.tracked() == 1
    assert len(renewer._heap) <= 2 * renewer.tracked() + COMPACT_SLACK + 1
