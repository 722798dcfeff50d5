"""The llfuse adapter: kernel requests in, model calls out.

This is the only module that imports llfuse besides the command, and the only
place that maps errors to errno values and releases the llfuse lock.

llfuse runs every handler under one global lock.  The rule here:
- model methods that may touch the network (`Directory.fetch`,
  `Directory.fetch_missing`, `File.readfrom`) run inside
  `with llfuse.lock_released`, so one slow server cannot freeze the mount;
- everything that changes the model (`apply`, the inode table) runs with the
  lock held, so the model needs no locks of its own.
A handler never lets an exception escape into llfuse (which would end the
main loop): unexpected errors are logged and answered with EIO.

Path of a `lookup(parent, name)`: decode name -> refresh parent if stale
(fetch unlocked, apply locked) -> `parent.entry(name)` -> if absent,
`fetch_missing`/`apply_missing` (by_id) -> count the kernel's reference ->
attributes.  Path of a `read(fh, off, size)`: handle -> entry -> unlocked
`readfrom` -> FileReader -> block cache / Keep.
"""

import concurrent.futures
import errno
import functools
import itertools
import logging
import os
import stat
import threading

import llfuse

from .fs.directory import Directory
from .errors import NotFound
from .fs.inodes import Inodes, kind_key, trashed_key
from .fs.byid import watch_owner
from .blocks.manifest import ManifestError
from .fs.names import NAME_MAX, NameEncoder
from .fs.pending import LOOKUP_GRACE, PendingName
from .host.threadnames import name_this_thread
from .fs.uuids import group_uuid_pattern
from .host.workqueue import WorkQueue

_logger = logging.getLogger('arvados.arvados_fuse')

# How long the kernel may cache names and attributes of things that can never
# change (PDH collections): long, so re-reads never reach us.
IMMUTABLE_TIMEOUT = 86400
# How long the kernel may cache names and attributes of uuid-addressed
# objects while the event stream is connected: every change then reaches
# us as an event, which tells the kernel to forget exactly what changed.
# Not forever, in case an event is lost; without events (or while the stream
# is down) --refresh-time bounds it instead.
EVENT_TIMEOUT = 3600
# st_blksize: tools such as cp and cat size their reads by it; FUSE sends at
# most 128 KiB per read on this kernel (libfuse 2), so ask for that.
BLOCK_SIZE_HINT = 128 * 1024
# A thread that finds a directory already being refreshed by another waits at
# most this long for it, then serves what it has.
REFRESH_WAIT = 600
# How often removed names still held by the kernel are looked at again.
SWEEP_EVERY = 1.0
# Lookups in by_id that outlast LOOKUP_GRACE go on in these threads (see
# pending.py); more than this many slow ids at once wait for a thread.
LOOKUP_THREADS = 8


def handler(fn):
    """Wrap a request handler: FUSEError passes through, anything else is
    logged once and becomes EIO, so the llfuse main loop never dies."""

    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            return fn(self, *args, **kwargs)
        except llfuse.FUSEError:
            raise
        except Exception:
            _logger.exception('unexpected error in %s', fn.__name__)
            raise llfuse.FUSEError(errno.EIO)
    return wrapper


# Every request that would change something.  llfuse calls them by name with
# positional arguments; each is refused (the mount is also `ro`, so most never
# get past the kernel).
WRITE_OPERATIONS = ('setattr', 'setxattr', 'removexattr', 'write', 'create', 'mkdir', 'mknod',
                    'unlink', 'rmdir', 'rename', 'symlink', 'link')


def _refuse_write(self, *args):
    raise llfuse.FUSEError(errno.EROFS)


class FileHandle(object):
    """Connects a numeric file handle to an open File, or to a directory
    listing snapshot taken at opendir."""

    def __init__(self, fh, entry):
        self.fh = fh
        self.entry = entry


class Operations(llfuse.Operations):
    """The llfuse.Operations subclass serving the model in `self.inodes`."""

    def __init__(self, uid, gid, encoding='utf-8', *, refresh_time=15):
        super(Operations, self).__init__()
        self.inodes = Inodes(notifier=self._queue_invalidation)
        self.uid = uid
        self.gid = gid
        self.encoding = encoding
        self.names = NameEncoder(encoding)
        self.refresh_time = refresh_time
        # fh -> FileHandle.  Guarded by the llfuse lock (only handlers touch it).
        self._filehandles = {}
        self._fh_counter = itertools.count(1)
        # inode -> Event set when the refresh in flight for it ends.  Guarded
        # by the llfuse lock; the Event itself is waited on without it.
        self._refreshing = {}
        # (parent inode, name) -> PendingName of a by_id lookup in flight.
        # Guarded by the llfuse lock.
        self._pending = {}
        self._lookup_pool = concurrent.futures.ThreadPoolExecutor(
            LOOKUP_THREADS, thread_name_prefix='lookup', initializer=name_this_thread, initargs=('lookup',))
        # The longest anything waits for a pending lookup: the API calls
        # behind it are bounded by --timeout (the command sets this).
        self.lookup_timeout = REFRESH_WAIT
        # Kernel invalidations go through our own queue and thread: llfuse's
        # queue is bounded and its put blocks, and we must never block while
        # holding the llfuse lock.
        self._invalidations = WorkQueue('kernel-invalidations', self._send_invalidation)
        # Directories made stale by change events are refreshed at once in
        # the background, so the kernel is told exactly which names changed.
        self._refreshes = WorkQueue('background-refresh', self._background_refresh)
        self._mounted = False
        # True while the websocket event stream is subscribed (set by the
        # events thread; a plain bool read under the GIL).
        self._events_live = False
        # Other threads that need to wait until the fuse driver is fully
        # initialized should wait() on this event object.
        self.initlock = threading.Event()
        # Set when the mount ends: stops the re-invalidation sweep.
        self._sweeping = threading.Event()

    # -- lifecycle ---------------------------------------------------------
    def init(self):
        self._mounted = True
        self._invalidations.start()
        self._refreshes.start()
        self.inodes.renewer.start()
        threading.Thread(target=self._sweep, name='reinvalidate', daemon=True).start()
        self.initlock.set()

    def _sweep(self):
        """Names of removed entries the kernel still holds are invalidated
        again (Inodes.remove_name)."""
        while not self._sweeping.wait(SWEEP_EVERY):
            if self.inodes.reinvalidation_pending():  # a plain read: no lock for nothing
                with llfuse.lock:
                    self.inodes.reinvalidate()

    def destroy(self):
        self._mounted = False
        self._sweeping.set()
        self.inodes.renewer.stop()
        self._refreshes.stop()
        self._invalidations.stop()
        self._lookup_pool.shutdown(wait=False, cancel_futures=True)

    def _queue_invalidation(self, kind, *args):
        if self._mounted:
            self._invalidations.put((kind, args))

    def _send_invalidation(self, item):
        kind, args = item
        if kind == 'entry':
            parent, name = args
            raw = self.names.encode(name)
            if raw is not None:
                llfuse.invalidate_entry(parent, raw)
        elif kind == 'inode':
            llfuse.invalidate_inode(args[0])

    def _background_refresh(self, inode):
        """Runs in the background-refresh thread: takes the llfuse lock, and
        releases it while fetching (see _refresh)."""
        with llfuse.lock:
            entry = self.inodes.get(inode)
            if isinstance(entry, Directory) and entry.stale():
                try:
                    self._refresh(entry)
                except llfuse.FUSEError:
                    pass  # already logged; the next access tries again

    # -- helpers -------------------------------------------------------------
    def _entry(self, inode):
        """The entry behind `inode`.  Caller holds the llfuse lock; if the
        inode stands for a lookup still in flight, RELEASES IT until that
        lookup ends (within lookup_timeout)."""
        entry = self.inodes.get(inode)
        if entry is None:
            raise llfuse.FUSEError(errno.ENOENT)
        if type(entry) is PendingName:
            return self._settled(entry)
        return entry

    def _settled(self, pending):
        if not pending.done():
            with llfuse.lock_released:
                pending.wait(self.lookup_timeout - pending.waited())
        if pending.result is not None:
            return pending.result
        if pending.errno is not None:
            raise llfuse.FUSEError(pending.errno)
        _logger.warning('%s: no answer after %.0f s', pending.describe(), pending.waited())
        raise llfuse.FUSEError(errno.EIO)

    def _refresh(self, entry):
        """Bring a stale directory up to date: fetch with the lock released,
        apply with it held; one refresh per directory at a time.  Caller
        holds the llfuse lock; RELEASES IT while fetching or waiting for
        another thread's refresh, so any state read before may have changed
        (hence the re-check of `detached`)."""
        if not isinstance(entry, Directory) or entry.detached or not entry.stale():
            return
        inflight = self._refreshing.get(entry.inode)
        if inflight is not None:
            if entry.loaded():
                return  # serve what we have; the refresh in flight updates it
            with llfuse.lock_released:
                inflight.wait(REFRESH_WAIT)
            if entry.detached:
                return  # removed meanwhile: empty for good
            if not entry.loaded():
                raise llfuse.FUSEError(errno.EIO)
            return
        done = threading.Event()
        self._refreshing[entry.inode] = done
        generation = entry.generation()
        try:
            try:
                with llfuse.lock_released:
                    snapshot = entry.fetch()
            except NotFound:
                _logger.warning('%s: not found', entry.describe())
                parent = self.inodes.get(entry.parent_inode)
                dropped = isinstance(parent, Directory) and parent is not entry and not entry.detached \
                    and parent.drop_gone(entry)
                if not entry.loaded():
                    raise llfuse.FUSEError(errno.ENOENT)
                if dropped:
                    return
                # Deleted, or no longer readable: an empty directory, not a
                # copy of what was there (and no API call on every access).
                entry.clear()
                entry.fresh()
                return
            except Exception as e:
                _logger.warning('%s: could not refresh: %s', entry.describe(), _one_line(e))
                if not entry.loaded():
                    raise llfuse.FUSEError(errno.EIO)
                return
            if entry.detached:
                # Removed from its parent while the lock was released: it is
                # empty for good, and children added now would never be freed.
                return
            entry.apply(snapshot)
            watch_owner(self.inodes, entry)
            if entry.generation() != generation:
                # An event arrived while we were fetching: the snapshot may
                # predate the change it announced.
                entry.invalidate()
                if self._mounted:
                    self._refreshes.put(entry.inode)
        finally:
            del self._refreshing[entry.inode]
            done.set()

    def _lookup_missing(self, parent, name):
        """A name not in `parent`'s entries (by_id, by_tag).  Caller holds
        the llfuse lock; RELEASES IT while fetching."""
        if parent.detached or parent.known_missing(name):
            return None
        if parent.answers_lookups_later:
            return self._lookup_missing_later(parent, name)
        try:
            with llfuse.lock_released:
                snapshot = parent.fetch_missing(name)
        except NotFound:
            snapshot = None
        except Exception as e:
            _logger.warning('%s: lookup of %r failed: %s', parent.describe(), name, _one_line(e))
            raise llfuse.FUSEError(errno.EIO)
        return self._apply_missing(parent, name, snapshot)

    def _apply_missing(self, parent, name, snapshot):
        """The entry a finished fetch_missing found, or None.  Caller holds
        the llfuse lock."""
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
            _logger.warning('%s: %r is not a collection: %s', parent.describe(), name, _one_line(e))
            parent.note_missing(name)
            return None

    def _lookup_missing_later(self, parent, name):
        """As _lookup_missing, but the fetch runs in a lookup thread, and
        after LOOKUP_GRACE the kernel gets a PendingName (see pending.py),
        so other names in `parent` are not held up by this one."""
        key = (parent.inode, name)
        pending = self._pending.get(key)
        if pending is None:
            pending = PendingName(parent.inode, name)
            self._pending[key] = pending
            try:
                self._lookup_pool.submit(self._finish_lookup, parent, pending)
            except RuntimeError:  # shut down: the mount is ending
                del self._pending[key]
                raise llfuse.FUSEError(errno.EIO)
        if not pending.done():
            with llfuse.lock_released:
                pending.wait(LOOKUP_GRACE)
        if pending.done():
            if pending.errno == errno.EIO:
                raise llfuse.FUSEError(errno.EIO)
            return pending.result
        if pending.inode is None:
            self.inodes.add_entry(pending)
        return pending

    def _finish_lookup(self, parent, pending):
        """Runs in a lookup thread: fetch without the lock, then apply with
        it, and wake whoever waits for `pending`."""
        name = pending.name
        failure = None
        snapshot = None
        try:
            snapshot = parent.fetch_missing(name)
        except NotFound:
            pass
        except Exception as e:
            _logger.warning('%s: lookup of %r failed: %s', parent.describe(), name, _one_line(e))
            failure = errno.EIO
        with llfuse.lock:
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
                    self.inodes.del_entry(pending)
                    self._queue_invalidation('entry', parent.inode, name)

    def _timeout(self, entry):
        if type(entry) is PendingName:
            return 0
        if entry.immutable():
            return IMMUTABLE_TIMEOUT
        return EVENT_TIMEOUT if self._events_live else self.refresh_time

    def _attributes(self, entry):
        attr = llfuse.EntryAttributes()
        attr.st_ino = entry.inode
        attr.generation = 0
        attr.entry_timeout = attr.attr_timeout = self._timeout(entry)
        attr.st_mode = entry.st_mode()
        attr.st_nlink = 2 if stat.S_ISDIR(attr.st_mode) else 1
        attr.st_uid = self.uid
        attr.st_gid = self.gid
        attr.st_rdev = 0
        size = entry.size()
        attr.st_size = size
        attr.st_blksize = BLOCK_SIZE_HINT
        attr.st_blocks = (size + 511) // 512
        mtime_ns = int(entry.mtime() * 1e9)
        attr.st_atime_ns = int(entry.atime() * 1e9)
        attr.st_mtime_ns = mtime_ns
        attr.st_ctime_ns = mtime_ns
        return attr

    # -- reading the tree ------------------------------------------------------
    @handler
    def getattr(self, inode, ctx=None):
        attr = self._attributes(self._entry(inode))
        # A settled PendingName answers as its result, under its own number.
        attr.st_ino = inode
        return attr

    @handler
    def lookup(self, parent_inode, name, ctx=None):
        # Releases the llfuse lock while refreshing the parent or fetching a
        # missing name.
        parent = self._entry(parent_inode)
        if name == b'.':
            entry = parent
        elif name == b'..':
            entry = self._entry(parent.parent_inode)
        else:
            if not isinstance(parent, Directory):
                raise llfuse.FUSEError(errno.ENOTDIR)
            if len(name) > NAME_MAX:
                raise llfuse.FUSEError(errno.ENAMETOOLONG)
            text = self.names.decode(name)
            if text is None or parent.detached:
                # A detached directory's object is gone: nothing below it,
                # not even its (freed) record file.
                raise llfuse.FUSEError(errno.ENOENT)
            self._refresh(parent)
            entry = parent.entry(text)
            if entry is None:
                entry = self._lookup_missing(parent, text)
            if entry is None:
                raise llfuse.FUSEError(errno.ENOENT)
        self.inodes.remember(entry.inode)
        return self._attributes(entry)

    @handler
    def forget(self, inode_list):
        for inode, nlookup in inode_list:
            self.inodes.forget(inode, nlookup)

    @handler
    def open(self, inode, flags, ctx=None):
        entry = self._entry(inode)
        if isinstance(entry, Directory):
            raise llfuse.FUSEError(errno.EISDIR)
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC | os.O_APPEND | os.O_CREAT):
            raise llfuse.FUSEError(errno.EROFS)
        fh = next(self._fh_counter)
        self._filehandles[fh] = FileHandle(fh, entry)
        return fh

    @handler
    def read(self, fh, off, size):
        handle = self._filehandles.get(fh)
        if handle is None:
            raise llfuse.FUSEError(errno.EBADF)
        entry = handle.entry
        try:
            # Most reads are served from memory the file already holds: no
            # need to give up the lock (and wake other threads) for those.
            data = entry.read_now(off, size)
            if data is not None:
                return data
            # Releases the llfuse lock: Keep may be slow.
            with llfuse.lock_released:
                return entry.readfrom(off, size)
        except Exception as e:
            _logger.warning('read of inode %d at %d failed: %s', entry.inode, off, _one_line(e))
            raise llfuse.FUSEError(errno.EIO)

    @handler
    def release(self, fh):
        handle = self._filehandles.pop(fh, None)
        if handle is not None:
            handle.entry.closed()

    @handler
    def opendir(self, inode, ctx=None):
        # Releases the llfuse lock while refreshing the directory.
        entry = self._entry(inode)
        if not isinstance(entry, Directory):
            raise llfuse.FUSEError(errno.ENOTDIR)
        self._refresh(entry)
        parent = self.inodes.get(entry.parent_inode, entry)
        entry.accessed()
        listing = [(b'.', entry), (b'..', parent)]
        for name, child in sorted(entry.listing()):
            raw = self.names.encode(name)
            if raw is not None:
                listing.append((raw, child))
        fh = next(self._fh_counter)
        self._filehandles[fh] = FileHandle(fh, listing)
        return fh

    @handler
    def readdir(self, fh, off):
        handle = self._filehandles.get(fh)
        if handle is None:
            raise llfuse.FUSEError(errno.EBADF)
        return self._readdir_entries(handle.entry, off)

    def _readdir_entries(self, listing, off):
        # A generator, so a huge directory is only turned into entries as far
        # as the kernel's buffer reaches.  A directory entry carries only the
        # inode number and the file type (libfuse 2 has no readdirplus):
        # sizes and times come with the lookup that follows.
        for i in range(off, len(listing)):
            name, child = listing[i]
            if child.inode is None or child.inode not in self.inodes:
                continue
            attr = llfuse.EntryAttributes()
            attr.st_ino = child.inode
            attr.st_mode = _DIR_TYPE if isinstance(child, Directory) else _FILE_TYPE
            yield (name, attr, i + 1)

    @handler
    def releasedir(self, fh):
        self._filehandles.pop(fh, None)

    @handler
    def statfs(self, ctx=None):
        st = llfuse.StatvfsData()
        st.f_bsize = BLOCK_SIZE_HINT
        st.f_frsize = BLOCK_SIZE_HINT
        st.f_blocks = 0
        st.f_bfree = 0
        st.f_bavail = 0
        # What the tree holds; not what was removed but the kernel has yet
        # to forget.
        st.f_files = self.inodes.live_count()
        st.f_ffree = 0
        st.f_favail = 0
        st.f_namemax = NAME_MAX
        return st

    @handler
    def getxattr(self, inode, name, ctx=None):
        # `ls -l` asks every file for security.selinux and
        # system.posix_acl_access.  ENOTSUP says the namespace is not
        # supported at all, which ls remembers for the whole filesystem, so
        # it stops asking (ENOATTR would cost a round trip per file).
        if not name.startswith(b'user.'):
            raise llfuse.FUSEError(errno.ENOTSUP)
        if not name.startswith(XATTR_PREFIX):
            raise llfuse.FUSEError(llfuse.ENOATTR)
        value = self._entry(inode).xattrs().get(name.decode('utf-8', 'replace'))
        if value is None:
            raise llfuse.FUSEError(llfuse.ENOATTR)
        return value.encode('utf-8')

    @handler
    def listxattr(self, inode, ctx=None):
        return [k.encode('utf-8') for k in sorted(self._entry(inode).xattrs())]

    @handler
    def access(self, inode, mode, ctx=None):
        self._entry(inode)
        if mode & os.W_OK:
            raise llfuse.FUSEError(errno.EROFS)
        return True

    # -- change events --------------------------------------------------------
    def _invalidate_directory(self, inode, entry):
        """Stale now.  If it holds entries the kernel may have cached, reload
        it right away in the background: the kernel would otherwise take path
        walks straight to old entries (for up to --refresh-time) without ever
        asking us, and reloading tells it exactly which names changed, so
        unchanged files keep their cached pages."""
        entry.invalidate()
        self._queue_invalidation('inode', inode)
        if entry.loaded() and self._mounted:
            self._refreshes.put(inode)

    def invalidate_uuids(self, uuids):
        """Mark every directory that shows one of `uuids` stale.  Caller
        holds the llfuse lock."""
        inodes = self.inodes.inodes_for_uuids(u for u in uuids if u)
        for inode in inodes:
            entry = self.inodes.get(inode)
            if isinstance(entry, Directory):
                self._invalidate_directory(inode, entry)
        return len(inodes)

    def on_reconnect(self, replayed=False):
        """The event stream was (re)established: anything may have changed
        while it was not listening, unless the server `replayed` every
        change since before the mount served anything."""
        with llfuse.lock:
            self._events_live = True
            if replayed:
                return
            for inode in self.inodes.indexed_inodes():
                entry = self.inodes.get(inode)
                if isinstance(entry, Directory) and not entry.immutable():
                    self._invalidate_directory(inode, entry)

    def on_disconnect(self):
        """The event stream is down: what the kernel was told it may cache
        until an event says otherwise must now follow --refresh-time.  Ask
        it to forget the names and attributes below every mutable
        directory; its next lookups get the short timeouts."""
        with llfuse.lock:
            if not self._events_live:
                return
            self._events_live = False
            for inode in self.inodes.indexed_inodes():
                entry = self.inodes.get(inode)
                if isinstance(entry, Directory) and not entry.immutable():
                    self._queue_invalidation('inode', inode)
                    for name, _child in entry.listing():
                        self._queue_invalidation('entry', inode, name)

    def on_event(self, ev):
        """Websocket event callback (runs in the events thread)."""
        if ev.get('event_type') not in ('create', 'update', 'delete'):
            return
        props = ev.get('properties') or {}
        old = props.get('old_attributes') or {}
        new = props.get('new_attributes') or {}
        keys = [ev.get('object_uuid'), ev.get('object_owner_uuid'), old.get('owner_uuid'), new.get('owner_uuid')]
        if ev.get('object_kind'):
            # Tags and shares are links and groups seen from elsewhere: the
            # directories listing them subscribe to the kind.
            keys.append(kind_key(ev['object_kind']))
        if ev.get('object_uuid') and group_uuid_pattern.match(ev['object_uuid']) and \
                (ev.get('event_type') == 'delete' or new.get('is_trashed')):
            keys.append(trashed_key(ev['object_uuid']))
        with llfuse.lock:
            self.invalidate_uuids(keys)


_DIR_TYPE = stat.S_IFDIR
_FILE_TYPE = stat.S_IFREG
# Every extended attribute we have is user.arvados.*.
XATTR_PREFIX = b'user.arvados.'


def _one_line(exc):
    text = str(exc).strip().splitlines()
    return (type(exc).__name__ + ': ' + (text[0] if text else '')).strip()[:400]


for _name in WRITE_OPERATIONS:
    setattr(Operations, _name, _refuse_write)
