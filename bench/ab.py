"""Two or more checkouts of arv-mount on one walk, alternating: the way to
tell a change from this machine's drift, which moves a walk's time by a
quarter within the hour.

    .venv/bin/python bench/ab.py CHECKOUT [CHECKOUT ...] [--shape deep]
        [--files 100000] [--rounds 2] [--walk 'ls -lR > /dev/null']

A collection of the shape (bench/shapes.py) is made on a fresh local
cluster; each round mounts every checkout in turn (its bin/arv-mount,
`--collection UUID`), each on a fresh mount made after dropping the page
cache, dentries and inodes, and runs the walk twice: cold, as the first
operation on the mount, then warm.  Prints the daemon's RSS once mounted
(the collection loaded: `--collection` loads it at start) and the peak of
that load, wall seconds, the daemon's CPU-seconds and RSS after each walk,
and the peak RSS after both, one line per mount.  Make the checkouts with
`git worktree add /tmp/base REV`.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import scale  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('checkouts', nargs='+')
    scale.walk_arguments(p, 'deep')
    a = p.parse_args()
    with scale.shape_cluster('ab-cluster-', a.shape, a.files) as (uuid, _manifest, count, env):
        print('%s, %d files; %s: cold then warm, wall s and daemon CPU s' % (a.shape, count, a.walk), flush=True)
        for r in range(a.rounds):
            for checkout in a.checkouts:
                command = [sys.executable, os.path.join(os.path.abspath(checkout), 'bin', 'arv-mount')]
                scale.drop_caches()
                m = scale.Mount(scale.env_cmd(env, lambda path, c=command: c + ['--foreground', '--collection',
                                                                               uuid, path]))
                try:
                    # The load's peak: nothing but the load ran yet.
                    out = ['loaded: RSS %.1f MiB, peak %.1f' % (scale.rss_mib(m.proc.pid), m.rss())]
                    for label in ('cold', 'warm'):
                        t, cpu = time.perf_counter(), m.cpu()
                        subprocess.run(a.walk, shell=True, cwd=m.path, check=True)
                        out.append('%s %.2f s %.2f cpu, RSS %.1f MiB' % (label, time.perf_counter() - t, m.cpu() - cpu,
                                                                    scale.rss_mib(m.proc.pid)))
                    out.append('peak RSS %.1f MiB' % m.rss())
                finally:
                    m.close()
                print('round %d  %-30s %s' % (r + 1, checkout, '   '.join(out)), flush=True)


if __name__ == '__main__':
    main()
