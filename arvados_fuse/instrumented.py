"""The adapter with every FUSE request timed and counted: crunchstat's
fuseop lines and the Prometheus endpoint (host/metrics.py).  The command
serves an InstrumentedOperations; Operations itself stays the adapter alone
(and is what the seed's users build)."""

import errno
import time

import llfuse

from . import errors
from .errors import Answered
from .host import metrics
from .operations import Operations


def eio_cause(exc):
    """A short, bounded name for why a request got EIO: `exc` is what the
    handler was handling when it answered (errors.cause_of)."""
    while isinstance(exc, Answered) and exc.__context__ is not None:
        exc = exc.__context__  # the model's decision: its cause is what it handled
    return errors.cause_of(None if isinstance(exc, Answered) else exc)


def _timed(name, fn):
    histogram = metrics.op_seconds.labels(op=name)
    totals = metrics.op_totals

    def timed(self, *args, **kwargs):
        start = time.perf_counter()
        try:
            result = fn(self, *args, **kwargs)
        except llfuse.FUSEError as e:
            if e.errno == errno.EIO:
                metrics.eio_answers.labels(op=name, cause=eio_cause(e.__context__)).inc()
            raise
        finally:
            took = time.perf_counter() - start
            if metrics.histograms.on:
                histogram.observe(took)
            with totals.lock:
                totals.count[name] += 1
                totals.seconds[name] += took
        if name == 'read':
            n = len(result)
            metrics.read_bytes.inc(n)
            with totals.lock:
                totals.read_bytes += n
        return result
    timed.__name__ = getattr(fn, '__name__', name)
    timed.__doc__ = getattr(fn, '__doc__', None)
    timed.__wrapped__ = fn
    return timed


InstrumentedOperations = type('InstrumentedOperations', (Operations,), {
    name: _timed(name, getattr(Operations, name))
    for name in metrics.FUSE_OPERATIONS if hasattr(Operations, name)})
InstrumentedOperations.__doc__ = 'Operations, every request handler timed and counted.'
