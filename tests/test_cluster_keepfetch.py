"""keep.fetcher.BlockFetcher against Keep servers: several blocks in flight at
once, MD5 checked, no wait on the SDK's KeepClient.lock, a bounded wait
against a server that never answers.  A small Keep server in this file
(127.0.0.1) makes the concurrency visible; the local cluster serves the
rest."""

import hashlib
import http.server
import os
import threading
import weakref

import arvados
import arvados.keep
import pytest

from arvados_fuse.errors import KeepFailure
from arvados_fuse.keep.fetcher import BlockFetcher
from arvados_fuse.api.safeapi import SafeApi

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


class _Keep(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(blocks, barrier=None, stall=None, fail_first=0):
    """A Keep server for `blocks` (md5 -> bytes).  With `barrier`, every GET
    waits there first (so it answers only once that many are open at once);
    with `stall` (an Event), it waits for that before answering; the first
    `fail_first` GETs get 503."""
    failing = [fail_first]

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def do_GET(self):
            if failing[0] > 0:
                failing[0] -= 1
                self.send_error(503)
                return
            if barrier is not None:
                try:
                    barrier.wait(20)
                except threading.BrokenBarrierError:
                    self.send_error(500, 'fewer concurrent requests than expected')
                    return
            if stall is not None:
                stall.wait(30)
            body = blocks.get(self.path.lstrip('/').split('+')[0])
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
    server = _Keep(('127.0.0.1', 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _keep_client(server, cache=None):
    return arvados.KeepClient(proxy='http://127.0.0.1:%d/' % server.server_address[1], api_token='x',
                              block_cache=cache or arvados.keep.KeepBlockCache(cache_max=64 << 20))


def _observed_fetcher(server, blocks, cache_max, num_retries=0):
    """(cache, fetcher, fetch) over `server` with an ObservedBlockCache of
    `cache_max` bytes, one fetch thread; fetch(loc) checks the bytes."""
    from arvados_fuse.keep.blockcache import ObservedBlockCache
    cache = ObservedBlockCache(cache_max=cache_max)
    fetcher = BlockFetcher(_keep_client(server, cache), num_retries=num_retries, read_timeout=60, threads=1)

    def fetch(loc):
        assert bytes(fetcher.get(loc)) == blocks[loc.split('+')[0]]
    return cache, fetcher, fetch


def _blocks(n, size=1 << 20):
    data = [os.urandom(size) for _ in range(n)]
    return {hashlib.md5(b).hexdigest(): b for b in data}, \
        ['%s+%d' % (hashlib.md5(b).hexdigest(), len(b)) for b in data]


def test_four_blocks_are_fetched_at_once():
    """The SDK's two prefetch threads never had four GETs open at once."""
    blocks, locs = _blocks(4)
    server = _serve(blocks, barrier=threading.Barrier(4))
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=0, read_timeout=60, threads=4)
        for loc in locs:
            fetcher.prefetch(loc)
        for loc in locs:
            assert bytes(fetcher.get(loc)) == blocks[loc.split('+')[0]]
    finally:
        server.shutdown()


def test_evicted_buffers_are_reused_only_when_nothing_holds_them():
    """A fetch that evicts a block to make room receives into its buffer
    (no fresh pages to fault in), but only when nothing can read it any
    more: a block a reader (or a pending reply's memoryview) still holds
    keeps its bytes, whatever is fetched after its eviction."""
    blocks, locs = _blocks(8, 16 << 20)
    server = _serve(blocks)
    try:
        cache, fetcher, fetch = _observed_fetcher(server, blocks, 64 << 20)  # four blocks
        for loc in locs[:4]:
            fetch(loc)
        assert cache.reused == 0
        held = fetcher.get(locs[1])           # a reader holds block 1
        view = memoryview(fetcher.get(locs[2]))[5:10]  # a reply in flight holds block 2
        weak = weakref.ref(fetcher.get(locs[3]))      # a file between reads holds block 3 weakly
        fetch(locs[4])                        # evicts block 0, held by nobody
        assert cache.reused == 1
        for loc in locs[5:]:                   # evicts blocks 3, 1 and 2
            fetch(loc)
        assert cache.reused == 1              # never 1's, 2's or 3's buffer
        assert bytes(held) == blocks[locs[1].split('+')[0]]
        assert bytes(view) == blocks[locs[2].split('+')[0]][5:10]
        assert weak() is None                 # freed when evicted, never reused
        for loc in locs:                       # and everything reads back exact
            fetch(loc)
    finally:
        server.shutdown()


def test_a_block_a_sequential_reader_passed_is_received_into_before_the_cache_is_full():
    """Issue 24: a fresh mount reading a big file received every block into
    fresh memory (a page fault and a zeroed page per 4 KiB) until its cache
    was full.  A block a sequential reader passed (readpath: two blocks
    behind) that nothing references, not even weakly, is dropped for the
    next block to be received into; one a reader holds, strongly or as its
    current block, stays."""
    size = 16 << 20
    blocks, locs = _blocks(6, size)
    server = _serve(blocks)
    try:
        cache, fetcher, fetch = _observed_fetcher(server, blocks, 256 << 20)  # sixteen blocks: never full here
        for loc in locs[:3]:
            fetch(loc)
        held = fetcher.get(locs[1])            # a read copying out of block 1
        weak = weakref.ref(fetcher.get(locs[2]))  # a reader's current block
        for loc in locs[:3]:
            fetcher.passed(loc)
        fetch(locs[3])                         # into block 0's buffer
        assert cache.dropped_behind == 1 and cache.reused == 1
        assert cache.get(locs[0].split('+')[0]) is None
        fetch(locs[4])                         # blocks 1 and 2 are held: fresh memory
        assert cache.dropped_behind == 1
        assert bytes(held) == blocks[locs[1].split('+')[0]] and weak() is not None
        assert cache.cache_total == 4 * size
        for loc in locs:                       # everything reads back exact
            fetch(loc)
    finally:
        server.shutdown()


def test_a_block_fetched_after_a_failed_try_is_freed_when_evicted():
    """A fetch whose first try failed kept that failure with its traceback,
    which held the fetch's frame, which held the failure: a cycle, and in
    it the frame's result, the block.  Evicted, the block stayed in memory
    until the garbage collector came by (the soak's flapping Keep server:
    2-3 blocks of 64 MiB at a time beyond the cache)."""
    import gc
    blocks, locs = _blocks(5, 16 << 20)
    server = _serve(blocks, fail_first=1)
    gc.disable()
    try:
        # Four blocks (the SDK's least).
        cache, fetcher, fetch = _observed_fetcher(server, blocks, 64 << 20, num_retries=1)
        weak = weakref.ref(fetcher.get(locs[0]))  # 503, then the block
        assert weak() is not None
        for loc in locs[1:]:                      # the last one evicts it
            fetch(loc)
        assert cache.get(locs[0].split('+')[0]) is None
        assert weak() is None
    finally:
        gc.enable()
        server.shutdown()


def test_a_wrong_body_is_an_error_never_bytes():
    blocks, locs = _blocks(1)
    md5 = locs[0].split('+')[0]
    blocks[md5] = b'x' * len(blocks[md5])
    server = _serve(blocks)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=1, read_timeout=30)
        with pytest.raises(KeepFailure):
            fetcher.get(locs[0])
    finally:
        server.shutdown()


def test_a_stalled_server_gives_an_error_after_the_read_timeout():
    blocks, locs = _blocks(1)
    stall = threading.Event()
    server = _serve(blocks, stall=stall)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=10, read_timeout=1)
        with pytest.raises(KeepFailure):
            fetcher.get(locs[0])
    finally:
        stall.set()
        server.shutdown()


def test_a_block_of_another_cluster_is_bounded_by_the_read_timeout_too():
    """+K@ blocks go through the SDK's KeepClient.get (which would wait
    as long as its retries last); the reader still gets an error at the
    deadline."""
    blocks, locs = _blocks(1)
    stall = threading.Event()
    server = _serve(blocks, stall=stall)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=10, read_timeout=1)
        with pytest.raises(KeepFailure, match='within 1s'):
            fetcher.get(locs[0] + '+K@zzzzy')
    finally:
        stall.set()
        server.shutdown()


def test_reads_never_wait_on_the_sdk_keepclient_lock(cluster):
    """The SDK rebuilds its service list (an API call) holding
    KeepClient.lock; a read through the mount's block source must not need
    that lock at all."""
    env = cluster.full_env('alice')
    api = SafeApi({'ARVADOS_API_HOST': env['ARVADOS_API_HOST'], 'ARVADOS_API_TOKEN': env['ARVADOS_API_TOKEN'],
                   'ARVADOS_API_HOST_INSECURE': 'true'}, num_retries=1)
    data = os.urandom(100000)
    loc = arvados.KeepClient(api_client=cluster.api('alice'), num_retries=1).put(data)
    result = {}
    with api.keep.lock:
        def read():
            result['data'] = bytes(api.block_source().get(loc))
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(60)
    assert result.get('data') == data
