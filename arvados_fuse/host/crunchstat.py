"""--crunchstat-interval: periodic statistics of a running mount, written
to stderr exactly as upstream arv-mount 3.2.1 writes them, so that Arvados'
crunchstat-summary (which reads container stderr, each line prefixed with
a timestamp by the container runtime) parses them.

Each line is bare (no logging prefix): `crunchstat: CATEGORY` then
"value name" pairs since the mount started, then `-- interval N seconds`
and the same pairs for the last interval.  Every interval, in this order:

    crunchstat: keepcalls 0 put 12 get -- interval 10.0000 seconds 0 put 3 get
    crunchstat: net:keep0 0 tx 201326592 rx -- interval 10.0000 seconds 0 tx 50331648 rx
    crunchstat: keepcache 40 hit 12 miss -- interval 10.0000 seconds 9 hit 3 miss
    crunchstat: blkio:0:0 0 write 4096 read -- interval 10.0000 seconds 0 write 4096 read
    crunchstat: fuseops 0 write 1 read -- interval 10.0000 seconds 0 write 1 read
    crunchstat: fuseop:lookup 5 count 0.001234 time -- interval 10.0000 seconds 5 count 0.001234 time
    ... (one fuseop line for every FUSE operation, see metrics.FUSE_OPERATIONS)
    crunchstat: apicalls 31 calls -- interval 10.0000 seconds 4 calls

blkio:0:0 is bytes returned to FUSE reads, fuseops the number of read and
write requests (writes are always 0 here: the mount is read-only), as
upstream.  apicalls is ours.  Keep numbers come from the SDK KeepClient's
own counters (which the Keep fetcher keeps up to date); FUSE numbers from
metrics.py.  The same lines also go to --logfile, if any, through the
logging module.

apicalls is every request sent to the API server (each try of each call,
the startup check's included), as the client layer reports them to its
observer, `metrics.client_counters` (see observer.py): neither the SDK nor
googleapiclient keeps such a count.
"""

import logging
import sys
import threading
import time

from . import metrics

_logger = logging.getLogger('arvados.arvados_fuse.crunchstat')


def _sample(keep):
    """(category, [(name, value), ...]) for every line, in upstream's order."""
    count, seconds, read_bytes = metrics.op_totals.snapshot()
    out = [
        ('keepcalls', [('put', keep.put_counter.get()), ('get', keep.get_counter.get())]),
        ('net:keep0', [('tx', keep.upload_counter.get()), ('rx', keep.download_counter.get())]),
        ('keepcache', [('hit', keep.hits_counter.get()), ('miss', keep.misses_counter.get())]),
        ('blkio:0:0', [('write', 0), ('read', read_bytes)]),
        ('fuseops', [('write', count['write']), ('read', count['read'])]),
    ]
    out.extend(('fuseop:' + op, [('count', count[op]), ('time', seconds[op])])
               for op in metrics.FUSE_OPERATIONS)
    out.append(('apicalls', [('calls', metrics.client_counters.api_requests())]))
    return out


def _pairs(values):
    # As upstream: floats with 6 decimals, integers as they are.
    return ' '.join(('%.6f %s' if isinstance(v, float) else '%d %s') % (v, name) for name, v in values)


def format_lines(now, before, interval):
    """The crunchstat lines for sample `now`, with deltas since `before`."""
    lines = []
    for (category, values), (_, old) in zip(now, before):
        delta = [(name, v - o) for (name, v), (_, o) in zip(values, old)]
        lines.append('crunchstat: %s %s -- interval %.4f seconds %s'
                     % (category, _pairs(values), interval, _pairs(delta)))
    return lines


class StatsLogger(object):
    """Background thread writing the crunchstat lines every `interval` s."""

    def __init__(self, keep, interval, stream=None):
        self.keep = keep
        self.interval = interval
        self.stream = stream
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='crunchstat', daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        """Stop, after one last report (so even a mount shorter than the
        interval reports what it read)."""
        self._stop.set()
        self._thread.join(5)

    def _write(self, lines):
        stream = self.stream or sys.stderr
        try:
            stream.write(''.join(line + '\n' for line in lines))
            stream.flush()
        except (OSError, ValueError):
            pass    # stderr closed: the log file still gets them
        for line in lines:
            _logger.info('%s', line)

    def _run(self):
        before = _sample(self.keep)
        then = time.monotonic()
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self.interval)
            now = _sample(self.keep)
            t = time.monotonic()
            self._write(format_lines(now, before, t - then))
            before, then = now, t
