"""`shared`: what other users and groups share with me, one directory per
owner ("First Last" for a user, the name for a group); a shared project whose
owner I cannot see appears directly under its own name."""

from .directory import Directory
from .filters import filters_for
from .fresh import DEFAULT_POLL_TIME
from .inodes import kind_key
from .project import ProjectDirectory


def _owner_name(obj):
    if obj.get('first_name') is not None or obj.get('last_name') is not None:
        return u'{} {}'.format(obj.get('first_name') or '', obj.get('last_name') or '').strip()
    return obj.get('name')


class SharedDirectory(Directory):
    """A special directory that represents users or groups who have shared projects with me."""

    def __init__(self, parent_inode, inodes, api, num_retries, exclude, poll=False,
                 poll_time=DEFAULT_POLL_TIME, *, filters=None):
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
        roots, owners = self.api.list_shared(self.exclude, filters_for('groups', self._filters),
                                             num_retries=self.num_retries)
        contents = []
        for uuid in sorted(owners):
            obj = owners[uuid]
            if uuid != self.exclude and _owner_name(obj):
                contents.append((_owner_name(obj), obj))
        for root in sorted(roots, key=lambda r: (r.get('name') or '', r['uuid'])):
            if root.get('owner_uuid') not in owners:
                contents.append((root.get('name'), root))
        return contents

    def apply(self, contents):
        self.merge(contents, lambda i: i[0], lambda a, i: a.uuid == i[1]['uuid'],
                   lambda i: ProjectDirectory(self.inode, self.inodes, self.api, self.num_retries, i[1],
                                              poll=self._poll, poll_time=self._poll_time, filters=self._filters))
