"""Path walks at a real network's API latency: this mount vs upstream
arv-mount 3.2.1, wall time and API requests counted at the server (issue 20).

    .venv/bin/python bench/walks.py [--runs 3] [--big 2000] [--latencies 0,0.02,0.1]
                                    [--impl both|ours|upstream] [--only STEP ...]
                                    [--refresh-time 3] [--verbose] [--requests]

Data, in alice's home (the local cluster's plain user): ``Eco A/Eco B/target/f.txt``
(three project levels, then a collection holding f.txt) and a project
``Eco Big`` of --big collections ``c00001``... each holding f.txt (made
in bulk straight into the cluster's record store while it is stopped).

For each API latency (the API server's ``latency`` fault knob; Keep is
not slowed) and implementation, every step on a fresh ``--all`` mount
(except the re-walk, which follows the cold cat on the same mount), with
the kernel's caches dropped before each mount:

  start            mount process start until the root lists (calls from
                   process start)
  cat              ``cat home/Eco A/Eco B/target/f.txt``, the first operation
                   after start
  stat             ``stat home/Eco Big/c01000/f.txt``, first operation
  ls               ``ls -l home/Eco Big``, first operation
  rewalk           the same cat again once --refresh-time has passed
                   (event stream connected)
  rewalk-noevents  the same on a ``--disable-event-listening`` mount

The cold cat is the first operation on the mount, so the event stream
connects while it runs: names the kernel got before the stream was live
keep --refresh-time as their timeout (ours gives names a long timeout
while events are live) and are looked up again on the re-walk, so the
re-walk's count varies with that race (more at 0 latency, where the walk
outruns the connection).  Do not run this next to the test suite: it drops
the kernel's caches, which makes mounts there look names up again.

Both implementations get the same ``--refresh-time`` (upstream 3.2.1 has
the option too, as an integer number of seconds; its default is 15).
The API counters are reset right before each timed step.  Each step runs
--runs times; the table shows medians with [min-max], the API calls (and
with --verbose the calls per route) and the ratios ours/upstream (below
1 is better for ours).  --requests prints, for the first run of each
step, every request in arrival order with its route and parameters.
Results (every run, with its per-route counts and request log) go to
bench/results/walks.json.
"""

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from localcluster.testing import LocalCluster  # noqa: E402
from bench.upstream import upstream_arv_mount  # noqa: E402
from bench.scale import Mount, env_cmd, summary  # noqa: E402

STEPS = ('start', 'cat', 'stat', 'ls', 'rewalk', 'rewalk-noevents')
DEEP = ('home', 'Eco A', 'Eco B', 'target', 'f.txt')
CONTENT = b'walk target\n'
DROP_CACHES = '/proc/sys/vm/drop_caches'


# -- data ---------------------------------------------------------------------

def big_name(i):
    return 'c%05d' % i


def walk_target(big):
    """The collection of the big project the stat walks into."""
    return big_name(1000 if big >= 1000 else max(1, big // 2))


def make_data(cluster, big, bulk=True):
    """Eco A/Eco B/target/f.txt and Eco Big with `big` collections in
    alice's home.  With `bulk` the cluster is stopped, the collections
    c00002... are cloned from c00001 straight into its record store in one
    transaction, and the cluster is started again (its ports change);
    otherwise they are created through the API, 8 at a time."""
    import arvados.collection
    api = cluster.api('alice')
    home = api.users().current().execute()['uuid']

    def project(name, owner):
        return api.groups().create(body={'group': {'name': name, 'owner_uuid': owner,
                                                   'group_class': 'project'}}).execute()['uuid']

    def collection(name, owner):
        c = arvados.collection.Collection(api_client=api)
        with c.open('f.txt', 'wb') as f:
            f.write(CONTENT)
        c.save_new(name=name, owner_uuid=owner)
        return c.manifest_locator(), c.manifest_text()

    eco_a = project('Eco A', home)
    eco_b = project('Eco B', eco_a)
    target, _ = collection('target', eco_b)
    eco_big = project('Eco Big', home)
    first, manifest = collection(big_name(1), eco_big)
    data = {'home': home, 'eco_a': eco_a, 'eco_b': eco_b, 'target': target,
            'eco_big': eco_big, 'big': big, 'first_big': first}
    if big <= 1:
        return data
    if bulk:
        from localcluster.store import Store
        cluster.stop()
        store = Store(os.path.join(cluster.data_dir, 'records.sqlite3'))
        try:
            template = store.get(first)
            skip = ('uuid', 'etag', 'kind', 'created_at', 'modified_at', 'modified_by_user_uuid')
            with store.write(home) as tx:
                for i in range(2, big + 1):
                    rec = {k: v for k, v in template.items() if k not in skip}
                    rec['name'] = big_name(i)
                    tx.create('collections', rec)
        finally:
            store.db.close()
        cluster.start()
    else:
        import threading
        from concurrent.futures import ThreadPoolExecutor
        local = threading.local()
        text = api.collections().get(uuid=first).execute()['manifest_text']

        def one(i):
            if not hasattr(local, 'api'):
                local.api = cluster.api('alice')
            local.api.collections().create(body={'collection': {
                'owner_uuid': eco_big, 'name': big_name(i), 'manifest_text': text}}).execute()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(one, range(2, big + 1)))
    return data


# -- measuring ------------------------------------------------------------------

def drop_caches():
    """Sync and drop the kernel's page, dentry and inode caches; False if
    not allowed (not root)."""
    subprocess.run(['sync'])
    try:
        with open(DROP_CACHES, 'w') as f:
            f.write('3\n')
        return True
    except OSError:
        return False


def client_env(cluster, upstream):
    """The mount's environment: ours runs the checkout (bin/arv-mount puts
    it first on sys.path); upstream must not see our PYTHONPATH, or it
    would import our arvados_fuse."""
    env = cluster.full_env('alice')
    if upstream:
        env.pop('PYTHONPATH', None)
    else:
        env['PYTHONPATH'] = REPO + os.pathsep + env.get('PYTHONPATH', '')
    return env


def wait_listed(m, timeout):
    while True:
        try:
            if 'home' in os.listdir(m.path):
                return time.perf_counter() - m.started
        except OSError:
            pass
        if m.proc.poll() is not None:
            raise RuntimeError('mount exited: %s' % b''.join(m.stderr).decode()[-2000:])
        if time.perf_counter() - m.started > timeout:
            raise RuntimeError('the root did not list within %d s' % timeout)
        time.sleep(0.005)


def counted(cluster):
    """The API counts since the last reset: (total, bytes, {route: count}, log)."""
    st = cluster.api_call_stats(log=True)
    return st['total'], st['bytes'], {k: v['count'] for k, v in st['routes'].items()}, st['log']


def result(wall, cluster, with_log):
    total, nbytes, routes, log = counted(cluster)
    out = {'wall': wall, 'calls': total, 'bytes': nbytes, 'routes': routes}
    if with_log:
        out['log'] = log
    return out


def timed_cmd(argv, cwd, timeout=600):
    t = time.perf_counter()
    r = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError('%s failed: %s' % (' '.join(argv), r.stderr.decode()[-500:]))
    return wall, r.stdout


class Session(object):
    """One implementation against one cluster: fresh mounts, measured steps."""

    def __init__(self, cluster, command, env, refresh_time, timeout, data):
        self.cluster, self.command, self.env = cluster, command, env
        self.refresh_time, self.timeout, self.data = refresh_time, timeout, data
        self.cold = True

    def mount(self, *opts):
        self.cold = drop_caches() and self.cold
        self.cluster.reset_api_calls()
        argv = self.command + ['--foreground', '--all', '--refresh-time', str(self.refresh_time)] \
            + list(opts)
        return Mount(env_cmd(self.env, lambda path: argv + [path]))

    def cat(self, m):
        wall, out = timed_cmd(['cat', os.path.join(*DEEP)], m.path, self.timeout)
        if out != CONTENT:
            raise RuntimeError('cat read %r' % out[:100])
        return wall


    def cat_after_refresh_time(self, m):
        """The walk again once --refresh-time has passed (wall seconds), the
        API requests counted from just before it."""
        time.sleep(self.refresh_time + 2)
        self.cluster.reset_api_calls()
        return self.cat(m)

    def timed_on_fresh_mount(self, cmd):
        """(wall seconds, output) of `cmd` run in a fresh mount, the API
        requests counted from just before it."""
        m = self.mount()
        try:
            wait_listed(m, self.timeout)
            self.cluster.reset_api_calls()
            return timed_cmd(cmd, m.path, self.timeout)
        finally:
            m.close()
    def run(self, steps, with_log):
        """{step: result} for the selected steps, on fresh mounts."""
        out = {}
        if {'start', 'cat', 'rewalk'} & steps:
            m = self.mount()
            try:
                wall = wait_listed(m, self.timeout)
                out['start'] = result(wall, self.cluster, with_log)
                self.cluster.reset_api_calls()
                wall = self.cat(m)
                out['cat'] = result(wall, self.cluster, with_log)
                if 'rewalk' in steps:
                    out['rewalk'] = result(self.cat_after_refresh_time(m), self.cluster, with_log)
            finally:
                m.close()
        if 'stat' in steps:
            target = os.path.join('home', 'Eco Big', walk_target(self.data['big']), 'f.txt')
            wall, _ = self.timed_on_fresh_mount(['stat', target])
            out['stat'] = result(wall, self.cluster, with_log)
        if 'ls' in steps:
            wall, listing = self.timed_on_fresh_mount(['ls', '-l', os.path.join('home', 'Eco Big')])
            n = len(listing.splitlines()) - 1      # the "total" line
            if n != self.data['big']:
                raise RuntimeError('ls -l listed %d entries, expected %d' % (n, self.data['big']))
            out['ls'] = result(wall, self.cluster, with_log)
        if 'rewalk-noevents' in steps:
            m = self.mount('--disable-event-listening')
            try:
                wait_listed(m, self.timeout)
                self.cat(m)
                out['rewalk-noevents'] = result(self.cat_after_refresh_time(m), self.cluster, with_log)
            finally:
                m.close()
        return {k: v for k, v in out.items() if k in steps}


# -- report -----------------------------------------------------------------------

def med(xs):
    return statistics.median(xs) if xs else float('nan')


def calls_summary(xs):
    if not xs:
        return '-'
    m = med(xs)
    text = ('%d' % m) if m == int(m) else ('%.1f' % m)
    if min(xs) != max(xs):
        text += ' [%d-%d]' % (min(xs), max(xs))
    return text


def human_bytes(n):
    for unit in ('B', 'KB', 'MB'):
        if n < 1000:
            return '%.0f %s' % (n, unit) if unit == 'B' else '%.1f %s' % (n, unit)
        n /= 1000.0
    return '%.1f GB' % n


def ratio(a, b):
    if not a or not b or b != b or a != a:
        return '-'
    return '%.2f' % (a / b)


def route_medians(runs):
    routes = sorted({r for run in runs for r in run['routes']})
    return {r: med([run['routes'].get(r, 0) for run in runs]) for r in routes}


def format_params(params):
    """A request's query parameters, compactly (JSON values decoded)."""
    out = []
    for k in sorted(params):
        v = params[k]
        if k in ('_', 'alt'):
            continue
        try:
            v = json.dumps(json.loads(v), separators=(',', ':'))
        except (ValueError, TypeError):
            pass
        if len(v) > 160:
            v = v[:150] + '...(%d chars)' % len(v)
        out.append('%s=%s' % (k, v))
    return ' '.join(out)


def path_uuid(entry):
    """The uuid in a request's path (groups.get, collections.get...), or ''."""
    parts = (entry.get('path') or '').split('/')
    return parts[4] if len(parts) > 4 and parts[1:3] == ['arvados', 'v1'] else ''


def print_report(results, impls, args):
    names = list(impls)
    print()
    head = '%-8s %-16s' % ('latency', 'step')
    for impl in names:
        head += ' %-26s %-12s' % (impl + ' wall s', 'calls')
    if len(names) == 2:
        head += ' %-10s %-10s' % ('wall o/u', 'calls o/u')
    print(head)
    for lat in results:
        for step in STEPS:
            cells = {impl: results[lat].get(step, {}).get(impl) for impl in names}
            if not any(cells.values()):
                continue
            line = '%-8s %-16s' % ('%g s' % float(lat), step)
            for impl in names:
                runs = cells[impl] or []
                if runs:
                    calls = calls_summary([r['calls'] for r in runs])
                    if step in ('stat', 'ls'):
                        calls += ' %s' % human_bytes(med([r['bytes'] for r in runs]))
                    line += ' %-26s %-12s' % (summary([r['wall'] for r in runs]), calls)
                else:
                    line += ' %-26s %-12s' % ('-', '-')
            if len(names) == 2 and all(cells.values()):
                o, u = (cells[n] for n in names)
                line += ' %-10s %-10s' % (ratio(med([r['wall'] for r in o]), med([r['wall'] for r in u])),
                                          ratio(med([r['calls'] for r in o]), med([r['calls'] for r in u])))
            print(line)
            if args.verbose:
                for impl in names:
                    if cells[impl]:
                        per = route_medians(cells[impl])
                        print('%-25s %-9s %s' % ('', impl, ', '.join(
                            '%s %g' % (r, n) for r, n in per.items()) or 'no calls'))
    print('(medians of %d runs [min-max]; calls = API requests counted at the server, '
          'stat/ls also response bytes; %d collections in Eco Big; --refresh-time %s; '
          'ratios ours/upstream, below 1 is better for ours)'
          % (args.runs, args.big, args.refresh_time))
    if args.requests:
        for lat in results:
            for step in STEPS:
                for impl in names:
                    runs = results[lat].get(step, {}).get(impl)
                    if not runs or 'log' not in runs[0]:
                        continue
                    print('\n-- %s, latency %g s, %s (first run): %d requests'
                          % (step, float(lat), impl, len(runs[0]['log'])))
                    for i, e in enumerate(runs[0]['log'], 1):
                        print('%3d %7.3f-%-7s %-20s %-8s %s %s' % (
                            i, e['start'], '%.3f' % e['end'] if e['end'] is not None else '?',
                            e['route'], human_bytes(e['bytes']), path_uuid(e),
                            format_params(e['params'])))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--big', type=int, default=2000, help='collections in Eco Big (default 2000)')
    p.add_argument('--latencies', default='0,0.02,0.1',
                   help='API latencies in seconds, comma-separated (default 0,0.02,0.1)')
    p.add_argument('--impl', choices=('ours', 'upstream', 'both'), default='both')
    p.add_argument('--only', choices=STEPS, action='append', help='a step to run (repeatable)')
    p.add_argument('--refresh-time', type=int, default=3,
                   help='--refresh-time given to both mounts (seconds, default 3)')
    p.add_argument('--timeout', type=int, default=300, help='seconds allowed per step')
    p.add_argument('--verbose', action='store_true', help='API calls per route')
    p.add_argument('--requests', action='store_true',
                   help="every request of each step's first run, in order")
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'walks.json'))
    args = p.parse_args()
    steps = set(args.only or STEPS)
    latencies = [float(x) for x in args.latencies.split(',') if x.strip()]

    impls = {}
    notes = []
    if args.impl in ('ours', 'both'):
        impls['ours'] = [sys.executable, os.path.join(REPO, 'bin', 'arv-mount')]
    if args.impl in ('upstream', 'both'):
        try:
            impls['upstream'] = [upstream_arv_mount()]
        except RuntimeError as e:
            note = 'UPSTREAM NOT MEASURED: %s' % e
            notes.append(note)
            print(note, file=sys.stderr)
    if not impls:
        sys.exit('nothing to measure')

    workdir = tempfile.mkdtemp(prefix='walks-cluster-')
    cluster = LocalCluster(workdir)
    cluster.start()
    results = {}
    cold = True
    try:
        t = time.time()
        data = make_data(cluster, args.big)
        print('data ready in %.1fs (%d collections in Eco Big)' % (time.time() - t, args.big),
              file=sys.stderr)
        sessions = {impl: Session(cluster, cmd, client_env(cluster, impl == 'upstream'),
                                  args.refresh_time, args.timeout, data)
                    for impl, cmd in impls.items()}
        for lat in latencies:
            cluster.clear_faults()
            if lat:
                cluster.set_fault('api', latency=lat)
            r = results['%g' % lat] = {}
            for run in range(args.runs):
                for impl, s in sessions.items():
                    print('latency %g s, %s, run %d ...' % (lat, impl, run + 1), file=sys.stderr)
                    for step, res in s.run(steps, with_log=run == 0).items():
                        r.setdefault(step, {}).setdefault(impl, []).append(res)
            cold = cold and all(s.cold for s in sessions.values())
    finally:
        try:
            cluster.clear_faults()
        finally:
            cluster.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    if not cold:
        notes.append('the kernel caches could not be dropped (not root): runs were not cold')
    print_report(results, impls, args)
    for note in notes:
        print(note)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump({'command': ' '.join(sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M:%S'),
                   'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                               'python': platform.python_version()},
                   'big': args.big, 'refresh_time': args.refresh_time, 'runs': args.runs,
                   'notes': notes,
                   'medians': {lat: {step: {impl: {'wall': med([x['wall'] for x in runs]),
                                                   'calls': med([x['calls'] for x in runs]),
                                                   'bytes': med([x['bytes'] for x in runs]),
                                                   'routes': route_medians(runs)}
                                            for impl, runs in by_impl.items()}
                                     for step, by_impl in by_step.items()}
                               for lat, by_step in results.items()},
                   'results': results}, f, indent=2, sort_keys=True)


if __name__ == '__main__':
    main()
