"""A collection as a directory tree (CollectionDirectory).

The record comes from the API by uuid or portable data hash; a PDH that the
API does not know is read from Keep as a manifest block (a manifest stored
only in Keep, as the seed allowed).  The manifest is parsed outside the llfuse
lock (`fetch`), and the tree of entries is built under it (`apply`).

A collection addressed by PDH can never change: its files are marked
immutable.  The Keep permission signatures of every loaded version of a
collection (by PDH or uuid) are renewed in the background before they
expire (renewal.py), which swaps locators in its block table without
touching any inode, so open files and the kernel's page cache stay valid.
"""

import json
import logging
import time
import weakref
import zlib

from ..blocks import manifest as manifest_parser
from ..blocks.manifest import ManifestDir, pieces_of
from ..errors import NotFound
from .files import ObjectFile
from .fresh import DEFAULT_POLL_TIME, convert_time
from ..blocks.readpath import BlockTable, FileReader
from .subdirs import LazyTreeDirectory, parts
from .uuids import keep_locator_pattern, strip_hints

_logger = logging.getLogger('arvados.arvados_fuse')

COLLECTION_RECORD_FILE = '.arvados#collection'
# Every version of a collection addressed by uuid (fs/versions.py): never
# listed, always reachable, like the record file.
VERSIONS_DIRECTORY = '.arvados#versions'
# Without the background renewer (renewal.py; the model's tests, the seed's
# usage), a PDH collection renews its signatures when looked up: never more
# often than this, even if Keep handed out signatures about to expire.
MIN_RENEWAL_INTERVAL = 60
# A loaded collection's record is re-read without its manifest (which can
# be tens of MB) to see whether its contents changed.
RECORD_FIELDS = ['uuid', 'name', 'description', 'owner_uuid', 'portable_data_hash', 'created_at',
                 'modified_at', 'modified_by_user_uuid', 'properties', 'storage_classes_desired',
                 'replication_desired', 'file_count', 'file_size_total', 'is_trashed', 'trash_at',
                 'delete_at', 'version', 'current_version_uuid', 'preserve_version', 'kind', 'etag']


# The directory cache's estimate of a loaded tree: bytes per file (its
# share of a FileTable: name, segments, lookup count; 43 measured with
# tracemalloc on bench/shapes.py's 100,000-file `spread` once walked) and
# per directory line (unbuilt, a line of its parent's packed leaves;
# built, a row of its parent's SubdirTable and its one file a row of the
# table's LeafFiles: on the `deep` shape, 6.9 MiB loaded and 14.9 walked
# for 100,000 lines, files included, 48 + 108 bytes a line once walked:
# bench/handlers.py --traced), plus the manifest text kept for the record.
FILE_BYTES = 48
DIR_BYTES = 110
# A directory of a collection whose file segments take more text than this
# (some 8,000 files) is parsed when the collection loads, with no lock
# held, rather than on its first visit, under the llfuse lock.
EXPAND_AT_LOAD_BYTES = 256 * 1024


# A loaded collection keeps its manifest text for the record file
# (.arvados#collection), which is seldom read: from this size on, kept
# compressed (zlib level 1: a half to a fifth of the text, ~10 ms per MB,
# in the fetch, where no lock is held).
PACK_TEXT_AT = 256 * 1024


class PackedText(object):
    """A manifest text, compressed; `len` is what it takes in memory.

    Compressed a piece at a time into pieces: it is made while the text and
    its parse are both held, the peak of a collection's load, and encoding
    the whole text first, or joining the output, would add a copy of each
    (110 MiB more at the peak of a 56 MiB manifest)."""

    __slots__ = ('_pieces', '_chars')

    PIECE = 1 << 20

    def __init__(self, text, pieces=None):
        """`text`, or the text of the str `pieces` (an iterator) if given:
        see of_pieces."""
        if pieces is None:
            pieces = (text[at:at + self.PIECE] for at in range(0, len(text), self.PIECE))
        packer = zlib.compressobj(1)
        packed = []
        chars = 0
        for piece in pieces:
            chars += len(piece)
            out = packer.compress(piece.encode('utf-8', 'surrogateescape'))
            if out:
                packed.append(out)
        packed.append(packer.flush())
        self._pieces = tuple(packed)
        self._chars = chars

    @classmethod
    def of_pieces(cls, pieces):
        """The text of the str `pieces` (an iterator), packed one by one as
        they come: the whole text is never held (api/bigfield.py)."""
        return cls('', pieces)

    def text(self):
        unpacker = zlib.decompressobj()
        return b''.join([unpacker.decompress(piece) for piece in self._pieces]).decode('utf-8', 'surrogateescape')

    @property
    def chars(self):
        return self._chars

    def lines(self):
        """Its lines, without their '\n', as its text's split('\n') gives
        them (the last one if not empty), decompressed about PIECE bytes at
        a time: what the parser reads (manifest.parse)."""
        carry = b''
        for chunk in self._chunks():
            chunk = carry + chunk if carry else chunk
            cut = chunk.rfind(b'\n')
            if cut < 0:
                carry = chunk
                continue
            carry = chunk[cut + 1:]
            # A '\n' byte is never inside a UTF-8 character: cut there, the
            # pieces decode alone.
            yield from chunk[:cut].decode('utf-8', 'surrogateescape').split('\n')
        if carry:
            yield carry.decode('utf-8', 'surrogateescape')

    def _chunks(self):
        unpacker = zlib.decompressobj()
        for piece in self._pieces:
            data = unpacker.decompress(piece, self.PIECE)
            while data:
                yield data
                data = unpacker.decompress(unpacker.unconsumed_tail, self.PIECE)
        tail = unpacker.flush()
        if tail:
            yield tail

    def __len__(self):
        return sum(len(piece) for piece in self._pieces)

    def __bool__(self):
        return self._chars > 0


def _renewal_time(earliest):
    """Half way to the earliest signature expiry (the parse's `expiry()`,
    computed with no lock held), as upstream renews; None when nothing is
    signed."""
    if earliest is None:
        return None, None
    now = time.time()
    return now + max((earliest - now) / 2, MIN_RENEWAL_INTERVAL), earliest


class CollectionTree(object):
    """What every entry of one version of a collection shares: its block
    table and block source (so a file open across a change keeps reading
    its own version's blocks), the manifest's streams (files are segments
    of streams until opened: manifest.py), and the collection for times."""

    __slots__ = ('collection', 'block_table', 'source', 'immutable', 'streams', 'max_pieces')

    def __init__(self, collection, block_table, source, immutable, parsed):
        self.collection = collection
        self.block_table = block_table
        self.source = source
        self.immutable = immutable
        # Not the parsed manifest itself: that would keep its whole tree.
        self.streams = parsed.stream_table
        self.max_pieces = parsed.max_pieces

    def mtime(self):
        return self.collection.mtime()

    def block_pieces(self, segments):
        return manifest_parser.resolve(segments, self.streams, self.max_pieces)

    def reader(self, segments):
        return FileReader(self.block_pieces(segments), self.block_table, self.source)

    def bare_locators(self, segments):
        return [strip_hints(self.block_table.locator(idx)) for idx, _o, _l in pieces_of(self.block_pieces(segments))]


class CollectionDirectory(LazyTreeDirectory):
    """Represents the root of a directory tree holding a collection."""

    record_file_name = COLLECTION_RECORD_FILE

    def __init__(self, parent_inode, inodes, api, num_retries, collection, poll=True, poll_time=DEFAULT_POLL_TIME, *,
                 listing_record=None, fixed=False):
        """fixed: addressed by uuid, but its contents never change (an old
        version of a collection): cached as long as one by PDH."""
        super(CollectionDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self.collection_object = None
        self._block_table = None
        self._loaded_pdh = None
        # When to re-fetch a PDH collection to renew its block signatures.
        self._renew_at = None
        self._expires_at = None
        self._tree_bytes = 0
        if isinstance(collection, dict):
            self.collection_locator = collection['uuid']
            # A listing record has no manifest, but its times and names are
            # good enough for `ls -l` of the parent without loading anything.
            self._listing_record = collection
        else:
            self.collection_locator = collection
            # What the parent's listing knew (e.g. a name link's times), so
            # attributes need no load; replaced by the record once loaded.
            self._listing_record = listing_record
        self._by_pdh = bool(keep_locator_pattern.match(self.collection_locator))
        self._fixed = self._by_pdh or fixed
        self._init_tree()
        self._poll = poll and not self._fixed
        self._poll_time = poll_time
        self._versions = None
        self._mtime_of = (None, 0, 0)

    def describe(self):
        return 'collection %s' % self.collection_locator

    def _tree_owner(self):
        return self

    def same(self, i):
        return i['uuid'] == self.collection_locator or i['portable_data_hash'] == self.collection_locator

    def immutable(self):
        return self._fixed

    def want_event_subscribe(self):
        return not self._fixed

    def event_uuids(self):
        return (self.collection_locator,)

    def record(self):
        return self.collection_object or self._listing_record

    def relisted(self, record):
        """The parent listed this collection again with `record` (no
        manifest): keep its times current and reload if its contents moved."""
        old = self.record() or {}
        self._listing_record = record
        if self.collection_object is not None and old.get('portable_data_hash') != record.get('portable_data_hash'):
            self.invalidate()

    def stale(self):
        if self._fixed and self.collection_object is not None and not self._stale:
            return self._renew_at is not None and time.time() > self._renew_at
        return super(CollectionDirectory, self).stale()

    # -- refresh -----------------------------------------------------------
    def fetch(self):
        """Record and parsed manifest.  Network; no shared state changed.

        A loaded collection is first asked for its record without the
        manifest: when its portable data hash is the one loaded and its
        signatures are not due for renewal, nothing is parsed again and the
        tree, its inodes and the kernel's caches all stay (the parsed
        manifest is None in the snapshot)."""
        api = self.api
        loaded_pdh = self._loaded_pdh
        if loaded_pdh is not None and not self._renewal_due():
            try:
                record = dict(api.get_collection(self.collection_locator, num_retries=self.num_retries,
                                                 select=RECORD_FIELDS))
            except NotFound:
                if not self._by_pdh:
                    raise
            else:
                if record.get('portable_data_hash') == loaded_pdh:
                    return record, None
        try:
            # Its files are about to be read: where Keep is is asked at once.
            record, _ = api.concurrently(
                lambda: dict(api.get_collection(self.collection_locator, num_retries=self.num_retries,
                                                big_manifest=PackedText.of_pieces)),
                lambda: api.prepare_reads(self.num_retries))
        except Exception as e:
            if not (self._by_pdh and isinstance(e, NotFound)):
                raise
            # Not in the API: maybe a manifest stored only in Keep.
            text = api.get_keep_block(self.collection_locator, num_retries=self.num_retries)
            try:
                text = bytes(text).decode('utf-8')
            except UnicodeDecodeError:
                raise manifest_parser.ManifestError('Keep block %s is not a manifest (not UTF-8)'
                                                    % strip_hints(self.collection_locator))
            pdh = strip_hints(self.collection_locator)
            record = {'uuid': pdh, 'portable_data_hash': pdh, 'manifest_text': text}
            parsed = manifest_parser.parse(text)
            parsed.keep_only = True
            return record, parsed
        # A big text is packed (the record file keeps it so) before it is
        # parsed, and parsed from the packed pieces: the whole text and its
        # parse are never held at once (deep 10^6, 78 MB of text: the
        # load's peak RSS 388 -> 287-305 MiB; bench/ab.py's "loaded").
        text = record.get('manifest_text') or ''
        if isinstance(text, str) and len(text) >= PACK_TEXT_AT:
            text = record['manifest_text'] = PackedText(text)
        # Stored only in Keep (its uuid is its PDH): nobody checked it, all
        # errors now.  Otherwise the API server validated it: the directory
        # tree now, each directory's files when it is first visited (big
        # ones now, here, where no lock is held).
        lazy = record.get('uuid') != record.get('portable_data_hash')
        parsed = manifest_parser.parse(text, lazy=lazy)
        del text
        if lazy:
            parsed.expand_large(EXPAND_AT_LOAD_BYTES)
        parsed.expiry()  # here, where no lock is held
        return record, parsed

    def _renewal_due(self):
        """Half way to the earliest expiry, or that expiry is close (the
        signatures may have come with a lifetime shorter than the minimum
        renewal interval)."""
        if self._renew_at is None:
            return False
        now = time.time()
        return now > self._renew_at or self._expires_at - now < 2 * MIN_RENEWAL_INTERVAL

    def apply(self, snapshot):
        record, parsed = snapshot
        if parsed is None:
            # Same contents: keep the manifest we have for the record file.
            old = self.collection_object or {}
            if 'manifest_text' in old:
                record['manifest_text'] = old['manifest_text']
            changed = record.get('modified_at') != old.get('modified_at')
            self.collection_object = record
            if changed:
                self.refresh_record_file()
                self.inodes.notify('inode', self.inode)
            self.inodes.tree_cache.touched(self)
            self.fresh()
            return True
        self.collection_object = record
        self.refresh_record_file()
        pdh = record.get('portable_data_hash')
        renewer = self.inodes.renewer
        if self._block_table is not None and pdh == self._loaded_pdh:
            self._block_table.renew(parsed.blocks)
            renewer.renewed(self._block_table, parsed.expiry())
        else:
            self.new_collection(record, parsed)
            if not parsed.keep_only:
                renewer.track(self._block_table, pdh, self.api, self.num_retries, parsed.expiry(),
                              on_renewed=weakref.WeakMethod(self._renewed_in_background))
        if renewer.running:
            # Renewed in the background, lookups or not.
            self._renew_at = self._expires_at = None
        else:
            self._renew_at, self._expires_at = _renewal_time(parsed.expiry())
        self.fresh()
        return True

    def new_collection(self, new_collection_object, parsed):
        """Replace the whole tree with the one `parsed` describes (built
        lazily, one directory at a time, as the kernel asks)."""
        self.collection_object = new_collection_object
        self.remove_entries()  # not clear(): that marks it stale, as if an event came meanwhile
        self._block_table = BlockTable(parsed.blocks)
        self._loaded_pdh = new_collection_object.get('portable_data_hash')
        tree = CollectionTree(self, self._block_table, self.api.block_source(self.num_retries),
                              self._fixed, parsed)
        self.build_later(parsed.root, tree)
        self._mtime = self.mtime()
        self._tree_bytes = (parsed.segments * FILE_BYTES + parsed.streams * DIR_BYTES
                            + len(new_collection_object.get('manifest_text') or ''))
        self.inodes.tree_cache.loaded(self, self.inodes)

    def update(self):
        """The seed's synchronous refresh; returns True on success."""
        try:
            self.apply(self.fetch())
            return True
        except Exception as e:
            _logger.warning('could not load %s: %s', self.describe(), e)
            return False

    # -- the directory cache (--directory-cache) ----------------------------
    def tree_bytes(self):
        return self._tree_bytes

    def kernel_forgot(self):
        """The kernel dropped its last reference: nothing below is in use."""
        self.inodes.tree_cache.forgotten(self, self.inodes)

    def ask_kernel_to_forget(self):
        """Invalidate every name in the tree the kernel holds, deepest
        first, then ours in the parent.  The kernel drops at once what
        nobody uses; a name in use (an open file, a working directory) is
        only unhashed, and goes with its parents when that use ends.  (An
        unused name left cached below would pin us for good.)"""
        names = []
        state = self._state
        stack = [] if type(state) is ManifestDir else [(self.inode, state)]
        while stack:
            inode, state = stack.pop()
            subdirs, files = parts(state)
            if files is not None:
                names.extend((inode, name) for _i, name in files.held_names())
            if subdirs is not None:
                for i, name in subdirs.held_names():
                    names.append((inode, name))
                    below = subdirs.state_at(i)
                    if type(below) is not ManifestDir:
                        stack.append((subdirs.base + i, below))
        for inode, name in reversed(names):
            self.inodes.notify('entry', inode, name)
        parent = self.inodes.get(self.parent_inode)
        name = parent.name_of(self) if parent is not None else None
        if name is not None:
            self.inodes.notify('entry', self.parent_inode, name)

    def take_rows(self):
        # What its rows shared goes with them (the streams of a 10^6-file
        # manifest are MBs); a file open meanwhile keeps its own reference.
        self._tree = None
        return super(CollectionDirectory, self).take_rows()

    def unload(self):
        """Free the tree (the kernel references nothing in it); keep what
        the parent's `ls -l` needs.  The next visit loads it again."""
        record = self.collection_object
        if record is not None:
            self._listing_record = {k: v for k, v in record.items() if k != 'manifest_text'}
        self.collection_object = None
        for table in self.take_rows():
            self.inodes.drop_rows(table, notify=False)
        if self.record_file is not None:
            self.inodes.del_entry(self.record_file, notify=False)
            self.record_file = None
        self._block_table = None
        self._loaded_pdh = None
        self._renew_at = self._expires_at = None
        self._tree_bytes = 0
        # Loaded from scratch, as on first use (so a failure is an error,
        # not an empty directory); the generation is not bumped, so a
        # refresh in flight just loads it again.
        self._stale = True
        self._loaded_once = False

    def release(self):
        self.inodes.tree_cache.dropped(self)

    # -- .arvados#versions -------------------------------------------------
    def has_versions(self):
        """Only a collection addressed by uuid has versions to show; one
        that is itself a version of another (`fixed`) shows none."""
        return not self._fixed

    def unrefreshed_entry(self, name):
        if name == VERSIONS_DIRECTORY and self.has_versions():
            if self._versions is None:
                from .versions import VersionsDirectory
                self._versions = self.inodes.add_entry(VersionsDirectory(
                    self.inode, self.inodes, self.api, self.num_retries, self.collection_locator,
                    poll=self._poll, poll_time=self._poll_time))
            return self._versions
        return None

    def special_entries(self):
        out = super(CollectionDirectory, self).special_entries()
        return out + [self._versions] if self._versions is not None else out

    # -- the record file ---------------------------------------------------
    @property
    def collection_object_file(self):
        """The seed's name for the `.arvados#collection` file."""
        return self.record_file

    def record_object(self):
        """The record, its manifest signed as the block table is now: the
        signatures renewed in the background (renewal.py) replace those of
        the first load, so the record file never shows expired ones."""
        obj = dict(self.record() or {'uuid': self.collection_locator})
        obj.setdefault('uuid', self.collection_locator)
        if isinstance(obj.get('manifest_text'), PackedText):
            obj['manifest_text'] = obj['manifest_text'].text()
        table = self._block_table
        if table is not None and table.renewed and obj.get('manifest_text'):
            obj['manifest_text'] = manifest_parser.resign(obj['manifest_text'], table.locators())
        return obj

    def make_record_file(self):
        return CollectionRecordFile(self.inode, self)

    def signatures_generation(self):
        """Changes whenever the block table's signatures do."""
        table = self._block_table
        return None if table is None else table.generation

    def _renewed_in_background(self):
        """The renewer's thread, no llfuse lock: new signatures in the block
        table.  The record file makes its text anew when next read; the
        kernel, which keeps pages across opens, must drop the old ones."""
        record_file = self.record_file
        if record_file is not None:
            self.inodes.notify('inode', record_file.inode)

    # -- attributes -------------------------------------------------------
    def mtime(self):
        return self._times()[1]

    def mtime_ns(self):
        # Asked for every file `ls -l` lists: one call, the record's stamp
        # compared by identity (record() and _times() inline).
        rec = self.collection_object or self._listing_record
        cached = self._mtime_of
        if cached[0] is not (rec.get('modified_at') if rec else None):
            cached = self._times()
        return cached[2]

    def _times(self):
        # Converted once per record.
        rec = self.record()
        stamp = rec.get('modified_at') if rec else None
        cached = self._mtime_of
        if cached[0] is not stamp:
            seconds = convert_time(stamp)
            cached = self._mtime_of = (stamp, seconds, int(seconds * 1e9))
        return cached

    def xattrs(self):
        rec = self.record() or {}
        out = {'user.arvados.uuid': rec.get('uuid', self.collection_locator)}
        if rec.get('portable_data_hash'):
            out['user.arvados.portable_data_hash'] = rec['portable_data_hash']
        if rec.get('owner_uuid'):
            out['user.arvados.owner_uuid'] = rec['owner_uuid']
        if rec.get('properties') is not None:
            out['user.arvados.properties'] = json.dumps(rec['properties'], sort_keys=True)
        return out


_STALE = object()


class CollectionRecordFile(ObjectFile):
    """`.arvados#collection`: the record as JSON, made when read after any
    change, so that signatures renewed in the background (which change the
    block table from another thread, never the llfuse-guarded model) show
    at the next read.  Every read and getattr runs with the llfuse lock
    held, where the record may be read."""

    def __init__(self, parent_inode, collection):
        self._collection = collection
        # The signatures generation the text shows (_STALE: make it anew).
        self._shows = _STALE
        # Only the uuid now: the text (maybe a re-signed manifest of tens
        # of MB) is made when first needed.
        super(CollectionRecordFile, self).__init__(
            parent_inode, {'uuid': (collection.record() or {}).get('uuid', collection.collection_locator)})

    def update(self, obj):
        # A reload: the text is made from the collection when next needed.
        self._shows = _STALE
        self.fresh()

    def _current(self):
        if self.detached:
            return  # replaced after a reload: it keeps showing what it showed
        generation = self._collection.signatures_generation()
        if generation != self._shows:
            ObjectFile.update(self, self._collection.record_object())
            self._shows = generation

    def size(self):
        self._current()
        return super(CollectionRecordFile, self).size()

    def mtime(self):
        self._current()
        return self._mtime

    def readfrom(self, off, size):
        self._current()
        return super(CollectionRecordFile, self).readfrom(off, size)

    def read_now(self, off, size):
        self._current()
        return super(CollectionRecordFile, self).readfrom(off, size)
