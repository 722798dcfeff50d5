"""The arv-mount command: parse options, check the cluster, mount, serve,
unmount.

Lifecycle rules:
- everything that can fail (credentials, cluster reachable, token accepted,
  root object readable, mount point usable) is checked before the mount
  exists, and reported as one line on stderr with exit status 1;
- without --foreground the process forks first and the child does all of
  that; the parent stays attached to the terminal until the child reports
  "mounted" (exit 0) or its error (printed by the parent, exit 1);
- however the FUSE loop ends (unmounted, SIGTERM/SIGINT, an exception in
  the loop), the mount is taken down before the process exits;
- the mount point is never stat()ed once mounted (see mountpoint.py): that
  would wait on the daemon, i.e. on this very process while it shuts down.
"""

import json
import logging
import os
import resource
import signal
import subprocess
import sys
import threading

import llfuse

from . import __version__
from . import mountopts
from .host import allocator
from .host import metrics
from .host import mountpoint
from .host.systemd import Notifier
from .arguments import DEFAULT_FILE_CACHE, ArgumentParser
from .answers import FUSE_LOCK
from .blocks.locators import MAX_BLOCK_SIZE as BLOCK
from .host.logtext import one_line
from .fs.model import Model
from .instrumented import InstrumentedOperations
from .fs.roots import StartupError, build_root
from .api import safeapi
from .api.safeapi import SafeApi, check_token
from .blocks import readpath
from .errors import Refused, Timeout, TlsFailure, Unauthorized, Unreachable

_logger = logging.getLogger('arvados.arvados_fuse')

# The startup check of the API server uses few retries and a short timeout,
# so a wrong or dead host fails in seconds rather than after --retries
# exponential back-offs: with the SDK's random back-off, 10 retries of a
# refused connection took 17 minutes (measured); 2 retries take 1 to 6 s.
# --retries still governs everything after startup.
STARTUP_RETRIES = 2
STARTUP_TIMEOUT = 30
DEFAULT_SUBTYPE = 'arv-mount'
# At least this many file descriptors, as upstream: the disk cache holds two
# per cached block (the SDK gives it an eighth of the limit in blocks), and
# every open file, socket and FUSE handle needs one.
MIN_NOFILE = 10240


class Failure(Exception):
    """A startup error: printed as one line, exit status 1."""


def _setup_logging(args):
    """Our messages go to stderr (warnings and up, everything with --debug)
    and to --logfile (info and up, everything with --debug); the SDK's
    'arvados' logger keeps its own stderr handler and also writes to
    --logfile.  crunchstat lines always reach both."""
    fmt = logging.Formatter('%(asctime)s arv-mount[%(process)d] %(levelname)s: %(message)s')
    level = logging.DEBUG if args.debug else logging.INFO
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    stderr.setFormatter(fmt)
    logfile = None
    if args.logfile:
        try:
            logfile = logging.FileHandler(args.logfile)
        except OSError as e:
            raise Failure('--logfile: %s' % e)
        logfile.setLevel(level)
        logfile.setFormatter(fmt)
    ours = logging.getLogger('arvados.arvados_fuse')
    ours.propagate = False
    ours.setLevel(level)
    ours.addHandler(stderr)
    # crunchstat lines reach stderr bare, written by host/crunchstat.py itself (as
    # upstream, for crunchstat-summary); through logging only --logfile.
    stats = logging.getLogger('arvados.arvados_fuse.crunchstat')
    stats.propagate = False
    stats.setLevel(logging.INFO)
    stats.addHandler(logging.NullHandler())
    sdk_level = logging.DEBUG if args.debug else logging.WARNING
    logging.getLogger('arvados').setLevel(sdk_level)
    logging.getLogger('googleapiclient').setLevel(level)
    # With a handler of ours on googleapiclient, the SDK does not route its
    # "Sleeping N seconds before retry" lines to stderr by itself: a startup
    # failure stays one line, and --debug still shows every retry.
    google = logging.getLogger('googleapiclient')
    google.propagate = False
    google_stderr = logging.StreamHandler(sys.stderr)
    google_stderr.setLevel(logging.DEBUG if args.debug else logging.ERROR)
    google_stderr.setFormatter(fmt)
    google.addHandler(google_stderr)
    if logfile is not None:
        for logger in (ours, stats, logging.getLogger('arvados'), google):
            logger.addHandler(logfile)


def _resolve_paths(args):
    """Absolute paths: the daemon changes directory to /."""
    for name in ('mountpoint', 'logfile', 'disk_cache_dir'):
        value = getattr(args, name)
        if value:
            setattr(args, name, os.path.abspath(value))


def _check_args(args):
    if args.read_write:
        raise Failure('--read-write is not supported: this arv-mount is read-only')
    if args.mount_tmp:
        raise Failure('--mount-tmp is not supported: this arv-mount is read-only')
    if args.storage_classes is not None:
        raise Failure('--storage-classes is not supported: this arv-mount is read-only and creates no collections')
    if args.filters is not None:
        args.filters = _load_filters(args.filters)
    custom = (args.mount_home or args.mount_shared or args.mount_users or args.mount_by_id or args.mount_by_pdh
              or args.mount_by_tag)
    if args.project:
        args.mode = 'project'
    elif args.collection:
        args.mode = 'collection'
    elif custom:
        if args.mode not in (None, 'custom'):
            raise Failure('--mount-* options cannot be combined with --%s' % args.mode.replace('_', '-'))
        args.mode = 'custom'
    elif args.mode is None:
        args.mode = 'all'
    if args.retries < 0:
        raise Failure('--retries must be 0 or more')
    if args.timeout < 0:
        raise Failure('--timeout must be 0 or more')
    if not args.read_timeout > 0:
        raise Failure('--read-timeout must be more than 0')
    if args.refresh_time <= 0:
        raise Failure('--refresh-time must be positive')
    if args.prometheus_port is not None and not 0 <= args.prometheus_port <= 65535:
        raise Failure('--prometheus-port must be between 0 and 65535')
    if args.crunchstat_interval < 0:
        raise Failure('--crunchstat-interval must be 0 (off) or positive')
    if args.file_cache is not None and args.file_cache < 0:
        raise Failure('--file-cache must be 0 or more')
    if args.directory_cache < 0:
        raise Failure('--directory-cache must be 0 or more')
    if args.unmount_timeout < 0:
        raise Failure('--unmount-timeout must be 0 or more')
    if not args.negative_cache_ttl >= 0:
        raise Failure('--negative-cache-ttl must be 0 (off) or more')
    if args.exec_args is not None and not args.exec_args:
        raise Failure('--exec needs a command to run')


def _load_filters(value):
    try:
        if value == '-':
            text = sys.stdin.read()
        elif value.lstrip()[:1] in ('[', '{'):
            text = value
        else:
            with open(value) as f:
                text = f.read()
        filters = json.loads(text)
    except (OSError, ValueError) as e:
        raise Failure('--filters: %s' % e)
    # The SDK's own check, as upstream arv-mount uses: a list of
    # [attribute, operator, operand] lists or "(attr1 op attr2)" strings.
    try:
        return safeapi.validate_filters(filters)
    except ValueError as e:
        raise Failure('--filters: %s' % e)


def _fstype(args):
    """The mount type --subtype names (None: not given, any FUSE mount)."""
    return None if args.subtype is None else mountpoint.fstype_of(args.subtype)


def _raise_nofile(args):
    """Raise the soft RLIMIT_NOFILE to MIN_NOFILE, or to 8 per 64 MiB of
    --file-cache if more (the disk cache's slots are an eighth of it), up to
    the hard limit."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = MIN_NOFILE
        if args.file_cache:
            want = max(want, args.file_cache // BLOCK * 8)
        if hard != resource.RLIM_INFINITY and want > hard:
            _logger.warning('--file-cache %d needs %d file descriptors, more than the hard limit %d: '
                            'the disk cache will be smaller', args.file_cache, want, hard)
            want = hard
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (OSError, ValueError) as e:
        _logger.warning('cannot raise the file descriptor limit: %s', e)


def _check_mountpoint(args):
    path = args.mountpoint
    if args.replace:
        try:
            mountpoint.unmount(path, timeout=args.unmount_timeout, fstype=_fstype(args))
        except mountpoint.MountTypeError as e:
            raise Failure('--replace: %s' % e)
    # Mounted first: a stat of a mount point asks its daemon, which may hang.
    if mountpoint.is_mounted(path):
        raise Failure('%s is already mounted (use --replace to replace it, --unmount to unmount it)' % path)
    if not os.path.exists(path):
        raise Failure('mount point %s does not exist' % path)
    if not os.path.isdir(path):
        raise Failure('mount point %s is not a directory' % path)
    # From here on the path is compared with /proc/self/mountinfo, never
    # resolved again (resolving would stat the mount point: see above).
    args.mountpoint = mountpoint.canonical_path(path)


def _mount_options(args):
    opts = set(llfuse.default_options)
    # nonempty: a mount point may hold files (they are hidden while mounted),
    # as with the llfuse of the seed's time; e.g. a directory of another mount.
    opts.update({'ro', 'nonempty', 'fsname=' + mountpoint.FSNAME})
    # --subtype '' mounts as plain "fuse", as upstream.
    subtype = DEFAULT_SUBTYPE if args.subtype is None else args.subtype
    if subtype:
        opts.add('subtype=' + subtype)
    if args.allow_other:
        opts.add('allow_other')
    if args.default_permissions:
        opts.add('default_permissions')
    if args.debug:
        # FUSE's own trace of every request, on stderr (as upstream).
        opts.add('debug')
    return opts


def _load_settings(args):
    """--settings FILE: its ARVADOS_* settings (read before the daemon
    forks and changes directory, so a bad file is the command's error)."""
    args.settings_values = {}
    if not args.settings:
        return
    try:
        args.settings_values = mountopts.read_settings(args.settings)
    except OSError as e:
        raise Failure('--settings: cannot read %s: %s' % (args.settings, e.strerror or e))
    except ValueError as e:
        raise Failure('--settings: %s' % e)


def _credentials(args):
    """ARVADOS_API_* from --settings FILE, else the environment, else
    ~/.config/arvados/settings.conf."""
    settings = dict(safeapi.settings())
    settings.update(getattr(args, 'settings_values', None) or {})
    for key in ('ARVADOS_API_HOST', 'ARVADOS_API_TOKEN'):
        if not settings.get(key):
            raise Failure('%s is not set: export it, set it in ~/.config/arvados/settings.conf, '
                          'or name a settings file with --settings (-o settings=)' % key)
    return settings


def _check_cluster(settings, retries, observer):
    """Reach the API server and check the token, failing fast and clearly;
    the token's user record."""
    host = settings['ARVADOS_API_HOST']
    retries = min(retries, STARTUP_RETRIES)
    try:
        return check_token(settings, retries, STARTUP_TIMEOUT, observer=observer)
    except Unauthorized:
        raise Failure('the API server at %s refused the token (401 Unauthorized)' % host)
    except Refused as e:
        raise Failure('the API server at %s answered %s: %s' % (host, e.status, one_line(e)))
    except TlsFailure as e:
        raise Failure('TLS with the API server at %s failed: %s (for a self-signed test cluster '
                      'set ARVADOS_API_HOST_INSECURE=1)' % (host, one_line(e)))
    except (Unreachable, Timeout) as e:
        raise Failure('cannot connect to the API server at %s: %s' % (host, one_line(e)))
    except Exception as e:
        raise Failure('cannot use the API server at %s: %s' % (host, one_line(e)))


def _block_cache(args):
    from .keep.blockcache import ObservedBlockCache
    if args.disk_cache:
        if args.disk_cache_dir:
            # The SDK expects the directory to exist (its default one it makes).
            try:
                os.makedirs(args.disk_cache_dir, mode=0o700, exist_ok=True)
            except OSError as e:
                raise Failure('--disk-cache-dir: %s' % e)
        # cache_max 0: the SDK's default share of the disk's free space.
        try:
            return ObservedBlockCache(cache_max=args.file_cache or 0, disk_cache=True,
                                      disk_cache_dir=args.disk_cache_dir,
                                      disk_min_free=args.disk_cache_min_free)
        except OSError as e:
            raise Failure('disk cache %s: %s' % (args.disk_cache_dir or '', e))
    return ObservedBlockCache(cache_max=args.file_cache or DEFAULT_FILE_CACHE)


class Mount(object):
    """One mounted filesystem, from setup to unmount."""

    def __init__(self, args, notifier=None):
        self.args = args
        # systemd's notification socket (Type=notify); inert without one.
        self.notifier = notifier if notifier is not None else Notifier()
        self.operations = None
        self.api = None
        self.root = None
        self.events = None
        self.stats = None
        self.metrics_server = None

    def setup(self):
        """Everything that can fail before the mount exists."""
        args = self.args
        settings = _credentials(args)
        self.notifier.status('checking the API server at %s' % settings['ARVADOS_API_HOST'])
        _raise_nofile(args)
        # The client layer reports every request it sends (counted for
        # crunchstat and /metrics).
        observer = metrics.client_counters
        user = _check_cluster(settings, args.retries, observer)
        # API calls are bounded by --timeout; a by_id lookup is waited for a
        # little more, for its thread to take the lock and build what it found.
        model = Model(FUSE_LOCK, refresh_time=args.refresh_time, directory_cache=args.directory_cache,
                      **({'lookup_timeout': args.timeout + 5} if args.timeout else {}))
        model.kernel_cache.negative_ttl = args.negative_cache_ttl
        self.operations = InstrumentedOperations(
            os.getuid() if args.uid is None else args.uid, os.getgid() if args.gid is None else args.gid,
            args.encoding, model=model, file_mode=args.file_mode, dir_mode=args.dir_mode)
        try:
            block_cache = _block_cache(args)
            self.api = SafeApi(config=settings, keep_params={'block_cache': block_cache, 'num_prefetch_threads': 2},
                               num_retries=args.retries, timeout=args.timeout or None,
                               read_timeout=args.read_timeout, observer=observer,
                               prefetch_budget=readpath.budget_for(block_cache.cache_max))
            self.root = build_root(args, self.operations.inodes, self.api, user)
        except StartupError as e:
            raise Failure(str(e))
        except OSError as e:
            raise Failure(one_line(e))
        metrics.sources.operations = self.operations
        metrics.sources.keep = self.api.keep
        metrics.sources.block_cache = self.api.keep.block_cache
        if args.prometheus_port is not None:
            try:
                self.metrics_server = metrics.serve(args.prometheus_port, args.prometheus_address)
            except OSError as e:
                raise Failure('--prometheus-port: cannot listen on %s port %d: %s'
                              % (args.prometheus_address, args.prometheus_port, e.strerror or e))
            _logger.info('serving metrics at http://%s:%d/metrics', args.prometheus_address,
                         self.metrics_server.server_port)

    def mount(self):
        args = self.args
        self.notifier.status('mounting %s' % args.mountpoint)
        try:
            llfuse.init(self.operations, args.mountpoint, _mount_options(args))
        except Exception as e:
            raise Failure('cannot mount %s: %s' % (args.mountpoint, one_line(e)))
        try:
            self._start_workers()
        except Exception as e:
            self.close()
            raise Failure('cannot start serving %s: %s' % (args.mountpoint, one_line(e)))

    def _start_workers(self):
        args = self.args
        _logger.info('arv-mount %s: mounted %s (%s mode, refresh every %gs, %d retries within %s)',
                     __version__, args.mountpoint, args.mode, args.refresh_time, args.retries,
                     '%gs' % args.timeout if args.timeout else 'no bound')
        if args.disable_event_listening:
            _logger.debug('change events: not listening (--disable-event-listening); polling every %gs',
                          args.refresh_time)
        elif self.root.want_event_subscribe():
            from .api.events import EventListener
            self.events = EventListener(self.api, self.operations.model.changes, poll_time=args.refresh_time)
            self.events.start()
            _logger.debug('change events: listener started')
        if args.crunchstat_interval:
            from .host.crunchstat import StatsLogger
            self.stats = StatsLogger(self.api.keep, args.crunchstat_interval)
            self.stats.start()

    def serve(self):
        """Run the llfuse loop until unmounted; then take the mount down
        whatever happened.  Returns the exit status."""
        status = 0
        try:
            llfuse.main(workers=None, handle_signals=False)
        except BaseException:
            _logger.exception('the FUSE loop failed; unmounting %s', self.args.mountpoint)
            status = 1
        finally:
            self.close()
        return status

    def close(self):
        for worker in (self.events, self.stats):
            if worker is not None:
                worker.stop()
        self.events = self.stats = None
        if self.metrics_server is not None:
            self.metrics_server.shutdown()
            self.metrics_server = None
        try:
            llfuse.close(unmount=mountpoint.is_mounted(self.args.mountpoint))
        except Exception as e:
            _logger.debug('llfuse.close: %s', e)
        if mountpoint.is_mounted(self.args.mountpoint):
            mountpoint.unmount(self.args.mountpoint, timeout=self.args.unmount_timeout)
        _logger.info('unmounted %s', self.args.mountpoint)


class _Forwarder(object):
    """Signal handler for --exec: signals go to the command once it runs;
    a signal that comes before is kept and then sent to it."""

    def __init__(self):
        self.child = None
        self.pending = []

    def __call__(self, signum, _frame):
        if self.child is None:
            self.pending.append(signum)
            return
        try:
            self.child.send_signal(signum)
        except OSError:
            pass

    def started(self, child):
        self.child = child
        while self.pending:
            self(self.pending.pop(0), None)


class _Stopper(object):
    """Signal handler without --exec: note the signal, wake the main thread."""

    def __init__(self):
        self.received = []
        self.wake = threading.Event()

    def __call__(self, signum, _frame):
        self.received.append(signum)
        self.wake.set()


def _run_command(args, forwarder):
    """Run the --exec command to its end, forwarding signals to it; its
    status, 128+N when signal N killed it, 127 when it cannot be run."""
    try:
        child = subprocess.Popen(args.exec_args)
    except OSError as e:
        print('arv-mount: cannot run %s: %s' % (args.exec_args[0], e.strerror or e), file=sys.stderr)
        return 127
    forwarder.started(child)
    while True:
        # Timed waits: Python runs signal handlers in the main thread only
        # between bytecodes, and a signal taken by another thread would not
        # interrupt an untimed wait.
        try:
            rc = child.wait(0.5)
            break
        except subprocess.TimeoutExpired:
            pass
    return 128 - rc if rc < 0 else rc


def mount_and_serve(mount, args, report_mounted=None):
    """Mount; serve until unmounted, signalled, or (--exec) the command
    ends; unmount.  Returns the exit status.

    The llfuse loop runs in its own thread, without llfuse's signal
    handling: llfuse's handler only ends the loop if the signal happens to
    land on one of its worker threads, and a signal between the mount and
    the loop would kill the process with the mount left behind.  Here the
    main thread takes every signal, from before the mount exists, and ends
    the loop the one way that always works: unmounting."""
    if args.exec_args:
        handler = _Forwarder()
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)
    else:
        handler = _Stopper()
        signals = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for sig in signals:
        signal.signal(sig, handler)
    # llfuse wakes its workers with SIGUSR1 when the loop ends: that must
    # interrupt their system calls, not kill the process.
    signal.signal(signal.SIGUSR1, lambda *_: None)
    mount.mount()
    if report_mounted is not None and not mount.notifier.enabled():
        report_mounted()
    outcome = {'status': 1}
    done = threading.Event()

    def loop():
        try:
            outcome['status'] = mount.serve()
        finally:
            done.set()
            if isinstance(handler, _Stopper):
                handler.wake.set()
    thread = threading.Thread(target=loop, name='llfuse-main', daemon=True)
    thread.start()
    if mount.notifier.enabled():
        _notify_when_answering(mount, done, handler)
        if report_mounted is not None:
            report_mounted()
    if args.exec_args:
        mount.operations.initlock.wait(30)
        status = _run_command(args, handler)
    else:
        # Timed waits, for the same reason as in _run_command.
        while not handler.wake.wait(0.5):
            pass
        status = 0 if handler.received else outcome['status']
        if handler.received:
            _logger.info('signal %d: unmounting %s', handler.received[0], args.mountpoint)
    mount.notifier.stopping('unmounting %s' % args.mountpoint)
    if not done.is_set():
        mountpoint.unmount(args.mountpoint, timeout=args.unmount_timeout)
    if not done.wait(args.unmount_timeout + 10) or mountpoint.is_mounted(args.mountpoint):
        _logger.warning('%s did not unmount cleanly; forcing it', args.mountpoint)
        mountpoint.unmount(args.mountpoint, timeout=0)
    return status


def _notify_when_answering(mount, done, handler):
    """READY=1 to systemd once the mount answers: its root lists through
    the kernel.  The listing runs in a thread of its own (a request to our
    own mount must never be made where the unmount would wait on it); the
    wait for it ends early if the loop ends or a signal comes."""
    path = mount.args.mountpoint
    answer = {}
    listed = threading.Event()

    def probe():
        try:
            answer['names'] = len(os.listdir(path))
        except OSError as e:
            answer['error'] = e
        finally:
            listed.set()
    threading.Thread(target=probe, name='ready-probe', daemon=True).start()
    while not listed.wait(0.5):
        if done.is_set() or (isinstance(handler, _Stopper) and handler.received):
            return
    if 'error' in answer:
        _logger.warning('%s does not answer: %s', path, one_line(answer['error']))
        mount.notifier.status('mounted %s, but listing it failed: %s' % (path, one_line(answer['error'])))
        return
    mount.notifier.ready('serving %s (%s mode, %d entries at the top)' % (path, mount.args.mode, answer['names']))


def _daemonize_after_mount(mount):
    """Fork; the child sets up, mounts and serves; the parent waits for word
    that the mount is up, then exits 0 (or prints the child's error, 1)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(wfd)
        try:
            with os.fdopen(rfd, 'rb') as r:
                word = r.read().decode('utf-8', 'replace')
        except KeyboardInterrupt:
            os.kill(pid, signal.SIGTERM)
            return 1
        if word == 'ok':
            return 0
        mount.notifier.status('failed: %s' % (word.strip() or 'the mount process ended'))
        if not word:
            _, status = os.waitpid(pid, 0)
            word = 'the mount process ended (wait status %d) before mounting' % status
        print('arv-mount: ' + word.strip(), file=sys.stderr)
        return 1
    os.close(rfd)
    os.setsid()
    os.chdir('/')
    status = 1

    def report_mounted():
        os.write(wfd, b'ok')
        os.close(wfd)
        # Detach from the terminal; from now on --logfile is the log.
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)

    def report_failure(text):
        try:
            os.write(wfd, text.encode('utf-8', 'replace'))
        except OSError:
            pass    # already reported "mounted": the log has the story

    try:
        mount.setup()
        status = mount_and_serve(mount, mount.args, report_mounted)
    except Failure as e:
        report_failure(str(e))
    except BaseException as e:
        _logger.exception('arv-mount failed')
        report_failure('mount failed: %s' % one_line(e))
    finally:
        logging.shutdown()
        os._exit(status)


def main(argv=None):
    allocator.tune()  # before any thread starts
    if argv is None:
        argv = sys.argv[1:]
    if mountopts.is_mount_helper_call(argv):
        # mount -t fuse.arv-mount SOURCE DIR -o OPTS (via /sbin/mount.fuse).
        try:
            argv = mountopts.translate(argv)
        except mountopts.MountOptionError as e:
            print('arv-mount: %s' % e, file=sys.stderr)
            return 1
    args = ArgumentParser().parse_args(argv)
    notifier = Notifier.from_environment()
    try:
        _load_settings(args)
        _resolve_paths(args)
        _setup_logging(args)
        if args.unmount or args.unmount_all:
            try:
                done = mountpoint.unmount(args.mountpoint, timeout=args.unmount_timeout,
                                          recursive=args.unmount_all, fstype=_fstype(args))
            except mountpoint.MountTypeError as e:
                raise Failure(str(e))
            if not done:
                _logger.warning('%s: no FUSE mount %sthere', args.mountpoint,
                                '' if args.subtype is None else 'of type %s ' % _fstype(args))
            return 0
        _check_args(args)
        _check_mountpoint(args)
        mount = Mount(args, notifier)
        if not (args.foreground or args.exec_args):
            return _daemonize_after_mount(mount)
        mount.setup()
        return mount_and_serve(mount, args)
    except Failure as e:
        notifier.status('failed: %s' % e)
        print('arv-mount: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # Ctrl-C during setup: nothing is mounted yet.
        print('arv-mount: interrupted', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
