"""What the client layer reports as it works: the hook that feeds the
request counters of the Prometheus endpoint and of the crunchstat lines.

The client layer calls the observer it was given at construction
(`SafeApi(observer=...)`, which hands it to its `BlockFetcher`s); nothing
patches the SDK or httplib2.  `host/metrics.py` provides the implementation
that counts (`metrics.ClientCounters`).  Calls come from many threads at
once and must be quick: no I/O, no lock held long."""


class ClientObserver(object):
    """The hook's interface, and the observer that counts nothing."""

    def api_request(self):
        """One HTTP request was sent to the API server: every try of every
        call (a retry is another request), discovery documents included,
        counted once each."""

    def keep_fetch(self, server, nbytes, retry, failed):
        """One request for a block was sent to the Keep server `server`
        (its root URL): a GET, or a HEAD checking a signature.  `nbytes`:
        the bytes of the block received whole (0 when none were, or the
        body was cut short); `retry`: this server was asked for this block
        before in this read; `failed`: no good block came of it (error
        status, connection failure, short body, MD5 mismatch)."""


NO_OBSERVER = ClientObserver()
