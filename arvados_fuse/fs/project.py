"""Projects (and a user's home) as directories: subprojects, collections,
other objects as `name.kind` JSON files, and old-style name links.

Names are shown by the cluster's rule (names.NameRule: its
ForwardSlashNameSubstitution).  When two items want the same name, the
winner is chosen deterministically: subproject, then collection, then
anything else; among equals the one whose name is shown as it is (the
literal name), then the oldest, then the smallest uuid.  The others stay reachable by uuid in `by_id`.
"""

import json
import logging
import sys

from .collection import CollectionDirectory
from .directory import Directory
from .files import ObjectFile
from .filters import filters_for
from .fresh import DEFAULT_POLL_TIME, convert_time
from .uuids import (collection_uuid_pattern, group_uuid_pattern, keep_locator_pattern,
                    link_uuid_pattern, user_uuid_pattern)

_logger = logging.getLogger('arvados.arvados_fuse')

PROJECT_RECORD_FILE = '.arvados#project'
# Kinds of the other objects a project lists, shown as files `name.kind`
# (see namefn): a lookup of `x.workflow` also asks for objects named `x`.
OBJECT_KINDS = frozenset(['workflow', 'containerRequest', 'container', 'job', 'pipelineInstance',
                          'pipelineTemplate', 'group', 'collection', 'link', 'user', 'specimen', 'trait',
                          'human', 'node', 'repository', 'virtualMachine', 'authorizedKey',
                          'keepService', 'apiClientAuthorization', 'log'])


def _rank(item, literal):
    """Subprojects first, then collections, then the rest; then an item
    whose name is shown as it is (`a_b` over `a/b`, `a%2fb` over `a/b`
    with a substitute of `%2f`); then the oldest; then the smallest uuid."""
    uuid = item.get('uuid', '')
    if group_uuid_pattern.match(uuid):
        kind = 0
    elif collection_uuid_pattern.match(uuid) or link_uuid_pattern.match(uuid):
        kind = 1
    else:
        kind = 2
    return (kind, not literal(item), item.get('created_at') or '', uuid)


def _current(item):
    """False for what a project must not show even if a server lists it:
    trashed items, and old versions of a collection (only the current
    version has a place in its project)."""
    if item.get('is_trashed'):
        return False
    current = item.get('current_version_uuid')
    return not current or current == item.get('uuid')


# What a listed collection needs until it is loaded (names, times, `ls -l`,
# xattrs, whether its contents moved): a project of 10^4 collections keeps
# one such record per collection, so not the other twenty fields.
_COLLECTION_LISTING_FIELDS = ('uuid', 'name', 'owner_uuid', 'portable_data_hash', 'created_at',
                              'modified_at', 'properties')


def _listing_record(item):
    """What to keep of a listed item: None for what is not shown."""
    if not _current(item):
        return None
    if collection_uuid_pattern.match(item.get('uuid', '')):
        kept = {k: item[k] for k in _COLLECTION_LISTING_FIELDS if k in item}
        if isinstance(kept.get('owner_uuid'), str):
            kept['owner_uuid'] = sys.intern(kept['owner_uuid'])
        return kept
    return item


def _link_listing_record(link):
    """Attributes for a name link's collection before it is loaded: the
    link's times (the collection's own arrive when it is loaded)."""
    head = link.get('head_uuid')
    return {'uuid': head, 'portable_data_hash': head if keep_locator_pattern.match(head or '') else None,
            'name': link.get('name'), 'created_at': link.get('created_at'),
            'modified_at': link.get('modified_at')}


class ProjectDirectory(Directory):
    """A special directory that contains the contents of a project."""

    record_file_name = PROJECT_RECORD_FILE

    def __init__(self, parent_inode, inodes, api, num_retries, project_object,
                 poll=False, poll_time=DEFAULT_POLL_TIME, *, filters=None):
        super(ProjectDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        self.project_object = project_object
        self.uuid = project_object['uuid']
        self._poll = poll
        self._poll_time = poll_time
        self._filters = filters or []
        self._ancestors = frozenset()
        # Its record came with its parent's listing (which keeps it
        # current): a refresh need not get it again.
        self.record_from_listing = False
        # Its name links (pre-#3036), once listed: few or none, so a lookup
        # of one name asks for all of them, once.  None: not listed yet.
        self._name_links = None

    def describe(self):
        return 'project %s' % self.uuid

    def want_event_subscribe(self):
        return True

    def record(self):
        return self.project_object

    def event_uuids(self):
        return (self.uuid,)

    def createDirectory(self, i):
        uuid = i['uuid']
        if collection_uuid_pattern.match(uuid):
            return CollectionDirectory(self.inode, self.inodes, self.api, self.num_retries, i,
                                       poll=self._poll, poll_time=self._poll_time)
        elif group_uuid_pattern.match(uuid):
            child = ProjectDirectory(self.inode, self.inodes, self.api, self.num_retries, i,
                                     self._poll, self._poll_time, filters=self._filters)
            child._ancestors = self._ancestors | {self.uuid}
            child.record_from_listing = True
            return child
        elif link_uuid_pattern.match(uuid):
            head = i.get('head_uuid') or ''
            if i.get('head_kind') == 'arvados#collection' or collection_uuid_pattern.match(head) \
                    or keep_locator_pattern.match(head):
                return CollectionDirectory(self.inode, self.inodes, self.api, self.num_retries, head,
                                           poll=self._poll, poll_time=self._poll_time,
                                           listing_record=_link_listing_record(i))
            return None
        elif i.get('kind', '').startswith('arvados#'):
            return ObjectFile(self.inode, i)
        return None

    @staticmethod
    def namefn(i):
        name = i.get('name')
        if not name:
            return None
        uuid = i.get('uuid', '')
        if collection_uuid_pattern.match(uuid) or group_uuid_pattern.match(uuid):
            return name
        if link_uuid_pattern.match(uuid):
            return name
        kind = i.get('kind', '')
        if kind.startswith('arvados#'):
            return '{}.{}'.format(name, kind[8:])
        return None

    def samefn(self, a, i):
        if isinstance(a, CollectionDirectory):
            if link_uuid_pattern.match(i['uuid']):
                if a.collection_locator != i.get('head_uuid'):
                    return False
                if a.collection_object is None:
                    a.relisted(_link_listing_record(i))
                return True
            if a.collection_locator != i['uuid']:
                return False
            a.relisted(i)
            return True
        elif isinstance(a, ProjectDirectory):
            if a.uuid != i['uuid']:
                return False
            a.project_object = i
            return True
        elif isinstance(a, ObjectFile):
            if a.uuid != i['uuid']:
                return False
            if a.mtime() != convert_time(i.get('modified_at')):
                a.update(i)
                self.inodes.notify('inode', a.inode)
            return True
        return False

    # -- refresh ---------------------------------------------------------
    def invalidate(self):
        self._name_links = None
        super(ProjectDirectory, self).invalidate()

    def _has_links(self):
        return self.project_object.get('group_class') != 'filter'

    def fetch(self):
        api = self.api
        if self.record_from_listing:
            record = self.project_object
        elif group_uuid_pattern.match(self.uuid):
            record = api.get_group(self.uuid, num_retries=self.num_retries)
        elif user_uuid_pattern.match(self.uuid):
            record = api.get_user(self.uuid, num_retries=self.num_retries)
        else:
            record = self.project_object
        calls = [lambda: api.list_project_contents(self.uuid, filters_for('groups.contents', self._filters),
                                                   num_retries=self.num_retries, keep=_listing_record)]
        if record.get('group_class') != 'filter':
            # Name links are pre-#3036; some clusters still have them.
            calls.append(lambda: api.list_name_links(self.uuid, filters_for('links', self._filters),
                                                     num_retries=self.num_retries))
        contents, *links = api.concurrently(*calls)
        return record, contents, links[0] if links else []

    def apply(self, snapshot):
        record, contents, links = snapshot
        self.project_object = record
        self._name_links = links
        self.refresh_record_file()
        self.merge(self._ranked(contents + links), self.namefn, self.samefn, self.createDirectory)
        self._mtime = convert_time(record.get('modified_at')) or self._mtime

    def _ranked(self, items):
        # A filter group may match itself or an ancestor: showing it would
        # make an endless tree.
        skip = self._ancestors | {self.uuid}
        rule, namefn = self.inodes.name_rule, self.namefn

        def literal(i):
            return rule.literal(namefn(i))
        return sorted((i for i in items if i is not None and i.get('uuid') not in skip and _current(i)),
                      key=lambda i: _rank(i, literal))

    # -- one name alone ------------------------------------------------------
    answers_names = True

    def fetch_name(self, name):
        """Every item that may be shown as `name`, asked for by name: its
        own, and for `x.kind`, objects named `x` (shown as `x.kind`).  A
        name may be spelled otherwise on the server (names.NameRule.
        spellings): the cluster's substitute for `/` may stand for a `/`,
        an `_` for a NUL (or a `/`); every spelling is asked for, exactly
        (`name in [...]`) or as a LIKE pattern (where `_` is any character),
        and apply_name keeps only what the listing would show as `name`."""
        candidates = [name]
        stem, dot, kind = name.rpartition('.')
        if dot and stem and kind in OBJECT_KINDS:
            candidates.append(stem)
        names, patterns = [], []
        for c in candidates:
            exact, like = self.inodes.name_rule.spellings(c)
            names += exact
            patterns += like
        links = filters_for('links', self._filters) if self._name_links is None and self._has_links() else None
        return self.api.find_in_project(self.uuid, names, patterns, filters_for('groups.contents', self._filters),
                                        link_filters=links, num_retries=self.num_retries, keep=_listing_record)

    def apply_name(self, name, snapshot):
        items, links = snapshot
        if links is not None and self._name_links is None:
            self._name_links = links
        return self.merge_name(name, self._ranked(items + (self._name_links or [])),
                               self.namefn, self.samefn, self.createDirectory)

    # -- the record file ---------------------------------------------------
    @property
    def project_object_file(self):
        """The seed's name for the `.arvados#project` file."""
        return self.record_file

    def record_object(self):
        return self.project_object

    def mtime(self):
        return convert_time(self.project_object.get('modified_at')) or self._mtime

    def xattrs(self):
        rec = self.project_object
        out = {'user.arvados.uuid': self.uuid}
        if rec.get('owner_uuid'):
            out['user.arvados.owner_uuid'] = rec['owner_uuid']
        if rec.get('properties') is not None:
            out['user.arvados.properties'] = json.dumps(rec['properties'], sort_keys=True)
        return out
