"""Bringing directories up to date, and looking up names they do not list.

Every refresh is a `fetch()` (network, lock released) then an `apply()` (no
network, lock held); the model needs no locks of its own because of it.
This module runs those two halves:
- one refresh per directory at a time: a second request for the same
  directory serves what is loaded (or, if nothing is yet, waits for the
  first with the lock released) instead of fetching again;
- a refresh whose fetch overlapped an invalidation is followed by another
  (in the background), so an event is never lost to an older snapshot;
- directories made stale by change events are refreshed at once in the
  background-refresh thread;
- names a directory does not list (by_id, by_tag) are fetched on demand,
  in `by_id` in a pool of lookup threads, answering with a PendingName
  after LOOKUP_GRACE (see pending.py).

Every method documented "caller holds the lock" RELEASES IT while it waits,
so any state the caller read before may have changed.  The answers it
decides (ENOENT, EIO) are raised as `errors.Answered`.
"""

import concurrent.futures
import errno
import logging
import threading

from ..blocks.manifest import ManifestError
from ..errors import Answered, NotFound
from ..host.logtext import one_line
from ..host.threadnames import name_this_thread
from ..host.workqueue import WorkQueue
from .byid import watch_owner
from .directory import Directory
from .pending import LOOKUP_GRACE, PendingName

_logger = logging.getLogger('arvados.arvados_fuse')

# A thread that finds a directory already being refreshed by another waits at
# most this long for it, then serves what it has.
REFRESH_WAIT = 600
# Lookups in by_id that outlast LOOKUP_GRACE go on in these threads; more
# than this many slow ids at once wait for a thread.
LOOKUP_THREADS = 8
# A request for a directory (or a name) that is loaded but stale waits this
# long for its refresh, then answers from what is loaded while the refresh
# goes on in a refresh thread (stale-if-error, stale-while-revalidate): a
# slow or failing API server never holds up what is already here.
STALE_WAIT = 2.0
REFRESH_THREADS = 4


class Refresher(object):
    def __init__(self, inodes, lock, kernel_cache, lookup_timeout=REFRESH_WAIT):
        self._inodes = inodes
        self._lock = lock
        self._kernel = kernel_cache
        # The longest anything waits for a pending lookup: the API calls
        # behind it are bounded by --timeout.
        self._lookup_timeout = lookup_timeout
        # inode -> Event set when the refresh in flight for it ends.  Guarded
        # by the lock; the Event itself is waited on without it.
        self._refreshing = {}
        # (parent inode, name) -> PendingName of a by_id lookup in flight.
        # Guarded by the lock.
        self._pending = {}
        self._lookup_pool = concurrent.futures.ThreadPoolExecutor(
            LOOKUP_THREADS, thread_name_prefix='lookup', initializer=name_this_thread, initargs=('lookup',))
        # Directories made stale by change events are refreshed at once, so
        # the kernel is told exactly which names changed.
        self._background = WorkQueue('background-refresh', self._background_refresh)
        self._refresh_pool = concurrent.futures.ThreadPoolExecutor(
            REFRESH_THREADS, thread_name_prefix='refresh', initializer=name_this_thread, initargs=('refresh',))
        # (parent inode, name) -> Event set when its name query in a refresh
        # thread ends.  Guarded by the lock.
        self._names_in_flight = {}
        # Inodes of directories whose last refresh failed: logged once until
        # one works again.  Guarded by the lock.
        self._failing = set()
        self._running = False

    def start(self):
        self._running = True
        self._background.start()

    def stop(self):
        self._running = False
        self._background.stop()
        self._lookup_pool.shutdown(wait=False, cancel_futures=True)
        self._refresh_pool.shutdown(wait=False, cancel_futures=True)

    def schedule(self, inode):
        """Refresh `inode` soon, in the background (only while mounted)."""
        if self._running:
            self._background.put(inode)

    def _background_refresh(self, inode):
        with self._lock:
            entry = self._inodes.get(inode)
            if isinstance(entry, Directory) and entry.stale():
                try:
                    self.refresh(entry, bounded=False)
                except Answered:
                    pass  # already logged; the next access tries again

    def refresh(self, entry, bounded=True):
        """Bring a stale directory up to date.  Caller holds the lock.
        `bounded`: if it is loaded, wait at most STALE_WAIT for the refresh
        (which goes on in a refresh thread), then serve what is loaded."""
        if not isinstance(entry, Directory) or entry.detached or not entry.stale():
            return
        inflight = self._refreshing.get(entry.inode)
        if inflight is not None:
            if entry.loaded():
                return  # serve what we have; the refresh in flight updates it
            with self._lock.released():
                inflight.wait(REFRESH_WAIT)
            if entry.detached:
                return  # removed meanwhile: empty for good
            if not entry.loaded():
                raise Answered(errno.EIO)
            return
        done = threading.Event()
        self._refreshing[entry.inode] = done
        if bounded and entry.loaded() and self._running:
            try:
                self._refresh_pool.submit(self._refresh_in_thread, entry, done)
            except RuntimeError:  # shut down: the mount is ending
                del self._refreshing[entry.inode]
                done.set()
                return
            with self._lock.released():
                done.wait(STALE_WAIT)
            return
        try:
            self._fetch_and_apply(entry)
        finally:
            del self._refreshing[entry.inode]
            done.set()

    def _refresh_in_thread(self, entry, done):
        with self._lock:
            try:
                self._fetch_and_apply(entry)
            except Answered:
                pass  # logged; the next access tries again
            except Exception:
                _logger.exception('%s: refresh failed', entry.describe())
            finally:
                del self._refreshing[entry.inode]
                done.set()

    def _fetch_and_apply(self, entry):
        generation = entry.generation()
        try:
            with self._lock.released():
                snapshot = entry.fetch()
        except NotFound:
            self._gone(entry)
            return
        except Exception as e:
            self._failed(entry, e)
            if not entry.loaded():
                raise Answered(errno.EIO)
            return
        if entry.inode in self._failing:
            self._failing.discard(entry.inode)
            _logger.warning('%s: refreshed again', entry.describe())
        if entry.detached:
            # Removed from its parent while the lock was released: it is
            # empty for good, and children added now would never be freed.
            return
        entry.apply(snapshot)
        watch_owner(self._inodes, entry)
        if entry.generation() != generation:
            # An event arrived while we were fetching: the snapshot may
            # predate the change it announced.
            entry.invalidate()
            self.schedule(entry.inode)

    def _failed(self, entry, e):
        """Log a failed refresh: once, until one works again."""
        if entry.inode in self._failing:
            _logger.debug('%s: could not refresh: %s', entry.describe(), one_line(e, named=True, limit=400))
            return
        if len(self._failing) < 100000:
            self._failing.add(entry.inode)
        _logger.warning('%s: could not refresh%s (logged once until it works again): %s', entry.describe(),
                        '; serving what is loaded' if entry.loaded() else '', one_line(e, named=True, limit=400))

    def _gone(self, entry):
        _logger.warning('%s: not found', entry.describe())
        parent = self._inodes.get(entry.parent_inode)
        dropped = isinstance(parent, Directory) and parent is not entry and not entry.detached \
            and parent.drop_gone(entry)
        if not entry.loaded():
            raise Answered(errno.ENOENT)
        if not dropped:
            # Deleted, or no longer readable: an empty directory, not a
            # copy of what was there (and no API call on every access).
            entry.clear()
            entry.fresh()

    def lookup(self, parent, name):
        """The entry `name` stands for in the directory `parent`, or None.
        Caller holds the lock."""
        hidden = parent.unrefreshed_entry(name)
        if hidden is not None:
            return hidden
        if parent.answers_names and name != parent.record_file_name and \
                (not parent.loaded() or parent.stale()):
            # Not listed (or stale): ask for this name alone, unless it was
            # asked for since (a shell probing a missing name twice must not
            # cost a listing of the whole project).
            if parent.wants_name_check(name):
                entry = self._lookup_name(parent, name)
            else:
                entry = parent.entry(name)
        else:
            self.refresh(parent)
            entry = parent.entry(name)
        if entry is None:
            entry = self.lookup_missing(parent, name)
        return entry

    def _lookup_name(self, parent, name):
        """Ask the server for `name` alone (a project not listed, or
        stale): a walk through a project costs the same whatever it holds.
        A name already loaded is waited for at most STALE_WAIT, then served
        as loaded while the query goes on in a refresh thread."""
        old = parent.entry(name)
        if old is None or not self._running:
            return self._fetch_name(parent, name)
        key = (parent.inode, name)
        done = self._names_in_flight.get(key)
        if done is None:
            done = self._names_in_flight[key] = threading.Event()
            try:
                self._refresh_pool.submit(self._name_in_thread, parent, name, done)
            except RuntimeError:  # shut down: the mount is ending
                del self._names_in_flight[key]
                return old
        with self._lock.released():
            done.wait(STALE_WAIT)
        return parent.entry(name)

    def _name_in_thread(self, parent, name, done):
        with self._lock:
            try:
                self._fetch_name(parent, name)
            except Answered:
                pass
            except Exception:
                _logger.exception('%s: lookup of %r failed', parent.describe(), name)
            finally:
                self._names_in_flight.pop((parent.inode, name), None)
                done.set()

    def _fetch_name(self, parent, name):
        generation = parent.generation()
        try:
            with self._lock.released():
                snapshot = parent.fetch_name(name)
        except NotFound:
            self._gone(parent)
            return parent.entry(name)
        except Exception as e:
            old = parent.entry(name)
            self._failed(parent, e)
            if old is None:
                raise Answered(errno.EIO)
            return old
        if parent.detached:
            return None
        if parent.inode in self._failing:
            self._failing.discard(parent.inode)
            _logger.warning('%s: answering again', parent.describe())
        entry = parent.apply_name(name, snapshot)
        if parent.generation() == generation:
            parent.name_checked(name)
        return entry

    def lookup_missing(self, parent, name):
        """The entry for a name `parent` does not list (by_id, by_tag), or
        None.  Caller holds the lock."""
        if parent.detached or parent.known_missing(name):
            return None
        if parent.answers_lookups_later:
            return self._lookup_later(parent, name)
        try:
            with self._lock.released():
                snapshot = parent.fetch_missing(name)
        except NotFound:
            snapshot = None
        except Exception as e:
            _logger.warning('%s: lookup of %r failed: %s', parent.describe(), name, one_line(e, named=True, limit=400))
            raise Answered(errno.EIO)
        return self._apply_missing(parent, name, snapshot)

    def _apply_missing(self, parent, name, snapshot):
        if parent.detached:
            # Removed while the lock was released: nothing below it any more.
            return None
        if snapshot is None:
            parent.note_missing(name)
            return None
        try:
            return parent.apply_missing(name, snapshot)
        except ManifestError as e:
            # Not a collection we can show: a miss like any other.
            _logger.warning('%s: %r is not a collection: %s', parent.describe(), name, one_line(e, named=True, limit=400))
            parent.note_missing(name)
            return None

    def _lookup_later(self, parent, name):
        """As lookup_missing, but the fetch runs in a lookup thread, and
        after LOOKUP_GRACE the kernel gets a PendingName, so other names in
        `parent` are not held up by this one."""
        key = (parent.inode, name)
        pending = self._pending.get(key)
        if pending is None:
            pending = PendingName(parent.inode, name)
            self._pending[key] = pending
            try:
                self._lookup_pool.submit(self._finish_lookup, parent, pending)
            except RuntimeError:  # shut down: the mount is ending
                del self._pending[key]
                raise Answered(errno.EIO)
        if not pending.done():
            with self._lock.released():
                pending.wait(LOOKUP_GRACE)
        if pending.done():
            if pending.errno == errno.EIO:
                raise Answered(errno.EIO)
            return pending.result
        if pending.inode is None:
            self._inodes.add_entry(pending)
        return pending

    def _finish_lookup(self, parent, pending):
        """In a lookup thread: fetch without the lock, apply with it, and
        wake whoever waits for `pending`."""
        name = pending.name
        failure = None
        snapshot = None
        try:
            snapshot = parent.fetch_missing(name)
        except NotFound:
            pass
        except Exception as e:
            _logger.warning('%s: lookup of %r failed: %s', parent.describe(), name, one_line(e, named=True, limit=400))
            failure = errno.EIO
        with self._lock:
            result = None
            try:
                if failure is None:
                    result = self._apply_missing(parent, name, snapshot)
            except Exception:
                _logger.exception('%s: lookup of %r failed', parent.describe(), name)
                failure = errno.EIO
            finally:
                self._pending.pop((parent.inode, name), None)
                if failure is None and result is None:
                    failure = errno.ENOENT
                pending.finish(result, failure)
                if pending.inode is not None:
                    # The kernel holds the stand-in: it answers as `result`
                    # until forgotten, and the name is looked up again next
                    # time (its timeouts are 0); ask the kernel to drop it.
                    self._inodes.del_entry(pending)
                    self._kernel.forget_entry(parent.inode, name)

    def settled(self, pending):
        """What a PendingName stands for, once its lookup ends.  Caller
        holds the lock."""
        if not pending.done():
            with self._lock.released():
                pending.wait(self._lookup_timeout - pending.waited())
        if pending.result is not None:
            return pending.result
        if pending.errno is not None:
            raise Answered(pending.errno)
        _logger.warning('%s: no answer after %.0f s', pending.describe(), pending.waited())
        raise Answered(errno.EIO)
