"""The local cluster survives a Keep server's `down` knob flapping under
load.  It once deadlocked: dropping connections mid-response left aiohttp
`FileResponse.prepare` coroutines to the garbage collector, whose
`finally` called `run_in_executor` from inside another
`ThreadPoolExecutor.submit` of the event loop's thread (its lock is not
reentrant), and every request after hung.  Run with a garbage collector
that runs every few allocations, so finalizers run anywhere."""

import threading
import time

import arvados
import pytest

from localcluster.testing import LocalCluster, keep_request

pytestmark = pytest.mark.timeout(150)

READERS = 12
FLAP_FOR = 20


@pytest.fixture
def gc_cluster(tmp_path):
    c = LocalCluster(tmp_path / 'cluster', extra_args=['--gc-threshold', '20'])
    c.start()
    try:
        yield c
    finally:
        c.stop(timeout=10)


def test_keep_survives_flapping_down_under_load(gc_cluster):
    c = gc_cluster
    keep = arvados.KeepClient(api_client=c.api('alice'), num_retries=2)
    locators = [keep.put(bytes([i]) * (4 << 20)) for i in range(4)]
    url = c.info['keep_urls'][0]
    token = c.token('alice')
    stop = threading.Event()
    counts = {'ok': 0, 'failed': 0}

    def reader(i):
        n = i
        while not stop.is_set():
            n += 1
            try:
                status, body = keep_request(url + locators[n % len(locators)], token)
                counts['ok' if status == 200 else 'failed'] += 1
            except Exception:  # refused, reset, cut short: all expected while flapping
                counts['failed'] += 1
    threads = [threading.Thread(target=reader, args=(i,), daemon=True) for i in range(READERS)]
    for t in threads:
        t.start()
    try:
        end = time.time() + FLAP_FOR
        down = False
        while time.time() < end:
            down = not down
            c.set_fault('keep0', down=down)
            time.sleep(0.05 if down else 0.15)
    finally:
        stop.set()
        c.clear_faults()
    for t in threads:
        t.join(60)
    assert counts['ok'] > 0 and counts['failed'] > 0, counts
    # Alive: every block still served, promptly.
    for loc in locators:
        status, body = keep_request(url + loc, token)
        assert status == 200 and len(body) == 4 << 20
