"""What loading one big collection holds at its peak, stage by stage, in
process, from the local cluster over real HTTPS (no kernel, no mount):
the allocations tracemalloc sees above what was held before, in MiB.

    .venv/bin/python bench/loadpeak.py [--shape combined] [--files 1000000]

Stages: the record's GET the plain way (body, text, record), the lazy
parse, the expansion of big directories; the record's GET as the mount
makes it (the manifest packed from the body a piece at a time:
api/bigfield.py); the whole `CollectionDirectory.fetch` (that GET, the
parse and expansion), then `apply` (the tree made).  The daemon's peak RSS (bench/scale.py) is this
peak plus the interpreter and libraries (~45 MiB) and what the allocator
keeps.
"""

import argparse
import gc
import os
import shutil
import sys
import tempfile
import time
import tracemalloc

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench import scale, shapes  # noqa: E402
from localcluster.testing import LocalCluster  # noqa: E402

MIB = float(1 << 20)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--shape', default='combined', choices=shapes.SHAPES)
    p.add_argument('--files', type=int, default=1000000)
    a = p.parse_args()
    workdir = tempfile.mkdtemp(prefix='loadpeak-')
    cluster = LocalCluster(workdir)
    cluster.start()
    try:
        admin, api = cluster.api('admin'), cluster.api('alice')
        home = api.users().current().execute()['uuid']
        t = time.time()
        uuid, _path, count = scale.make_shape(admin, home, a.shape, a.files, workdir)
        print('%s: %s files, made in %.1f s' % (a.shape, count, time.time() - t))

        from arvados_fuse.api.safeapi import SafeApi
        from arvados_fuse.blocks import manifest
        from arvados_fuse.fs.collection import EXPAND_AT_LOAD_BYTES, CollectionDirectory, PackedText
        from arvados_fuse.fs.inodes import ROOT_INODE, Inodes
        client = SafeApi(dict(cluster.env('alice')))
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        rows = []

        def stage(name):
            cur, peak = tracemalloc.get_traced_memory()
            rows.append((name, (cur - base) / MIB, (peak - base) / MIB))
            tracemalloc.reset_peak()

        record = client.get_collection(uuid)
        stage('GET record (%.1f MB manifest)' % (len(record['manifest_text']) / 1e6))
        parsed = manifest.parse(record['manifest_text'], lazy=True)
        stage('lazy parse')
        parsed.expand_large(EXPAND_AT_LOAD_BYTES)
        stage('expand big directories')
        del record, parsed
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        record = client.get_collection(uuid, big_manifest=PackedText.of_pieces)
        stage('GET record, manifest packed from body')
        del record
        gc.collect()
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        inodes = Inodes()
        root = inodes.add_entry(CollectionDirectory(ROOT_INODE, inodes, client, 0, uuid))
        snapshot = root.fetch()
        stage('whole fetch (all the above, packing)')
        root.apply(snapshot)
        del snapshot
        stage('apply')
        print('%-40s %12s %12s' % ('stage', 'held MiB', 'peak MiB'))
        for name, cur, peak in rows:
            print('%-40s %12.1f %12.1f' % (name, cur, peak))
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
