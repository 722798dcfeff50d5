"""Big collections and big projects: this mount vs upstream arv-mount 3.2.1
vs the llfuse floor, on the same data in one run against a local cluster.

    .venv/bin/python bench/scale.py [--runs 3] [--files 100000] [--million]
                                    [--projects 5000] [--upstream-timeout 60]

Workloads:
  collection   FILES files in FILES/100 directories, every file a 100 to
               2,099 byte segment of one of 10 small blocks; a fresh
               `--collection UUID` mount for each of: launch until the root
               is listed; `find | wc -l` cold then warm; `ls -lR` cold then
               warm (with the daemon's CPU-seconds for each); peak RSS.
  million      (--million) the same with 1,000,000 files in 10,000
               directories, ours only (upstream is given --upstream-timeout
               and marked "did not finish"), under `--all` with a probe that
               lists home/ every 0.2 s during the walk (its slowest answer).
  project      a project holding PROJECTS collections, `--project UUID`:
               first `ls`, warm `ls`, first `ls -l`, warm `ls -l`, peak RSS.
  floor        bench/floorfs.py: a minimal in-memory llfuse filesystem with
               the collection's shape, for `find` and `ls -lR`.
Medians of --runs runs with [min-max]; a command that does not finish
within --upstream-timeout is reported as such.  Results go to
bench/results/scale.json and, with --markdown, a table and a PNG chart.
"""

import argparse
import json
import os
import platform
import random
import shutil
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


def peak_rss_mib(pid):
    with open('/proc/%d/status' % pid) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1]) / 1024
    return float('nan')


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
    try:
        subprocess.run(cmd, cwd=cwd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=timeout, check=True)
    except subprocess.TimeoutExpired:
        raise DidNotFinish(timeout)
    return time.perf_counter() - t


def count(cmd, cwd, timeout):
    r = subprocess.run(cmd, cwd=cwd, shell=True, capture_output=True, text=True, timeout=timeout)
    return int(r.stdout.strip() or 0)


# -- workloads ----------------------------------------------------------------

def bench_collection(command, runs, timeout, expect):
    out = {k: [] for k in ('launch s', 'find cold s', 'find warm s', 'ls -lR cold s', 'ls -lR warm s',
                           'ls -lR cold cpu s', 'ls -lR warm cpu s', 'peak RSS MiB')}
    for _ in range(runs):
        m = Mount(command)
        try:
            try:
                while True:
                    try:
                        os.listdir(m.path)
                        break
                    except OSError:
                        if time.perf_counter() - m.started > timeout:
                            raise DidNotFinish(timeout)
                        time.sleep(0.005)
                out['launch s'].append(time.perf_counter() - m.started)
                out['find cold s'].append(run('find . | wc -l', m.path, timeout))
                out['find warm s'].append(run('find . | wc -l', m.path, timeout))
                n = count('find . -type f | wc -l', m.path, timeout)
                if n != expect:
                    raise RuntimeError('find saw %d files, expected %d' % (n, expect))
            except DidNotFinish as e:
                out['note'] = 'did not finish in %d s' % e.args[0]
                out['peak RSS MiB'].append(m.rss())
                break
        finally:
            m.close()
        m = Mount(command)
        try:
            try:
                os.listdir(m.path)
                for kind in ('cold', 'warm'):
                    c = m.cpu()
                    out['ls -lR %s s' % kind].append(run('ls -lR > /dev/null', m.path, timeout))
                    out['ls -lR %s cpu s' % kind].append(m.cpu() - c)
            except DidNotFinish as e:
                out['note'] = 'did not finish in %d s' % e.args[0]
            out['peak RSS MiB'].append(m.rss())
        finally:
            m.close()
        if 'note' in out:
            break
    return out


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


def bench_floor(dirs, files, runs):
    out = {k: [] for k in ('find cold s', 'ls -lR cold s', 'ls -lR warm s')}
    cmd = lambda path: [sys.executable, os.path.join(REPO, 'bench', 'floorfs.py'), path, str(dirs), str(files)]
    for _ in range(runs):
        m = Mount(cmd)
        try:
            while True:
                try:
                    os.listdir(m.path)
                    break
                except OSError:
                    time.sleep(0.005)
            out['find cold s'].append(run('find . | wc -l', m.path, 600))
        finally:
            m.close()
        m = Mount(cmd)
        try:
            while len(os.listdir(m.path)) < dirs:
                time.sleep(0.005)
            out['ls -lR cold s'].append(run('ls -lR > /dev/null', m.path, 600))
            out['ls -lR warm s'].append(run('ls -lR > /dev/null', m.path, 600))
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


def table(results):
    rows = []
    for workload, impls in results.items():
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


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--files', type=int, default=100000)
    p.add_argument('--million', action='store_true', help='also the 1,000,000-file collection')
    p.add_argument('--projects', type=int, default=5000)
    p.add_argument('--upstream-timeout', type=int, default=60)
    p.add_argument('--no-upstream', action='store_true')
    p.add_argument('--only', choices=['collection', 'project', 'million', 'floor'], action='append')
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'scale.json'))
    args = p.parse_args()
    only = set(args.only or ['collection', 'project', 'million', 'floor'])
    if not args.million:
        only.discard('million')

    ours = [sys.executable, os.path.join(REPO, 'bin', 'arv-mount')]
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
        make_project.api_factory = lambda: cluster.api('alice')
        keep = arvados.keep.KeepClient(api_client=api)
        home = api.users().current().execute()['uuid']
        dirs = max(1, args.files // 100)
        t = time.time()
        data = {}
        if 'collection' in only:
            data['collection'] = make_collection(api, keep, home, dirs, 100, 'scale %d files' % args.files)
        if 'million' in only:
            data['million'] = make_collection(api, keep, home, 10000, 100, 'scale 1000000 files', seed=2)
        if 'project' in only:
            data['project'] = make_project(api, keep, home, args.projects)
        print('data ready in %.1fs' % (time.time() - t), file=sys.stderr)

        def mount_cmd(impl, *opts):
            return lambda path: impls[impl] + ['--foreground'] + list(opts) + [path]

        if 'collection' in only:
            results['collection %d files' % args.files] = r = {}
            for impl in impls:
                print('collection: %s ...' % impl, file=sys.stderr)
                r[impl] = bench_collection(env_cmd(env, mount_cmd(impl, '--collection', data['collection'])),
                                           args.runs if impl == 'this' else 1,
                                           600 if impl == 'this' else args.upstream_timeout, args.files)
        if 'floor' in only:
            print('floor ...', file=sys.stderr)
            results.setdefault('collection %d files' % args.files, {})['floor'] = bench_floor(dirs, 100, args.runs)
        if 'million' in only:
            results['collection 1000000 files'] = r = {}
            for impl in impls:
                print('million: %s ...' % impl, file=sys.stderr)
                r[impl] = bench_million(env_cmd(env, mount_cmd(impl, '--all')), data['million'],
                                        1800 if impl == 'this' else args.upstream_timeout, 1000000)
        if 'project' in only:
            results['project %d collections' % args.projects] = r = {}
            for impl in impls:
                print('project: %s ...' % impl, file=sys.stderr)
                r[impl] = bench_project(env_cmd(env, mount_cmd(impl, '--project', data['project'])),
                                        args.runs, 600, args.projects)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print('\n%-26s %-20s %-24s %-24s %-24s' % ('workload', 'metric', 'this', 'upstream', 'floor'))
    for row in table(results):
        print('%-26s %-20s ' % row[:2] + ' '.join('%-24s' % c for c in row[2:]))
    print('(medians of runs [min-max]; times in seconds)')
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump({'command': ' '.join(sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M:%S'),
                   'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                               'python': platform.python_version()},
                   'results': results}, f, indent=2, sort_keys=True)


class env_cmd(object):
    """A mount command run with the cluster's client environment."""

    def __init__(self, env, cmd):
        self.env, self.cmd = env, cmd

    def __call__(self, path):
        return self.cmd(path)


if __name__ == '__main__':
    main()
