"""A collection as a directory tree (CollectionDirectory).

The record comes from the API by uuid or portable data hash; a PDH that the
API does not know is read from Keep as a manifest block (a manifest stored
only in Keep, as the seed allowed).  The manifest is parsed outside the llfuse
lock (`fetch`), and the tree of entries is built under it (`apply`).

A collection addressed by PDH can never change: its files are marked
immutable, and it is only re-fetched to renew the Keep permission signatures
before they expire, which swaps locators in its block table without touching
any inode, so open files and the kernel's page cache stay valid.
"""

import json
import logging
import time

from . import manifest as manifest_parser
from .directory import Directory
from .errors import NotFound
from .files import StreamReaderFile
from .fresh import convert_time
from .names import sanitize_filename
from .readpath import BlockSource, BlockTable, FileReader
from .uuids import keep_locator_pattern, strip_hints

_logger = logging.getLogger('arvados.arvados_fuse')

COLLECTION_RECORD_FILE = '.arvados#collection'
# Never re-fetch a PDH collection more often than this, even if Keep handed
# out signatures that are about to expire.
MIN_RENEWAL_INTERVAL = 60


def _renewal_time(locators):
    """Half way to the earliest signature expiry, as upstream renews (but
    read from the signatures themselves, so no discovery document is needed
    under the lock); None when nothing is signed."""
    expiries = [e for e in map(manifest_parser.signature_expiry, locators) if e]
    if not expiries:
        return None
    now = time.time()
    return now + max((min(expiries) - now) / 2, MIN_RENEWAL_INTERVAL)


class CollectionSubdirectory(Directory):
    """A directory inside a collection; takes its times from the collection."""

    def __init__(self, parent_inode, inodes, collection):
        super(CollectionSubdirectory, self).__init__(parent_inode, inodes)
        self.collection = collection
        self.fresh()

    def stale(self):
        return False

    def mtime(self):
        return self.collection.mtime()

    def immutable(self):
        return self.collection.immutable()


class CollectionDirectory(Directory):
    """Represents the root of a directory tree holding a collection."""

    record_file_name = COLLECTION_RECORD_FILE

    def __init__(self, parent_inode, inodes, api, num_retries, collection, poll=True, poll_time=15, *,
                 listing_record=None):
        super(CollectionDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self.collection_object = None
        self._block_table = None
        self._loaded_pdh = None
        # When to re-fetch a PDH collection to renew its block signatures.
        self._renew_at = None
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
        self._poll = poll and not self._by_pdh
        self._poll_time = poll_time

    def describe(self):
        return 'collection %s' % self.collection_locator

    def same(self, i):
        return i['uuid'] == self.collection_locator or i['portable_data_hash'] == self.collection_locator

    def immutable(self):
        return self._by_pdh

    def want_event_subscribe(self):
        return not self._by_pdh

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
        if self._by_pdh and self.collection_object is not None and not self._stale:
            return self._renew_at is not None and time.time() > self._renew_at
        return super(CollectionDirectory, self).stale()

    # -- refresh -----------------------------------------------------------
    def fetch(self):
        """Record and parsed manifest.  Network; no shared state changed."""
        api = self.api
        try:
            record = dict(api.get_collection(self.collection_locator, num_retries=self.num_retries))
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
        parsed = manifest_parser.parse(record.get('manifest_text') or '')
        return record, parsed

    def apply(self, snapshot):
        record, parsed = snapshot
        self.collection_object = record
        self.refresh_record_file()
        pdh = record.get('portable_data_hash')
        if self._block_table is not None and pdh == self._loaded_pdh:
            self._block_table.renew(parsed.blocks)
        else:
            self.new_collection(record, parsed)
        self._renew_at = _renewal_time(parsed.blocks)
        self.fresh()
        return True

    def new_collection(self, new_collection_object, parsed):
        """Replace the whole tree with the one `parsed` describes."""
        self.collection_object = new_collection_object
        self.clear()
        self._block_table = BlockTable(parsed.blocks)
        self._loaded_pdh = new_collection_object.get('portable_data_hash')
        source = BlockSource(self.api.localkeep(), self.num_retries)
        self._build(self, parsed.root, source)
        self._mtime = self.mtime()

    def _build(self, target, mdir, source):
        # Directories win over files when sanitizing makes two names equal;
        # within a kind, sorted order decides.  Deterministic either way.
        for name in sorted(mdir.dirs):
            clean = sanitize_filename(name)
            if clean in target._entries:
                _logger.info('%s: %r clashes with another name after sanitizing; left out', self.describe(), name)
                continue
            sub = self.inodes.add_entry(CollectionSubdirectory(target.inode, self.inodes, self))
            target._entries[clean] = sub
            self._build(sub, mdir.dirs[name], source)
        for name in sorted(mdir.files):
            clean = sanitize_filename(name)
            if clean in target._entries:
                _logger.info('%s: %r clashes with another name after sanitizing; left out', self.describe(), name)
                continue
            reader = FileReader(mdir.files[name], self._block_table, source)
            target._entries[clean] = self.inodes.add_entry(
                StreamReaderFile(target.inode, reader, self.mtime(), immutable=self._by_pdh))

    def update(self):
        """The seed's synchronous refresh; returns True on success."""
        try:
            self.apply(self.fetch())
            return True
        except Exception as e:
            _logger.warning('could not load %s: %s', self.describe(), e)
            return False

    # -- the record file ---------------------------------------------------
    @property
    def collection_object_file(self):
        """The seed's name for the `.arvados#collection` file."""
        return self.record_file

    def record_object(self):
        obj = dict(self.record() or {'uuid': self.collection_locator})
        obj.setdefault('uuid', self.collection_locator)
        return obj

    # -- attributes -------------------------------------------------------
    def mtime(self):
        rec = self.record()
        return convert_time(rec.get('modified_at')) if rec else 0

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
