"""`by_tag`: one directory per tag name, holding the collections with it."""

from .collection import CollectionDirectory
from .directory import Directory, ListedDirectory
from .filters import filters_for
from .fresh import DEFAULT_POLL_TIME
from .inodes import kind_key


class RecursiveInvalidateDirectory(Directory):
    """Invalidating it invalidates everything below it too."""

    def invalidate(self):
        super(RecursiveInvalidateDirectory, self).invalidate()
        for entry in self._entries.values():
            entry.invalidate()


class TagsDirectory(RecursiveInvalidateDirectory, ListedDirectory):
    """A special directory that contains as subdirectories all tags visible to the user."""

    remember_misses = True

    def describe(self):
        return 'by_tag'

    def event_uuids(self):
        return (kind_key('arvados#link'),)

    def fetch(self):
        return self.api.list_tag_names(filters_for('links', self._filters), num_retries=self.num_retries)

    def apply(self, names):
        self.merge(names, lambda name: name, lambda a, name: a.tag == name, self._tag_directory)

    def _tag_directory(self, name):
        return TagDirectory(self.inode, self.inodes, self.api, self.num_retries, name,
                            poll=self._poll, poll_time=self._poll_time, filters=self._filters)

    # A tag added since the last listing is found by name right away: the
    # name itself first (the literal name wins), then a few of its other
    # spellings (a tag `a/b` shows as `a<S>b`: names.NameRule).
    SPELLINGS_ASKED = 4

    def fetch_missing(self, name):
        exact, _patterns = self.inodes.name_rule.spellings(name)
        for tag in ([name] + [t for t in exact if t != name])[:self.SPELLINGS_ASKED]:
            if self.api.tag_exists(tag, filters_for('links', self._filters), num_retries=self.num_retries):
                return tag
        return None

    def apply_missing(self, name, tag):
        if name not in self._entries:
            self._entries[name] = self.inodes.add_entry(self._tag_directory(tag))
        return self._entries[name]


class TagDirectory(Directory):
    """A special directory that contains as subdirectories all collections visible
    to the user that are tagged with a particular tag."""

    def __init__(self, parent_inode, inodes, api, num_retries, tag, poll=False,
                 poll_time=DEFAULT_POLL_TIME, *, filters=None):
        super(TagDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self.tag = tag
        self._poll = poll
        self._poll_time = poll_time
        self._filters = filters or []

    def describe(self):
        return 'tag %r' % self.tag

    def event_uuids(self):
        # A tag link added or removed, or a tagged collection trashed.
        return (kind_key('arvados#link'), kind_key('arvados#collection'))

    def fetch(self):
        """The tagged collections' listing records: their times for `ls -l`
        without loading manifests, and only what is readable, not trashed
        and passes the collection filters of --filters."""
        records = self.api.list_tagged_collections(
            self.tag, filters_for('links', self._filters), filters_for('collections', self._filters),
            num_retries=self.num_retries)
        return [r for r in records if not r.get('is_trashed')]

    def apply(self, records):
        self.merge(records, lambda r: r['uuid'], self._same,
                   lambda r: CollectionDirectory(self.inode, self.inodes, self.api, self.num_retries, r,
                                                 poll=self._poll, poll_time=self._poll_time))

    def _same(self, entry, record):
        if entry.collection_locator != record['uuid']:
            return False
        entry.relisted(record)
        return True
