"""Where the daemon's CPU goes on a walk: each request handler's thread
time summed inside the daemon, ours and the floor's (bench/floorfs.py),
and the /proc counters of the whole process around the walk (user and
system CPU, page faults, context switches).

    .venv/bin/python bench/handler_times.py [--shape packed] [--files 100000]
        [--walk 'ls -lR > /dev/null'] [--rounds 2]

Each round mounts ours then the floor on the same collection, after
dropping the page cache, dentries and inodes; the walk is the first
operation on the mount.  The handlers are wrapped by this script (it is
also the daemon's launcher: `--serve ours|floor ...`), which adds two clock
reads to every request of both, so compare the two, not the absolute
figures with bench/scale.py's.  A handler's time is its thread's CPU time,
so time spent waiting for the lock or the network is not in it.
"""

import argparse
import atexit
import collections
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

HANDLERS = ('lookup', 'getattr', 'opendir', 'readdir', 'releasedir', 'getxattr', 'forget')


def _timed(fn, name, totals):
    clock = time.thread_time

    def timed(*args, **kwargs):
        start = clock()
        try:
            result = fn(*args, **kwargs)
            if name == 'readdir':
                result = list(result)  # a generator: its work is done when consumed
            return result
        finally:
            total = totals[name]
            total[0] += 1
            total[1] += clock() - start
    return timed


def serve(which, argv):
    """Run the daemon (ours: bin/arv-mount's main; the floor: floorfs.main)
    with every handler timed; the totals go to $HANDLER_TIMES at exit."""
    totals = collections.defaultdict(lambda: [0, 0.0])
    atexit.register(lambda: json.dump(totals, open(os.environ['HANDLER_TIMES'], 'w')))
    sys.argv = [which] + argv
    if which == 'floor':
        sys.path.insert(0, os.path.join(REPO, 'bench'))
        import floorfs
        for name in HANDLERS:
            if hasattr(floorfs.FloorFS, name):
                setattr(floorfs.FloorFS, name, _timed(getattr(floorfs.FloorFS, name), name, totals))
        floorfs.main()
        return 0
    from arvados_fuse import rowhandlers
    from arvados_fuse.command import main
    from arvados_fuse.instrumented import InstrumentedOperations
    # The lookup, opendir and readdir the kernel calls are the ones these
    # make per instance (rowhandlers.py); the others, the class's.
    made = {'lookup': 'lookup_handler', 'opendir': 'opendir_handler', 'readdir': 'readdir_handler'}

    def timed_maker(make, name):
        return lambda ops, general: _timed(make(ops, general), name, totals)
    for name, maker in made.items():
        setattr(rowhandlers, maker, timed_maker(getattr(rowhandlers, maker), name))
    for name in HANDLERS:
        if name not in made:
            setattr(InstrumentedOperations, name, _timed(getattr(InstrumentedOperations, name), name, totals))
    return main()


def _proc(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    out = {'user s': int(fields[11]) / 100.0, 'system s': int(fields[12]) / 100.0, 'page faults': int(fields[7])}
    switches = 0
    for task in os.listdir('/proc/%d/task' % pid):
        try:
            with open('/proc/%d/task/%s/status' % (pid, task)) as f:
                switches += sum(int(line.split()[1]) for line in f if 'ctxt_switches' in line)
        except OSError:
            pass  # a thread that ended
    out['context switches'] = switches
    return out


def main():
    if len(sys.argv) > 2 and sys.argv[1] == '--serve':
        sys.exit(serve(sys.argv[2], sys.argv[3:]))
    from bench import scale
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    scale.walk_arguments(p, 'packed')
    a = p.parse_args()
    with scale.shape_cluster('handler-times-', a.shape, a.files) as (uuid, manifest, count, env):
        me = [sys.executable, os.path.abspath(__file__), '--serve']
        print('%s, %d files, %s; seconds of thread time (requests)' % (a.shape, count, a.walk), flush=True)
        for r in range(a.rounds):
            for which in ('ours', 'floor'):
                out = os.path.join(os.path.dirname(manifest), 'times-%s.json' % which)  # the work directory
                if which == 'ours':
                    command = scale.env_cmd(dict(env, HANDLER_TIMES=out), lambda path: me + [
                        'ours', '--foreground', '--collection', uuid, path])
                else:
                    command = scale.env_cmd(dict(os.environ, HANDLER_TIMES=out), lambda path: me + [
                        'floor', path, '--manifest', manifest])
                scale.drop_caches()
                m = scale.Mount(command)
                try:
                    before = _proc(m.proc.pid)
                    t = time.perf_counter()
                    subprocess.run(a.walk, shell=True, cwd=m.path, check=True)
                    wall = time.perf_counter() - t
                    after = _proc(m.proc.pid)
                finally:
                    m.close()
                with open(out) as f:
                    totals = json.load(f)
                counters = '  '.join('%s %s' % (k, round(after[k] - before[k], 2)) for k in after)
                handlers = '  '.join('%s %.3f (%d)' % (name, totals[name][1], totals[name][0])
                                     for name in HANDLERS if name in totals)
                print('round %d %-5s wall %.2f  %s\n               %s' % (r + 1, which, wall, counters, handlers),
                      flush=True)


if __name__ == '__main__':
    main()
