"""The arv-mount command: parse options, check the cluster, mount, serve,
unmount.  Daemonizes only after the mount succeeded, so startup errors reach
the user's terminal as one clear line and exit status 1."""

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time

import llfuse

from . import mountpoint
from .arguments import ArgumentParser
from .operations import Operations
from .roots import StartupError, build_root

_logger = logging.getLogger('arvados.arvados_fuse')


class Failure(Exception):
    """A startup error: printed as one line, exit status 1."""


def _setup_logging(args):
    """Our messages go to stderr (and --logfile) in one format; the SDK's
    'arvados' logger keeps its own handler, quieted unless --debug."""
    ours = logging.getLogger('arvados.arvados_fuse')
    ours.propagate = False
    fmt = logging.Formatter('%(asctime)s arv-mount[%(process)d] %(levelname)s: %(message)s')
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    handlers = [stderr]
    if args.logfile:
        handlers.append(logging.FileHandler(args.logfile))
    for h in handlers:
        h.setFormatter(fmt)
        ours.addHandler(h)
    ours.setLevel(logging.DEBUG if args.debug else logging.INFO)
    sdk_level = logging.DEBUG if args.debug else logging.WARNING
    for name in ('arvados', 'googleapiclient'):
        logging.getLogger(name).setLevel(sdk_level)
    if args.logfile:
        logging.getLogger('arvados').addHandler(handlers[-1])


def _check_args(args):
    if args.read_write:
        raise Failure('--read-write is not supported: this arv-mount is read-only')
    if args.mount_tmp:
        raise Failure('--mount-tmp is not supported: this arv-mount is read-only')
    if args.filters is not None:
        args.filters = _load_filters(args.filters)
    custom = args.mount_home or args.mount_shared or args.mount_by_id or args.mount_by_pdh or args.mount_by_tag
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
    if args.refresh_time <= 0:
        raise Failure('--refresh-time must be positive')


def _load_filters(value):
    try:
        if value == '-':
            text = sys.stdin.read()
        elif value.lstrip().startswith('['):
            text = value
        else:
            with open(value) as f:
                text = f.read()
        filters = json.loads(text)
    except (OSError, ValueError) as e:
        raise Failure('--filters: %s' % e)
    if not isinstance(filters, list) or not all(isinstance(f, list) and len(f) == 3 for f in filters):
        raise Failure('--filters must be a JSON list of [attribute, operator, operand] lists')
    return filters


def _check_mountpoint(args):
    path = args.mountpoint
    if args.replace:
        mountpoint.unmount(path, timeout=args.unmount_timeout)
    if not os.path.isdir(path):
        raise Failure('mount point %s is not a directory' % path)
    if mountpoint.is_mounted(path):
        raise Failure('%s is already mounted (use --replace to replace it, --unmount to unmount it)' % path)


def _mount_options(args):
    opts = set(llfuse.default_options)
    opts.discard('default_permissions')
    opts.update({'ro', 'default_permissions', 'fsname=arvados'})
    opts.add('subtype=' + (args.subtype or 'arv-mount'))
    if args.allow_other:
        opts.add('allow_other')
    return opts


class Mount(object):
    """One mounted filesystem, from llfuse.init to unmount."""

    def __init__(self, args):
        self.args = args
        self.operations = None
        self.api = None
        self.events = None
        self._stats_thread = None

    def setup(self):
        """Everything that can fail before the mount exists."""
        args = self.args
        from .safeapi import SafeApi  # imported late: the SDK is slow to import
        self.operations = Operations(os.getuid(), os.getgid(), args.encoding, refresh_time=args.refresh_time)
        block_cache = _block_cache(args)
        try:
            self.api = SafeApi(keep_params={'block_cache': block_cache, 'num_prefetch_threads': 2},
                               num_retries=args.retries)
        except Exception as e:
            raise Failure('cannot reach the API server: %s' % _one_line(e))
        try:
            root = build_root(args, self.operations.inodes, self.api)
        except StartupError as e:
            raise Failure(str(e))
        self.root = root
        return root

    def mount(self):
        llfuse.init(self.operations, os.path.realpath(self.args.mountpoint), _mount_options(self.args))
        if self.root.want_event_subscribe() and not self.args.disable_event_listening:
            from .events import EventListener
            self.events = EventListener(self.api, self.operations, poll_time=self.args.refresh_time)
            self.events.start()
        if self.args.crunchstat_interval:
            from .stats import start_stats_thread
            start_stats_thread(self.api, self.args.crunchstat_interval)

    def serve(self, handle_signals=True):
        """Run the llfuse loop until unmounted or signalled."""
        try:
            return llfuse.main(workers=None, handle_signals=handle_signals)
        finally:
            self.close()

    def close(self):
        if self.events is not None:
            self.events.stop()
            self.events = None
        try:
            llfuse.close(unmount=mountpoint.is_mounted(self.args.mountpoint))
        except Exception as e:
            _logger.debug('llfuse.close: %s', e)
        if mountpoint.is_mounted(self.args.mountpoint):
            mountpoint.unmount(self.args.mountpoint, timeout=self.args.unmount_timeout)


def _block_cache(args):
    import arvados
    if args.disk_cache:
        return arvados.keep.KeepBlockCache(cache_max=args.file_cache or 0, disk_cache=True,
                                           disk_cache_dir=args.disk_cache_dir)
    return arvados.keep.KeepBlockCache(cache_max=args.file_cache or 256 * 1024 * 1024)


def _one_line(exc):
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__


def _run_exec(mount, args):
    """Mount, run the command, unmount; exit with the command's status."""
    # llfuse wakes its workers with SIGUSR1 when the loop ends; without its
    # own signal handling (main is not in the main thread) that signal would
    # kill us unless something handles it.
    signal.signal(signal.SIGUSR1, lambda *_: None)
    loop = threading.Thread(target=mount.serve, kwargs={'handle_signals': False}, name='llfuse-main')
    loop.start()
    mount.operations.initlock.wait(30)
    try:
        child = subprocess.Popen(args.exec_args)
    except OSError as e:
        _logger.error('cannot run %s: %s', args.exec_args[0], e)
        child = None
    rc = 127
    if child is not None:
        def forward(signum, _frame):
            try:
                child.send_signal(signum)
            except OSError:
                pass
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT):
            signal.signal(sig, forward)
        rc = child.wait()
        if rc < 0:
            rc = 128 - rc
    # Make llfuse.main return, then wait for it to clean up.
    mountpoint.unmount(args.mountpoint, timeout=args.unmount_timeout)
    loop.join(args.unmount_timeout + 10)
    return rc


def _daemonize_after_mount(mount):
    """Fork; the child mounts and serves, the parent waits for word that the
    mount is up, then exits 0 (or prints the child's error and exits 1)."""
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid:
        os.close(wfd)
        with os.fdopen(rfd) as r:
            word = r.read()
        if word.startswith('ok'):
            return 0
        if word:
            print('arv-mount: ' + word.strip(), file=sys.stderr)
        else:
            _, status = os.waitpid(pid, 0)
        return 1
    os.close(rfd)
    os.setsid()
    try:
        mount.setup()
        mount.mount()
    except Failure as e:
        os.write(wfd, str(e).encode('utf-8', 'replace'))
        os._exit(1)
    except Exception as e:
        os.write(wfd, ('mount failed: %s' % _one_line(e)).encode('utf-8', 'replace'))
        os._exit(1)
    os.write(wfd, b'ok')
    os.close(wfd)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        mount.serve()
    finally:
        os._exit(0)


def main(argv=None):
    args = ArgumentParser().parse_args(argv)
    _setup_logging(args)
    try:
        if args.unmount or args.unmount_all:
            done = mountpoint.unmount(args.mountpoint, timeout=args.unmount_timeout, recursive=args.unmount_all)
            if not done and not args.unmount_all:
                _logger.warning('%s: nothing mounted there', args.mountpoint)
            return 0
        _check_args(args)
        _check_mountpoint(args)
        mount = Mount(args)
        if not (args.foreground or args.exec_args):
            return _daemonize_after_mount(mount)
        mount.setup()
        mount.mount()
    except Failure as e:
        print('arv-mount: %s' % e, file=sys.stderr)
        return 1
    if args.exec_args:
        return _run_exec(mount, args)
    mount.serve()
    return 0


if __name__ == '__main__':
    sys.exit(main())
