"""Which locators may be served a block from the block cache.

The block cache is keyed by MD5 alone, so that collections sharing a block
share its cached bytes.  But a Keep server answers a locator only if its
size hint is the block's length and its permission signature (`+A<sig>@
<expiry>`) is valid for our token; a cache keyed by MD5 would serve any
locator naming a cached block's MD5: a Keep-only manifest with a wrong size
or a made-up signature could read what it could never have fetched.

Keying the cache by the whole signed locator would make it a non-issue, but
at a price: the API signs each response anew (a new expiry each time), so
two collections holding one block, or one collection after a signature
renewal, would each fetch their own copy.  Instead the cache stays keyed by
MD5 and every cached block remembers the signatures a Keep server accepted
for it (the one it was fetched with, then any verified since).  A locator
asking for a cached block is served only if
- its size hint is the block's real length (else an error, as Keep's 404),
- and its signature is one Keep accepted for this very cache slot; an
  unseen one is first checked with a HEAD request carrying that locator
  (one round trip without a body, bounded by --read-timeout).

The record lives as long as its cache slot (checked by identity: a slot
evicted and fetched again starts with no accepted signature, as does one the
SDK's disk cache found on disk, possibly put there by another process), and
records of evicted slots are swept out, so memory stays bounded by the
cache's slot count.
"""

import threading

# Records of slots no longer in the cache are swept once there are this
# many more records than cached slots (at least SWEEP_MIN): amortized O(1).
SWEEP_MIN = 256


class AcceptedSignatures(object):
    """md5 -> (cache slot, signatures Keep accepted for it).  Thread-safe:
    readers run without the llfuse lock."""

    def __init__(self, cache):
        self._cache = cache
        self._lock = threading.Lock()
        self._records = {}

    def accepted(self, md5, slot, signature):
        with self._lock:
            record = self._records.get(md5)
            return record is not None and record[0] is slot and signature in record[1]

    def accept(self, md5, slot, signature):
        with self._lock:
            record = self._records.get(md5)
            if record is None or record[0] is not slot:
                record = self._records[md5] = (slot, set())
            record[1].add(signature)
            if len(self._records) > max(SWEEP_MIN, 2 * self._cached_slots()):
                self._sweep()

    def __len__(self):
        with self._lock:
            return len(self._records)

    def _cached_slots(self):
        return len(getattr(self._cache, '_cache', ()))

    def _sweep(self):
        # Caller holds _lock.  The SDK's dict of slots is read under its
        # own lock when it has one (never the other way round: the cache
        # never calls us).
        cached = getattr(self._cache, '_cache', None)
        if cached is None:
            return
        lock = getattr(self._cache, '_cache_lock', None)
        if lock is not None:
            with lock:
                live = {md5: slot for md5, slot in cached.items()}
        else:
            live = dict(cached)
        self._records = {md5: rec for md5, rec in self._records.items() if live.get(md5) is rec[0]}
