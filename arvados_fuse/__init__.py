"""arv-mount: Arvados collections, projects and tags as a read-only filesystem.

Architecture (one responsibility per module):

- `operations`  the llfuse adapter: the only place that releases the llfuse
                lock around network calls and maps errors to errno values.
- `inodes`      inode numbers -> entries, freed only when the kernel forgets.
- model, testable without a kernel: `directory` (Directory, merge),
                `collection`, `magic` (by_id), `project`, `tags`, `shared`,
                `files` (File, StreamReaderFile, StringFile, ObjectFile),
                `fresh` (FreshBase), `names` (sanitize_filename).
                A directory refreshes as `fetch()` (network, lock released)
                then `apply()` (no network, lock held).
- `manifest`    manifest text -> tree of files made of block pieces.
- `readpath`    file offsets -> Keep blocks, with prefetch.
- `safeapi`     SafeApi: every API and Keep call goes through it.
- `arguments`, `command`, `mountpoint`  the arv-mount command and lifecycle.
- `metrics`, `stats`  what a running mount counts: Prometheus (--prometheus-port)
                and crunchstat lines (--crunchstat-interval).
- `blockcache`  the SDK's block cache, watched for evictions and thrashing.
- `culprits`    the processes keeping a mount busy, named when unmounting.
"""

__version__ = '3.2.1.post1'

from .fs.collection import CollectionDirectory, CollectionSubdirectory
from .fs.directory import Directory
from .fs.files import File, ObjectFile, StreamReaderFile, StringFile
from .fs.fresh import FreshBase, convertTime, convert_time
from .fs.inodes import Inodes
from .fs.byid import MagicDirectory
from .fs.names import sanitize_filename
from .fs.project import ProjectDirectory
from .fs.shared import SharedDirectory
from .fs.tags import RecursiveInvalidateDirectory, TagDirectory, TagsDirectory
from .operations import FileHandle, Operations
from .api.safeapi import SafeApi

# The seed's public names.
__all__ = ['CollectionDirectory', 'CollectionSubdirectory', 'Directory', 'File', 'FileHandle',
           'FreshBase', 'Inodes', 'MagicDirectory', 'ObjectFile', 'Operations', 'ProjectDirectory',
           'RecursiveInvalidateDirectory', 'SafeApi', 'SharedDirectory', 'StreamReaderFile',
           'StringFile', 'TagDirectory', 'TagsDirectory', 'convertTime', 'convert_time',
           'sanitize_filename']
