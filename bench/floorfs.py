"""The floor: a minimal in-memory llfuse filesystem with the same tree as a
benchmark collection, answering from dicts with the lock held and nothing
else.  What `ls -lR` or `find` costs through llfuse and the kernel on this
machine, before any filesystem logic.

    python bench/floorfs.py MOUNTPOINT DIRS FILES_PER_DIR
    python bench/floorfs.py MOUNTPOINT --manifest FILE

The second form serves the tree (names and sizes) of a manifest, read
before mounting so that none of it is timed.  Runs in the foreground until
unmounted.
"""

import errno
import os
import stat
import sys
import time

import llfuse

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def grid(dirs, files):
    """{path: (subdirectory names, {file name: size})} of DIRS x FILES."""
    tree = {(): ([b'd%05d' % d for d in range(dirs)], {})}
    for d in range(dirs):
        tree[(b'd%05d' % d,)] = ([], {b'f%05d.txt' % f: 1000 for f in range(files)})
    return tree


def from_manifest(text):
    from arvados_fuse.blocks.manifest import parse, size_of
    tree = {}
    stack = [((), parse(text).root)]
    while stack:
        path, d = stack.pop()
        tree[path] = ([n.encode('utf-8', 'surrogateescape') for n in d.dirs],
                      {n.encode('utf-8', 'surrogateescape'): size_of(p) for n, p in d.files.items()})
        stack.extend((path + (n.encode('utf-8', 'surrogateescape'),), sub) for n, sub in d.dirs.items())
    return tree


class FloorFS(llfuse.Operations):
    def __init__(self, tree):
        super().__init__()
        self.now = int(time.time() * 1e9)
        self.children = {}  # directory inode -> [(name, inode)]
        self.names = {}  # directory inode -> {name: inode}
        self.sizes = {}  # file inode -> size
        nxt = [llfuse.ROOT_INODE + 1]

        def number():
            nxt[0] += 1
            return nxt[0] - 1
        inode_of = {(): llfuse.ROOT_INODE}
        for path in sorted(tree, key=len):
            dirs, files = tree[path]
            kids = []
            for name in sorted(dirs):
                inode_of[path + (name,)] = ino = number()
                kids.append((name, ino))
            for name in sorted(files):
                ino = number()
                self.sizes[ino] = files[name]
                kids.append((name, ino))
            kids.sort()
            self.children[inode_of[path]] = kids
            self.names[inode_of[path]] = dict(kids)

    def _attr(self, inode):
        a = llfuse.EntryAttributes()
        a.st_ino = inode
        a.entry_timeout = a.attr_timeout = 3600
        if inode in self.children:
            a.st_mode = stat.S_IFDIR | 0o555
            a.st_nlink = 2
        else:
            a.st_mode = stat.S_IFREG | 0o444
            a.st_nlink = 1
            a.st_size = self.sizes[inode]
        a.st_mtime_ns = a.st_ctime_ns = a.st_atime_ns = self.now
        a.st_blksize = 131072
        return a

    def getattr(self, inode, ctx=None):
        return self._attr(inode)

    def lookup(self, parent, name, ctx=None):
        inode = self.names.get(parent, {}).get(name)
        if inode is None:
            raise llfuse.FUSEError(errno.ENOENT)
        return self._attr(inode)

    def opendir(self, inode, ctx=None):
        return inode

    def readdir(self, fh, off):
        kids = self.children[fh]
        for i in range(off, len(kids)):
            yield kids[i][0], self._attr(kids[i][1]), i + 1

    def getxattr(self, inode, name, ctx=None):
        # Namespaces a filesystem does not support get ENOTSUP, which tools
        # such as ls remember per filesystem (no request for every file).
        if not name.startswith(b'user.'):
            raise llfuse.FUSEError(errno.ENOTSUP)
        raise llfuse.FUSEError(llfuse.ENOATTR)


def main():
    mnt = sys.argv[1]
    if sys.argv[2] == '--manifest':
        with open(sys.argv[3]) as f:
            tree = from_manifest(f.read())
    else:
        tree = grid(int(sys.argv[2]), int(sys.argv[3]))
    fs = FloorFS(tree)
    del tree
    llfuse.init(fs, mnt, ['fsname=floorfs', 'ro'])
    try:
        llfuse.main()
    finally:
        llfuse.close()


if __name__ == '__main__':
    main()
