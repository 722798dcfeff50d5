"""Python cost of our request handlers against the floor's, in process: no
kernel, no FUSE thread switches, so the figures are steady enough to
compare two versions of the code (the daemon pays three to four times
these, cold caches and context switches included, its handlers' thread
time says; bench/scale.py measures the daemon).

    .venv/bin/python bench/handlers.py [--shapes deep,combined] [--files 100000] [--runs 5]

For each shape (bench/shapes.py), normalized as the local cluster's API
server stores it, a collection directory is loaded from a fake API (tests/fakes.py) into a fresh `Operations`, then walked as `ls
-lR` asks: opendir, readdir, releasedir of every directory, lookup of every
name.  The first walk builds the directories (cold), the second finds them
built (warm).  The floor (bench/floorfs.py) answers the same tree from
dicts.  Prints medians [min-max] of --runs, in microseconds per directory
(opendir+readdir+releasedir) and per lookup.  `--load`: the load alone;
`--steps`: microseconds per request of the cold walk by step (the first
lookup of a directory apart); `--traced`: Python memory (tracemalloc; the load's peak counts the fake
API's JSON encoding of the record, which a real response does not make);
`--pools`: how much of pymalloc's
memory is free blocks it cannot give back (the daemon's RSS above its
objects).
"""

import argparse
import gc
import os
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, 'tests'))
sys.path.insert(0, os.path.join(REPO, 'bench'))

import llfuse  # noqa: E402

import floorfs  # noqa: E402
import shapes  # noqa: E402
from fakes import FakeApi  # noqa: E402
from localcluster.manifests import normalize  # noqa: E402

UUID = 'zzzzz-4zz18-aaaaaaaaaaaaaaa'


def walk(ops, root):
    """(seconds in directory requests, in lookups, directories, lookups)."""
    s = steps(ops, root)
    return (s['opendir'][0] + s['readdir'][0], s['first lookup'][0] + s['other lookups'][0], s['opendir'][1],
            s['first lookup'][1] + s['other lookups'][1])


def steps(ops, root):
    """The cold walk of `walk`, each request timed alone: {step: (seconds,
    count)} for opendir, readdir (with its releasedir), the first lookup
    in a directory (ours reads the directory's segments there) and the
    other lookups."""
    out = {'opendir': [0.0, 0], 'readdir': [0.0, 0], 'first lookup': [0.0, 0], 'other lookups': [0.0, 0]}
    clock = time.perf_counter
    stack = [root]
    while stack:
        ino = stack.pop()
        t0 = clock()
        fh = ops.opendir(ino, None)
        t1 = clock()
        entries = list(ops.readdir(fh, 0))
        try:
            ops.releasedir(fh)
        except llfuse.FUSEError:
            pass
        t2 = clock()
        out['opendir'][0] += t1 - t0
        out['readdir'][0] += t2 - t1
        out['opendir'][1] += 1
        out['readdir'][1] += 1
        step = 'first lookup'
        for name, _attr, _off in entries:
            if name in (b'.', b'..'):
                continue
            t0 = clock()
            attr = ops.lookup(ino, name, None)
            took = clock() - t0
            out[step][0] += took
            out[step][1] += 1
            step = 'other lookups'
            if attr.st_mode & 0o040000:
                stack.append(attr.st_ino)
    return out


def ours(text):
    from arvados_fuse.fs.collection import CollectionDirectory
    from arvados_fuse.fs.inodes import ROOT_INODE
    from arvados_fuse.fs.lock import PlainLock
    from arvados_fuse.fs.model import Model
    from arvados_fuse.instrumented import InstrumentedOperations
    api = FakeApi()
    api.add_collection({'uuid': UUID, 'portable_data_hash': 'a' * 32 + '+1', 'manifest_text': text,
                        'modified_at': '2024-01-01T00:00:00Z'})
    model = Model(PlainLock(), refresh_time=15)
    ops = InstrumentedOperations(0, 0, model=model)  # what the command serves
    root = model.inodes.add_entry(CollectionDirectory(ROOT_INODE, model.inodes, api, 0, UUID))
    root.update()
    return ops, ROOT_INODE


def floor(text):
    return floorfs.FloorFS(floorfs.from_manifest(text)), llfuse.ROOT_INODE


def measure(make, text, runs):
    cold, warm = [], []
    for _ in range(runs):
        gc.collect()
        ops, root = make(text)
        cold.append(walk(ops, root))
        warm.append(walk(ops, root))
        del ops
    return cold, warm


def per(samples, index, count_index):
    return [1e6 * s[index] / max(s[count_index], 1) for s in samples]


def pools():
    """pymalloc's state, from sys._debugmallocstats (written to fd 2)."""
    read, write = os.pipe()
    saved = os.dup(2)
    try:
        os.dup2(write, 2)
        sys._debugmallocstats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(write)
    with os.fdopen(read) as f:
        out = f.read()
    totals, free_by_class = {}, []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) == 5 and fields[0].isdigit():  # class, size, pools, blocks in use, free blocks
            free_by_class.append((int(fields[1]) * int(fields[4]), int(fields[1])))
        for key in ('# arenas allocated current', '# bytes in allocated blocks', '# bytes in available blocks'):
            if line.startswith(key):
                totals[key] = int(line.split('=')[-1].replace(',', ''))
    free_by_class.sort(reverse=True)
    return '%d arenas, %.1f MB in blocks, %.1f MB free in blocks (the most in blocks of %s)' % (
        totals.get('# arenas allocated current', 0), totals.get('# bytes in allocated blocks', 0) / 1e6,
        totals.get('# bytes in available blocks', 0) / 1e6,
        ', '.join('%d bytes: %.1f MB' % (size, free / 1e6) for free, size in free_by_class[:3]))


def fmt(xs):
    return '%6.2f [%.2f-%.2f]' % (statistics.median(xs), min(xs), max(xs))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--shapes', default='deep,combined,spread')
    p.add_argument('--files', type=int, default=100000)
    p.add_argument('--runs', type=int, default=5)
    p.add_argument('--traced', action='store_true',
                   help='instead: Python memory of ours (tracemalloc), after the load and the cold walk, and its peak')
    p.add_argument('--pools', action='store_true',
                   help="instead: pymalloc's arenas, bytes in blocks and free bytes in blocks after the load and after "
                        'the cold walk, with the size classes holding the most free bytes (sys._debugmallocstats)')
    p.add_argument('--load', action='store_true',
                   help='instead: seconds to load the collection (fetch from the fake API, parse), ours only')
    p.add_argument('--steps', action='store_true',
                   help='instead: us per request of the cold walk, by step (opendir, readdir, the first lookup of '
                        'each directory, the others), ours and the floor')
    a = p.parse_args()
    if a.steps:
        print('%-10s %-6s %-22s %-22s %-22s %-22s %s' % ('shape', 'impl', 'opendir', 'readdir', 'first lookup',
                                                        'other lookups', 'walk ms'))
        for shape in a.shapes.split(','):
            text = normalize(shapes.make(shape, a.files))[0]
            for name, make in (('this', ours), ('floor', floor)):
                runs = []
                for _ in range(a.runs):
                    gc.collect()
                    ops, root = make(text)
                    runs.append(steps(ops, root))
                    del ops
                cells = [fmt([1e6 * r[k][0] / max(r[k][1], 1) for r in runs]) for k in runs[0]]
                total = fmt([1e3 * sum(v[0] for v in r.values()) for r in runs])
                print('%-10s %-6s %-22s %-22s %-22s %-22s %s' % ((shape, name) + tuple(cells) + (total,)), flush=True)
        return
    if a.load:
        for shape in a.shapes.split(','):
            text = normalize(shapes.make(shape, a.files))[0]
            took = []
            for _ in range(a.runs):
                gc.collect()
                start = time.perf_counter()
                ops, _root = ours(text)
                took.append(time.perf_counter() - start)
                del ops
            print('%-10s %d files: load %s s' % (shape, a.files, fmt(took)), flush=True)
        return
    if a.pools:
        for shape in a.shapes.split(','):
            text = normalize(shapes.make(shape, a.files))[0]
            ops, root = ours(text)
            del text
            gc.collect()
            print('%-10s %d files, after the load: %s' % (shape, a.files, pools()), flush=True)
            walk(ops, root)
            gc.collect()
            print('%-10s %d files, after the walk: %s' % (shape, a.files, pools()), flush=True)
            del ops, root
        return
    if a.traced:
        import tracemalloc
        for shape in a.shapes.split(','):
            text = normalize(shapes.make(shape, a.files))[0]
            gc.collect()
            tracemalloc.start()
            ops, root = ours(text)
            gc.collect()
            loaded, load_peak = tracemalloc.get_traced_memory()
            walk(ops, root)
            gc.collect()
            now, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print('%-10s %d files: %.1f MiB after the load (its peak %.1f), %.1f MiB after the walk, %.1f MiB at the '
                  'peak' % (shape, a.files, loaded / 2**20, load_peak / 2**20, now / 2**20, peak / 2**20), flush=True)
            del ops
        return
    print('%-10s %-6s %-5s %-22s %-22s' % ('shape', 'impl', 'walk', 'us per directory', 'us per lookup'))
    for shape in a.shapes.split(','):
        text = normalize(shapes.make(shape, a.files))[0]  # as the API returns it
        for name, make in (('this', ours), ('floor', floor)):
            cold, warm = measure(make, text, a.runs)
            for label, samples in (('cold', cold), ('warm', warm)):
                print('%-10s %-6s %-5s %-22s %-22s' % (shape, name, label, fmt(per(samples, 0, 2)),
                                                       fmt(per(samples, 1, 3))), flush=True)


if __name__ == '__main__':
    main()
