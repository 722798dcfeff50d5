"""glibc's allocator, set up so that memory the mount frees goes back to
the system, or at least to the next allocation.

By default glibc gives each thread that allocates an arena of its own (up
to 8 per core): a collection loaded on an API thread frees its manifest
into that arena, while the FUSE workers that build its directories
allocate from theirs, so the freed memory is never reused.  And after a
big block is freed, glibc raises the size from which it maps blocks
directly (up to 32 MiB), so the next big ones (a 20 MiB manifest text)
come from an arena and stay there when freed.  Two arenas and a fixed
1 MiB threshold: the long-names shape's peak RSS at 10^5 files, over
`ls -lR` and `find`, went from 119-140 MiB (two modes, run to run) to
102-104; with the threshold alone (glibc's arena count) 113.  One arena
keeps as little (101.5); it looked a tenth dearer in `ls -lR` CPU in a
first comparison (libfuse allocates for every request in the FUSE
workers, outside the GIL), which a second did not confirm (within the
noise); two is the cautious choice.  To compare: `bench/scale.py
--variant arenas8:MALLOC_ARENA_MAX=8 --variant arenas1:MALLOC_ARENA_MAX=1`
(the mounts it starts inherit the setting, which wins over this one).

Called first thing, before any thread exists.  Settings the user made in
the environment (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_) win; on another
C library this does nothing.
"""

import ctypes
import os

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
ARENAS = 2
MMAP_THRESHOLD = 1 << 20


def tune(environ=os.environ):
    """Apply the settings above; the names of those applied."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return []
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    applied = []
    if 'MALLOC_ARENA_MAX' not in environ and mallopt(M_ARENA_MAX, ARENAS) == 1:
        applied.append('arena_max')
    if 'MALLOC_MMAP_THRESHOLD_' not in environ and mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1:
        applied.append('mmap_threshold')
    return applied

