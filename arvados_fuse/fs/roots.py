"""Building the root directory of a mount for each mode (--all, --home,
--collection, ...), with the startup checks that turn a bad token, an
unreachable host or an unreadable object into one clear error."""

import logging
import time

from .collection import CollectionDirectory
from .directory import Directory
from ..errors import NotFound, Unauthorized
from ..host.logtext import one_line
from .files import StringFile
from .inodes import ROOT_INODE
from .names import NameRule
from .byid import MagicDirectory
from .project import ProjectDirectory
from .shared import SharedDirectory
from .tags import TagsDirectory
from .users import UsersDirectory
from .uuids import collection_uuid_pattern, group_uuid_pattern, keep_locator_pattern

_logger = logging.getLogger('arvados.arvados_fuse')

README_TEXT = """This is an arv-mount of the Arvados cluster at {host}, as {email}.
It is read-only.

{lines}
"""

DIR_DESCRIPTIONS = {
    'home': 'your home project',
    'shared': 'projects that other users and groups share with you',
    'users': "every user's home project, by username (what you may read of it)",
    'by_tag': 'collections, by tag',
    'by_id': 'collections and projects by uuid or portable data hash (appear once looked up)',
    'by_pdh': 'collections by portable data hash (appear once looked up)',
}


class StartupError(Exception):
    pass


def _describe_api_error(e):
    if isinstance(e, Unauthorized):
        return 'the API server refused the token (401 Not logged in)'
    return one_line(e)


def current_user(api):
    try:
        return api.current_user()
    except Exception as e:
        raise StartupError('cannot get the current user from %s: %s' % (api.host, _describe_api_error(e)))


def _collection_root(args, inodes, api, user):
    loc = args.collection
    if not (collection_uuid_pattern.match(loc) or keep_locator_pattern.match(loc)):
        raise StartupError('--collection %s is neither a collection uuid nor a portable data hash' % loc)
    root = CollectionDirectory(ROOT_INODE, inodes, api, args.retries, loc, poll_time=args.refresh_time)
    try:
        snapshot = root.fetch()
    except NotFound:
        raise StartupError('collection %s not found or not readable' % loc)
    except Exception as e:
        raise StartupError('cannot load collection %s: %s' % (loc, _describe_api_error(e)))
    inodes.add_entry(root)
    root.apply(snapshot)
    return root


def _project_factory(args, inodes, api):
    def make(parent_inode, record):
        return ProjectDirectory(parent_inode, inodes, api, args.retries, record,
                                poll=True, poll_time=args.refresh_time, filters=args.filters)
    return make


def _subdirectory(kind, parent_inode, args, inodes, api, user):
    """The directory each mode mounts, with `parent_inode` as its parent."""
    if kind == 'home':
        return ProjectDirectory(parent_inode, inodes, api, args.retries, user,
                                poll=True, poll_time=args.refresh_time, filters=args.filters)
    if kind == 'shared':
        return SharedDirectory(parent_inode, inodes, api, args.retries, user['uuid'],
                               poll=True, poll_time=args.refresh_time, filters=args.filters)
    if kind == 'users':
        return UsersDirectory(parent_inode, inodes, api, args.retries, poll_time=args.refresh_time,
                              filters=args.filters)
    if kind == 'by_tag':
        return TagsDirectory(parent_inode, inodes, api, args.retries, poll_time=args.refresh_time,
                             filters=args.filters)
    if kind in ('by_id', 'by_pdh'):
        return MagicDirectory(parent_inode, inodes, api, args.retries, kind == 'by_pdh',
                              poll_time=args.refresh_time, project_factory=_project_factory(args, inodes, api))
    raise ValueError(kind)


class MountRoot(Directory):
    """The top of an --all or custom mount: fixed subdirectories and a README."""

    def __init__(self, parent_inode, inodes):
        super(MountRoot, self).__init__(parent_inode, inodes)
        self.fresh()

    def stale(self):
        return False

    def want_event_subscribe(self):
        return any(e.want_event_subscribe() for e in self._entries.values() if isinstance(e, Directory))

    def add(self, name, entry):
        """Put `entry` (not yet in the inode table) here as `name`; the
        layout is fixed, so this only happens while the mount is built."""
        self._entries[name] = self.inodes.add_entry(entry)
        return entry


def _layout_root(layout, args, inodes, api, user):
    """`layout`: list of (path under the mount, kind)."""
    root = inodes.add_entry(MountRoot(ROOT_INODE, inodes))
    lines = []
    for path, kind in layout:
        parts = [p for p in path.strip('/').split('/') if p]
        if not parts or any(p in ('.', '..') for p in parts):
            raise StartupError('bad path %r for --mount-%s' % (path, kind.replace('_', '-')))
        parent = root
        for p in parts[:-1]:
            sub = parent.entry(p)
            if sub is None:
                sub = parent.add(p, MountRoot(parent.inode, inodes))
            elif not isinstance(sub, MountRoot):
                raise StartupError('--mount-* paths overlap at %r' % path)
            parent = sub
        if parent.entry(parts[-1]) is not None:
            raise StartupError('--mount-* paths overlap at %r' % path)
        parent.add(parts[-1], _subdirectory(kind, parent.inode, args, inodes, api, user))
        lines.append('%-10s %s' % ('/'.join(parts) + '/', DIR_DESCRIPTIONS[kind]))
    if root.entry('README') is None:
        text = README_TEXT.format(host=api.host, email=user.get('email', user['uuid']), lines='\n'.join(lines))
        root.add('README', StringFile(root.inode, text, time.time()))
    return root


def _all_root(args, inodes, api, user):
    return _layout_root([('home', 'home'), ('shared', 'shared'), ('users', 'users'), ('by_tag', 'by_tag'),
                         ('by_id', 'by_id')],
                        args, inodes, api, user)


def _custom_root(args, inodes, api, user):
    layout = []
    for kind in ('home', 'shared', 'users', 'by_id', 'by_pdh', 'by_tag'):
        for path in getattr(args, 'mount_' + kind):
            layout.append((path, kind))
    return _layout_root(layout, args, inodes, api, user)


def _single_root(kind):
    def build(args, inodes, api, user):
        return inodes.add_entry(_subdirectory(kind, ROOT_INODE, args, inodes, api, user))
    return build


def _project_root(args, inodes, api, user):
    uuid = args.project
    if not group_uuid_pattern.match(uuid):
        raise StartupError('--project %s is not a project uuid' % uuid)
    try:
        record = api.get_group(uuid)
    except NotFound:
        raise StartupError('project %s not found or not readable' % uuid)
    except Exception as e:
        raise StartupError('cannot load project %s: %s' % (uuid, _describe_api_error(e)))
    if record.get('group_class') not in ('project', 'filter'):
        raise StartupError('%s is a %s group, not a project' % (uuid, record.get('group_class')))
    return inodes.add_entry(ProjectDirectory(ROOT_INODE, inodes, api, args.retries, record,
                                             poll=True, poll_time=args.refresh_time, filters=args.filters))


BUILDERS = {
    'all': _all_root,
    'custom': _custom_root,
    'home': _single_root('home'),
    'shared': _single_root('shared'),
    'by_tag': _single_root('by_tag'),
    'by_id': _single_root('by_id'),
    'by_pdh': _single_root('by_pdh'),
    'project': _project_root,
    'collection': _collection_root,
}


def build_root(args, inodes, api, user=None):
    """The root directory of the mode `args` asks for; `user`, the token's
    user record if the caller has it already."""
    if user is None:
        user = current_user(api)
    inodes.name_rule = name_rule(api)
    return BUILDERS[args.mode](args, inodes, api, user)


def name_rule(api):
    """How this cluster's names are shown: its ForwardSlashNameSubstitution,
    read once (from the configuration the client already has)."""
    try:
        setting = api.forward_slash_name_substitution()
    except Exception as e:
        _logger.warning('cannot read the cluster configuration (%s): "/" in names is shown as "_"', e)
        setting = None
    return NameRule.for_setting(setting)
