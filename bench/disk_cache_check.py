"""The cost of checking disk-cache blocks against their MD5 (issue 23): a
file of BLOCKS 64 MiB blocks is read once from Keep into --disk-cache, then
read with 1 MiB reads on a fresh mount (each block found on disk, checked
before its first use) three times; prints MiB/s and the median.

    .venv/bin/python bench/disk_cache_check.py [--blocks 8] [--root CHECKOUT]

--root: the checkout whose arvados_fuse is mounted (default this one), to
compare with another branch.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_all(path):
    start, n = time.monotonic(), 0
    with open(path, 'rb', buffering=0) as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            n += len(chunk)
    return n / (time.monotonic() - start) / (1 << 20)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--blocks', type=int, default=8)
    ap.add_argument('--root', default=HERE)
    ap.add_argument('--runs', type=int, default=3)
    args = ap.parse_args()
    sys.path[:0] = [args.root, os.path.join(args.root, 'tests')]
    import arvados
    from localcluster.testing import LocalCluster
    from mountutil import mounted
    with tempfile.TemporaryDirectory() as work, LocalCluster(os.path.join(work, 'cluster')) as c:
        api = c.api('alice')
        keep = arvados.KeepClient(api_client=api, num_retries=2)
        locs = [keep.put(os.urandom(64 << 20)) for _ in range(args.blocks)]
        coll = api.collections().create(body={'collection': {
            'name': 'bench', 'manifest_text': '. %s 0:%d:big.bin\n' % (' '.join(locs), args.blocks << 26)}}).execute()
        cache = os.path.join(work, 'cache')
        mount_args = ('--collection', coll['uuid'], '--disk-cache', '--disk-cache-dir', cache,
                      '--file-cache', str(2 << 30))
        with mounted(c.full_env('alice'), *mount_args) as m:
            cold = read_all(m.join('big.bin'))
        warm = []
        for _ in range(args.runs):
            with mounted(c.full_env('alice'), *mount_args) as m:
                warm.append(read_all(m.join('big.bin')))
        print('%s: %d MiB, cold (from Keep) %.0f MiB/s; from the disk cache on a fresh mount: %s, median %.0f MiB/s'
              % (args.root, args.blocks * 64, cold, ' '.join('%.0f' % w for w in warm), statistics.median(warm)))


if __name__ == '__main__':
    main()
