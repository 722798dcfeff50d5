"""arv-mount: Arvados collections, projects and tags as a read-only filesystem.

Architecture (docs/architecture.md has every module, thread and lock):

- top level: the adapter and the command, the only modules importing llfuse.
  `operations` (Operations: kernel requests in, model calls out), `answers`
  (errno values, attributes, the llfuse lock as FUSE_LOCK), `instrumented`
  (InstrumentedOperations: every request timed and counted), `command` and
  `arguments` (the arv-mount command and its lifecycle), `errors` (the
  client's error types, Answered, to_errno, cause_of), `observer` (the hook
  the client reports requests to).
- `fs/`      the model, testable without a kernel: `inodes`, `directory`,
             `files`, `collection`, `project`, `byid` (MagicDirectory),
             `tags`, `shared`, `roots`, `fresh`, `names`; kept fresh by
             `refresh` (Refresher: fetch() with the lock released, apply()
             with it held), `kernelcache`, `changes`, `treecache`, built
             together by `model` (Model).  No locks of its own: one global
             lock (`lock`).
- `blocks/`  what a file is made of: `manifest`, `readpath` (offsets ->
             Keep blocks, prefetch), `renewal` (signatures), `locators`.
- `api/`     the client layer, API side: `safeapi` (SafeApi: every API call),
             `events` (the change event stream).
- `keep/`    the client layer, Keep side: `fetcher` (every block fetch),
             `blockcache`, `blockcheck`.  Only api/ and keep/ use the SDK.
- `host/`    around the mount: `metrics`, `crunchstat`, `mountpoint`,
             `culprits`, `logtext`, `threadnames`, `workqueue`.
"""

__version__ = '3.2.1.post1'

from .fs.collection import CollectionDirectory
from .fs.subdirs import CollectionSubdirectory
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
