"""`shared`: what other users and groups share with me, one directory per
owner ("First Last" for a user, the name for a group); a shared project whose
owner I cannot see appears directly under its own name."""

from .directory import Directory
from .filters import filters_for
from .inodes import kind_key
from .project import ProjectDirectory


def _owner_name(obj):
    if obj.get('first_name') is not None or obj.get('last_name') is not None:
        return u'{} {}'.format(obj.get('first_name') or '', obj.get('last_name') or '').strip()
    return obj.get('name')


class SharedDirectory(Directory):
    """A special directory that represents users or groups who have shared projects with me."""

    def __init__(self, parent_inode, inodes, api, num_retries, exclude, poll=False, poll_time=60, *, filters=None):
        super(SharedDirectory, self).__init__(parent_inode, inodes)
        self.api = api
        self.num_retries = num_retries
        # The uuid (usually mine) whose projects are not "shared with me".
        self.exclude = exclude
        self._poll = True
        self._poll_time = poll_time
        self._filters = filters or []

    def describe(self):
        return 'shared'

    def want_event_subscribe(self):
        return True

    def event_uuids(self):
        # A permission link granted or revoked, or a project created or
        # moved, can change what is shared with me.
        return (kind_key('arvados#link'), kind_key('arvados#group'))

    def fetch(self):
        if self.api.has_method('groups', 'shared'):
            roots, owners = self._fetch_shared()
        else:
            roots, owners = self._fetch_by_listing()
        contents = []
        for uuid in sorted(owners):
            obj = owners[uuid]
            if uuid != self.exclude and _owner_name(obj):
                contents.append((_owner_name(obj), obj))
        for root in sorted(roots, key=lambda r: (r.get('name') or '', r['uuid'])):
            if root.get('owner_uuid') not in owners:
                contents.append((root.get('name'), root))
        return contents

    def _fetch_shared(self):
        """`groups.shared`: the server computes what is shared with me."""
        roots, owners = [], {}
        last = None
        while True:
            filters = [['group_class', 'in', ['project', 'filter']]] + filters_for('groups', self._filters)
            if last:
                filters.append(['uuid', '>', last])
            page = self.api.groups().shared(filters=filters, order='uuid', limit=1000, count='none',
                                            include='owner_uuid').execute(num_retries=self.num_retries)
            items = page.get('items', [])
            if not items:
                break
            roots.extend(items)
            for obj in page.get('included', []):
                owners[obj['uuid']] = obj
            last = items[-1]['uuid']
        return roots, owners

    def _fetch_by_listing(self):
        """The seed's way, for servers without `groups.shared`."""
        api = self.api
        all_projects = api.list_all(api.groups().list, num_retries=self.num_retries,
                                    filters=[['group_class', 'in', ['project', 'filter']]]
                                    + filters_for('groups', self._filters))
        by_uuid = {p['uuid']: p for p in all_projects}
        roots = [p for p in all_projects if p['owner_uuid'] != self.exclude and p['owner_uuid'] not in by_uuid]
        owner_uuids = sorted({p['owner_uuid'] for p in roots})
        owners = {}
        if owner_uuids:
            for obj in api.list_all(api.users().list, num_retries=self.num_retries,
                                    filters=[['uuid', 'in', owner_uuids]]):
                owners[obj['uuid']] = obj
            for obj in api.list_all(api.groups().list, num_retries=self.num_retries,
                                    filters=[['uuid', 'in', owner_uuids]]):
                owners[obj['uuid']] = obj
        return roots, owners

    def apply(self, contents):
        self.merge(contents, lambda i: i[0], lambda a, i: a.uuid == i[1]['uuid'],
                   lambda i: ProjectDirectory(self.inode, self.inodes, self.api, self.num_retries, i[1],
                                              poll=self._poll, poll_time=self._poll_time, filters=self._filters))
