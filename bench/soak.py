"""Soak (issue 10): a mount under readers, churn and a flapping Keep server,
its memory sampled all along.

    .venv/bin/python bench/soak.py --minutes 3          # the documented run
    .venv/bin/python bench/soak.py --minutes 3 --json out.json

One fresh local cluster (two Keep servers, every block stored on both) and
one mount of it, as alice, with the caches configured (`--ram-cache
--file-cache`, `--directory-cache`).  For the whole run, at once:

  readers   READERS threads, each looping over: a whole file read in 1 MiB
            reads and MD5-checked; 20 random preads compared byte for byte
            with a local copy; stats and listings of home/, the churned
            projects, by_id/<pdh> and by_id/<uuid>.  Files are read through
            home/<project>/<collection>/, by_id/<pdh>/ and through the
            churned collections (same blocks under new names)
  mutator   through the API: creates projects and collections (new trees
            over the same blocks, each under a new portable data hash),
            renames them, moves collections between projects, deletes the
            oldest; a few hundred objects come and go per minute
  flapper   keep0's `down` knob: down 1 s, up 2 s (keep1 serves meanwhile)
  sampler   the daemon's VmRSS every second, with its inode count and block
            cache bytes from /metrics

At the end it prints reads verified, wrong bytes, EIO answers, the slowest
syscall, dead mounts, and the RSS curve against the bound: configured
caches + RSS_CONSTANT (see docs/operating.md).  `run()` returns the same
figures; tests/test_mount_soak.py runs a short one.
"""

import argparse
import errno
import hashlib
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))

from localcluster.testing import LocalCluster  # noqa: E402
from mountutil import mounted, rss_of  # noqa: E402

MiB = 1 << 20
READERS = 12
FILE_CACHE = 200000000
DIRECTORY_CACHE = 16 << 20
# What the daemon may hold beyond its two caches (docs/operating.md):
# interpreter, SDK and llfuse (~60 MB at start), the Python heap (~30 MB
# here: API clients, listings, the inode table), malloc's arenas, and the
# blocks of reads in progress that the cache evicted meanwhile (held until
# that read returns).  Blocks in flight count against the block cache.
RSS_CONSTANT = 256 << 20
# Between the middle and the last third of a run, RSS may move this much
# (blocks come and go 64 MiB at a time); a leak grows beyond it.
LEVEL_SLACK = 128 << 20
# Every read and lookup answers within these (the mount's options); a
# syscall slower than both plus slack would be a hang.
READ_TIMEOUT = 20
API_TIMEOUT = 20

# Stable data: (collection, [(file, MiB or KiB size)]) with 64 MiB blocks
# for the big files and many small files packed into one block.
STABLE = [
    ('big', [('big1.bin', 150 * MiB), ('big2.bin', 100 * MiB)]),
    ('medium', [('m%d.bin' % i, (5 + 3 * i) * MiB + 12345 * i) for i in range(6)]),
    ('small', [('s%03d.txt' % i, 1000 + 997 * i) for i in range(120)]),
]


def _content(seed, size):
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < size:
        piece = rng.randbytes(min(MiB, size - len(out)))
        out += piece
    return bytes(out)


def make_data(cluster, workdir):
    """The stable collections in project `soak-data` of alice's home; local
    copies of every file under workdir.  Returns {'project', 'collections':
    {name: {'uuid', 'pdh', 'manifest', 'files': {file: (local path, size, md5)}}}}."""
    import arvados.collection
    api = cluster.api('alice')
    project = api.groups().create(body={'group': {'name': 'soak-data', 'group_class': 'project'}}).execute()
    colls = {}
    for n, (cname, files) in enumerate(STABLE):
        coll = arvados.collection.Collection(api_client=api)
        info = {}
        for i, (fname, size) in enumerate(files):
            data = _content(n * 1000 + i, size)
            local = os.path.join(workdir, cname + '-' + fname)
            with open(local, 'wb') as f:
                f.write(data)
            with coll.open(fname, 'wb') as f:
                f.write(data)
            info[fname] = (local, size, hashlib.md5(data).hexdigest())
        coll.save_new(name=cname, owner_uuid=project['uuid'])
        rec = api.collections().get(uuid=coll.manifest_locator()).execute()
        colls[cname] = {'uuid': rec['uuid'], 'pdh': rec['portable_data_hash'],
                        'manifest': rec['manifest_text'], 'files': info}
    return {'project': project, 'collections': colls}


class Stats(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.reads_verified = 0      # whole files MD5-checked, and preads compared
        self.bytes_verified = 0
        self.wrong_bytes = 0
        self.wrong_reads = []
        self.eio = 0
        self.short_reads = 0
        self.gone = 0                # ENOENT/ESTALE on churned objects: expected
        self.other_errors = []
        self.slowest = (0.0, None)
        self.syscalls = 0
        self.metadata_ops = 0
        self.api_errors = 0
        self.mutations = 0

    def timed(self, what, fn, *args):
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            dt = time.monotonic() - t0
            with self.lock:
                self.syscalls += 1
                if dt > self.slowest[0]:
                    self.slowest = (dt, what)

    def error(self, e, what, churned):
        with self.lock:
            if e.errno == errno.EIO:
                self.eio += 1
            elif churned and e.errno in (errno.ENOENT, errno.ESTALE, errno.ENOTDIR):
                self.gone += 1
            elif len(self.other_errors) < 20:
                self.other_errors.append('%s: %s' % (what, e))


class Soak(object):
    def __init__(self, cluster, mount, data, seconds, seed=1):
        self.c = cluster
        self.m = mount
        self.data = data
        self.seconds = seconds
        self.stats = Stats()
        self.stop = threading.Event()
        self.rng = random.Random(seed)
        # Churned collections alive now: list of dicts (uuid, project name or
        # None for home, name, files {new name: stable (coll, file)}).
        self.churn = []
        self.projects = []           # [(uuid, name)]
        self.churn_lock = threading.Lock()
        self.samples = []            # (seconds, rss bytes, inodes, cache bytes)

    # -- targets -------------------------------------------------------------
    def stable_file(self, rng):
        cname = rng.choice([c for c, _f in STABLE])
        coll = self.data['collections'][cname]
        fname = rng.choice(sorted(coll['files']))
        if rng.random() < 0.5:
            path = self.m.join('home', 'soak-data', cname, fname)
        else:
            path = self.m.join('by_id', coll['pdh'], fname)
        return path, coll['files'][fname], False

    def churned_file(self, rng):
        with self.churn_lock:
            if not self.churn:
                return None
            entry = rng.choice(self.churn)
            projects = dict(self.projects)
        new, (cname, fname) = rng.choice(sorted(entry['files'].items()))
        if rng.random() < 0.5 or entry['owner'] not in projects:
            path = self.m.join('by_id', entry['uuid'], new)
        else:
            path = self.m.join('home', projects[entry['owner']], entry['name'], new)
        return path, self.data['collections'][cname]['files'][fname], True

    # -- readers -------------------------------------------------------------
    def reader(self, n):
        rng = random.Random(1000 + n)
        s = self.stats
        while not self.stop.is_set():
            r = rng.random()
            try:
                if r < 0.35:
                    target = self.churned_file(rng) if rng.random() < 0.4 else None
                    self.read_whole(*(target or self.stable_file(rng)))
                elif r < 0.65:
                    target = self.churned_file(rng) if rng.random() < 0.4 else None
                    self.read_random(rng, *(target or self.stable_file(rng)))
                else:
                    self.metadata(rng)
            except OSError as e:
                s.error(e, 'reader %d' % n, True)

    def read_whole(self, path, expected, churned):
        local, size, md5 = expected
        s = self.stats
        try:
            fd = s.timed('open ' + path, os.open, path, os.O_RDONLY)
        except OSError as e:
            return s.error(e, 'open ' + path, churned)
        h = hashlib.md5()
        n = 0
        try:
            while True:
                b = s.timed('read ' + path, os.read, fd, MiB)
                if not b:
                    break
                h.update(b)
                n += len(b)
        except OSError as e:
            return s.error(e, 'read ' + path, churned)
        finally:
            os.close(fd)
        with s.lock:
            s.reads_verified += 1
            s.bytes_verified += n
            if n != size or h.hexdigest() != md5:
                s.wrong_bytes += max(1, abs(size - n))
                s.wrong_reads.append('%s: %d bytes, md5 %s' % (path, n, h.hexdigest()))

    def read_random(self, rng, path, expected, churned):
        local, size, _md5 = expected
        s = self.stats
        try:
            fd = s.timed('open ' + path, os.open, path, os.O_RDONLY)
        except OSError as e:
            return s.error(e, 'open ' + path, churned)
        try:
            with open(local, 'rb') as truth:
                for _ in range(20):
                    off = rng.randrange(0, size + 10)
                    want = rng.choice([1, 4096, 65536, MiB])
                    got = s.timed('pread ' + path, os.pread, fd, want, off)
                    exp = os.pread(truth.fileno(), want, off)
                    # A read cut short is what FUSE gives when a later
                    # piece of it failed (EIO): only bytes returned count.
                    with s.lock:
                        s.reads_verified += 1
                        s.bytes_verified += len(got)
                        if len(got) < len(exp):
                            s.short_reads += 1
                        if got != exp[:len(got)]:
                            s.wrong_bytes += sum(1 for a, b in zip(got, exp) if a != b)
                            s.wrong_reads.append('%s: pread %d at %d' % (path, want, off))
        except OSError as e:
            return s.error(e, 'pread ' + path, churned)
        finally:
            os.close(fd)

    def metadata(self, rng):
        s = self.stats
        colls = self.data['collections']
        with self.churn_lock:
            projects = list(self.projects)
            churn = list(self.churn)
        choices = [
            (self.m.join('home'), False, 'list'),
            (self.m.join('home', 'soak-data'), False, 'list'),
            (self.m.join('by_id', colls['small']['pdh']), False, 'list'),
            (self.m.join('by_id', colls['medium']['pdh'], 'm1.bin'), False, 'stat'),
            (self.m.join('home', 'soak-data', 'small', 's007.txt'), False, 'stat'),
        ]
        if projects:
            uuid, name = rng.choice(projects)
            choices.append((self.m.join('home', name), True, 'list'))
            choices.append((self.m.join('by_id', uuid), True, 'list'))
        if churn:
            e = rng.choice(churn)
            choices.append((self.m.join('by_id', e['uuid']), True, 'list'))
            choices.append((self.m.join('by_id', e['uuid'], sorted(e['files'])[0]), True, 'stat'))
        path, churned, op = rng.choice(choices)
        try:
            if op == 'list':
                s.timed('listdir ' + path, os.listdir, path)
            else:
                s.timed('stat ' + path, os.stat, path)
            with s.lock:
                s.metadata_ops += 1
        except OSError as e:
            s.error(e, op + ' ' + path, churned)

    # -- the mutator -------------------------------------------------------------
    def mutator(self):
        api = self.c.api('alice', num_retries=1)
        rng = random.Random(7)
        home = self.c.users['alice']['uuid']
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.mutate(api, rng, home, n)
                with self.stats.lock:
                    self.stats.mutations += 1
            except Exception:
                with self.stats.lock:
                    self.stats.api_errors += 1
            self.stop.wait(0.1)

    def mutate(self, api, rng, home, n):
        r = rng.random()
        with self.churn_lock:
            projects = list(self.projects)
            churn = list(self.churn)
        if r < 0.15 or not projects:
            name = 'churn-p%d' % n
            p = api.groups().create(body={'group': {'name': name, 'group_class': 'project'}}).execute()
            with self.churn_lock:
                self.projects.append((p['uuid'], name))
            if len(projects) >= 4:
                uuid, name = projects[0]
                with self.churn_lock:
                    self.projects.remove((uuid, name))
                    self.churn = [e for e in self.churn if e['owner'] != uuid]
                api.groups().delete(uuid=uuid).execute()
        elif r < 0.5 or not churn:
            cname = rng.choice([c for c, _f in STABLE])
            prefix = 'c%d_' % n
            manifest = re.sub(r'(\d+:\d+:)(\S+)', lambda m: m.group(1) + prefix + m.group(2),
                              self.data['collections'][cname]['manifest'])
            files = {prefix + f: (cname, f) for f in self.data['collections'][cname]['files']}
            owner, _pname = rng.choice(projects + [(home, None)])
            name = 'churn-c%d' % n
            rec = api.collections().create(body={'collection': {
                'name': name, 'owner_uuid': owner, 'manifest_text': manifest}}).execute()
            with self.churn_lock:
                self.churn.append({'uuid': rec['uuid'], 'owner': owner, 'name': name, 'files': files})
                old = self.churn.pop(0) if len(self.churn) > 10 else None
            if old is not None:
                api.collections().delete(uuid=old['uuid']).execute()
        elif r < 0.75:
            e = rng.choice(churn)
            name = 'churn-r%d' % n
            api.collections().update(uuid=e['uuid'], body={'collection': {'name': name}}).execute()
            e['name'] = name
        elif r < 0.9:
            e = rng.choice(churn)
            owner, _pname = rng.choice(projects + [(home, None)])
            api.collections().update(uuid=e['uuid'], body={'collection': {'owner_uuid': owner}}).execute()
            e['owner'] = owner
        else:
            uuid, old = rng.choice(projects)
            name = 'churn-q%d' % n
            api.groups().update(uuid=uuid, body={'group': {'name': name}}).execute()
            with self.churn_lock:
                self.projects = [(u, name if u == uuid else nm) for u, nm in self.projects]

    # -- the flapper and the sampler -------------------------------------------------
    def flapper(self):
        try:
            while not self.stop.is_set():
                self.c.set_fault('keep0', down=True)
                if self.stop.wait(1.0):
                    break
                self.c.set_fault('keep0', down=False)
                self.stop.wait(2.0)
        finally:
            self.c.clear_faults()

    def sampler(self, port, t0):
        while not self.stop.is_set():
            self.samples.append((time.monotonic() - t0, rss_of(self.m.proc.pid)) + metrics_of(port)
                                + big_mappings(self.m.proc.pid))
            self.stop.wait(1.0)

    # -- the run -----------------------------------------------------------------
    def run(self, port):
        t0 = time.monotonic()
        threads = [threading.Thread(target=self.reader, args=(i,), daemon=True, name='reader-%d' % i)
                   for i in range(READERS)]
        threads += [threading.Thread(target=self.mutator, daemon=True, name='mutator'),
                    threading.Thread(target=self.flapper, daemon=True, name='flapper')]
        sampler = threading.Thread(target=self.sampler, args=(port, t0), daemon=True)
        sampler.start()
        for t in threads:
            t.start()
        self.stop.wait(self.seconds)
        self.stop.set()
        # A reader stuck longer than every bound of the mount is a hang.
        hung = 0
        deadline = time.monotonic() + READ_TIMEOUT + API_TIMEOUT + 60
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
            hung += t.is_alive()
        sampler.join(10)
        self.samples.append((time.monotonic() - t0, rss_of(self.m.proc.pid)) + metrics_of(port)
                            + big_mappings(self.m.proc.pid))
        return hung


def big_mappings(pid, least=4 * MiB):
    """(count, resident bytes) of the anonymous mappings of at least
    `least` bytes: received blocks (one mmap each) and malloc's arenas;
    the rest of RSS is the Python heap and libraries."""
    count = rss = 0
    size = None
    try:
        with open('/proc/%d/smaps' % pid) as f:
            for line in f:
                first = line.split(None, 6)
                if '-' in first[0] and len(first) >= 5 and ':' not in first[0]:
                    a, b = first[0].split('-')
                    # mmap.mmap(-1, n) is shared anonymous memory: /dev/zero.
                    anon = len(first) == 5 or not first[5].strip() or first[5].startswith('/dev/zero')
                    size = int(b, 16) - int(a, 16) if anon and first[1].startswith('rw') else None
                elif size is not None and size >= least and first[0] == 'Rss:':
                    count += 1
                    rss += int(first[1]) * 1024
    except OSError:
        pass
    return count, rss


def metrics_of(port):
    """(inodes, block cache bytes) from the mount's /metrics, or Nones."""
    try:
        text = urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            'http://127.0.0.1:%d/metrics' % port, timeout=5).read().decode()
    except Exception:
        return (None, None)
    found = {}
    for line in text.splitlines():
        for name in ('arvmount_inodes', 'arvmount_block_cache_bytes'):
            if line.startswith(name + ' '):
                found[name] = int(float(line.split()[1]))
    return (found.get('arvmount_inodes'), found.get('arvmount_block_cache_bytes'))


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


def mount_alive(m):
    """The daemon runs and its root answers a stat within 30 s."""
    if m.proc.poll() is not None:
        return False
    done = []
    t = threading.Thread(target=lambda: done.append(os.listdir(m.path)), daemon=True)
    t.start()
    t.join(30)
    return bool(done)


def bound(file_cache=FILE_CACHE, directory_cache=DIRECTORY_CACHE):
    return file_cache + directory_cache + RSS_CONSTANT


# With --tracemalloc DIR, the daemon imports this at startup (as
# sitecustomize) and writes a tracemalloc snapshot into DIR every 30 s:
# compare two with `bench/soak.py --compare A B`.
_HOOK = '''
import os, threading, time, tracemalloc
_dir = os.environ.get('SOAK_TRACEMALLOC_DIR')
if _dir and 'arv-mount' in ' '.join(__import__('sys').argv):
    tracemalloc.start(25)
    def _dump():
        n = 0
        while True:
            time.sleep(30)
            n += 1
            tracemalloc.take_snapshot().dump(os.path.join(_dir, '%03d.snap' % n))
    threading.Thread(target=_dump, daemon=True).start()
'''


def compare(a, b, limit=25):
    import tracemalloc
    old, new = tracemalloc.Snapshot.load(a), tracemalloc.Snapshot.load(b)
    for stat in new.compare_to(old, 'traceback')[:limit]:
        print(stat)
        for line in stat.traceback.format()[-12:]:
            print('   ', line)


def run(minutes=3.0, workdir=None, file_cache=FILE_CACHE, directory_cache=DIRECTORY_CACHE, extra_args=(),
        log=print, tracemalloc_dir=None, log_file=None):
    """One soak; returns its summary (a dict, see `report`)."""
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix='soak-')
    try:
        c = LocalCluster(os.path.join(workdir, 'cluster'))
        c.start()
        try:
            log('cluster up; writing data')
            data = make_data(c, os.path.join(workdir, 'cluster'))
            port = free_port()
            args = ['--ram-cache', '--file-cache', str(file_cache), '--directory-cache', str(directory_cache),
                    '--read-timeout', str(READ_TIMEOUT), '--timeout', str(API_TIMEOUT),
                    '--prometheus-port', str(port)] + list(extra_args)
            env = c.full_env('alice')
            if tracemalloc_dir:
                os.makedirs(tracemalloc_dir, exist_ok=True)
                hook = os.path.join(workdir, 'hook')
                os.makedirs(hook, exist_ok=True)
                with open(os.path.join(hook, 'sitecustomize.py'), 'w') as f:
                    f.write(_HOOK)
                env.update(PYTHONPATH=hook, SOAK_TRACEMALLOC_DIR=os.path.abspath(tracemalloc_dir))
            with mounted(env, *args) as m:
                log('mounted; soaking for %g minutes' % minutes)
                soak = Soak(c, m, data, minutes * 60)
                hung = soak.run(port)
                alive = mount_alive(m)
                log_tail = m.log()[-3000:]
                if log_file:
                    with open(log_file, 'w') as f:
                        f.write(m.log())
            s = soak.stats
            return {
                'minutes': minutes, 'readers': READERS, 'file_cache': file_cache,
                'directory_cache': directory_cache, 'bound': bound(file_cache, directory_cache),
                'args': args,
                'reads_verified': s.reads_verified, 'bytes_verified': s.bytes_verified,
                'wrong_bytes': s.wrong_bytes, 'wrong_reads': s.wrong_reads[:10], 'eio': s.eio,
                'short_reads': s.short_reads,
                'gone': s.gone, 'other_errors': s.other_errors, 'syscalls': s.syscalls,
                'metadata_ops': s.metadata_ops, 'mutations': s.mutations, 'api_errors': s.api_errors,
                'slowest_syscall': {'seconds': round(s.slowest[0], 3), 'what': s.slowest[1]},
                'deadline': max(READ_TIMEOUT, API_TIMEOUT),
                'hung_threads': hung, 'dead_mounts': int(hung > 0 or not alive),
                'samples': soak.samples, 'log_tail': log_tail,
            }
        finally:
            c.stop()
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)


def curve(samples, points=12):
    """Every len/points-th sample, and the last."""
    if not samples:
        return []
    step = max(1, len(samples) // points)
    picked = samples[::step]
    if picked[-1] is not samples[-1]:
        picked.append(samples[-1])
    return picked


def levelled(samples):
    """(peak RSS of the last third, of the middle third): growth between the
    two is what an unbounded leak shows."""
    n = len(samples)
    mid = [s[1] for s in samples[n // 3:2 * n // 3]] or [0]
    last = [s[1] for s in samples[2 * n // 3:]] or [0]
    return max(last), max(mid)


def report(r):
    mb = lambda b: '%.0f' % (b / 1e6) if b is not None else '-'  # noqa: E731
    lines = [
        'soak: %g min, %d readers, --file-cache %d --directory-cache %d' % (
            r['minutes'], r['readers'], r['file_cache'], r['directory_cache']),
        'reads verified    %d (%.1f GB)' % (r['reads_verified'], r['bytes_verified'] / 1e9),
        'wrong bytes       %d' % r['wrong_bytes'],
        'EIO               %d (and %d reads cut short by one)' % (r['eio'], r['short_reads']),
        'gone (churned)    %d' % r['gone'],
        'other errors      %d' % len(r['other_errors']),
        'metadata ops      %d' % r['metadata_ops'],
        'mutations         %d (%d API errors)' % (r['mutations'], r['api_errors']),
        'slowest syscall   %.2f s (%s); deadline %d s' % (r['slowest_syscall']['seconds'],
                                                        r['slowest_syscall']['what'], r['deadline']),
        'dead mounts       %d' % r['dead_mounts'],
        'RSS bound         %s MB (caches + %d MiB)' % (mb(r['bound']), RSS_CONSTANT >> 20),
        '',
        '   t (s)  RSS (MB)  inodes  block cache (MB)  big anon maps (n, MB)',
    ]
    for t, rss, inodes, cache, maps, maps_rss in curve(r['samples']):
        lines.append('%8.0f  %8s  %6s  %16s  %4d %8s' % (t, mb(rss), inodes if inodes is not None else '-',
                                                      mb(cache), maps, mb(maps_rss)))
    last, mid = levelled(r['samples'])
    lines += ['', 'peak RSS %s MB; last third peak %s MB, middle third peak %s MB' % (
        mb(max(s[1] for s in r['samples'])), mb(last), mb(mid))]
    for e in r['other_errors'][:5] + r['wrong_reads'][:5]:
        lines.append('  ' + e)
    return '\n'.join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--minutes', type=float, default=3.0)
    p.add_argument('--file-cache', type=int, default=FILE_CACHE)
    p.add_argument('--directory-cache', type=int, default=DIRECTORY_CACHE)
    p.add_argument('--json', help='write every figure and sample here')
    p.add_argument('--log', metavar='FILE', help="write the daemon's whole log here")
    p.add_argument('--tracemalloc', metavar='DIR', help='the daemon writes tracemalloc snapshots here every 30 s')
    p.add_argument('--compare', nargs=2, metavar='SNAPSHOT', help='only compare two snapshots (biggest growth)')
    p.add_argument('mount_args', nargs='*', help='more arv-mount options (after --)')
    a = p.parse_args()
    if a.compare:
        return compare(*a.compare)
    r = run(a.minutes, file_cache=a.file_cache, directory_cache=a.directory_cache, extra_args=a.mount_args,
            tracemalloc_dir=a.tracemalloc, log_file=a.log)
    print(report(r))
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(r, f, indent=1)
    ok = r['wrong_bytes'] == 0 and r['dead_mounts'] == 0 and max(s[1] for s in r['samples']) <= r['bound']
    sys.exit(0 if ok else 1)


if __name__ == '__main__':
    main()
