"""keep.fetcher.BlockFetcher's waits against Keep servers that fail (issue
20): the kernel's retry of a failed read gets its answer at once, back-offs
are cut to fit before the deadline, and a signature check (HEAD) against a
server that never answers ends at the deadline, not after the 20 s stall
timeout.  Small Keep servers on 127.0.0.1, in this file."""

import hashlib
import http.server
import os
import threading
import time

import arvados
import arvados.keep
import pytest

from arvados_fuse.errors import KeepFailure
from arvados_fuse.keep import fetcher as fetcher_module
from arvados_fuse.keep.fetcher import BlockFetcher

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


class _Keep(http.server.ThreadingHTTPServer):
    daemon_threads = True


def _serve(blocks, status=None, stall_head=None):
    """A Keep server for `blocks` (md5 -> bytes) counting its requests
    (`server.requests`); `status`: answer every GET with it instead;
    `stall_head` (an Event): a HEAD waits for it before answering."""
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = 'HTTP/1.1'

        def log_message(self, *args):
            pass

        def do_GET(self):
            server.requests.append(('GET', time.monotonic()))
            body = blocks.get(self.path.lstrip('/').split('+')[0])
            if status is not None or body is None:
                self.send_error(status or 404)
                return
            self.send_response(200)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_HEAD(self):
            server.requests.append(('HEAD', time.monotonic()))
            if stall_head is not None:
                stall_head.wait(60)
            self.send_response(200)
            self.send_header('Content-Length', '0')
            self.end_headers()
    server = _Keep(('127.0.0.1', 0), Handler)
    server.requests = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _keep_client(server):
    return arvados.KeepClient(proxy='http://127.0.0.1:%d/' % server.server_address[1], api_token='x',
                              block_cache=arvados.keep.KeepBlockCache(cache_max=64 << 20))


def _block(size=1 << 20):
    data = os.urandom(size)
    md5 = hashlib.md5(data).hexdigest()
    return {md5: data}, '%s+%d' % (md5, size)


def _timed(fn):
    start = time.monotonic()
    try:
        return fn(), time.monotonic() - start
    except KeepFailure as e:
        return e, time.monotonic() - start


def test_the_kernels_retry_of_a_failed_read_gets_the_same_answer_at_once(monkeypatch):
    """The kernel follows a failed readahead with a read of the page its
    reader wants: the same read(), which must not ask Keep (and wait) all
    over again.  Later reads of the block do."""
    monkeypatch.setattr(fetcher_module, 'RETRY_GRACE', 0.5)
    blocks, loc = _block()
    server = _serve(blocks, status=503)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=10, read_timeout=2)
        first, took = _timed(lambda: fetcher.get(loc))
        assert isinstance(first, KeepFailure) and first.statuses, first
        asked = len(server.requests)
        assert asked >= 2  # retried within the read timeout
        retry, took = _timed(lambda: fetcher.get(loc))
        assert isinstance(retry, KeepFailure) and "kernel's retry" in str(retry)
        assert retry.statuses == first.statuses
        assert len(server.requests) == asked and took < 0.5
        # Once only: the next read asks Keep again.
        again, took = _timed(lambda: fetcher.get(loc))
        assert isinstance(again, KeepFailure) and "kernel's retry" not in str(again)
        assert len(server.requests) > asked
        # And so does one after RETRY_GRACE.
        time.sleep(0.6)
        late, took = _timed(lambda: fetcher.get(loc))
        assert isinstance(late, KeepFailure) and "kernel's retry" not in str(late)
    finally:
        server.shutdown()


def test_a_retry_after_keep_came_back_gets_the_block(monkeypatch):
    """Within the grace, a block cached meanwhile (another reader fetched
    it) is served."""
    blocks, loc = _block()
    server = _serve(blocks, status=503)
    good = _serve(blocks)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=0, read_timeout=2)
        with pytest.raises(KeepFailure):
            fetcher.get(loc)
        # The block lands in the cache through the same cache slot table.
        other = BlockFetcher(_keep_client(good), num_retries=0, read_timeout=2)
        other._cache = fetcher._cache
        assert bytes(other.get(loc)) == blocks[loc[:32]]
        assert bytes(fetcher.get(loc)) == blocks[loc[:32]]
    finally:
        server.shutdown()
        good.shutdown()


def test_back_offs_are_cut_to_fit_before_the_deadline():
    """With 503s, rounds go on until just before --read-timeout (an outage
    shorter than it is ridden out): the back-off that would reach the
    deadline is cut to half the time left."""
    blocks, loc = _block()
    server = _serve(blocks, status=503)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=10, read_timeout=4)
        failure, took = _timed(lambda: fetcher.get(loc))
        assert isinstance(failure, KeepFailure)
        starts = [t - server.requests[0][1] for _m, t in server.requests]
        # Rounds at about 0, 2, 3 and 3.5 s (before: 0 and 2, then the
        # read gave up with half its time left).
        assert len(starts) >= 3, starts
        assert starts[-1] < 4 and took < 3 * 4, (starts, took)
    finally:
        server.shutdown()


def test_a_signature_check_against_a_server_that_never_answers_ends_at_the_deadline():
    """A cached block read through a signature not seen before costs a HEAD
    request; against a server that accepts the connection and never
    answers, the reader waits until --read-timeout, not the 20 s a
    response may stall."""
    blocks, loc = _block()
    stall = threading.Event()
    server = _serve(blocks, stall_head=stall)
    try:
        fetcher = BlockFetcher(_keep_client(server), num_retries=0, read_timeout=2)
        assert bytes(fetcher.get(loc + '+A' + 'a' * 40 + '@7fffffff')) == blocks[loc[:32]]
        result, took = _timed(lambda: fetcher.get(loc + '+A' + 'b' * 40 + '@7fffffff'))
        assert isinstance(result, KeepFailure), result
        assert ('HEAD', ) == tuple(m for m, _t in server.requests[1:])
        assert took < 10, took  # about 2 s; before, 20 s (STALL_TIMEOUT)
    finally:
        stall.set()
        server.shutdown()
