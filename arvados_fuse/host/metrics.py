"""What a running mount counts, for the crunchstat lines (crunchstat.py) and the
Prometheus endpoint (--prometheus-port).

Sources:
- every FUSE operation: `instrumented.InstrumentedOperations` times each
  request handler llfuse can call and counts its EIO answers by cause (the
  exception the handler was handling when it answered EIO);
- the client layer, through the hook it is given (`client_counters`, a
  `ClientCounters`: see observer.py): every request to the API server
  (`arvmount_api_calls`, and crunchstat's apicalls line), and each Keep
  server's requests, bytes, retries and failures, as the Keep fetcher
  (keep/fetcher.py) reports them;
- Keep: the SDK KeepClient's own counters (calls, bytes, cache hits and
  misses), which the Keep fetcher keeps up to date, read at scrape time;
- the block cache (blockcache.py): bytes held, evictions;
- the inode table and open handles, read at scrape time;
- the websocket listener (events.py): connected, reconnects.

All metrics live in one registry of our own (`REGISTRY`), so nothing else
imported into the process can add to or clash with what /metrics serves.
"""

import threading

import prometheus_client as prom
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from ..observer import ClientObserver

REGISTRY = prom.CollectorRegistry(auto_describe=True)

# Every request handler llfuse may call, in llfuse's order of declaration
# (stacktrace is not a request).  All are timed, even the refused writes, so
# crunchstat shows a line for each, as upstream does for its own list.
FUSE_OPERATIONS = ('init', 'destroy', 'lookup', 'forget', 'getattr', 'setattr', 'readlink', 'mknod',
                   'mkdir', 'unlink', 'rmdir', 'symlink', 'rename', 'link', 'open', 'read', 'write',
                   'flush', 'release', 'fsync', 'opendir', 'readdir', 'releasedir', 'fsyncdir',
                   'statfs', 'setxattr', 'getxattr', 'listxattr', 'removexattr', 'access', 'create')

# FUSE latencies run from tens of microseconds (a cached getattr) to tens of
# seconds (a read that waits for a 64 MiB block over a slow network, with
# retries).
LATENCY_BUCKETS = (0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, float('inf'))

op_seconds = prom.Histogram('arvmount_fuse_operation_seconds', 'Time spent in each FUSE operation',
                            ['op'], buckets=LATENCY_BUCKETS, registry=REGISTRY)
read_bytes = prom.Counter('arvmount_read_bytes', 'Bytes returned to FUSE reads', registry=REGISTRY)
eio_answers = prom.Counter('arvmount_eio_answers', 'FUSE requests answered with EIO, by cause',
                           ['op', 'cause'], registry=REGISTRY)
keep_fetches = prom.Counter('arvmount_keep_fetches', 'Block requests sent to each Keep server',
                            ['server'], registry=REGISTRY)
keep_fetched_bytes = prom.Counter('arvmount_keep_fetched_bytes', 'Bytes received from each Keep server',
                                  ['server'], registry=REGISTRY)
keep_retries = prom.Counter('arvmount_keep_retries', 'Block requests to a Keep server that repeat a failed one',
                            ['server'], registry=REGISTRY)
keep_failures = prom.Counter('arvmount_keep_failures', 'Block requests to a Keep server that failed',
                             ['server'], registry=REGISTRY)
cache_evictions = prom.Counter('arvmount_block_cache_evictions', 'Blocks evicted from the block cache',
                               registry=REGISTRY)
cache_refetches = prom.Counter('arvmount_block_cache_refetches',
                               'Blocks fetched again within a minute of their eviction (thrashing)',
                               registry=REGISTRY)
disk_cache_damaged = prom.Counter('arvmount_disk_cache_damaged',
                                  'Disk cache block files found damaged (wrong MD5, short, unreadable) and removed',
                                  registry=REGISTRY)
disk_cache_write_failures = prom.Counter('arvmount_disk_cache_write_failures',
                                         'Blocks the disk cache could not store (served from memory)',
                                         registry=REGISTRY)
disk_cache_free_space_evictions = prom.Counter(
    'arvmount_disk_cache_free_space_evictions',
    'Disk cache blocks evicted to leave --disk-cache-min-free free on its filesystem', registry=REGISTRY)
websocket_connected = prom.Gauge('arvmount_websocket_connected', '1 while the event stream is subscribed',
                                 registry=REGISTRY)
websocket_reconnects = prom.Counter('arvmount_websocket_reconnects',
                                    'Event stream subscriptions after the first', registry=REGISTRY)


class OpMeter(object):
    """Count and total seconds of one operation."""
    __slots__ = ('count', 'seconds')

    def __init__(self):
        self.count = 0
        self.seconds = 0.0


class _OpTotals(object):
    """Count and total seconds of each operation (`meters`), and upstream's
    fuseops and blkio numbers, for the crunchstat lines.  Written only by
    request handlers, which hold the llfuse lock (answers.handler); `lock`
    makes a snapshot consistent with other snapshots."""

    def __init__(self):
        self.lock = threading.Lock()
        self.meters = {op: OpMeter() for op in FUSE_OPERATIONS}
        self.read_bytes = 0

    def snapshot(self):
        with self.lock:
            meters = self.meters
            return ({op: m.count for op, m in meters.items()}, {op: m.seconds for op, m in meters.items()},
                    self.read_bytes)


op_totals = _OpTotals()


class _Switch(object):
    on = False


# Latency histograms cost a lock and a bucket search per request (a
# quarter of a CPU-second over an `ls -lR` of 10^5 files): kept only while
# /metrics is served.  Counts and total times (crunchstat) always are.
histograms = _Switch()


class ClientCounters(ClientObserver):
    """The client layer's observer (observer.ClientObserver): counts what
    it reports, into the Prometheus counters above and the API request
    count crunchstat and /metrics show."""

    def __init__(self):
        self._lock = threading.Lock()
        self._api_requests = 0

    def api_request(self):
        with self._lock:
            self._api_requests += 1

    def api_requests(self):
        """Requests sent to the API server so far."""
        with self._lock:
            return self._api_requests

    def keep_fetch(self, server, nbytes, retry, failed):
        keep_fetches.labels(server=server).inc()
        if retry:
            keep_retries.labels(server=server).inc()
        if failed:
            keep_failures.labels(server=server).inc()
        if nbytes:
            keep_fetched_bytes.labels(server=server).inc(nbytes)


# The one a mount gives its client (command.py), for the whole process.
client_counters = ClientCounters()


class _Sources(object):
    """Values read when /metrics is scraped, from objects the mount owns.
    Reads of a dict's length or a counter are safe without llfuse's lock."""

    def __init__(self):
        self.operations = None
        self.keep = None
        self.block_cache = None

    def describe(self):
        return []

    def collect(self):
        keep = self.keep
        if keep is not None:
            yield _counter('arvmount_keep_calls', 'Block reads asked of the Keep client', keep.get_counter.get())
            yield _counter('arvmount_block_cache_hits', 'Block reads served by the block cache',
                           keep.hits_counter.get())
            yield _counter('arvmount_block_cache_misses', 'Block reads the block cache could not serve',
                           keep.misses_counter.get())
            yield _counter('arvmount_keep_received_bytes', 'Bytes received from Keep', keep.download_counter.get())
        cache = self.block_cache
        if cache is not None:
            yield _gauge('arvmount_block_cache_bytes', 'Bytes held by the block cache', cache.cache_total)
            yield _gauge('arvmount_block_cache_max_bytes', 'Block cache size limit', cache.cache_max)
        ops = self.operations
        if ops is not None:
            yield _gauge('arvmount_inodes', 'Entries in the inode table', len(ops.inodes))
            yield _gauge('arvmount_open_handles', 'Open file and directory handles', ops.open_handles())
        yield _counter('arvmount_api_calls', 'Requests to the API server', client_counters.api_requests())


def _counter(name, doc, value):
    m = CounterMetricFamily(name, doc)
    m.add_metric([], value)
    return m


def _gauge(name, doc, value):
    m = GaugeMetricFamily(name, doc)
    m.add_metric([], value)
    return m


sources = _Sources()
REGISTRY.register(sources)


def serve(port, address):
    """Serve /metrics on address:port in a background thread; returns the
    server (call .shutdown() to stop it).  Raises OSError if it cannot bind."""
    server, _thread = prom.start_http_server(port, addr=address, registry=REGISTRY)
    histograms.on = True
    return server
