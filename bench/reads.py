"""Read benchmarks (issues 12, 24): this mount against upstream arv-mount
3.2.1, the SDK's KeepClient ceilings and the machine's raw limit (curl into
md5sum), in one run against one fresh local cluster.

    .venv/bin/python bench/reads.py [--size-mib 1024] [--runs 3] [--cold-runs 8]
    .venv/bin/python bench/reads.py --report bench/results/reads.json   # table + chart only
    .venv/bin/python bench/reads.py --only limit --limit-runs 5 --baseline ../main   # the raw limit only

Workloads (each mount is a fresh process with an empty cache directory; the
Keep server's block files are dropped from the page cache with
fadvise(DONTNEED) before every cold measurement, ceilings included; only
those files, never the whole machine's cache):

  ceiling_1/2/4   every block of the big file with the SDK's KeepClient
                  (MD5-checked), with 1, 2 and 4 threads: what a Keep
                  client in Python reaches here
  cold            `dd bs=1M` of the big file (64 MiB blocks) on a fresh
                  mount; also the mount's CPU-seconds per GiB
                  (utime+stime of the daemon) and peak RSS (VmHWM)
  cold_256m       the same with --ram-cache --file-cache 256M
  readers4        4 dd at once, each on its own 256 MiB file: aggregate MiB/s
  lat20, lat100   the cold read with 20 ms / 100 ms latency and a 200 MiB/s
                  cap on every Keep response (the cluster's fault knobs)
  random_4k       200 (--random-reads) random 4 KiB preads of the big
                  file, fresh mount:
                  bytes received from Keep (the daemon's crunchstat
                  `net:keep0 rx`, both implementations) over the bytes of
                  the distinct blocks those reads touch (1.0: nothing
                  fetched beyond the blocks read)

The raw limit (issue 24; `--limit-runs` rounds, Keep's page cache warm,
i.e. its block files read once just before, unless said cold):

  raw warm_1/2/4  every block of the big file fetched by curl into md5sum
                  (C end to end: `curl | md5sum`), 1, 2 and 4 streams at
                  once; cold_1/2/4 the same with Keep's files dropped
  raw md5x2_1/2   `curl | tee >(md5sum >/dev/null) | md5sum`: two MD5s
                  of every byte, as ours with an MD5-ing reader
  warm            a fresh mount, `dd bs=1M` of the big file
  three           a fresh mount, `cat a.bin b.bin c.bin`: three 150 MiB
                  files packed in one stream, sharing blocks
  md5             a fresh mount, `cat big.bin | md5sum`
  with CPU-seconds per GiB by mount thread (/proc/PID/task/*/comm, stat),
  Keep server, and reader process (wait4 of each: curl, tee, md5sum, cat),
  and how busy the rest of the machine was meanwhile ("other processes").

Ours and upstream alternate run by run, so drift on a shared machine hits
both.  Results: bench/results/reads.json (every run), and the table and
chart written into docs/benchmarks.md between the reads:begin/end markers
(docs/reads.png).
"""

import argparse
import hashlib
import json
import os
import platform
import random
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

from arvados_fuse.host import mountpoint  # noqa: E402

MiB = 1 << 20
DOC = os.path.join(REPO, 'docs', 'benchmarks.md')
CHART = os.path.join(REPO, 'docs', 'reads.png')
BEGIN, END = '<!-- reads:begin -->', '<!-- reads:end -->'
LIMIT_BEGIN, LIMIT_END = '<!-- reads-limit:begin -->', '<!-- reads-limit:end -->'
NOTES_BEGIN, NOTES_END = '<!-- reads-notes:begin -->', '<!-- reads-notes:end -->'
TICK = os.sysconf('SC_CLK_TCK')


def write_file(coll, name, size_mib, seed):
    rng = random.Random(seed)
    chunk = rng.randbytes(MiB)
    h = hashlib.md5()
    with coll.open(name, 'wb') as f:
        for i in range(size_mib):
            piece = (seed * 100000 + i).to_bytes(8, 'little') + chunk[8:]
            f.write(piece)
            h.update(piece)
    return h.hexdigest()


def make_data(cluster, size_mib, four=True):
    import arvados.collection
    api = cluster.api('alice')
    big = arvados.collection.Collection(api_client=api)
    big_md5 = write_file(big, 'big.bin', size_mib, 1)
    big.save_new(name='reads big')
    out = {'big': big.manifest_locator(), 'big_md5': big_md5, 'big_manifest': big.manifest_text(),
           'three': make_three(api)}
    if four:
        coll = arvados.collection.Collection(api_client=api)
        for i in range(4):
            write_file(coll, 'r%d.bin' % i, 256, 10 + i)
        coll.save_new(name='reads four')
        out['four'] = coll.manifest_locator()
    return out


THREE_MIB = 150


def make_three(api):
    """Three 150 MiB files packed in one stream of 64 MiB blocks, so
    each file shares its first and last blocks with its neighbours (as
    `arv-put` of a directory writes them): a.bin, b.bin, c.bin."""
    import arvados.collection
    tmp = arvados.collection.Collection(api_client=api)
    write_file(tmp, 'all.bin', 3 * THREE_MIB, 30)
    line = tmp.manifest_text().split('\n')[0].split(' ')
    stream, blocks = line[0], [t for t in line[1:] if '+' in t and ':' not in t]
    n = THREE_MIB * MiB
    files = ['%d:%d:%s' % (i * n, n, name) for i, name in enumerate(('a.bin', 'b.bin', 'c.bin'))]
    rec = api.collections().create(body={'name': 'reads three',
                                         'manifest_text': ' '.join([stream] + blocks + files) + '\n'}).execute()
    return rec['uuid']


def drop_server_cache(cluster):
    """fadvise(DONTNEED) the Keep server's block files: a cold read reads
    them from disk (or at least not from already-mapped pages)."""
    blocks = os.path.join(cluster.data_dir, 'blocks')
    for dirpath, _d, names in os.walk(blocks):
        for n in names:
            try:
                fd = os.open(os.path.join(dirpath, n), os.O_RDONLY)
            except OSError:
                continue
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def warm_server_cache(cluster):
    """Read every block file of the Keep server once, so the reads that
    follow find them in the page cache (Keep "warm")."""
    blocks = os.path.join(cluster.data_dir, 'blocks')
    for dirpath, _d, names in os.walk(blocks):
        for n in names:
            with open(os.path.join(dirpath, n), 'rb', buffering=0) as f:
                while f.read(8 * MiB):
                    pass


def set_server_cache(cluster, warm):
    (warm_server_cache if warm else drop_server_cache)(cluster)


class Mount(object):
    def __init__(self, command, env, collection, extra=()):
        self.path = tempfile.mkdtemp(prefix='bench-mnt-')
        self.cache = tempfile.mkdtemp(prefix='bench-cache-')
        env = dict(env, XDG_CACHE_HOME=self.cache, HOME=self.cache)
        # bin/arv-mount runs the package next to it; a PYTHONPATH (set to
        # run this script from a worktree) would give upstream's arv-mount
        # our package.
        env.pop('PYTHONPATH', None)
        self.log_path = os.path.join(self.cache, 'stderr')
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(command + ['--foreground'] + list(extra) + ['--collection', collection,
                                                                                      self.path],
                                         env=env, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.time() + 60
        while not mountpoint.is_mounted(self.path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError('mount failed: %s' % self.log()[-2000:])
            time.sleep(0.02)
        # Mounted is not yet serving: the FUSE loop and its threads start
        # after the mount.  A listing is answered only once they run, so
        # the daemon's start is not counted in the first measurement.
        os.listdir(self.path)

    def log(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def keep_rx(self):
        """Bytes received from Keep, from the last crunchstat line (both
        implementations write `net:keep0 T tx R rx` totals)."""
        rx = None
        for line in self.log().splitlines():
            if 'crunchstat: net:keep0' in line:
                rx = int(line.split('net:keep0', 1)[1].split()[2])
        return rx

    def cpu(self):
        with open('/proc/%d/stat' % self.proc.pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICK

    def peak_rss_mib(self):
        with open('/proc/%d/status' % self.proc.pid) as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024.0
        return float('nan')

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if mountpoint.is_mounted(self.path):
            mountpoint.unmount(self.path)
        shutil.rmtree(self.cache, ignore_errors=True)
        try:
            os.rmdir(self.path)
        except OSError:
            pass
        # Upstream keeps its block cache on disk: a cold read leaves up to
        # 1 GiB of dirty pages, whose writeback (kernel CPU and disk) would
        # otherwise land in the next run, whichever mount it measures.
        os.sync()


def proc_cpu(pid):
    """(user, system) CPU-seconds of process `pid`, all its threads."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def thread_cpu(pid):
    """{tid: (name, user CPU-seconds, system CPU-seconds)} of every thread of process `pid` (the
    mount names its Keep fetch threads 'keep-fetch': threadnames.py)."""
    out = {}
    tasks = '/proc/%d/task' % pid
    for tid in os.listdir(tasks):
        try:
            with open(os.path.join(tasks, tid, 'comm')) as f:
                name = f.read().strip()
            with open(os.path.join(tasks, tid, 'stat')) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        out[tid] = (name, int(fields[11]) / TICK, int(fields[12]) / TICK)
    return out


def machine_busy():
    """CPU-seconds every core spent busy since boot (/proc/stat)."""
    with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / TICK


def thread_label(comm):
    """A thread's name without its number (keep-fetch-1 -> keep-fetch);
    unnamed threads (llfuse's workers and main loop) show the process's."""
    name = comm.rstrip('0123456789').rstrip('-')
    return name if name in ('keep-fetch', 'llfuse-main', 'keep-remote', 'crunchstat') else \
        ('arv-mount (llfuse workers)' if name in ('arv-mount', 'python', 'python3') else name)


class CpuBudget(object):
    """Where a machine's CPU went during one workload: the mount (user and
    system), the local cluster's Keep servers, and the readers (dd, or this
    process for the KeepClient ceilings), per GiB read, and how many of the
    cores were busy with them.  With both cores busy, a workload is
    CPU-bound here: its ceiling is cores / (CPU-seconds per GiB)."""

    def __init__(self, cluster, mount_pid=None):
        self.cluster_pid = cluster.proc.pid
        self.mount_pid = mount_pid

    def __enter__(self):
        import resource
        self.busy = machine_busy()
        self.t = time.perf_counter()
        self.server = sum(proc_cpu(self.cluster_pid))
        self.mount = proc_cpu(self.mount_pid) if self.mount_pid else (0, 0)
        self.threads = thread_cpu(self.mount_pid) if self.mount_pid else {}
        kids, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        self.readers = kids.ru_utime + kids.ru_stime + me.ru_utime + me.ru_stime
        return self

    def __exit__(self, *exc):
        import resource
        self.wall = time.perf_counter() - self.t
        self.busy = machine_busy() - self.busy
        self.server = sum(proc_cpu(self.cluster_pid)) - self.server
        if self.mount_pid:
            u, s = proc_cpu(self.mount_pid)
            self.mount = (u - self.mount[0], s - self.mount[1])
            before, self.fetch, self.fetch_sys = self.threads, 0.0, 0.0
            self.by_name = {}
            for tid, (name, user, system) in thread_cpu(self.mount_pid).items():
                _n, user0, system0 = before.get(tid, (name, 0.0, 0.0))
                label = thread_label(name)
                self.by_name[label] = self.by_name.get(label, 0.0) + user - user0 + system - system0
                if name == 'keep-fetch':
                    self.fetch += user - user0 + system - system0
                    self.fetch_sys += system - system0
            # Threads that ended meanwhile (libfuse's loop starts and ends
            # workers as requests come) are in the process's total only.
            self.by_name['(ended threads)'] = max(0.0, sum(self.mount) - sum(self.by_name.values()))
            self.by_name = {k: v for k, v in self.by_name.items() if v >= 0.005}
        kids, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
        self.readers = kids.ru_utime + kids.ru_stime + me.ru_utime + me.ru_stime - self.readers

    def per_gib(self, mib):
        gib = mib / 1024.0
        total = sum(self.mount) + self.server + self.readers
        out = {}
        if self.mount_pid:
            # Fetching (receive + MD5, the keep-fetch threads) and serving
            # (everything else: llfuse's loop and the read handler).
            out = {'thread %s s/GiB' % name: cpu / gib for name, cpu in self.by_name.items()}
            out.update({'fetch cpu s/GiB': self.fetch / gib, 'serve cpu s/GiB': (sum(self.mount) - self.fetch) / gib,
                   'fetch sys s/GiB': self.fetch_sys / gib,
                   'serve sys s/GiB': (self.mount[1] - self.fetch_sys) / gib})
        return dict(out, **{'cpu s/GiB': sum(self.mount) / gib, 'user s/GiB': self.mount[0] / gib,
                'sys s/GiB': self.mount[1] / gib, 'server cpu s/GiB': self.server / gib,
                'reader cpu s/GiB': self.readers / gib, 'all cpu s/GiB': total / gib,
                'cores busy': total / self.wall,
                # The rest of the machine's busy time: anything else running
                # (on a shared machine) distorts that run.
                'other cores busy': max(0.0, self.busy - total) / self.wall})


def dd(path):
    """dd bs=1M of a file: seconds."""
    t = time.perf_counter()
    subprocess.run(['dd', 'if=' + path, 'of=/dev/null', 'bs=1M'], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def md5_of(path):
    h = hashlib.md5()
    with open(path, 'rb', buffering=0) as f:
        while True:
            b = f.read(MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def cold_read(cmd, env, cluster, data, size_mib, extra=(), check=False, warm=False):
    set_server_cache(cluster, warm)
    m = Mount(cmd, env, data['big'], extra)
    try:
        path = os.path.join(m.path, 'big.bin')
        with CpuBudget(cluster, m.proc.pid) as budget:
            secs = dd(path)
        rss = m.peak_rss_mib()
        if check and md5_of(path) != data['big_md5']:
            raise RuntimeError('WRONG BYTES from %s' % cmd)
    finally:
        m.close()
    return dict(budget.per_gib(size_mib), **{'MiB/s': size_mib / secs, 'peak RSS MiB': rss})


# -- the machine's raw limit: C code end to end (issue 24) --------------------

def wait_cpu(procs):
    """Wait for every (label, Popen) with wait4: {label: CPU-seconds}
    (labels repeated add up); raises if one failed."""
    cpu = {}
    for label, p in procs:
        _pid, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu[label] = cpu.get(label, 0.0) + ru.ru_utime + ru.ru_stime
        if p.returncode != 0:
            raise RuntimeError('%s exited with %d' % (label, p.returncode))
    return cpu


def md5_pipeline(source, md5s=1):
    """`source | md5sum` (md5s=2: `source | tee >(md5sum >/dev/null) | md5sum`,
    two MD5s of every byte), source an argv.  (hex MD5, {label: CPU-seconds})."""
    src = subprocess.Popen(source, stdout=subprocess.PIPE)
    procs = [(os.path.basename(source[0]), src)]
    feed = src.stdout
    if md5s == 2:
        r, w = os.pipe()
        side = subprocess.Popen(['md5sum'], stdin=r, stdout=subprocess.DEVNULL)
        tee = subprocess.Popen(['tee', '/dev/fd/%d' % w], stdin=feed, stdout=subprocess.PIPE, pass_fds=(w,))
        os.close(r)
        os.close(w)
        feed.close()
        feed = tee.stdout
        procs += [('tee', tee), ('md5sum', side)]
    md5 = subprocess.Popen(['md5sum'], stdin=feed, stdout=subprocess.PIPE)
    feed.close()
    procs.append(('md5sum', md5))
    out = md5.stdout.read()
    md5.stdout.close()
    return out.split()[0].decode(), wait_cpu(procs)


def raw_limit(cluster, data, streams, warm, md5s=1):
    """Every block of the big file with `curl | md5sum` (C end to end),
    `streams` at once, from the Keep server the mount asks first: MiB/s,
    and CPU-seconds per GiB of curl (receive), md5sum, tee, the server."""
    import threading
    from arvados_fuse.blocks.manifest import parse
    url, token = cluster.info['keep_urls'][0], cluster.token('alice')
    blocks = list(parse(data['big_manifest']).blocks)
    total = sum(int(b.split('+')[1]) for b in blocks) / MiB
    set_server_cache(cluster, warm)
    todo = list(reversed(blocks))
    cpu, lock, errors = {}, threading.Lock(), []

    def stream():
        while True:
            with lock:
                if not todo:
                    return
                b = todo.pop()
            try:
                got, used = md5_pipeline(['curl', '-sS', '--fail', '--noproxy', '*', '-o', '-',
                                          '-H', 'Authorization: Bearer ' + token, url + b], md5s)
                if got != b[:32]:
                    raise RuntimeError('WRONG BYTES from curl: %s for %s' % (got, b[:32]))
            except Exception as e:
                errors.append(e)
                return
            with lock:
                for k, v in used.items():
                    cpu[k] = cpu.get(k, 0.0) + v
    with CpuBudget(cluster) as budget:
        t = time.perf_counter()
        threads = [threading.Thread(target=stream) for _ in range(streams)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        secs = time.perf_counter() - t
    if errors:
        raise errors[0]
    gib = total / 1024.0
    b = budget.per_gib(total)
    out = {'MiB/s': total / secs, 'server cpu s/GiB': b['server cpu s/GiB'], 'all cpu s/GiB': b['all cpu s/GiB'],
           'cores busy': b['cores busy'], 'other cores busy': b['other cores busy']}
    out.update({'%s s/GiB' % k: v / gib for k, v in cpu.items()})
    return out


def fresh_mount_pipeline(cmd, env, cluster, data, collection, names, reader, expect=None):
    """A fresh mount of `collection`, Keep warm: `reader(paths)` run
    under a CpuBudget.  MiB/s over the files' total size, CPU-seconds per
    GiB by mount thread, server and reader."""
    warm_server_cache(cluster)
    m = Mount(cmd, env, collection)
    try:
        paths = [os.path.join(m.path, n) for n in names]
        mib = sum(os.path.getsize(p) for p in paths) / MiB
        with CpuBudget(cluster, m.proc.pid) as budget:
            t = time.perf_counter()
            extra = reader(paths)
            secs = time.perf_counter() - t
        rss = m.peak_rss_mib()
    finally:
        m.close()
    out = dict(budget.per_gib(mib), **{'MiB/s': mib / secs, 'peak RSS MiB': rss})
    for k, v in (extra or {}).items():
        out['reader %s s/GiB' % k] = v / (mib / 1024.0)
    return out


def cat_files(paths):
    subprocess.run(['cat'] + paths, check=True, stdout=subprocess.DEVNULL)


def three_files(cmd, env, cluster, data):
    """`cat a.bin b.bin c.bin` (as `cat dir/*`): three 150 MiB files
    sharing blocks, read one after another on a fresh mount."""
    return fresh_mount_pipeline(cmd, env, cluster, data, data['three'], ['a.bin', 'b.bin', 'c.bin'], cat_files)


def md5_read(cmd, env, cluster, data):
    """`cat big.bin | md5sum` on a fresh mount: a reader that needs CPU."""
    def reader(paths):
        got, cpu = md5_pipeline(['cat', paths[0]])
        if got != data['big_md5']:
            raise RuntimeError('WRONG BYTES from %s' % cmd)
        return cpu
    return fresh_mount_pipeline(cmd, env, cluster, data, data['big'], ['big.bin'], reader)


# Where a sample of the mount's on-CPU time falls, by the Python source
# line it is in (py-spy attributes C calls to the line that made them).
PROFILE_KINDS = (
    ('MD5 of received bytes (hashlib, GIL released)', lambda line: 'md5.update' in line),
    ('receiving from Keep (recv_into)', lambda line: 'readinto' in line or 'recv' in line),
    ('read handler and read path (Python)', lambda line: False),
)


def _kind(stack, source_line):
    if not stack:
        # No Python frame: llfuse's and libfuse's C loop, i.e. reading
        # requests from /dev/fuse and writing replies (the kernel copies
        # every byte a reader gets into its page cache here).
        return 'FUSE request loop (llfuse C, /dev/fuse)'
    leaf = stack[-1] + ' ' + source_line(stack[-1])
    for name, match in PROFILE_KINDS[:2]:
        if match(leaf):
            return name
    if any('operations.py' in f or 'readpath.py' in f for f in stack):
        return 'read handler and read path (Python)'
    return 'other'


def profile_cold(cmd, env, cluster, data, size_mib):
    """One cold read of ours under `py-spy --gil` (200 Hz: only the thread
    holding the GIL is sampled): how much of the read's wall time the GIL
    is held, and by what kind of work (PROFILE_KINDS).  (Without --gil,
    py-spy counts threads waiting in C, such as llfuse's, as busy, so only
    the GIL profile is quoted; where the CPU goes comes from the per-thread
    CPU times of the cold reads.)"""
    import collections
    import linecache
    spy = os.path.join(os.path.dirname(sys.executable), 'py-spy')
    drop_server_cache(cluster)
    m = Mount(cmd, env, data['big'])
    raw = tempfile.mktemp(suffix='.txt')
    try:
        prof = subprocess.Popen([spy, 'record', '-p', str(m.proc.pid), '-r', '200', '-f', 'raw', '-o', raw]
                                + ['--gil'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)  # py-spy attached
        secs = dd(os.path.join(m.path, 'big.bin'))
        prof.send_signal(2)
        prof.wait(60)
    finally:
        m.close()

    def source_line(frame):
        # "function (path/file.py:123)"
        try:
            where = frame.rsplit('(', 1)[1].rstrip(')')
            path, line = where.rsplit(':', 1)
            return linecache.getline(os.path.join(REPO, path), int(line)) if not os.path.isabs(path) else \
                linecache.getline(path, int(line))
        except (IndexError, ValueError):
            return ''
    counts = collections.Counter()
    with open(raw) as f:
        for row in f:
            stack, n = row.rstrip('\n').rsplit(' ', 1)
            frames = [fr for fr in stack.split(';') if fr and not fr.startswith('process ')]
            frames = [fr for fr in frames if not fr.startswith('thread ')]
            counts[_kind(frames, source_line)] += int(n)
    os.unlink(raw)
    total = float(sum(counts.values())) or 1.0
    return {'MiB/s': size_mib / secs, 'samples': int(total), 'gil held': total / (secs * 200),
            'shares': {k: v / total for k, v in counts.most_common()}}


def readers4(cmd, env, cluster, data):
    drop_server_cache(cluster)
    m = Mount(cmd, env, data['four'])
    try:
        paths = [os.path.join(m.path, 'r%d.bin' % i) for i in range(4)]
        cpu0 = m.cpu()
        t = time.perf_counter()
        procs = [subprocess.Popen(['dd', 'if=' + p, 'of=/dev/null', 'bs=1M'], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for p in paths]
        for p in procs:
            if p.wait() != 0:
                raise RuntimeError('dd failed')
        secs = time.perf_counter() - t
        cpu = m.cpu() - cpu0
        rss = m.peak_rss_mib()
    finally:
        m.close()
    return {'MiB/s': 1024 / secs, 'peak RSS MiB': rss, 'cpu s/GiB': cpu}


def random_4k(cmd, env, cluster, data, size_mib, reads=200):
    drop_server_cache(cluster)
    m = Mount(cmd, env, data['big'], ['--crunchstat-interval', '0.5'])
    try:
        path = os.path.join(m.path, 'big.bin')
        rng = random.Random(7)
        offsets = [rng.randrange(0, size_mib * MiB - 4096) // 4096 * 4096 for _ in range(reads)]
        fd = os.open(path, os.O_RDONLY)
        t = time.perf_counter()
        try:
            for off in offsets:
                os.posix_fadvise(fd, off, 4096, os.POSIX_FADV_RANDOM)
                os.pread(fd, 4096, off)
        finally:
            os.close(fd)
        secs = time.perf_counter() - t
        time.sleep(1.5)  # a crunchstat line after the last read
        fetched = m.keep_rx()
    finally:
        m.close()
    touched = len({off // (64 * MiB) for off in offsets}) * 64 * MiB
    return {'reads/s': reads / secs, 'fetched/needed': fetched / float(touched),
            'fetched MiB': fetched / MiB}


def ceilings(cluster, data, runs):
    import arvados
    import arvados.keep
    from concurrent.futures import ThreadPoolExecutor
    from arvados_fuse.blocks.manifest import parse
    api = cluster.api('alice')
    blocks = parse(data['big_manifest']).blocks
    total = sum(int(b.split('+')[1]) for b in blocks)
    out = {}
    for threads in (1, 2, 4):
        rates = []
        for _ in range(runs):
            drop_server_cache(cluster)
            keep = arvados.keep.KeepClient(api_client=api, block_cache=arvados.keep.KeepBlockCache(
                cache_max=64 * MiB * threads))

            def get(b):
                keep.get(b)  # MD5-checked by the SDK
                keep.block_cache.cap_cache()
            t = time.perf_counter()
            with CpuBudget(cluster) as budget:
                with ThreadPoolExecutor(threads) as pool:
                    list(pool.map(get, blocks))
            rates.append(total / (time.perf_counter() - t) / MiB)
            for k, v in budget.per_gib(total / MiB).items():
                if k in ('server cpu s/GiB', 'reader cpu s/GiB', 'all cpu s/GiB', 'cores busy'):
                    out.setdefault('ceiling_%d %s' % (threads, k), []).append(v)
        out['ceiling_%d' % threads] = rates
    return out


def set_keep(cluster, **knobs):
    for server in cluster.info['servers']:
        if server.startswith('keep'):
            cluster.set_fault(server, **knobs)


def run(args):
    impls = {'ours': [sys.executable, os.path.join(REPO, 'bin', 'arv-mount')]}
    for n, checkout in enumerate(args.baseline or ()):
        # Other checkouts of this mount (e.g. main), alternating with this one.
        impls['baseline' if n == 0 else 'baseline%d' % (n + 1)] = [
            sys.executable, os.path.join(os.path.abspath(checkout), 'bin', 'arv-mount')]
    if not args.no_upstream:
        impls['upstream'] = [upstream_arv_mount()]
    workdir = tempfile.mkdtemp(prefix='bench-reads-')
    cluster = LocalCluster(workdir)
    cluster.start()
    res = {name: {} for name in impls}
    res['keep'] = {}
    res['raw'] = {}

    def add(impl, key, value):
        for k, v in value.items():
            res[impl].setdefault('%s %s' % (key, k), []).append(v)
    try:
        env = cluster.full_env('alice')
        only = set(args.only.split(',')) if args.only else None

        def want(name):
            return only is None or name in only
        t = time.time()
        data = make_data(cluster, args.size_mib, four=want('others'))
        os.sync()  # the blocks just stored are written back now, not during a measurement
        log('data ready in %.0fs' % (time.time() - t))
        if want('ceilings'):
            res['keep'] = ceilings(cluster, data, args.runs)
            log('ceilings %s' % {k: round(statistics.median(v)) for k, v in res['keep'].items()})
        for i in range(args.limit_runs if want('limit') else 0):
            # The raw limit, ours and upstream, alternating run by run.
            for streams in (1, 2, 4):
                add('raw', 'warm_%d' % streams, raw_limit(cluster, data, streams, True))
            if i < args.runs:
                for streams in (1, 2, 4):
                    add('raw', 'cold_%d' % streams, raw_limit(cluster, data, streams, False))
                for streams in (1, 2):
                    add('raw', 'md5x2_%d' % streams, raw_limit(cluster, data, streams, True, md5s=2))
            for name, cmd in impls.items():
                if name == 'upstream' and i >= args.upstream_limit_runs:
                    continue
                add(name, 'warm', cold_read(cmd, env, cluster, data, args.size_mib, check=(i == 0), warm=True))
                add(name, 'three', three_files(cmd, env, cluster, data))
                add(name, 'md5', md5_read(cmd, env, cluster, data))
            log('limit round %d: raw 2 streams %.0f, ours %.0f MiB/s' % (
                i + 1, res['raw']['warm_2 MiB/s'][-1], res['ours']['warm MiB/s'][-1]))
        for i in range(args.cold_runs if want('cold') else 0):
            for name, cmd in impls.items():
                if name == 'upstream' and i >= args.upstream_cold_runs:
                    continue
                add(name, 'cold', cold_read(cmd, env, cluster, data, args.size_mib, check=(i == 0)))
        log('cold done')
        for i in range(args.runs if want('others') else 0):
            for name, cmd in impls.items():
                add(name, 'cold_256m', cold_read(cmd, env, cluster, data, args.size_mib,
                                                 extra=['--ram-cache', '--file-cache', str(256 * MiB)]))
                add(name, 'readers4', readers4(cmd, env, cluster, data))
                add(name, 'random_4k', random_4k(cmd, env, cluster, data, args.size_mib, args.random_reads))
        log('cache, readers, random done')
        for lat in (0.02, 0.1) if want('latency') else ():
            set_keep(cluster, latency=lat, bandwidth=200 * MiB)
            try:
                for i in range(args.runs):
                    for name, cmd in impls.items():
                        add(name, 'lat%d' % int(lat * 1000), cold_read(cmd, env, cluster, data, args.size_mib))
            finally:
                cluster.clear_faults()
        log('latency done')
        if args.profile and want('profile'):
            res['profile_gil'] = profile_cold(impls['ours'], env, cluster, data, args.size_mib)
            log('profiles done')
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    out = {'command': ' '.join(sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime()),
           'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                       'python': platform.python_version()},
           'size_mib': args.size_mib, 'runs': dict(res, baselines=', '.join(
               '%s: %s' % ('baseline' if n == 0 else 'baseline%d' % (n + 1), c) for n, c in enumerate(args.baseline or ()))),
           'args': '--size-mib %d --runs %d --cold-runs %d --upstream-cold-runs %d --random-reads %d --limit-runs %d '
                   '--upstream-limit-runs %d' % (args.size_mib, args.runs, args.cold_runs, args.upstream_cold_runs,
                                                args.random_reads, args.limit_runs, args.upstream_limit_runs)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(out, f, indent=2, sort_keys=True)
    return out


def log(msg):
    print('[%s] %s' % (time.strftime('%H:%M:%S'), msg), file=sys.stderr, flush=True)


def stat(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs, digits=0):
    if not xs:
        return '–'
    m, lo, hi = stat(xs)
    f = '%%.%df' % digits
    return (f + ' [' + f + '–' + f + ']') % (m, lo, hi)


def report(out, write_doc=True):
    r = out['runs']
    ours, up, keep = r.get('ours', {}), r.get('upstream', {}), r.get('keep', {})
    if not keep.get('ceiling_2'):
        # A run of the raw-limit rounds alone (--only limit): its part of
        # the section only.
        table = limit_tables(r)
        print(table)
        if write_doc:
            write_limit_section(out, table)
        return table
    c2 = statistics.median(keep['ceiling_2'])
    c4 = statistics.median(keep['ceiling_4'])
    rows = [
        ('KeepClient ceiling, 1 thread (MiB/s)', keep['ceiling_1'], [], 0, ''),
        ('KeepClient ceiling, 2 threads (MiB/s)', keep['ceiling_2'], [], 0, ''),
        ('KeepClient ceiling, 4 threads (MiB/s)', keep['ceiling_4'], [], 0, ''),
    ]

    def med(d, k):
        return statistics.median(d[k]) if d.get(k) else float('nan')

    cold = med(ours, 'cold MiB/s')
    rows += [
        ('cold read, %d runs (MiB/s)' % len(ours.get('cold MiB/s', [])), ours.get('cold MiB/s', []),
         up.get('cold MiB/s', []), 0,
         '%.0f%% of 2-thread ceiling (≥95%%), %.2fx upstream (≥2x), slowest %.0f%% of median (≥85%%)'
         % (100 * cold / c2, cold / med(up, 'cold MiB/s'), 100 * min(ours.get('cold MiB/s') or [cold]) / cold)),
        ('mount CPU-s per GiB, cold read', ours.get('cold cpu s/GiB', []), up.get('cold cpu s/GiB', []), 2,
         '≤ 4.2'),
        ('peak RSS, cold read (MiB)', ours.get('cold peak RSS MiB', []), up.get('cold peak RSS MiB', []), 0,
         '≤ cache (1024) + 64 + 100'),
        ('cold read, --ram-cache --file-cache 256M (MiB/s)', ours.get('cold_256m MiB/s', []),
         up.get('cold_256m MiB/s', []), 0,
         '%.0f%% of 2-thread ceiling (≥90%%)' % (100 * med(ours, 'cold_256m MiB/s') / c2)),
        ('peak RSS, 256M cache (MiB)', ours.get('cold_256m peak RSS MiB', []),
         up.get('cold_256m peak RSS MiB', []), 0, '≤ 256 + 64 + 100 = 420'),
        ('4 readers, 256 MiB each (MiB/s)', ours.get('readers4 MiB/s', []), up.get('readers4 MiB/s', []), 0,
         '%.0f%% of 4-thread ceiling (≥90%%)' % (100 * med(ours, 'readers4 MiB/s') / c4)),
        ('mount CPU-s per GiB, 4 readers', ours.get('readers4 cpu s/GiB', []), up.get('readers4 cpu s/GiB', []),
         2, ''),
        ('peak RSS, 4 readers (MiB)', ours.get('readers4 peak RSS MiB', []),
         up.get('readers4 peak RSS MiB', []), 0, '≤ 1024 + 4×64 + 100'),
        ('20 ms latency, 200 MiB/s cap (MiB/s)', ours.get('lat20 MiB/s', []), up.get('lat20 MiB/s', []), 0,
         '%.0f%% of the cap' % (100 * med(ours, 'lat20 MiB/s') / 200)),
        ('100 ms latency, 200 MiB/s cap (MiB/s)', ours.get('lat100 MiB/s', []), up.get('lat100 MiB/s', []), 0,
         '%.0f%% of the cap (≥97%%)' % (100 * med(ours, 'lat100 MiB/s') / 200)),
        ('random 4 KiB reads/s', ours.get('random_4k reads/s', []), up.get('random_4k reads/s', []), 0, ''),
        ('random 4 KiB: bytes fetched / bytes of blocks read', ours.get('random_4k fetched/needed', []),
         up.get('random_4k fetched/needed', []), 2, '≤ 1.1'),
    ]
    lines = ['| workload | this mount | upstream 3.2.1 | target |', '|---|---|---|---|']
    for name, a, b, digits, target in rows:
        lines.append('| %s | %s | %s | %s |' % (name, fmt(a, digits), fmt(b, digits), target))
    lines += ['', cpu_table(r)]
    if r.get('raw'):
        lines += ['', LIMIT_BEGIN, limit_tables(r), LIMIT_END]
    table = '\n'.join(lines)
    print(table)
    if not write_doc:
        return table
    chart(r)
    m = out['machine']
    section = '\n'.join([
        BEGIN,
        '## Reads at the machine\'s ceiling (`bench/reads.py`)',
        '',
        '```sh',
        '.venv/bin/pip install -c constraints.txt -e \'.[bench]\'   # matplotlib',
        '.venv/bin/python bench/reads.py %s   # ~8 min' % out.get('args', ''),
        '```',
        '',
        '%s, %d cores, %s, Python %s; %d MiB file in 64 MiB blocks; medians '
        '[min–max] of %d runs (%d for our cold read), ours and upstream alternated; '
        'workloads in the docstring of `bench/reads.py`.' % (
            out['date'], m['cpus'], m['platform'].split('-with')[0], m['python'], out['size_mib'],
            len(keep['ceiling_2']), len(ours.get('cold MiB/s', []))),
        '',
        table,
        '',
        '![read throughput](reads.png)',
        '',
        END,
    ])
    with open(DOC) as f:
        doc = f.read()
    if BEGIN in doc:
        notes = notes_of(doc)
        if notes:
            section = section[:section.index(END)] + notes + '\n\n' + END
        doc = doc[:doc.index(BEGIN)] + section + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip('\n') + '\n\n' + section + '\n'
    with open(DOC, 'w') as f:
        f.write(doc)
    return table


def notes_of(doc):
    """The hand-written notes inside the reads section (between the
    reads-notes markers), kept when the section is written again."""
    if NOTES_BEGIN not in doc:
        return ''
    return doc[doc.index(NOTES_BEGIN):doc.index(NOTES_END) + len(NOTES_END)]


def write_limit_section(out, table):
    """Put a raw-limit run's table in docs/benchmarks.md between the
    reads-limit markers (inside the reads section), leaving the rest."""
    m = out['machine']
    block = '\n'.join([
        LIMIT_BEGIN,
        '### Against the machine\'s raw limit (issue 24)',
        '',
        '```sh',
        '.venv/bin/python bench/reads.py --only limit %s' % out.get('args', ''),
        '```',
        '',
        '%s, %d cores, %s, Python %s; %d MiB file in 64 MiB blocks; %d rounds, every mount fresh, the raw limit, '
        'this mount%s and upstream alternating within each round.' % (
            out['date'], m['cpus'], m['platform'].split('-with')[0], m['python'], out['size_mib'],
            len(out['runs'].get('raw', {}).get('warm_2 MiB/s', [])),
            ', the other checkouts' if out['runs'].get('baseline') else ''),
        '',
        table,
        LIMIT_END])
    with open(DOC) as f:
        doc = f.read()
    if LIMIT_BEGIN in doc:
        doc = doc[:doc.index(LIMIT_BEGIN)] + block + doc[doc.index(LIMIT_END) + len(LIMIT_END):]
    elif END in doc:
        doc = doc[:doc.index(END)] + block + '\n\n' + doc[doc.index(END):]
    else:
        doc = doc.rstrip('\n') + '\n\n' + BEGIN + '\n' + block + '\n' + END + '\n'
    with open(DOC, 'w') as f:
        f.write(doc)


# A run during which other processes kept more than this many cores busy
# (someone else's work on a shared machine) is left out of the quiet view.
QUIET = 0.25


def quiet(d):
    """The runs of `d` (workload -> [values]) during which the rest of the
    machine was quiet (see QUIET): each workload's values filtered by its
    own 'other cores busy' list."""
    out = {}
    for k, xs in d.items():
        workload = k.split(' ', 1)[0]
        others = d.get(workload + ' other cores busy')
        if others is None or len(others) != len(xs):
            out[k] = xs
        else:
            out[k] = [x for x, o in zip(xs, others) if o <= QUIET]
    return out


def limit_tables(r):
    """The quiet runs with their CPU, then every run."""
    return limit_table(r, clean=True) + '\n\n' + limit_table(r, cpu=False)


def limit_table(r, clean=False, cpu=True):
    """Ours and upstream against the machine's raw limit (issue 24): the
    same blocks with `curl | md5sum`, Keep warm unless said otherwise.
    clean: only the runs during which the rest of the machine was quiet."""
    r = {k: quiet(v) if isinstance(v, dict) else v for k, v in r.items()} if clean else r
    raw, ours, up = r.get('raw', {}), r.get('ours', {}), r.get('upstream', {})

    def med(d, k):
        return statistics.median(d[k]) if d.get(k) else float('nan')
    lim = med(raw, 'warm_2 MiB/s')
    lim2 = med(raw, 'md5x2_2 MiB/s')

    def of(d, k, base):
        xs = d.get(k)
        if not xs:
            return '–'
        return '%.0f%% [%.0f–%.0f%%]' % (100 * statistics.median(xs) / base, 100 * min(xs) / base,
                                         100 * max(xs) / base)
    rows = []
    for streams in (1, 2, 4):
        rows.append(('raw limit: `curl \\| md5sum`, %d stream%s, Keep warm' % (streams, 's' if streams > 1 else ''),
                     raw.get('warm_%d MiB/s' % streams, []), '', ''))
    for streams in (1, 2, 4):
        rows.append(('raw limit: `curl \\| md5sum`, %d stream%s, Keep cold' % (streams, 's' if streams > 1 else ''),
                     raw.get('cold_%d MiB/s' % streams, []), '', ''))
    for streams in (1, 2):
        rows.append(('raw limit, two MD5s per byte (`curl \\| tee >(md5sum) \\| md5sum`), %d stream%s'
                     % (streams, 's' if streams > 1 else ''), raw.get('md5x2_%d MiB/s' % streams, []), '', ''))
    slow = (min(ours['warm MiB/s']) / med(ours, 'warm MiB/s')) if ours.get('warm MiB/s') else float('nan')
    rows += [
        ('fresh mount, `dd bs=1M` of the 1 GiB file, %d runs' % len(ours.get('warm MiB/s', [])),
         ours.get('warm MiB/s', []), up.get('warm MiB/s', []),
         'ours %s of 2-stream raw (≥85%%); slowest %.0f%% of median (≥85%%)'
         % (of(ours, 'warm MiB/s', lim), 100 * slow)),
        ('three 150 MiB files sharing blocks, `cat a b c`', ours.get('three MiB/s', []), up.get('three MiB/s', []),
         'ours %s of 2-stream raw (≥75%%)' % of(ours, 'three MiB/s', lim)),
        ('`cat big.bin \\| md5sum` (two MD5s per byte with ours)', ours.get('md5 MiB/s', []),
         up.get('md5 MiB/s', []), 'ours %s of raw with two MD5s, 2 streams (≥75%%)' % of(ours, 'md5 MiB/s', lim2)),
    ]
    lines = ['Against the machine\'s raw limit (MiB/s, medians [min–max]; Keep\'s page cache warm unless said '
             'cold; every mount fresh%s):' % (
                 '; only the runs during which other processes kept at most %.2f cores busy' % QUIET if clean else
                 '; every run, including those another user\'s work on this shared machine slowed'), '',
             '| workload | raw limit / this mount | upstream 3.2.1 | against the raw limit |', '|---|---|---|---|']
    for name, a, b, note in rows:
        lines.append('| %s | %s | %s | %s |' % (name, fmt(a), fmt(b) if b else '', note))
    bases = sorted(k for k in r if k.startswith('baseline') and isinstance(r[k], dict))
    if bases:
        lines += ['', 'Other checkouts, alternating with this one in every round (%s):' % r.get('baselines', ''), '',
                  '| checkout | dd of 1 GiB | three files | cat \\| md5sum |', '|---|---|---|---|']
        lines.append('| this one | %s, %s | %s, %s | %s, %s |' % (
            fmt(ours.get('warm MiB/s', [])), of(ours, 'warm MiB/s', lim), fmt(ours.get('three MiB/s', [])),
            of(ours, 'three MiB/s', lim), fmt(ours.get('md5 MiB/s', [])), of(ours, 'md5 MiB/s', lim2)))
        for b in bases:
            d = r[b]
            lines.append('| %s | %s, %s | %s, %s | %s, %s |' % (
                b, fmt(d.get('warm MiB/s', [])), of(d, 'warm MiB/s', lim), fmt(d.get('three MiB/s', [])),
                of(d, 'three MiB/s', lim), fmt(d.get('md5 MiB/s', [])), of(d, 'md5 MiB/s', lim2)))

    if not cpu:
        return '\n'.join(lines)

    # CPU-seconds per GiB, by thread or process.
    def cpu_row(label, d, prefix, keys):
        return '| %s | %s |' % (label, ', '.join('%s %.2f' % (name, statistics.median(d[prefix + k]))
                                                 for name, k in keys if d.get(prefix + k)))
    lines += ['', 'CPU-seconds per GiB by thread or process (medians):', '', '| workload | CPU-s/GiB |',
              '|---|---|']
    for key, label in (('warm_2 ', 'raw limit, 2 streams'), ('md5x2_2 ', 'raw limit, two MD5s, 2 streams')):
        lines.append(cpu_row(label, raw, key, [('curl (receive)', 'curl s/GiB'), ('tee', 'tee s/GiB'),
                                               ('md5sum', 'md5sum s/GiB'), ('Keep server', 'server cpu s/GiB'),
                                               ('all', 'all cpu s/GiB'), ('cores busy', 'cores busy'),
                                               ('other processes, cores', 'other cores busy')]))
    for impl, d in [('this mount', ours)] + [(b, r[b]) for b in bases] + [('upstream', up)]:
        for key, label in (('warm ', 'dd of 1 GiB'), ('three ', 'three files'), ('md5 ', 'cat \\| md5sum')):
            threads = sorted({k[len(key) + 7:-6] for k in d if k.startswith(key + 'thread ')})
            keys = [(t, 'thread %s s/GiB' % t) for t in threads] + [
                ('Keep server', 'server cpu s/GiB'), ('reader cat', 'reader cat s/GiB'),
                ('reader md5sum', 'reader md5sum s/GiB'), ('readers all', 'reader cpu s/GiB'),
                ('all', 'all cpu s/GiB'), ('cores busy', 'cores busy'), ('other processes, cores', 'other cores busy')]
            if d.get(key + 'MiB/s'):
                lines.append(cpu_row('%s, %s' % (impl, label), d, key, keys))
    return '\n'.join(lines)


def cpu_table(r):
    """Where the machine's CPU went, per GiB read (medians): the cold read
    is CPU-bound when both cores are busy, and then its limit is
    cores / (CPU-seconds per GiB of everything involved)."""
    def m(d, k, digits=2):
        xs = d.get(k)
        return ('%%.%df' % digits) % statistics.median(xs) if xs else '–'

    def limit(d, k):
        xs = d.get(k)
        return '%.0f' % (1024.0 * os.cpu_count() / statistics.median(xs)) if xs else '–'
    keep = r['keep']
    lines = ['Where the CPU goes (CPU-seconds per GiB, medians; "fetch" is the mount\'s keep-fetch threads: '
             'receiving and MD5; "serve" the rest of the mount: llfuse\'s loop, the read handler, the kernel\'s '
             'copies on their behalf; readers are dd, or the KeepClient threads for the ceilings):', '',
             '| workload | mount fetch (of which sys) | mount serve (of which sys) | mount user / sys | Keep server | readers | all | cores busy '
             '| CPU-bound limit (MiB/s) |', '|---|---|---|---|---|---|---|---|---|']
    for threads in (2, 4):
        pre = 'ceiling_%d ' % threads
        lines.append('| KeepClient, %d threads | – | – | – | %s | %s | %s | %s | %s |' % (
            threads, m(keep, pre + 'server cpu s/GiB'), m(keep, pre + 'reader cpu s/GiB'),
            m(keep, pre + 'all cpu s/GiB'), m(keep, pre + 'cores busy', 1), limit(keep, pre + 'all cpu s/GiB')))
    for impl, label in (('ours', 'this mount, cold read'), ('upstream', 'upstream, cold read')):
        d = r.get(impl, {})
        if not d.get('cold MiB/s'):
            continue
        lines.append('| %s | %s | %s | %s / %s | %s | %s | %s | %s | %s |' % (
            label, m(d, 'cold fetch cpu s/GiB') + ' (%s)' % m(d, 'cold fetch sys s/GiB'),
            m(d, 'cold serve cpu s/GiB') + ' (%s)' % m(d, 'cold serve sys s/GiB'), m(d, 'cold user s/GiB'),
            m(d, 'cold sys s/GiB'), m(d, 'cold server cpu s/GiB'), m(d, 'cold reader cpu s/GiB'),
            m(d, 'cold all cpu s/GiB'), m(d, 'cold cores busy', 1), limit(d, 'cold all cpu s/GiB')))
    prof = r.get('profile_gil')
    if prof:
        lines += ['', 'GIL during one cold read of this mount (`py-spy record --gil`): held %.0f%% of the time '
                  '(%d samples, %.0f MiB/s under the profiler); of that: %s.' % (
                      100 * prof['gil held'], prof['samples'], prof['MiB/s'],
                      ', '.join('%s %.0f%%' % (k, 100 * v) for k, v in prof['shares'].items()))]
    return '\n'.join(lines)


def chart(r):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = [('cold MiB/s', 'cold'), ('cold_256m MiB/s', 'cold, 256M cache'), ('readers4 MiB/s', '4 readers'),
            ('lat20 MiB/s', '20 ms + cap'), ('lat100 MiB/s', '100 ms + cap')]
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.38
    for n, (impl, color) in enumerate((('ours', 'tab:blue'), ('upstream', 'tab:gray'))):
        meds, los, his = [], [], []
        for k, _label in keys:
            xs = r.get(impl, {}).get(k) or [0]
            m, lo, hi = stat(xs)
            meds.append(m)
            los.append(m - lo)
            his.append(hi - m)
        xs = [i + (n - 0.5) * width for i in range(len(keys))]
        ax.bar(xs, meds, width, yerr=[los, his], capsize=3, color=color,
               label='this mount' if impl == 'ours' else 'upstream 3.2.1')
    for threads, style in ((2, '--'), (4, ':')):
        ax.axhline(statistics.median(r['keep']['ceiling_%d' % threads]), linestyle=style, color='tab:red',
                   label='KeepClient, %d threads' % threads)
    ax.set_xticks(range(len(keys)))
    ax.set_xticklabels([label for _k, label in keys])
    ax.set_ylabel('MiB/s (median, min–max)')
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(CHART, dpi=90)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--size-mib', type=int, default=1024)
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--cold-runs', type=int, default=8)
    p.add_argument('--upstream-cold-runs', type=int, default=3,
                   help='cold runs of upstream (alternating with ours until they are done)')
    p.add_argument('--random-reads', type=int, default=200)
    p.add_argument('--upstream-limit-runs', type=int, default=3,
                   help='rounds of the raw-limit comparison upstream takes part in (the first ones)')
    p.add_argument('--limit-runs', type=int, default=5,
                   help='rounds of the raw-limit comparison (Keep warm: the raw limit, a fresh mount\'s dd, three '
                        'files, cat | md5sum), ours and upstream alternating')
    p.add_argument('--no-upstream', action='store_true')
    p.add_argument('--baseline', metavar='CHECKOUT', action='append',
                   help='also run the arv-mount of another checkout (its bin/arv-mount), alternating with ours '
                        '(repeatable: baseline, baseline2, ...)')
    p.add_argument('--only', metavar='LIST',
                   help='comma-separated subset of: ceilings, limit (the raw limit and Keep-warm reads), cold, '
                        'others (256M cache, 4 readers, random), latency, profile; for quick checks, not for the docs')
    p.add_argument('--profile', action='store_true',
                   help='also profile one cold read of ours with py-spy (where the CPU goes, and the GIL)')
    p.add_argument('--no-doc', action='store_true', help='print the table, leave docs/ alone')
    p.add_argument('--report', metavar='JSON', help='only write the table and chart from a results file')
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'reads.json'))
    args = p.parse_args()
    if args.report:
        with open(args.report) as f:
            out = json.load(f)
    else:
        out = run(args)
    report(out, write_doc=not args.no_doc)


if __name__ == '__main__':
    main()
