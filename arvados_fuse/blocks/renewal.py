"""Keep permission signatures renewed in the background.

Every block locator a collection's manifest gives carries a signature
(`+A<hmac>@<expiry>`) that Keep stops honouring at its expiry: two weeks on
a default cluster, seconds on a test one.  Whatever can still be read must
hold fresh ones: an open file, a PDH path the kernel caches for a day, a
collection mounted with `--collection <pdh>`.  Nothing of these asks us
for a lookup, so renewal cannot wait for one.

`SignatureRenewer` keeps every loaded block table (`readpath.BlockTable`,
one per version of a collection, shared by its files) under weak
reference: while anything can read through it (the collection directory,
a kernel-cached entry, an open file), it is renewed half way to its
earliest expiry, by reading the collection record by portable data hash
again (the API signs its manifest anew) and swapping the locators in
(`BlockTable.renew`, under the table's own lock; no inode changes).  Once
nothing references a table, it drops out.

It runs in one thread of its own and never holds the llfuse lock; of the
model it changes only the block tables (the collection it tells, through
`on_renewed`, asks the kernel to drop its record file's pages).  Not started (the model's tests,
the seed's usage), it renews nothing, and collections renew on lookup as
before (`CollectionDirectory.stale`).
"""

import heapq
import itertools
import logging
import threading
import time
import weakref

from ..errors import NotFound
from .manifest import ManifestError, block_locators, earliest_expiry
from ..host.logtext import one_line
from ..host.threadnames import name_this_thread

_logger = logging.getLogger('arvados.arvados_fuse')

# Renew when this share of the time left to the earliest expiry has passed
# (upstream renews at half the lifetime): the other half rides out an API
# outage, whatever the lifetime.
RENEW_AT = 0.5
# After a failed renewal, try again after this share of the time left,
# between these bounds (seconds): soon enough to make it before the expiry,
# seldom enough not to hammer a failing API.
RETRY_SHARE = 0.25
RETRY_MIN = 1.0
RETRY_MAX = 60.0
# Never renew one table more often than this (seconds), even if the API
# hands out signatures that are about to expire.
MIN_INTERVAL = 1.0
# The schedule may hold this many stale entries beyond twice the tables.
COMPACT_SLACK = 64


class _Tracked(object):
    __slots__ = ('pdh', 'api', 'num_retries', 'expires', 'seq', 'on_renewed')

    def __init__(self, pdh, api, num_retries, expires, on_renewed=None):
        self.on_renewed = on_renewed
        self.pdh = pdh
        self.api = api
        self.num_retries = num_retries
        self.expires = expires
        self.seq = None


class SignatureRenewer(object):
    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        # block table -> _Tracked.  Guarded by _cond.
        self._tracked = weakref.WeakKeyDictionary()
        # (due time, seq, weakref to table); entries whose seq is no longer
        # the table's are left over from a reschedule and skipped.
        self._heap = []
        self._seq = itertools.count()
        self._thread = None
        self._stopping = False
        self.failures = 0

    @property
    def running(self):
        return self._thread is not None and not self._stopping

    # -- what the collection directories call (llfuse lock held; never blocks on I/O)
    def track(self, table, pdh, api, num_retries, expires, on_renewed=None):
        """Keep `table` (the blocks of the collection whose portable data
        hash is `pdh`, earliest signature expiry `expires`, or None if
        unsigned) renewed while anything references it (from when the
        renewer starts, if it has not yet).  `on_renewed`: a weak reference
        to a callable (weakref.WeakMethod), called in the renewer's thread,
        without the llfuse lock, after each renewal of this table."""
        if expires is None:
            return
        with self._cond:
            state = _Tracked(pdh, api, num_retries, expires, on_renewed)
            self._tracked[table] = state
            self._schedule(table, state, _due(expires, time.time()))

    def renewed(self, table, expires):
        """Somebody else renewed `table` (a refresh that re-read the
        manifest): the next renewal moves accordingly."""
        with self._cond:
            state = self._tracked.get(table)
            if state is not None and expires is not None:
                state.expires = expires
                self._schedule(table, state, _due(expires, time.time()))

    def tracked(self):
        with self._cond:
            return len(self._tracked)

    def _schedule(self, table, state, when):
        # Caller holds _cond.
        state.seq = next(self._seq)
        heapq.heappush(self._heap, (when, state.seq, weakref.ref(table)))
        if len(self._heap) > 2 * len(self._tracked) + COMPACT_SLACK:
            # Entries of dropped tables and of reschedules otherwise stay
            # until their due time (a week with default signatures): keep
            # only the live ones (amortized O(1) per schedule).
            self._heap = [item for item in self._heap if self._live(item)]
            heapq.heapify(self._heap)
        self._cond.notify()

    def _live(self, item):
        _when, seq, ref = item
        table = ref()
        state = self._tracked.get(table) if table is not None else None
        return state is not None and state.seq == seq

    # -- the thread ------------------------------------------------------------
    def start(self):
        if self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name='signature-renewal', daemon=True)
        self._thread.start()

    def stop(self):
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread = None

    def _next(self):
        """Wait for the next table due; None when stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.time()
                while self._heap:
                    if not self._live(self._heap[0]):
                        heapq.heappop(self._heap)  # dropped or rescheduled
                        continue
                    when, _seq, ref = self._heap[0]
                    if when <= now:
                        heapq.heappop(self._heap)
                        table = ref()
                        return table, self._tracked[table]
                    break
                self._cond.wait(self._heap[0][0] - now if self._heap else None)

    def _run(self):
        name_this_thread('sig-renewal')
        while True:
            item = self._next()
            if item is None:
                return
            table, state = item
            try:
                self._renew(table, state)
            except Exception as e:  # never let the thread die
                _logger.warning('renewing the signatures of %s failed: %s', state.pdh, e)
                self._failed(table, state)

    def _renew(self, table, state):
        """Network, no llfuse lock: the record by PDH, signed anew."""
        try:
            record = state.api.get_collection(state.pdh, num_retries=state.num_retries)
            locators = block_locators(record.get('manifest_text') or '')
            table.renew(locators)
        except NotFound:
            # No collection with this content is readable any more: nothing
            # will sign its blocks again.
            _logger.warning('cannot renew the Keep signatures of %s: no readable collection has it any more',
                            state.pdh)
            with self._cond:
                self._tracked.pop(table, None)
            return
        except (ManifestError, ValueError) as e:
            _logger.warning('cannot renew the Keep signatures of %s: %s', state.pdh, e)
            with self._cond:
                self._tracked.pop(table, None)
            return
        except Exception as e:
            self.failures += 1
            _logger.warning('renewing the Keep signatures of %s failed (will retry): %s', state.pdh, one_line(e))
            self._failed(table, state)
            return
        callback = state.on_renewed() if state.on_renewed is not None else None
        if callback is not None:
            try:
                callback()
            except Exception as e:
                _logger.warning('after renewing the signatures of %s: %s', state.pdh, e)
        expires = earliest_expiry(locators)
        now = time.time()
        with self._cond:
            if self._tracked.get(table) is state:
                if expires is None:
                    self._tracked.pop(table, None)
                    return
                state.expires = expires
                self._schedule(table, state, max(_due(expires, now), now + MIN_INTERVAL))

    def _failed(self, table, state):
        now = time.time()
        retry = min(RETRY_MAX, max(RETRY_MIN, (state.expires - now) * RETRY_SHARE))
        with self._cond:
            if self._tracked.get(table) is state:
                self._schedule(table, state, now + retry)


def _due(expires, now):
    return now + max(0.0, expires - now) * RENEW_AT
