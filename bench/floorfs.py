"""The floor: a minimal in-memory llfuse filesystem with the same tree shape
as a benchmark collection, answering from dicts with the lock held and
nothing else.  What `ls -lR` or `find` costs through llfuse and the kernel
on this machine, before any filesystem logic.

    python bench/floorfs.py MOUNTPOINT DIRS FILES_PER_DIR

Runs in the foreground until unmounted.
"""

import errno
import stat
import sys
import time

import llfuse


class FloorFS(llfuse.Operations):
    def __init__(self, dirs, files):
        super().__init__()
        self.now = int(time.time() * 1e9)
        # inode 1: root; 2..dirs+1: directories; then files.
        self.children = {llfuse.ROOT_INODE: [(b'd%05d' % d, 2 + d) for d in range(dirs)]}
        self.names = {}
        nxt = 2 + dirs
        for d in range(dirs):
            kids = []
            for f in range(files):
                kids.append((b'f%05d.txt' % f, nxt))
                nxt += 1
            self.children[2 + d] = kids
        for parent, kids in self.children.items():
            self.names[parent] = dict(kids)

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
            a.st_size = 1000
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
    mnt, dirs, files = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    fs = FloorFS(dirs, files)
    llfuse.init(fs, mnt, ['fsname=floorfs', 'ro'])
    try:
        llfuse.main()
    finally:
        llfuse.close()


if __name__ == '__main__':
    main()
