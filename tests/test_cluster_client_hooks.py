"""The client layer's hook and bounds, on a local cluster: the observer
given to SafeApi sees every API request exactly once and every request to a
Keep server; the Keep service listing the block fetcher needs is an API
call like the others, bounded by --timeout."""

import os
import threading
import time

import arvados
import pytest

from arvados_fuse import errors
from arvados_fuse.api.safeapi import SafeApi
from arvados_fuse.observer import ClientObserver

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


class Recorder(ClientObserver):
    def __init__(self):
        self.lock = threading.Lock()
        self.api = 0
        self.keep = []

    def api_request(self):
        with self.lock:
            self.api += 1

    def keep_fetch(self, server, nbytes, retry, failed):
        with self.lock:
            self.keep.append((server, nbytes, retry, failed))


def _api(cluster, observer, **kwargs):
    return SafeApi({'ARVADOS_API_HOST': cluster.api_host, 'ARVADOS_API_TOKEN': cluster.token('alice'),
                    'ARVADOS_API_HOST_INSECURE': 'true'}, num_retries=0, observer=observer, **kwargs)


def _counted(recorder, call):
    before = recorder.api
    call()
    return recorder.api - before


def test_the_observer_sees_one_api_request_per_call(module_cluster):
    c = module_cluster
    rec = Recorder()
    api = _api(c, rec)
    # Made with the client (the SDK's KeepClient asks for them): the
    # discovery document and the cluster's configuration.
    assert rec.api >= 1
    assert _counted(rec, api.current_user) == 1
    me = c.users['alice']['uuid']
    missing = me[:5] + '-j7d0g-000000000000999'
    calls = [api.current_user,
             lambda: api.get_user(me),
             lambda: api.tag_exists('no-such-tag'),
             lambda: api.newest_log_id(),
             api.list_keep_services]
    for call in calls:
        assert _counted(rec, call) == 1
    # Not found is one request too, and our NotFound.
    with pytest.raises(errors.NotFound):
        assert _counted(rec, lambda: api.get_group(missing)) == 1
    # Another thread's client is served the discovery document from memory.
    counts = []
    t = threading.Thread(target=lambda: counts.append(_counted(rec, api.current_user)))
    t.start()
    t.join(30)
    assert counts == [1]


def test_the_observer_sees_each_keep_request(module_cluster):
    c = module_cluster
    data = os.urandom(100000)
    locator = arvados.KeepClient(api_client=c.api('alice'), num_retries=1).put(data)
    rec = Recorder()
    api = _api(c, rec)
    api.current_user()
    before = rec.api
    assert bytes(api.block_source(0).get(locator)) == data
    # The service list (one API request), then one GET that brought the block.
    assert rec.api - before == 1
    assert len(rec.keep) == 1
    server, nbytes, retry, failed = rec.keep[0]
    assert server.startswith('http') and (nbytes, retry, failed) == (len(data), False, False)
    # A cached block costs no request.
    assert bytes(api.block_source(0).get(locator)) == data
    assert len(rec.keep) == 1 and rec.api - before == 1


def test_the_keep_service_listing_is_bounded_by_the_api_timeout(module_cluster):
    c = module_cluster
    data = os.urandom(1000)
    locator = arvados.KeepClient(api_client=c.api('alice'), num_retries=1).put(data)
    api = _api(c, Recorder(), timeout=2)
    api.current_user()  # discovery done before the API stops answering
    c.set_fault('api', latency=30)
    try:
        start = time.monotonic()
        with pytest.raises(errors.Timeout):
            api.list_keep_services()
        assert time.monotonic() - start < 6
        # The fetcher's first read needs the list: it fails as soon, as a
        # KeepFailure (the read answers EIO), not after --read-timeout.
        start = time.monotonic()
        with pytest.raises(errors.KeepFailure) as e:
            api.block_source(0).get(locator)
        assert time.monotonic() - start < 6
        assert 'no answer within 2s' in str(e.value)
    finally:
        c.clear_faults()
    # A read of the block within a second of its failure shares that failure
    # (it is the kernel retrying the same read: keep/fetcher.py); after it,
    # Keep is asked again.
    time.sleep(1.2)
    assert bytes(api.block_source(0).get(locator)) == data
