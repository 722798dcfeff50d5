"""The one lock that guards the model.

llfuse runs every request handler holding one global lock, and the model
(the inode table, every directory and file) relies on it: it has no locks of
its own.  Code of the model that must wait (for the network, for another
thread's fetch) gives it up around the wait, and background threads take it
before they touch anything.  The model gets the lock as an object with this
interface, so it never imports llfuse: the adapter passes llfuse's lock
(`answers.FUSE_LOCK`); code without a kernel can use a `PlainLock`.
"""

import threading
from typing import ContextManager, Protocol


class GlobalLock(Protocol):
    def __enter__(self):
        """Take the lock (a thread that does not hold it)."""

    def __exit__(self, *exc):
        """Give it back."""

    def released(self) -> ContextManager:
        """A context in which the holder has given the lock up."""


class PlainLock(object):
    """A GlobalLock for the model without a kernel (tests, tools)."""

    def __init__(self):
        self._lock = threading.Lock()

    def __enter__(self):
        self._lock.acquire()

    def __exit__(self, *exc):
        self._lock.release()

    def released(self):
        return _Released(self._lock)


class _Released(object):
    def __init__(self, lock):
        self._lock = lock

    def __enter__(self):
        self._lock.release()

    def __exit__(self, *exc):
        self._lock.acquire()
