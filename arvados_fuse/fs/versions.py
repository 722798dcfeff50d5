"""`.arvados#versions/`: every version of a collection, as directories
named by version number (`1`, `2`, ...), each the whole collection as it
was, with its own `.arvados#collection`.

Arvados keeps an old version as a record of its own (its own uuid, its
`version`, and `current_version_uuid` naming the collection), read-only;
one `collections.list` with `include_old_versions` and a filter on
`current_version_uuid` lists them all, the current version included
(`SafeApi.list_collection_versions`).  A version's contents never change
once another version follows it, so each is cached as long as a collection
by portable data hash; the current version (the highest number) may still
be amended within the cluster's PreserveVersionIfIdle, and a listing that
finds another portable data hash under a number replaces that entry.  The
listing itself follows its collection's freshness: events on the
collection, or the refresh time when events are off.
"""

from .collection import CollectionDirectory
from .directory import Directory
from .fresh import DEFAULT_POLL_TIME, convert_time


class VersionsDirectory(Directory):
    """The versions of the collection `uuid` (or, if `uuid` is itself an
    old version, of the collection it is a version of)."""

    def __init__(self, parent_inode, inodes, api, num_retries, uuid, poll=True, poll_time=DEFAULT_POLL_TIME):
        super(VersionsDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self.uuid = uuid
        self._poll = poll
        self._poll_time = poll_time
        self._newest = None

    def describe(self):
        return 'versions of %s' % self.uuid

    def want_event_subscribe(self):
        return True

    def event_uuids(self):
        return (self.uuid,)

    def fetch(self):
        versions = self.api.list_collection_versions(self.uuid, num_retries=self.num_retries)
        if not any(v.get('uuid') == self.uuid for v in versions):
            # Not a current version: maybe an old one (by_id/<its uuid>).
            record = self.api.get_collection(self.uuid, num_retries=self.num_retries,
                                             select=['uuid', 'current_version_uuid'])
            current = record.get('current_version_uuid')
            if current and current != self.uuid:
                versions = self.api.list_collection_versions(current, num_retries=self.num_retries)
        return sorted((v for v in versions if isinstance(v.get('version'), int) and not v.get('is_trashed')),
                      key=lambda v: (v['version'], v.get('uuid')))

    def apply(self, versions):
        self._newest = versions[-1] if versions else None
        self.merge(versions, lambda v: str(v['version']), self._same, self._version_directory)

    def _version_directory(self, record):
        return CollectionDirectory(self.inode, self.inodes, self.api, self.num_retries, record, fixed=True)

    @staticmethod
    def _same(entry, record):
        return (entry.collection_locator == record.get('uuid')
                and (entry.record() or {}).get('portable_data_hash') == record.get('portable_data_hash'))

    def mtime(self):
        newest = self._newest
        return (convert_time(newest.get('modified_at')) if newest else None) or self._mtime
