"""A thread that handles queued items one at a time, in order.

Used for work a request handler must hand off instead of doing itself while
it holds the llfuse lock: kernel invalidations (llfuse's own notification
queue is bounded and blocks when full) and background refreshes of
directories that change events made stale."""

import collections
import logging
import threading

from .threadnames import name_this_thread

_logger = logging.getLogger('arvados.arvados_fuse')

_STOP = object()


class WorkQueue(object):
    def __init__(self, name, handle):
        self._name = name
        self._handle = handle
        self._items = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._thread = None

    def start(self):
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def put(self, item):
        """Never blocks (the deque is unbounded)."""
        with self._ready:
            self._items.append(item)
            self._ready.notify()

    def stop(self):
        self.put(_STOP)

    def _run(self):
        name_this_thread(self._name)
        while True:
            with self._ready:
                while not self._items:
                    self._ready.wait()
                item = self._items.popleft()
            if item is _STOP:
                return
            try:
                self._handle(item)
            except Exception as e:
                _logger.debug('%s: %r failed: %s', self._name, item, e)
