"""arv-mount benchmarks: this mount vs upstream arv-mount 3.2.1 vs raw Keep,
on the same data in one run against the local cluster.

    .venv/bin/python bench/run.py [--size-mib 512] [--runs 3] [--small-files 2000]

Workloads (keep_raw in bench_keep_raw, the others in bench_mount):
  keep_raw      the ceiling: every block of the big file fetched with the
                SDK's KeepClient (MD5-checked, as a mount must), no cache
  seq_cold      read big.bin with 1 MiB reads on a fresh mount, nothing cached
  seq_warm      the same file read again on the same mount (kernel page
                cache / block cache); then an untimed pass checks its md5
  random_4k     500 random 4 KiB preads on a fresh mount
  list_tree     `ls -lR` of a collection with many small files, fresh mount
  small_files   read every small file of that collection, fresh mount
Each is run --runs times per implementation; the table shows medians and
the ratio to upstream.  Results go to bench/results/latest.json with the
machine and command that produced them.
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


def make_data(cluster, size_mib, small_files):
    """One collection with a big pseudo-random file, one with many small
    files; returns their uuids and the big file's md5."""
    import arvados.collection
    api = cluster.api('alice')
    rng = random.Random(42)
    big = arvados.collection.Collection(api_client=api)
    h = hashlib.md5()
    with big.open('big.bin', 'wb') as f:
        chunk = rng.randbytes(MiB)
        for i in range(size_mib):
            # Vary every MiB so no two blocks dedupe.
            piece = i.to_bytes(8, 'little') + chunk[8:]
            f.write(piece)
            h.update(piece)
    big.save_new(name='bench big file')
    small = arvados.collection.Collection(api_client=api)
    for i in range(small_files):
        with small.open('d%02d/file%05d.txt' % (i % 50, i), 'wb') as f:
            f.write(('small file %d\n' % i).encode() * 40)
    small.save_new(name='bench small files')
    return {'big': big.manifest_locator(), 'big_md5': h.hexdigest(), 'small': small.manifest_locator(),
            'big_manifest': big.manifest_text()}


class MountProcess(object):
    """A mount of one collection by one implementation, for one measurement."""

    def __init__(self, command, env, collection):
        self.path = tempfile.mkdtemp(prefix='bench-mnt-')
        self.cache = tempfile.mkdtemp(prefix='bench-cache-')
        env = dict(env, XDG_CACHE_HOME=self.cache, HOME=self.cache)
        self.proc = subprocess.Popen(command + ['--foreground', '--collection', collection, self.path],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while not mountpoint.is_mounted(self.path):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError('mount failed: %s' % self.proc.stderr.read().decode()[-2000:])
            time.sleep(0.02)

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        if mountpoint.is_mounted(self.path):
            mountpoint.unmount(self.path)
        shutil.rmtree(self.cache, ignore_errors=True)
        os.rmdir(self.path)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def read_all(path, bufsize=MiB, digest=True):
    """Read a whole file; its md5 if `digest` (md5 runs at ~600 MB/s here,
    so a warm read that should go at page-cache speed must skip it)."""
    h = hashlib.md5() if digest else None
    with open(path, 'rb', buffering=0) as f:
        while True:
            b = f.read(bufsize)
            if not b:
                break
            if h is not None:
                h.update(b)
    return h.hexdigest() if h is not None else None


def bench_mount(impl_cmd, env, data, size_mib, runs):
    out = {}
    big_bytes = size_mib * MiB

    seq_cold, seq_warm = [], []
    for _ in range(runs):
        m = MountProcess(impl_cmd, env, data['big'])
        try:
            path = os.path.join(m.path, 'big.bin')
            # Timed reads skip md5 (it runs at ~600 MB/s on one of the two
            # cores and would cap and perturb what is measured); an untimed
            # third pass checks every byte.
            seq_cold.append(big_bytes / timed(lambda: read_all(path, digest=False)) / MiB)
            seq_warm.append(big_bytes / timed(lambda: read_all(path, digest=False)) / MiB)
            if read_all(path) != data['big_md5']:
                raise RuntimeError('WRONG BYTES from %s' % impl_cmd)
        finally:
            m.close()
    out['seq_cold MB/s'] = seq_cold
    out['seq_warm MB/s'] = seq_warm

    rnd = []
    for _ in range(runs):
        m = MountProcess(impl_cmd, env, data['big'])
        try:
            path = os.path.join(m.path, 'big.bin')
            rng = random.Random(7)
            offsets = [rng.randrange(0, big_bytes - 4096) for _ in range(500)]

            def reads():
                fd = os.open(path, os.O_RDONLY)
                try:
                    for off in offsets:
                        os.pread(fd, 4096, off)
                finally:
                    os.close(fd)
            rnd.append(500 / timed(reads))
        finally:
            m.close()
    out['random_4k reads/s'] = rnd

    lst, small = [], []
    for _ in range(runs):
        m = MountProcess(impl_cmd, env, data['small'])
        try:
            lst.append(timed(lambda: subprocess.run(['ls', '-lR', m.path], stdout=subprocess.DEVNULL, check=True)))

            def read_small():
                for dirpath, _d, files in os.walk(m.path):
                    for name in files:
                        with open(os.path.join(dirpath, name), 'rb') as f:
                            f.read()
            small.append(timed(read_small))
        finally:
            m.close()
    out['list_tree s'] = lst
    out['small_files s'] = small
    return out


def bench_keep_raw(cluster, data, runs):
    """Every block of the big file through a fresh, cacheless KeepClient."""
    import arvados
    import arvados.keep
    from arvados_fuse.blocks.manifest import parse
    api = cluster.api('alice')
    rec = api.collections().get(uuid=data['big']).execute()
    blocks = parse(rec['manifest_text']).blocks
    total = sum(int(b.split('+')[1]) for b in blocks)
    rates = []
    for _ in range(runs):
        keep = arvados.keep.KeepClient(api_client=api, block_cache=arvados.keep.KeepBlockCache(cache_max=64 * MiB))
        t = time.perf_counter()
        for b in blocks:
            keep.get(b)
            keep.block_cache.cap_cache()
        rates.append(total / (time.perf_counter() - t) / MiB)
    return {'keep_raw MB/s': rates}


def median(xs):
    return statistics.median(xs) if xs else float('nan')


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--size-mib', type=int, default=512)
    p.add_argument('--runs', type=int, default=3)
    p.add_argument('--small-files', type=int, default=2000)
    p.add_argument('--no-upstream', action='store_true')
    p.add_argument('--out', default=os.path.join(REPO, 'bench', 'results', 'latest.json'))
    args = p.parse_args()

    impls = {'this': [sys.executable, os.path.join(REPO, 'bin', 'arv-mount')]}
    if not args.no_upstream:
        impls['upstream'] = [upstream_arv_mount()]

    workdir = tempfile.mkdtemp(prefix='bench-cluster-')
    cluster = LocalCluster(workdir)
    cluster.start()
    try:
        env = cluster.full_env('alice')
        t = time.time()
        data = make_data(cluster, args.size_mib, args.small_files)
        print('data ready in %.1fs' % (time.time() - t), file=sys.stderr)
        results = {'keep': bench_keep_raw(cluster, data, args.runs)}
        for name, cmd in impls.items():
            print('benchmarking %s ...' % name, file=sys.stderr)
            results[name] = bench_mount(cmd, env, data, args.size_mib, args.runs)
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    rows = [('keep_raw MB/s', results['keep']['keep_raw MB/s'], None)]
    for metric in results['this']:
        rows.append((metric, results['this'][metric], results.get('upstream', {}).get(metric)))
    print('\n%-20s %12s %12s %10s' % ('workload', 'this', 'upstream', 'ratio'))
    for metric, ours, theirs in rows:
        m_ours = median(ours)
        if theirs is None:
            print('%-20s %12.1f %12s %10s' % (metric, m_ours, '-', '-'))
            continue
        m_theirs = median(theirs)
        # Ratio > 1 means this mount is better (faster rate, or less time).
        ratio = (m_ours / m_theirs) if 'MB/s' in metric or '/s' in metric else (m_theirs / m_ours)
        print('%-20s %12.2f %12.2f %9.2fx' % (metric, m_ours, m_theirs, ratio))
    print('(medians of %d runs; %d MiB file, %d small files; ratio > 1: this mount is better)'
          % (args.runs, args.size_mib, args.small_files))

    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump({'command': ' '.join(sys.argv), 'date': time.strftime('%Y-%m-%d %H:%M:%S'),
                   'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                               'python': platform.python_version()},
                   'medians': {impl: {k: median(v) for k, v in r.items()} for impl, r in results.items()},
                   'runs': results}, f, indent=2, sort_keys=True)


if __name__ == '__main__':
    main()
