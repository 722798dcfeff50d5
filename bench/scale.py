"""Big collections and big projects: this mount vs upstream arv-mount 3.2.1
vs the llfuse floor, on the same data in one run against a local cluster.

    .venv/bin/python bench/scale.py [--runs 3] [--sizes 100000] [--million]
        [--shapes spread,packed,combined,deep,longnames,empty]
        [--only shapes|project|million] [--no-upstream] [--markdown]

Workloads:
  shapes     a collection of each manifest shape of bench/shapes.py at each
             of --sizes files (and 1,000,000 with --million, one run), each
             mounted with `--collection UUID`.  Before each mount the page
             cache, dentries and inodes are dropped, and the timed walk is
             the first operation on the fresh mount: `find . | wc -l` cold
             then warm; on a second mount `ls -lR` cold then warm; the
             daemon's CPU-seconds of each walk; its peak RSS once both walks
             went through the tree.  The floor (bench/floorfs.py, a minimal
             in-memory llfuse filesystem serving the same manifest's tree)
             and upstream get the same walks, alternating run by run.
             Upstream is stopped after --upstream-timeout and not run at
             10^6 (it does not finish at 10^5).
  million    (--million) 1,000,000 files under `--all` with a probe that
             lists home/ every 0.2 s during the walk (its slowest answer).
  project    a project holding PROJECTS collections, `--project UUID`:
             first `ls`, warm `ls`, first `ls -l`, warm `ls -l`, peak RSS.
Medians of --runs runs with [min-max].  Results go to
bench/results/scale.json; --markdown writes the shapes table into
docs/benchmarks.md.  Dropping caches needs root.
"""

import argparse
import contextlib
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from localcluster.testing import LocalCluster  # noqa: E402
from bench.upstream import upstream_arv_mount  # noqa: E402
from bench import shapes  # noqa: E402

from arvados_fuse.host import mountpoint  # noqa: E402

CLK_TCK = os.sysconf('SC_CLK_TCK')


class DidNotFinish(Exception):
    pass


# -- data -------------------------------------------------------------------

def make_collection(api, keep, owner, dirs, files_per_dir, name, seed=1):
    """A collection of dirs * files_per_dir small files over 10 blocks."""
    rng = random.Random(seed)
    blocks = []
    for i in range(10):
        data = rng.randbytes(64 * 1024)
        blocks.append(keep.put(data, copies=1))
    stream_len = 10 * 64 * 1024
    locs = ' '.join(blocks)
    lines = []
    for d in range(dirs):
        segs = []
        for f in range(files_per_dir):
            n = 100 + rng.randrange(2000)
            segs.append('%d:%d:f%05d.txt' % (rng.randrange(stream_len - n), n, f))
        lines.append('./d%05d %s %s\n' % (d, locs, ' '.join(segs)))
    rec = api.collections().create(body={'collection': {
        'owner_uuid': owner, 'name': name, 'manifest_text': ''.join(lines)}}).execute()
    return rec['uuid']


def make_project(api, keep, owner, n):
    """A project holding n small collections."""
    from concurrent.futures import ThreadPoolExecutor
    proj = api.groups().create(body={'group': {'owner_uuid': owner, 'name': 'big project %d' % n,
                                               'group_class': 'project'}}).execute()
    loc = keep.put(b'hello\n', copies=1)
    text = '. %s 0:6:hello.txt\n' % loc

    local = threading.local()

    def client():
        if not hasattr(local, 'api'):
            local.api = api_factory()
        return local.api

    def one(i):
        client().collections().create(body={'collection': {
            'owner_uuid': proj['uuid'], 'name': 'collection %05d' % i, 'manifest_text': text}}).execute()

    api_factory = make_project.api_factory
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n)))
    return proj['uuid']


# -- processes ----------------------------------------------------------------

def cpu_seconds(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _status_mib(pid, field):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1]) / 1024
    return float('nan')


def peak_rss_mib(pid):
    """The highest RSS so far (VmHWM)."""
    return _status_mib(pid, 'VmHWM:')


def rss_mib(pid):
    """The RSS now (VmRSS)."""
    return _status_mib(pid, 'VmRSS:')


class Mount(object):
    """A foreground FUSE daemon on a fresh mount point."""

    def __init__(self, command):
        env = getattr(command, 'env', None)
        self.path = tempfile.mkdtemp(prefix='scale-mnt-')
        self.cache = tempfile.mkdtemp(prefix='scale-cache-')
        env = dict(env or os.environ, XDG_CACHE_HOME=self.cache, HOME=self.cache)
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(command(self.path), env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()
        deadline = time.time() + 120
        while not mountpoint.is_mounted(self.path):
            if self.proc.poll() is not None or time.time() > deadline:
                self.close()
                raise RuntimeError('mount failed: %s' % b''.join(self.stderr).decode()[-2000:])
            time.sleep(0.005)

    def _drain(self):
        for line in self.proc.stderr:
            if len(self.stderr) < 2000:
                self.stderr.append(line)

    def cpu(self):
        return cpu_seconds(self.proc.pid)

    def rss(self):
        return peak_rss_mib(self.proc.pid)

    def close(self):
        if mountpoint.is_mounted(self.path):
            mountpoint.unmount(self.path, timeout=5)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.cache, ignore_errors=True)
        try:
            os.rmdir(self.path)
        except OSError:
            pass


def run(cmd, cwd, timeout):
    """Seconds taken by a shell command; DidNotFinish past `timeout`."""
    t = time.perf_counter()
    # Its own process group, so a walk past its time is stopped whole
    # (not just the shell) before its mount goes.
    proc = subprocess.Popen(cmd, cwd=cwd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise DidNotFinish(timeout)
    if rc:
        raise subprocess.CalledProcessError(rc, cmd)
    return time.perf_counter() - t


def count(cmd, cwd, timeout):
    r = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, timeout=timeout)
    return int(r.stdout.strip() or 0)


# -- workloads ----------------------------------------------------------------

def drop_caches():
    """Page cache, dentries and inodes, as a user meets them after a while
    (or a batch job on a fresh node)."""
    os.sync()
    with open('/proc/sys/vm/drop_caches', 'w') as f:
        f.write('3\n')


def walks(command, timeout, expect):
    """Cold and warm `find` and `ls -lR`, each cold walk the first operation
    on a fresh mount made after dropping the caches; the daemon's CPU-seconds
    for each walk; peak RSS once both walks went through the whole tree."""
    out = {}

    def walk(m, key, cmd):
        c = m.cpu()
        out[key + ' s'] = run(cmd, m.path, timeout)
        out[key + ' cpu s'] = m.cpu() - c

    drop_caches()
    m = Mount(command)
    try:
        out['launch s'] = time.perf_counter() - m.started
        walk(m, 'find cold', 'find . | wc -l')
        walk(m, 'find warm', 'find . | wc -l')
        n = count('find . -type f | wc -l', m.path, timeout)
        if n != expect:
            raise RuntimeError('find saw %d files, expected %d' % (n, expect))
    finally:
        m.close()
    drop_caches()
    m = Mount(command)
    try:
        walk(m, 'ls -lR cold', 'ls -lR > /dev/null')
        walk(m, 'ls -lR warm', 'ls -lR > /dev/null')
        run('find . > /dev/null', m.path, timeout)
        out['peak RSS MiB'] = m.rss()
    finally:
        m.close()
    return out


def bench_shape(commands, runs, timeouts, expect):
    """{impl: {metric: [values]}}, the implementations alternating run by
    run so that drift on a shared machine hits all of them, each run
    starting with the next one: the first mount after the shape is made
    meets the API server and its database still busy with it (stop 34's
    table: ours, always first, took 2.37 then 1.68 CPU-s for the same
    walk of spread 10^5)."""
    results = {impl: {} for impl in commands}
    order = list(commands.items())
    for i in range(runs):
        turn = i % len(order)
        for impl, command in order[turn:] + order[:turn]:
            r = results[impl]
            if 'note' in r or (i and impl == 'upstream'):
                continue
            try:
                for k, v in walks(command, timeouts[impl], expect).items():
                    r.setdefault(k, []).append(v)
            except DidNotFinish as e:
                r['note'] = 'did not finish in %d s' % e.args[0]
    return results


def bench_million(command, uuid, timeout, expect):
    """find over a huge collection under --all, with a probe listing home/
    (another part of the mount) every 0.2 s."""
    out = {}
    m = Mount(command)
    try:
        os.listdir(m.path)
        stop = threading.Event()
        worst = {'first listing': 0.0, 'find': 0.0}
        phase = ['first listing']

        def probe():
            while not stop.is_set():
                t = time.perf_counter()
                os.listdir(os.path.join(m.path, 'home'))
                worst[phase[0]] = max(worst[phase[0]], time.perf_counter() - t)
                stop.wait(0.2)
        th = threading.Thread(target=probe, daemon=True)
        th.start()
        target = os.path.join(m.path, 'by_id', uuid)
        try:
            t = time.perf_counter()
            os.listdir(target)
            out['first listing s'] = [time.perf_counter() - t]
            phase[0] = 'find'
            out['find s'] = [run('find . | wc -l', target, timeout)]
            n = count('find . -type f | wc -l', target, timeout)
            if n != expect:
                raise RuntimeError('find saw %d files, expected %d' % (n, expect))
        except DidNotFinish as e:
            out['note'] = 'did not finish in %d s' % e.args[0]
        stop.set()
        th.join(10)
        for k, v in worst.items():
            out['slowest ls of home/ during %s s' % k] = [v]
        out['peak RSS MiB'] = [m.rss()]
    finally:
        m.close()
    return out


def bench_project(command, runs, timeout, expect):
    out = {k: [] for k in ('first ls s', 'warm ls s', 'first ls -l s', 'warm ls -l s', 'peak RSS MiB')}
    for _ in range(runs):
        m = Mount(command)
        try:
            try:
                out['first ls s'].append(run('ls > /dev/null', m.path, timeout))
                out['warm ls s'].append(statistics.median(run('ls > /dev/null', m.path, timeout)
                                                          for _ in range(3)))
                out['first ls -l s'].append(run('ls -l > /dev/null', m.path, timeout))
                out['warm ls -l s'].append(statistics.median(run('ls -l > /dev/null', m.path, timeout)
                                                             for _ in range(3)))
                n = len(os.listdir(m.path))
                if n != expect:
                    raise RuntimeError('project listed %d entries, expected %d' % (n, expect))
            except DidNotFinish as e:
                out['note'] = 'did not finish in %d s' % e.args[0]
            out['peak RSS MiB'].append(m.rss())
        finally:
            m.close()
    return out


# -- report -------------------------------------------------------------------

def summary(xs):
    if not xs:
        return '-'
    med = statistics.median(xs)
    if len(xs) == 1:
        return '%.2f' % med
    return '%.2f [%.2f-%.2f]' % (med, min(xs), max(xs))


# metric -> (ratio to the floor it must stay within, or None)
FLOOR_TARGETS = {'find cold s': 2.0, 'ls -lR cold s': 1.3, 'ls -lR cold cpu s': 1.3,
                 'find warm s': 1.2, 'ls -lR warm s': 1.2}
SHAPE_METRICS = ('launch s', 'find cold s', 'find cold cpu s', 'find warm s', 'ls -lR cold s', 'ls -lR cold cpu s',
                 'ls -lR warm s', 'ls -lR warm cpu s', 'peak RSS MiB')


def rss_target(files):
    return 120 if files <= 100000 else 256


def shape_rows(results):
    """(workload, metric, this, floor, upstream, this/floor, target, met)."""
    rows = []
    for workload, impls in results.items():
        if not workload.startswith('shape '):
            continue
        files = int(workload.rsplit(' ', 2)[1])
        this, floor, up = (impls.get(i, {}) for i in ('this', 'floor', 'upstream'))
        if set(this) == {'note'} and not floor:
            rows.append((workload[6:], 'collection', this['note'], '-', '-', '-', '-', '-'))
            continue
        for k in SHAPE_METRICS:
            if not this.get(k) and not floor.get(k):
                continue
            ratio = target = met = '-'
            if this.get(k) and floor.get(k) and k != 'peak RSS MiB':
                r = statistics.median(this[k]) / statistics.median(floor[k])
                ratio = '%.2fx' % r
                if k in FLOOR_TARGETS:
                    target = '<= %.1fx floor' % FLOOR_TARGETS[k]
                    met = 'yes' if r <= FLOOR_TARGETS[k] else 'NO'
            if k == 'peak RSS MiB' and this.get(k):
                target = '<= %d' % rss_target(files)
                met = 'yes' if statistics.median(this[k]) <= rss_target(files) else 'NO'
            rows.append((workload[6:], k, cell(this, k), cell(floor, k), cell(up, k), ratio, target, met))
    return rows


def cell(r, k):
    if r.get(k):
        return summary(r[k])
    return r.get('note', '-')


def table(results):
    rows = []
    for workload, impls in results.items():
        if workload.startswith('shape '):
            continue
        metrics = []
        for r in impls.values():
            for k in r:
                if k != 'note' and k not in metrics:
                    metrics.append(k)
        for k in metrics:
            rows.append((workload, k) + tuple(summary(impls[i].get(k, [])) if impls[i].get(k) or 'note' not in impls[i]
                                              else impls[i]['note'] for i in ('this', 'upstream', 'floor')
                                              if i in impls))
    return rows


SHAPES_BEGIN, SHAPES_END = '<!-- shapes:begin -->', '<!-- shapes:end -->'


def shapes_markdown(results, command, date):
    out = [SHAPES_BEGIN, '', '%s, %d cores, Python %s; `%s`.  Medians of the runs with [min-max]; times in '
           'seconds; each cold walk is the first operation on a fresh mount made after dropping the page cache, '
           'dentries and inodes.' % (date, os.cpu_count(), platform.python_version(), command), '',
           '| shape, files | metric | this | floor | upstream 3.2.1 | this / floor | target | met |',
           '|---|---|---|---|---|---|---|---|']
    for row in shape_rows(results):
        out.append('| ' + ' | '.join(row) + ' |')
    out += ['', SHAPES_END]
    return '\n'.join(out)


def merged_table(paths):
    """shapes_markdown of several results files: the runs of a workload
    in several files are all counted (their values of each metric
    together); the commands joined, the latest date.  PATH:SHAPE,SHAPE
    takes only those shapes of that file (e.g. the code of one shape
    changed after the file was made, and a later file has it again)."""
    results, commands, dates = {}, [], []
    for path in paths:
        path, _, only = path.partition(':')
        only = set(only.split(',')) if only else None
        with open(path) as f:
            run = json.load(f)
        for workload, impls in run['results'].items():
            if only is not None and workload.split()[1] not in only:
                continue
            mine = results.setdefault(workload, {})
            for impl, metrics in impls.items():
                into = mine.setdefault(impl, {})
                for metric, values in metrics.items():
                    if isinstance(values, list):
                        into.setdefault(metric, []).extend(values)
                    else:
                        into.setdefault(metric, values)  # a note: the first stands
        commands.append(run['command'] + (' (its %s only)' % ', '.join(sorted(only)) if only else ''))
        dates.append(run['date'])
    return shapes_markdown(results, '` + `'.join(commands), max(dates))


def write_doc(section):
    path = os.path.join(REPO, 'docs', 'benchmarks.md')
    with open(path) as f:
        text = f.read()
    if SHAPES_BEGIN in text:
        head, rest = text.split(SHAPES_BEGIN, 1)
        text = head + section + rest.split(SHAPES_END, 1)[1]
    else:
        text = text.rstrip('\n') + '\n\n' + section + '\n'
    with open(path, 'w') as f:
        f.write(text)


def walk_arguments(parser, shape):
    """--shape (default `shape`), --files, --walk, --rounds: what a
    benchmark of one walk over one shape takes (bench/ab.py,
    bench/handler_times.py)."""
    parser.add_argument('--shape', default=shape)
    parser.add_argument('--files', type=int, default=100000)
    parser.add_argument('--walk', default='ls -lR > /dev/null')
    parser.add_argument('--rounds', type=int, default=2)


@contextlib.contextmanager
def shape_cluster(prefix, shape, files):
    """A local cluster started in a fresh work directory, with a collection
    of `shape` (make_shape) in alice's home: yields (uuid, manifest file,
    file count, alice's environment); the cluster stops after."""
    workdir = tempfile.mkdtemp(prefix=prefix)
    cluster = LocalCluster(workdir)
    cluster.start()
    try:
        admin, api = cluster.api('admin'), cluster.api('alice')
        home = api.users().current().execute()['uuid']
        uuid, manifest, count = make_shape(admin, home, shape, files, workdir)
        yield uuid, manifest, count, cluster.full_env('alice')
    finally:
        cluster.stop()


def make_shape(admin, owner, shape, files, workdir):
    """The collection (its uuid) and the manifest file the floor serves."""
    text = shapes.make(shape, files)
    path = os.path.join(workdir, '%s-%d.manifest' % (shape, files))
    with open(path, 'w') as f:
        f.write(text)
    rec = admin.collections().create(body={'collection': {
        'owner_uuid': owner, 'name': 'shape %s %d' % (shape, files), 'manifest_text': text}},
        select=['uuid', 'file_count']).execute()
    return rec['uuid'], path, rec.get('file_count')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--sizes', default='100000', help='comma-separated file counts of the shapes')
    p.add_argument('--shapes', default=','.join(shapes.SHAPES))
    p.add_argument('--million', action='store_true',
                   help='also every shape at 1,000,000 files and the probe under --all')
    p.add_argument('--big-runs', type=int, default=1,
                   help='runs of each shape over 100,000 files (a deep 10^6 run takes the floor some 20 minutes)')
    p.add_argument('--projects', type=int, default=5000)
    p.add_argument('--upstream-timeout', type=int, default=30)
    p.add_argument('--no-upstream', action='store_true')
    p.add_argument('--no-floor', action='store_true',
                   help='leave out the floor (a deep tree of 10^6 files takes it some 20 minutes more)')
    p.add_argument('--only', choices=['shapes', 'project', 'million'], action='append')
    p.add_argument('--variant', action='append', default=[], metavar='LABEL:NAME=VALUE',
                   help='also mount ours with NAME=VALUE in its environment, alternating with the others '
                        '(e.g. arenas8:MALLOC_ARENA_MAX=8); its figures are printed against ours and the floor')
    p.add_argument('--baseline', metavar='CHECKOUT',
                   help='also mount the arv-mount of another checkout (its bin/arv-mount, e.g. a git worktree '
                        'of an earlier commit), alternating with the others, printed as a variant')
    p.add_argument('--markdown', action='store_true', help='write the shapes table into docs/benchmarks.md')
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'scale.json'))
    p.add_argument('--table-from', nargs='+', metavar='JSON',
                   help="instead of running: write the shapes table of docs/benchmarks.md from these results "
                        "files (--out of earlier runs), merged in order, their commands given with it; "
                        "JSON:SHAPE,SHAPE takes only those shapes of a file")
    args = p.parse_args()
    if args.table_from:
        write_doc(merged_table(args.table_from))
        return
    only = set(args.only or ['shapes', 'project', 'million'])
    sizes = [int(x) for x in args.sizes.split(',')]
    if args.million:
        sizes.append(1000000)
    else:
        only.discard('million')
    shape_list = args.shapes.split(',')
    ours = [sys.executable, os.path.join(REPO, 'bin', 'arv-mount')]
    # (label, what it is, extra environment, its arv-mount)
    variants = []
    for v in args.variant:
        label, _, setting = v.partition(':')
        name, _, value = setting.partition('=')
        variants.append((label, 'ours with %s=%s' % (name, value), {name: value}, ours))
    if args.baseline:
        checkout = os.path.abspath(args.baseline)
        variants.append(('baseline', 'the checkout %s' % checkout, {},
                         [sys.executable, os.path.join(checkout, 'bin', 'arv-mount')]))
    impls = {'this': ours}
    if not args.no_upstream:
        impls['upstream'] = [upstream_arv_mount()]

    workdir = tempfile.mkdtemp(prefix='scale-cluster-')
    cluster = LocalCluster(workdir)
    cluster.start()
    results = {}
    try:
        import arvados.keep
        env = cluster.full_env('alice')
        api = cluster.api('alice')
        admin = cluster.api('admin')
        make_project.api_factory = lambda: cluster.api('alice')
        keep = arvados.keep.KeepClient(api_client=api)
        home = api.users().current().execute()['uuid']

        def mount_cmd(impl, *opts):
            return lambda path: impls[impl] + ['--foreground'] + list(opts) + [path]

        if 'shapes' in only:
            for files in sizes:
                for shape in shape_list:
                    t = time.time()
                    try:
                        uuid, manifest, count_ = make_shape(admin, home, shape, files, workdir)
                    except Exception as e:  # e.g. over the API server's request size limit
                        log('shape %s %d: not made: %s' % (shape, files, str(e)[:300]))
                        results['shape %s %d files' % (shape, files)] = {
                            'this': {'note': 'could not be made: %s' % str(e)[:200]}}
                        continue
                    log('shape %s %d: %s files, made in %.1fs' % (shape, files, count_, time.time() - t))
                    commands = {impl: env_cmd(env, mount_cmd(impl, '--collection', uuid)) for impl in impls}
                    for label, _what, extra, argv in variants:
                        commands[label] = env_cmd(dict(env, **extra), lambda path, a=argv, u=uuid: (
                            a + ['--foreground', '--collection', u, path]))
                    if not args.no_floor:
                        commands['floor'] = lambda path, m=manifest: [
                            sys.executable, os.path.join(REPO, 'bench', 'floorfs.py'), path, '--manifest', m]
                    # Upstream too at 10^6 (one run, stopped at its timeout like
                    # the others): the table says so rather than leave it out.
                    big = files > 100000
                    timeouts = {'this': 1800, 'floor': 1800, 'upstream': args.upstream_timeout}
                    timeouts.update((v[0], 1800) for v in variants)
                    results['shape %s %d files' % (shape, files)] = bench_shape(
                        commands, args.big_runs if big else args.runs, timeouts, count_)
                    for row in shape_rows({'shape %s %d files' % (shape, files): results['shape %s %d files' % (shape, files)]}):
                        log('  ' + ' | '.join(row))
        if 'million' in only:
            data = make_collection(api, keep, home, 10000, 100, 'scale 1000000 files', seed=2)
            results['collection 1000000 files'] = r = {}
            for impl in impls:
                log('million: %s ...' % impl)
                r[impl] = bench_million(env_cmd(env, mount_cmd(impl, '--all')), data,
                                        1800 if impl == 'this' else args.upstream_timeout, 1000000)
        if 'project' in only:
            data = make_project(api, keep, home, args.projects)
            results['project %d collections' % args.projects] = r = {}
            for impl in impls:
                log('project: %s ...' % impl)
                r[impl] = bench_project(env_cmd(env, mount_cmd(impl, '--project', data)),
                                        args.runs, 600, args.projects)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    rows = shape_rows(results)
    if rows:
        print('\n%-18s %-18s %-22s %-22s %-22s %-8s %-15s %s' % (
            'shape, files', 'metric', 'this', 'floor', 'upstream', 'ratio', 'target', 'met'))
        for row in rows:
            print('%-18s %-18s %-22s %-22s %-22s %-8s %-15s %s' % row)
    for label, what, _extra, _argv in variants:
        print('\n%s (%s): medians [min-max], and against ours and the floor' % (label, what))
        for workload, impls in results.items():
            for k in SHAPE_METRICS:
                var, ours, floor = (impls.get(i, {}).get(k) for i in (label, 'this', 'floor'))
                if var and ours:
                    print('  %-26s %-18s %-22s %6.2fx ours %s' % (
                        workload[6:], k, summary(var), statistics.median(var) / statistics.median(ours),
                        '%6.2fx floor' % (statistics.median(var) / statistics.median(floor)) if floor else ''))
    other = table(results)
    if other:
        print('\n%-26s %-20s %-24s %-24s %-24s' % ('workload', 'metric', 'this', 'upstream', 'floor'))
        for row in other:
            print('%-26s %-20s ' % row[:2] + ' '.join('%-24s' % c for c in row[2:]))
    print('(medians of runs [min-max]; times in seconds)')
    date = time.strftime('%Y-%m-%d %H:%M:%S')
    command = ' '.join(['bench/scale.py'] + sys.argv[1:])
    if args.markdown and rows:
        write_doc(shapes_markdown(results, command, date))
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump({'command': command, 'date': date,
                   'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                               'python': platform.python_version()},
                   'results': results}, f, indent=2, sort_keys=True)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


class env_cmd(object):
    """A mount command run with the cluster's client environment."""

    def __init__(self, env, cmd):
        self.env, self.cmd = env, cmd

    def __call__(self, path):
        return self.cmd(path)


if __name__ == '__main__':
    main()
