"""The adapter with every FUSE request timed and counted: crunchstat's
fuseop lines and the Prometheus endpoint (host/metrics.py).  The command
serves an InstrumentedOperations; Operations itself stays the adapter alone
(and is what the seed's users build)."""

import errno

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


_histograms = {}
_histograms_on = metrics.histograms


class InstrumentedOperations(Operations):
    """Operations, every request handler timed and counted (the handlers'
    wrapper, answers.handler, counts into `meters` and calls `observe`)."""

    meters = metrics.op_totals.meters
    latencies = metrics.histograms

    def observe(self, name, took, error, cause, result):
        # Runs with the llfuse lock held (see _OpTotals): for errors, reads,
        # and every request while the histograms are on.
        if _histograms_on.on:
            histogram = _histograms.get(name)
            if histogram is None:
                histogram = _histograms[name] = metrics.op_seconds.labels(op=name)
            histogram.observe(took)
        if error is not None:
            if error.errno == errno.EIO:
                metrics.eio_answers.labels(op=name, cause=eio_cause(cause)).inc()
        elif name == 'read':
            metrics.op_totals.read_bytes += len(result)
            metrics.read_bytes.inc(len(result))
