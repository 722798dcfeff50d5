"""--crunchstat-interval: periodic read statistics of a running mount.

Every interval a few `crunchstat:` lines go to the log, each with the total
since the mount started and the change over the last interval:

    crunchstat: keepcalls 0 put 12 get -- interval 10.0000 seconds 0 put 3 get
    crunchstat: net:keep0 0 tx 201326592 rx -- interval 10.0000 seconds 0 tx 50331648 rx
    crunchstat: keepcache 40 hit 12 miss -- interval 10.0000 seconds 9 hit 3 miss
    crunchstat: apicalls 31 -- interval 10.0000 seconds 4

Keep numbers come from the SDK KeepClient's own counters.  API calls are
counted here, at the HTTP layer every SDK API client uses (httplib2), since
neither the SDK nor googleapiclient keeps such a count.
"""

import logging
import threading
import time

import httplib2

_logger = logging.getLogger('arvados.arvados_fuse.crunchstat')


class _ApiCallCounter(object):
    """Counts requests made through httplib2.Http, i.e. by every API client
    created after `install()` (the SDK binds `Http.request` per client when
    it builds one, so installing must come before the first client)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._count = 0
        self._installed = False

    def install(self):
        if self._installed:
            return
        self._installed = True
        original = httplib2.Http.request
        counter = self

        def counting_request(http, *args, **kwargs):
            with counter._lock:
                counter._count += 1
            return original(http, *args, **kwargs)
        httplib2.Http.request = counting_request

    def get(self):
        with self._lock:
            return self._count


api_calls = _ApiCallCounter()


def _sample(keep):
    return {
        'put': keep.put_counter.get(),
        'get': keep.get_counter.get(),
        'tx': keep.upload_counter.get(),
        'rx': keep.download_counter.get(),
        'hit': keep.hits_counter.get(),
        'miss': keep.misses_counter.get(),
        'api': api_calls.get(),
    }


def format_lines(now, before, interval):
    """The crunchstat lines for sample `now`, with deltas since `before`."""
    d = {k: now[k] - before[k] for k in now}
    tail = '-- interval %.4f seconds' % interval
    return [
        'crunchstat: keepcalls %d put %d get %s %d put %d get' % (now['put'], now['get'], tail, d['put'], d['get']),
        'crunchstat: net:keep0 %d tx %d rx %s %d tx %d rx' % (now['tx'], now['rx'], tail, d['tx'], d['rx']),
        'crunchstat: keepcache %d hit %d miss %s %d hit %d miss' % (now['hit'], now['miss'], tail,
                                                                     d['hit'], d['miss']),
        'crunchstat: apicalls %d %s %d' % (now['api'], tail, d['api']),
    ]


class StatsLogger(object):
    """Background thread writing the crunchstat lines every `interval` s."""

    def __init__(self, keep, interval):
        self.keep = keep
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='crunchstat', daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        """Stop, after one last report (so even a mount shorter than the
        interval reports what it read)."""
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        before = _sample(self.keep)
        then = time.monotonic()
        stopping = False
        while not stopping:
            stopping = self._stop.wait(self.interval)
            now = _sample(self.keep)
            t = time.monotonic()
            for line in format_lines(now, before, t - then):
                _logger.info('%s', line)
            before, then = now, t
