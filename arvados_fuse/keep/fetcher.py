"""Keep blocks for the read path: several fetched and MD5-checked at once.

The SDK's `KeepClient.get` fetches with pycurl, whose write callback needs
the GIL for every piece of the body, then hashes the whole block: two
fetches on two cores take turns.  Its retry loop also rebuilds the Keep
service list (an API call) while holding `KeepClient.lock`, so one stalled
API request stops every read, and with `--retries 10` one read could wait
7 minutes against Keep answering 503.

`BlockFetcher` keeps what the SDK does well and goes around the rest:

- the SDK's block cache (`KeepClient.block_cache`): one slot per block,
  reserved before the fetch, so a block is fetched once however many
  readers want it (single flight), and prefetched blocks land where
  `KeepClient.get` would find them;
- the SDK's probe order (`KeepClient._service_weight`, the rendezvous hash
  every Keep client uses), retries on the next server, and the signed
  locator sent as is, so Keep checks the permission signature;
- the body is received with `recv_into` (no GIL while waiting) into one
  buffer of the block's size (anonymous memory: its pages are first touched
  by the kernel, without the GIL), and hashed 1 MiB at a time as it
  arrives (hashlib releases the GIL for large inputs).  Every block is
  MD5-checked; a block failing on every server is an error (EIO), never
  bytes;
- a cached block is served to a locator only as Keep would serve it: its
  size hint must be the block's length, and its signature one a Keep
  server accepted for that cached block (an unseen one is checked first
  with a HEAD request): see blockcheck.py.

FETCH_THREADS workers run the fetches; a demand read goes ahead of queued
prefetches.  No lock is held across network I/O: the service list is read
from the API with no lock held (through `list_services`, SafeApi's call,
bounded by --timeout like every API call), and a reader waits on its cache
slot's event with a timeout.  Every fetch has a deadline (`read_timeout`):
no new attempt starts after it, and a reader waiting for a block gets an
error when it passes, whatever Keep does meanwhile (503s, stalls, refused
connections).

The kernel answers a failed readahead by asking again at once for the
page its reader wants: that second FUSE read, for the same read(), gets the
first one's answer at once (`_answer_retry`), so one read() waits at most
one --read-timeout.  Back-offs are cut to fit before the deadline, and a
request's connection and headers end at it.

A block found in the disk cache is checked against its MD5 before its
first use (blockcache.CheckedDiskSlot); a prefetch of one has it checked
ahead of its reader (`check_soon`).

Locators with `+K@` hints (remote clusters, gateways) go through the SDK's
`KeepClient.get`, in threads of their own so that the reader's wait is
still bounded by the deadline.

Every failure is an `errors.KeepFailure` (the SDK's errors are turned into
one), with each server's last status.  The counts: each request to a Keep
server (GET, or HEAD checking a signature) is reported to the observer
given at construction (`observer.ClientObserver.keep_fetch`: server, bytes
received, retry or not, failed or not), which host/metrics.py turns into
the per-server Prometheus counters; calls, hits, misses and bytes received
go to the SDK KeepClient's own counters, which crunchstat and /metrics
read, as they read the SDK's own fetches (+K@ blocks).
"""

import ctypes
import ctypes.util
import hashlib
import heapq
import http.client
import itertools
import logging
import mmap
import queue
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse

import arvados.keep
import arvados.retry
import arvados.util

from ..errors import KeepFailure
from ..host.threadnames import name_this_thread
from ..observer import NO_OBSERVER
from ..blocks.locators import signature_of
from .blockcheck import AcceptedSignatures

_logger = logging.getLogger('arvados.arvados_fuse')

# Two cores: two workers keep both busy receiving and hashing; two more
# keep the pipe full while those wait on latency (at 100 ms and 200 MiB/s
# per response, a 64 MiB block is a quarter of its time in latency).
FETCH_THREADS = 4
# Received and hashed this much at a time: large enough that hashlib
# releases the GIL and each recv_into call moves a lot, small enough that
# the bytes are still in the CPU cache when they are hashed.
CHUNK = 1 << 20
# Connecting to a Keep server on the local network takes milliseconds; the
# SDK allows 2 s too.
CONNECT_TIMEOUT = 2.0
# A response with no byte for this long is a stalled server: try the next.
STALL_TIMEOUT = 20.0
# The shortest wait for a connection or a response's headers (a request
# starts only before the fetch's deadline; see _Connection.request).
MIN_WAIT = 0.1
# Between rounds over every server: the SDK's backoff (2 s, doubling),
# capped so a long --retries keeps trying every half minute, and cut to fit
# before the deadline (see _fetch).
BACKOFF_START = 2.0
BACKOFF_MAX = 30.0
# No round starts with less than this left before the deadline.
LAST_TRY = 0.5
# Default bound on one FUSE read's wait for Keep (--read-timeout): rides out
# a Keep server restart, and an interactive reader never waits minutes.
DEFAULT_READ_TIMEOUT = 60.0
# The service list is re-read from the API after a round in which no server
# answered, at most this often.
SERVICES_REFRESH = 10.0

# A read of a block that failed less than this long ago is the kernel's
# retry of the same read() (it follows the failure within milliseconds):
# it gets the same answer (see BlockFetcher._answer_retry).
RETRY_GRACE = 1.0
# Failed reads remembered at most (older than RETRY_GRACE: swept).
FAILURES_KEPT = 1024

DEMAND, PREFETCH = 0, 1
# Blocks of other clusters go through the SDK in this many threads; readers
# beyond them wait in line, within their --read-timeout.
REMOTE_THREADS = 2


class _Task(object):
    __slots__ = ('md5', 'locator', 'loc', 'slot', 'priority', 'started', 'done', 'error', 'deadline', 'spare')

    def __init__(self, locator, loc, slot, priority, deadline):
        self.md5 = loc.md5sum
        self.locator = locator
        self.loc = loc
        self.slot = slot
        self.priority = priority
        self.started = False
        self.done = threading.Event()
        self.error = None
        self.deadline = deadline
        # An evicted block's buffer to receive into (see
        # ObservedBlockCache.make_room), used by the first attempt only.
        self.spare = None


class _Failure(Exception):
    """One request to one server failed.  `nbytes`: the block's bytes
    received whole all the same (a body failing its MD5 check)."""

    def __init__(self, status, reason, permanent=False, nbytes=0):
        super(_Failure, self).__init__(reason)
        self.status_code = status
        self.permanent = permanent
        self.nbytes = nbytes


def keep_failure(exc, locator=None):
    """`exc` (an error of the SDK's KeepClient, or any other) as a
    KeepFailure, with the servers' statuses when the SDK gave them."""
    if isinstance(exc, KeepFailure):
        return exc
    statuses = {}
    request_errors = getattr(exc, 'request_errors', None)
    if callable(request_errors):
        statuses = {root: getattr(err, 'status_code', 0) or 0 for root, err in request_errors().items()}
    text = str(exc).strip() or type(exc).__name__
    failure = KeepFailure(text if locator is None else 'failed to read %s: %s' % (locator, text), statuses)
    failure.__cause__ = exc
    return failure


class BlockFetcher(object):
    """Whole blocks by locator: `get(locator)` (waits, at most read_timeout)
    and `prefetch(locator)` (queues it, returns at once)."""

    def __init__(self, keep_client, num_retries, read_timeout=DEFAULT_READ_TIMEOUT, threads=FETCH_THREADS, *,
                 list_services=None, observer=NO_OBSERVER):
        """`list_services()`: the cluster's accessible Keep services
        (SafeApi.list_keep_services, bounded by --timeout); not needed with
        a KeepClient given a fixed list (a proxy).  `observer`: told of
        every request to a Keep server (observer.ClientObserver)."""
        self._keep = keep_client
        self._list_services = list_services
        self._observer = observer
        self._cache = keep_client.block_cache
        # Gets of other clusters' blocks, for REMOTE_THREADS daemon threads
        # (an executor's threads would be joined at exit, holding a
        # finished mount up for as long as the SDK's retries last).
        self._remote_jobs = queue.Queue()
        self._remote_workers = []
        self.num_retries = num_retries
        self.read_timeout = read_timeout
        self._threads = threads
        # Guarded by _cv: the queue (heap of (priority, seq, task)), the
        # tasks not yet finished by md5, the workers started.
        self._cv = threading.Condition()
        self._heap = []
        self._seq = itertools.count()
        self._tasks = {}
        self._workers = []
        # Bytes being received now (guarded by _cv), see _room_for.
        self._receiving = 0
        # (monotonic time read, [(uuid, root)]); replaced whole, read without
        # a lock.
        self._services = None
        self._local = threading.local()
        # locator -> (monotonic time, message, statuses) of the last failed
        # read through it, for the kernel's retry (_answer_retry); guarded by
        # _cv.  Only text is kept: an error's traceback holds frames.
        self._failures = {}
        # The signatures Keep accepted for each cached block (blockcheck.py).
        self._accepted = AcceptedSignatures(self._cache)

    # -- what the read path calls --------------------------------------------
    def get(self, locator, timeout=None):
        loc = arvados.keep.KeepLocator(locator)
        deadline = time.monotonic() + (self.read_timeout if timeout is None else timeout)
        self._answer_retry(locator, loc.md5sum)
        try:
            if any(h.startswith('K@') for h in loc.hints):
                return self._remote_get(locator, deadline)
            return self._get(locator, loc, deadline)
        except KeepFailure as e:
            self._failed(locator, e)
            raise

    def _answer_retry(self, locator, md5):
        """The kernel answers a failed readahead by asking at once for the
        page its reader wants: a second FUSE read of the same bytes, for
        the same read().  That one (the first read of the block less than
        RETRY_GRACE after a read of it failed, once) gets the same answer
        at once, unless the block is cached meanwhile: Keep was asked for
        that read() already, retries and back-off included, for as long as
        --read-timeout allowed.  Before, every read of an uncached block
        during a Keep outage waited twice (105 s against 503s with the
        default 60 s)."""
        with self._cv:
            failed = self._failures.pop(locator, None)
        if failed is None or time.monotonic() - failed[0] > RETRY_GRACE:
            return
        slot = self._cache.get(md5)
        if slot is not None and slot.ready.is_set() and slot.content is not None:
            return  # cached since: served, if it may be (_admitted)
        raise KeepFailure('%s (and again for the kernel\'s retry of that read)' % (failed[1],), failed[2])

    def _failed(self, locator, error):
        """A read through `locator` failed with `error` (see _answer_retry).
        Keyed by the whole locator: the same block through another
        signature or size hint is another question, with its own answer."""
        now = time.monotonic()
        with self._cv:
            if len(self._failures) >= FAILURES_KEPT:
                self._failures = {m: f for m, f in self._failures.items() if now - f[0] <= RETRY_GRACE}
            if len(self._failures) < FAILURES_KEPT:
                self._failures[locator] = (now, str(error), getattr(error, 'statuses', None))

    def _get(self, locator, loc, deadline):
        self._keep.get_counter.add(1)
        missed = False
        while True:
            slot, first = self._cache.reserve_cache(loc.md5sum)
            if first:
                missed = True
                task = self._submit(locator, loc, slot, DEMAND, deadline)
            else:
                task = self._promote(loc.md5sum)
            if not slot.ready.wait(max(0.0, deadline - time.monotonic())):
                raise KeepFailure('failed to read %s: no answer from Keep within %gs' % (locator, self.read_timeout))
            data = slot.get()
            if data is not None:
                if not self._admitted(locator, loc, slot, data):
                    # Checked with a HEAD request first, without holding
                    # the block: held across that round trip, a block the
                    # cache evicted meanwhile stayed in memory uncounted.
                    # Then reserved again (fetched, if evicted since).
                    data = None
                    self._check_signature(locator, loc, slot, deadline)
                    continue
                if not missed:
                    self._keep.hits_counter.add(1)
                else:
                    self._keep.misses_counter.add(1)
                return data
            if task is not None and task.error is not None and task.locator == locator:
                # Not `raise task.error`: its traceback would hold this
                # frame, which holds the task, which holds the error.
                error, task = task.error, None
                raise error
            # A fetch with another locator of the same block failed (maybe
            # a made-up one from someone else's manifest): that says
            # nothing about ours, which is fetched on the next round.
            if time.monotonic() >= deadline:
                raise KeepFailure('failed to read %s within %gs' % (locator, self.read_timeout))
            # Evicted between ready and get, or another client's fetch
            # failed: reserve again.

    def _remote_get(self, locator, deadline):
        """A block of another cluster (+K@ hints): the SDK knows where to
        find it, but its get waits as long as its retries last, and may
        hold its client-wide lock on the network; it runs in one of
        REMOTE_THREADS threads, so the reader still waits at most until
        the deadline."""
        job = {'locator': locator, 'done': threading.Event()}
        with self._cv:
            if len(self._remote_workers) < REMOTE_THREADS:
                t = threading.Thread(target=self._remote_work, name='keep-remote', daemon=True)
                self._remote_workers.append(t)
                t.start()
        self._remote_jobs.put(job)
        if not job['done'].wait(max(0.0, deadline - time.monotonic())):
            job['abandoned'] = True  # not started yet: skipped
            raise KeepFailure('failed to read %s: no answer from Keep within %gs' % (locator, self.read_timeout))
        if 'error' in job:
            raise job.pop('error')
        return job['data']

    def _remote_work(self):
        name_this_thread('keep-remote')
        while True:
            job = self._remote_jobs.get()
            if job.get('abandoned'):
                continue
            try:
                job['data'] = self._keep.get(job['locator'], num_retries=self.num_retries)
            except Exception as e:
                job['error'] = keep_failure(e)
            job['done'].set()
            job = None

    def _admitted(self, locator, loc, slot, data):
        """Whether cached `data` may be served to `locator` as Keep would
        serve it (see blockcheck.py): its size hint is the block's length
        (else raises), and a Keep server accepted its signature for this
        slot (else False: `_check_signature` first)."""
        if loc.size is not None and len(data) != loc.size:
            raise KeepFailure('failed to read %s: the block is %d bytes, not %d as its locator says'
                              % (locator[:40], len(data), loc.size))
        return self._accepted.accepted(loc.md5sum, slot, signature_of(locator))

    def _check_signature(self, locator, loc, slot, deadline):
        """Ask Keep whether it accepts `locator` (a HEAD request, within
        the read's deadline); raises if not."""
        task = _Task(locator, loc, None, DEMAND, deadline)
        self._fetch(task, self._head_one)
        self._accepted.accept(loc.md5sum, slot, signature_of(locator))

    def prefetch(self, locator):
        loc = arvados.keep.KeepLocator(locator)
        if any(h.startswith('K@') for h in loc.hints):
            return
        slot, first = self._cache.reserve_cache(loc.md5sum)
        if first:
            self._submit(locator, loc, slot, PREFETCH, time.monotonic() + self.read_timeout)
        elif hasattr(self._cache, 'check_soon'):
            # Found in the disk cache: checked against its MD5 before its
            # first use, now rather than when its reader gets there.
            self._cache.check_soon(slot)

    # -- the queue -------------------------------------------------------------
    def _submit(self, locator, loc, slot, priority, deadline):
        task = _Task(locator, loc, slot, priority, deadline)
        with self._cv:
            self._tasks[task.md5] = task
            heapq.heappush(self._heap, (priority, next(self._seq), task))
            if len(self._workers) < self._threads:
                t = threading.Thread(target=self._work, name='keep-fetch-%d' % len(self._workers), daemon=True)
                self._workers.append(t)
                t.start()
            self._cv.notify()
        return task

    def _promote(self, md5):
        """A demand read for a block already queued: put it first."""
        with self._cv:
            task = self._tasks.get(md5)
            if task is not None and not task.started and task.priority != DEMAND:
                task.priority = DEMAND
                task.deadline = max(task.deadline, time.monotonic() + self.read_timeout)
                heapq.heappush(self._heap, (DEMAND, next(self._seq), task))
                self._cv.notify()
            return task

    def _work(self):
        name_this_thread('keep-fetch')
        while True:
            with self._cv:
                while True:
                    while not self._heap or not self._room_for(self._heap[0][2]):
                        self._cv.wait()
                    _p, _s, task = heapq.heappop(self._heap)
                    if not task.started:
                        break
                task.started = True
                size = _size_hint(task.loc)
                self._receiving += size
            data = None
            task.spare = self._account(size)
            try:
                data = self._fetch(task)
                self._accepted.accept(task.md5, task.slot, signature_of(task.locator))
            except Exception as e:
                task.error = keep_failure(e, task.locator)
                _logger.debug('fetch of %s failed: %s', task.locator, e)
            finally:
                self._freshen(task.md5)
                try:
                    self._settle(task.slot, data, size)
                except Exception as e:  # a disk cache that cannot store it
                    task.error = KeepFailure('failed to cache %s: %s' % (task.locator, e))
                    task.slot.set(None)
                with self._cv:
                    self._tasks.pop(task.md5, None)
                    self._receiving -= size
                    self._cv.notify_all()
                task.done.set()
                # An evicted buffer no try received into (every server
                # failed) is ours alone: unmap it.  And an idle worker must
                # not keep its last block (or task) alive until the next.
                _unmap(task.spare)
                task.spare = data = task = None

    def _room_for(self, task):
        """Whether a fetch of `task` may start now (called under _cv):
        always when nothing is being received, else while what is received
        stays within half the block cache.  Blocks being received count
        against the cache, so with more in flight than the cache holds,
        every block that arrived was evicted before its reader could take
        it, and fetched again (and again, until --read-timeout)."""
        if task.started or not self._receiving:
            return True
        limit = max(getattr(self._cache, 'cache_max', 0) // 2, 1)
        return self._receiving + _size_hint(task.loc) <= limit

    def _freshen(self, md5):
        """Make a block that has just arrived the most recently used, so
        the eviction its arrival causes takes older blocks, not this one
        its readers are waiting for (a prefetch queued long ago was
        reserved, so ordered, long before)."""
        cache = self._cache
        lock = getattr(cache, '_cache_lock', None)
        slots = getattr(cache, '_cache', None)
        if lock is None or slots is None:
            return
        with lock:
            if md5 in slots:
                slots.move_to_end(md5)

    def touch(self, locator):
        """A reader is using this block: keep it last in line for eviction."""
        self._freshen(locator[:32])

    def passed(self, locator):
        """A sequential reader is done with this block (see
        ObservedBlockCache.passed)."""
        passed = getattr(self._cache, 'passed', None)
        if passed is not None:
            passed(locator[:32])

    def _settle(self, slot, data, size):
        """The fetch counted by _account(size) ended with `data` (None:
        failed): into the cache, counted as itself from now on."""
        if hasattr(self._cache, 'settle'):
            self._cache.settle(slot, data, size)
            return
        self._account(-size)
        self._cache.set(slot, data)

    def _account(self, delta):
        """Count a block being received against the cache size, so the
        cache evicts to make room for it and memory stays within the cache
        size plus what readers hold.  Our cache (blockcache.py) may hand
        back a buffer to receive into."""
        cache = self._cache
        if hasattr(cache, 'make_room'):
            if delta > 0:
                return cache.make_room(delta)
            cache.unaccount(-delta)
            return None
        lock = getattr(cache, '_cache_lock', None)
        if lock is None or not hasattr(cache, 'cache_total'):
            return
        with lock:
            cache.cache_total += delta
            if delta > 0 and hasattr(cache, '_resize_cache'):
                cache._resize_cache(cache.cache_max, getattr(cache, '_max_slots', 1 << 30))

    # -- one block, every server, every round ------------------------------
    def _fetch(self, task, one=None):
        """`one(root, task)` (default: GET the block) on each server in
        turn until one answers, in rounds, within the task's deadline."""
        one = one or self._get_one
        loc = task.loc
        failures = {}
        permanent = set()
        asked = set()
        attempt = 0
        while True:
            roots = self._roots(loc)
            tried = 0
            for root in roots:
                if root in permanent:
                    continue
                if time.monotonic() >= task.deadline:
                    break
                tried += 1
                retry = root in asked
                asked.add(root)
                try:
                    result = one(root, task)
                except _Failure as e:
                    self._observer.keep_fetch(root, e.nbytes, retry, True)
                    # Kept without its traceback: that holds this frame,
                    # whose `failures` holds the error, a cycle only the
                    # garbage collector breaks; and the frame holds
                    # `result`, so a block received from the next server
                    # stayed in memory, uncounted, long after the cache
                    # evicted it (the soak's flapping server: 2-3 such
                    # blocks at a time, 64 MiB each).
                    e.__traceback__ = None
                    failures[root] = e
                    if e.permanent:
                        permanent.add(root)
                except (OSError, http.client.HTTPException, ssl.SSLError) as e:
                    self._drop_connection(root)
                    self._observer.keep_fetch(root, 0, retry, True)
                    failures[root] = _Failure(0, '%s: %s' % (type(e).__name__, e))
                else:
                    self._observer.keep_fetch(root, 0 if result is True else len(result), retry, False)
                    return result
            if roots and all(r in permanent for r in roots):
                break
            if attempt >= self.num_retries:
                break
            if tried and all(getattr(failures.get(r), 'status_code', 0) == 0 for r in roots):
                self._services_stale()
            # A back-off that would reach the deadline is cut to half the
            # time left, so the last rounds come just before it (an outage
            # shorter than --read-timeout is ridden out), as the API's are.
            wait = min(BACKOFF_START * (2 ** attempt), BACKOFF_MAX) * random.uniform(0.75, 1.0)
            left = task.deadline - time.monotonic()
            wait = min(wait, left / 2)
            if left - wait < LAST_TRY:
                break
            time.sleep(wait)
            attempt += 1
        statuses = {root: e.status_code for root, e in failures.items()}
        report = '; '.join('service %s: %s' % (root, e) for root, e in failures.items())
        if statuses and all(s in (403, 404, 410) for s in statuses.values()) \
                and len(statuses) >= len(self._roots(loc)):
            raise KeepFailure('%s not found: %s' % (task.locator, report), statuses)
        raise KeepFailure('failed to read %s after %d attempts%s' % (task.locator, attempt + 1,
                                                                     ': ' + report if report else ''), statuses)

    def _get_one(self, root, task):
        loc = task.loc
        path = urllib.parse.urlsplit(root).path + task.locator
        headers = {
            'Authorization': 'Bearer ' + self._keep.api_token,
            'Accept': 'application/octet-stream',
            'X-Request-Id': arvados.util.new_request_id(),
        }
        resp = self._send(root, 'GET', path, headers, task.deadline)
        if resp.status != 200:
            resp.read()
            if resp.will_close:
                self._drop_connection(root)
            ok = arvados.retry.check_http_response_success(resp.status)
            raise _Failure(resp.status, '%d %s' % (resp.status, resp.reason), permanent=(ok is False))
        length = resp.getheader('Content-Length')
        size = int(length) if length is not None else _size_hint(loc)
        fresh = False
        if size == 0:
            resp.read()
            buf = b''
        else:
            # Anonymous memory (_anonymous), not bytearray(size): that zero-fills 64 MiB
            # (and takes its page faults) holding the GIL; these pages are
            # first touched by the kernel inside recv_into, with no GIL held.
            # Unmapped as soon as the cache and every reader let go of it.
            # Better still, an evicted block's buffer that nothing holds any
            # more (make_room): its pages are already there.
            buf, task.spare = task.spare, None
            fresh = buf is None or len(buf) != size
            if fresh:
                buf = _anonymous(size)
        try:
            return self._receive(root, task, resp, buf, size, length is None, fresh=fresh)
        except BaseException as e:
            # Unmap now.  The traceback would hold the frames below, with
            # their views of the buffer, and the errors of every try are
            # kept with the task's error: a flapping server cut hundreds of
            # bodies short a minute, each 64 MiB waiting for the garbage
            # collector.  Dropping the traceback frees those frames first.
            e.__traceback__ = None
            _unmap(buf)
            raise e

    def _receive(self, root, task, resp, buf, size, chunked, fresh=False):
        view = memoryview(buf)
        data = self._receive_into(root, task, resp, buf, view, size, chunked,
                                  _Populator(buf) if fresh and _madvise is not None else None)
        view.release()
        return data

    def _receive_into(self, root, task, resp, buf, view, size, chunked, populator=None):
        """Receive and check the body into buf; the block (buf itself, or a
        copy when the server sent another length).  `populator`: a fresh
        buffer's pages, populated ahead of what is received."""
        loc = task.loc
        md5 = hashlib.md5()
        pos = 0
        while pos < size:
            if populator is not None:
                populator.ahead_of(pos + CHUNK)
            n = resp.readinto(view[pos:pos + CHUNK])
            if not n:
                break
            md5.update(view[pos:pos + n])
            pos += n
        if chunked:
            # No length given (chunked): take whatever else there is.
            rest = resp.read()
            if rest:
                md5.update(rest)
                buf = bytes(view[:pos]) + rest
                pos = len(buf)
        if pos < size:
            self._drop_connection(root)
            raise _Failure(0, 'short body: %d of %d bytes' % (pos, size))
        if resp.will_close:
            self._drop_connection(root)
        self._keep.download_counter.add(pos)
        if md5.hexdigest() != loc.md5sum or (loc.size is not None and pos != loc.size):
            _logger.warning('Checksum fail: %s from %s', task.locator[:32], root)
            raise _Failure(0, 'Checksum fail', nbytes=pos)
        return buf if len(buf) == pos else bytes(buf[:pos])

    def _head_one(self, root, task):
        """Whether this server accepts the task's locator (its signature,
        for our token, and its size), without its body."""
        path = urllib.parse.urlsplit(root).path + task.locator
        headers = {
            'Authorization': 'Bearer ' + self._keep.api_token,
            'X-Request-Id': arvados.util.new_request_id(),
        }
        resp = self._send(root, 'HEAD', path, headers, task.deadline)
        resp.read()
        if resp.will_close:
            self._drop_connection(root)
        if resp.status != 200:
            ok = arvados.retry.check_http_response_success(resp.status)
            raise _Failure(resp.status, '%d %s' % (resp.status, resp.reason), permanent=(ok is False))
        return True

    # -- connections (one per worker thread and server, kept alive) -------------
    def _send(self, root, method, path, headers, deadline):
        """The response to one request on this thread's connection to
        `root`, its headers read.  Connecting and waiting for the headers
        end at `deadline` (a server that never answers holds neither a
        reader checking a signature nor a fetch worker past it); the body
        then gets STALL_TIMEOUT per piece."""
        conn = self._connection(root)
        reused = conn.is_open()
        try:
            conn.request(method, path, headers, deadline)
            return conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            # The server closed a kept-alive connection: once more on a new one.
            self._drop_connection(root)
            conn = self._connection(root)
            conn.request(method, path, headers, deadline)
            return conn.getresponse()

    def _connection(self, root):
        conns = getattr(self._local, 'conns', None)
        if conns is None:
            conns = self._local.conns = {}
        conn = conns.get(root)
        if conn is None:
            u = urllib.parse.urlsplit(root)
            if u.scheme == 'https':
                ctx = ssl.create_default_context(cafile=arvados.util.ca_certs_path())
                if getattr(self._keep, 'insecure', False):
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                conn = _Connection(u.hostname, u.port, ssl_context=ctx)
            else:
                conn = _Connection(u.hostname, u.port)
            conns[root] = conn
        return conn

    def _drop_connection(self, root):
        conns = getattr(self._local, 'conns', None) or {}
        conn = conns.pop(root, None)
        if conn is not None:
            conn.close()

    # -- the service list, read with no lock held ---------------------------------
    def _roots(self, loc):
        services = self._service_list()
        weight = self._keep._service_weight
        return [root for uuid, root in sorted(services, reverse=True, key=lambda s: weight(loc.md5sum, s[0]))]

    def know_services(self):
        """Read the service list now if it is not known, so that the first
        read need not wait for it; a failure is left for that read to meet."""
        try:
            self._service_list()
        except Exception as e:
            _logger.debug('Keep service list: %s', e)

    def _service_list(self):
        keep = self._keep
        if getattr(keep, '_static_services_list', False):
            return [(s['uuid'], s['_service_root']) for s in keep._keep_services]
        services = self._services
        if services is not None and (services[0] is not None):
            return services[1]
        if self._list_services is None:
            raise KeepFailure('no Keep service list: this KeepClient has no fixed list, and no list_services')
        try:
            items = self._list_services()
        except Exception:
            if services is None:
                raise
            # Keep what we had; try again after SERVICES_REFRESH.
            self._services = (time.monotonic(), services[1])
            return services[1]
        roots = []
        for s in items:
            if s.get('service_type', '').startswith('gateway:'):
                continue
            host = s['service_host']
            if not host.startswith('[') and ':' in host:
                host = '[' + host + ']'
            roots.append((s['uuid'], '%s://%s:%d/' % ('https' if s['service_ssl_flag'] else 'http',
                                                     host, s['service_port'])))
        if not roots:
            raise KeepFailure('the cluster lists no Keep services')
        self._services = (time.monotonic(), roots)
        return roots

    def _services_stale(self):
        services = self._services
        if services is not None and services[0] is not None and \
                time.monotonic() - services[0] > SERVICES_REFRESH:
            self._services = (None, services[1])


class _Connection(object):
    """A kept-alive HTTP(S) connection whose socket waits CONNECT_TIMEOUT to
    connect and STALL_TIMEOUT for each piece of the response."""

    def __init__(self, host, port, ssl_context=None):
        if ssl_context is not None:
            self._conn = http.client.HTTPSConnection(host, port, timeout=CONNECT_TIMEOUT, context=ssl_context)
        else:
            self._conn = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)

    def is_open(self):
        return self._conn.sock is not None

    def request(self, method, path, headers, deadline=None):
        left = STALL_TIMEOUT if deadline is None else max(MIN_WAIT, deadline - time.monotonic())
        if self._conn.sock is None:
            self._conn.timeout = min(CONNECT_TIMEOUT, left)
            self._conn.connect()
            self._conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._conn.sock.settimeout(min(STALL_TIMEOUT, left))
        self._conn.request(method, path, headers=headers)

    def getresponse(self):
        sock = self._conn.sock
        resp = self._conn.getresponse()
        # The body: STALL_TIMEOUT per piece, whatever the deadline (a block
        # arriving slowly still lands in the cache for the next reader).
        try:
            sock.settimeout(STALL_TIMEOUT)
        except OSError:
            pass
        return resp

    def close(self):
        self._conn.close()


def _anonymous(size):
    """`size` bytes of private anonymous memory to receive a block into.
    Not mmap.mmap(-1, size): that is shared memory (shmem), whose first
    touch of each 4 KiB page costs more: receiving a GiB into fresh shared
    pages took 0.77 CPU-seconds here, into private ones 0.46, into private
    ones populated first 0.37 (_Populator; into reused ones 0.07: see
    make_room).  Transparent huge pages (madvise) cut the faults 512-fold
    but cost more in this VM: fresh huge pages are memory the host has not
    backed yet (clear_page took a fifth of the machine)."""
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


# A fresh buffer's pages are populated this far ahead of what is received.
POPULATE_STEP = 8 << 20


class _Populator(object):
    """Faults in a fresh buffer's pages POPULATE_STEP at a time, ahead of
    the bytes received, with madvise(MADV_POPULATE_WRITE) (Linux 5.14)
    instead of a page fault per 4 KiB inside recv_into.  Through ctypes,
    which releases the GIL (mmap's MAP_POPULATE would hold it for the
    ~25 ms a whole 64 MiB block takes); a step at a time, so receiving goes
    on meanwhile.  Nothing happens where the advice is not known: the pages
    are then faulted in as received."""

    def __init__(self, buf):
        view = ctypes.c_char.from_buffer(buf)
        self._address = ctypes.addressof(view)
        del view  # no export of buf left behind (it could not be closed)
        self._size = len(buf)
        self._done = 0

    def ahead_of(self, end):
        """Populate at least up to `end`, a step beyond it when needed."""
        if end <= self._done or self._done >= self._size:
            return
        n = min(self._size - self._done, max(POPULATE_STEP, end - self._done))
        if _madvise(self._address + self._done, n, MADV_POPULATE_WRITE) != 0:
            self._done = self._size  # not supported here: leave it to faults
            return
        self._done += n


def _libc_madvise():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True)
        madvise = libc.madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


MADV_POPULATE_WRITE = 23
_madvise = _libc_madvise() if sys.platform.startswith('linux') else None


def _unmap(buf):
    if isinstance(buf, mmap.mmap):
        try:
            buf.close()
        except BufferError:  # a view of it is still alive somewhere: leave it to the collector
            pass


def _size_hint(loc):
    return loc.size if loc.size is not None else 64 << 20

