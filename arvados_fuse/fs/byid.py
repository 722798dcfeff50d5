"""`by_id` (and `by_pdh`): the directory of every collection and project.

Listing every collection that exists is impractical, so this directory lists
only its README and what has already been looked up; looking up a uuid or a
portable data hash loads it."""

import logging
import time

from .collection import CollectionDirectory
from .directory import Directory
from .files import StringFile
from .fresh import DEFAULT_POLL_TIME
from .inodes import ROOT_INODE
from ..blocks.manifest import ManifestError
from .uuids import (collection_uuid_pattern, group_uuid_pattern, keep_locator_pattern,
                    portable_data_hash_pattern, user_uuid_pattern, uuid_pattern)

_logger = logging.getLogger('arvados.arvados_fuse')


class MagicDirectory(Directory):
    """A special directory that logically contains the set of all extant keep
    locators.  When a file is referenced by lookup(), it is tested to see if it
    is a valid keep locator to a manifest, and if so, loads the manifest
    contents as a subdirectory of this directory with the locator as the
    directory name.  Since querying a list of all extant keep locators is
    impractical, only collections that have already been accessed are visible
    to readdir()."""

    README_TEXT = '''
This directory provides access to Arvados collections as subdirectories listed
by uuid (in the form 'zzzzz-4zz18-1234567890abcde') or portable data hash (in
the form '1234567890abcdefghijklmnopqrstuv+123').

Note that this directory will appear empty until you attempt to access a
specific collection subdirectory (such as trying to 'cd' into it), at which
point the collection will actually be looked up on the server and the directory
will appear if it exists.
'''.lstrip()

    PDH_ONLY_README_TEXT = '''
This directory provides access to Arvados collections as subdirectories listed
by portable data hash (in the form '1234567890abcdefghijklmnopqrstuv+123').

Note that this directory will appear empty until you attempt to access a
specific collection subdirectory (such as trying to 'cd' into it), at which
point the collection will actually be looked up on the server and the directory
will appear if it exists.
'''.lstrip()

    # A uuid looked up in vain is not asked for again within --refresh-time.
    remember_misses = True
    # A slow id must not hold up the others (see pending.py).
    answers_lookups_later = True

    def __init__(self, parent_inode, inodes, api, num_retries, pdh_only=False, *,
                 poll_time=DEFAULT_POLL_TIME, project_factory=None):
        super(MagicDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self.pdh_only = pdh_only
        self._poll_time = poll_time
        # Builds a ProjectDirectory for a looked-up group uuid; given by the
        # mount so that this module does not depend on the project module.
        self.project_factory = project_factory
        self.fresh()

    def attached(self):
        """Now that it has an inode: a README, and, as the root directory,
        an identical by_id subdirectory (as the seed did)."""
        text = self.PDH_ONLY_README_TEXT if self.pdh_only else self.README_TEXT
        self._entries['README'] = self.inodes.add_entry(StringFile(self.inode, text, time.time()))
        if self.inode == ROOT_INODE:
            self._entries['by_id'] = self.inodes.add_entry(MagicDirectory(
                self.inode, self.inodes, self.api, self.num_retries, self.pdh_only,
                poll_time=self._poll_time, project_factory=self.project_factory))

    def describe(self):
        return 'by_pdh' if self.pdh_only else 'by_id'

    def stale(self):
        return False

    def want_event_subscribe(self):
        return not self.pdh_only

    def _accepts(self, name):
        if self.pdh_only:
            return bool(portable_data_hash_pattern.match(name))
        return bool(keep_locator_pattern.match(name) or uuid_pattern.match(name))

    def fetch_missing(self, name):
        if not self._accepts(name):
            return None
        if group_uuid_pattern.match(name) or user_uuid_pattern.match(name):
            if self.project_factory is None:
                return None
            if group_uuid_pattern.match(name):
                record = self.api.get_group(name, num_retries=self.num_retries)
                if record.get('group_class') not in ('project', 'filter'):
                    return None
            else:
                record = self.api.get_user(name, num_retries=self.num_retries)
            return ('project', record)
        if not (collection_uuid_pattern.match(name) or keep_locator_pattern.match(name)):
            # Some other kind of object: not a directory.
            return None
        probe = CollectionDirectory(self.inode, self.inodes, self.api, self.num_retries, name,
                                    poll_time=self._poll_time)
        try:
            return ('collection', probe, probe.fetch())
        except ManifestError as e:
            # A Keep block that is not a manifest is no collection: as in
            # the seed, the name does not exist (the reason is logged).
            _logger.warning('%s: %s is not a collection: %s', self.describe(), name, e)
            return None

    def apply_missing(self, name, snapshot):
        if name in self._entries:
            # Another lookup of the same name finished first.
            return self._entries[name]
        if snapshot[0] == 'project':
            entry = self.project_factory(self.inode, snapshot[1])
            entry.owner_watch = _owner_to_watch(name, snapshot[1])
            self.inodes.add_entry(entry)
        else:
            _kind, entry, loaded = snapshot
            entry.owner_watch = _owner_to_watch(name, loaded[0])
            self.inodes.add_entry(entry)
            try:
                entry.apply(loaded)
            except Exception:
                # Nothing of a failed build stays behind.
                self.inodes.del_entry(entry, notify=False)
                raise
        self._entries[name] = entry
        self._mtime = time.time()
        return entry

    def drop_gone(self, entry):
        """A collection or project looked up here was deleted: forget its
        name (remembered as a miss) and detach it, so the kernel is told to
        drop it and its inodes are freed when the kernel lets go.  Kept as
        an empty directory, as elsewhere, every object ever looked up here
        and then deleted stayed in the inode table for the mount's life."""
        for name, child in self._entries.items():
            if child is entry:
                break
        else:
            return False
        del self._entries[name]
        self.inodes.remove_name(self.inode, name, entry)
        self.note_missing(name)
        self._mtime = time.time()
        return True

    def __contains__(self, k):
        """The seed's synchronous lookup (no kernel involved)."""
        if k in self._entries:
            return True
        try:
            snapshot = self.fetch_missing(k)
        except Exception:
            return False
        if snapshot is None:
            return False
        self.apply_missing(k, snapshot)
        return True

    def __getitem__(self, item):
        if item in self:
            return self._entries[item]
        raise KeyError("No collection with id " + item)


def _owner_to_watch(name, record):
    """The project whose trashing takes the object looked up as `name` with
    it (no event comes for the object itself), so that by_id refreshes it,
    finds it gone and lets it go: '' while it is owned by a user, None for
    a portable data hash, which stays readable as long as any collection
    has that content.  Only the direct owner is watched; a move (an event
    for the object) refreshes it and `watch_owner` follows."""
    if not uuid_pattern.match(name) or not isinstance(record, dict):
        return None
    return owner_of(record)


def owner_of(record):
    owner = record.get('owner_uuid') if isinstance(record, dict) else None
    return owner if owner and group_uuid_pattern.match(owner) else ''


def watch_owner(inodes, entry):
    """After a refresh of an object looked up in by_id by uuid: watch its
    present owner."""
    if entry.owner_watch is None:
        return
    record = entry.record()
    if isinstance(record, dict) and record.get('owner_uuid'):
        inodes.rewatch(entry, owner_of(record))
