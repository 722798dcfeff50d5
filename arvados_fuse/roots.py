"""Building the root directory of a mount for each mode (--all, --home,
--collection, ...), with the startup checks that turn a bad token, an
unreachable host or an unreadable object into one clear error."""

import llfuse

from .collection import CollectionDirectory
from .errors import NotFound
from .magic import MagicDirectory
from .uuids import collection_uuid_pattern, keep_locator_pattern


class StartupError(Exception):
    pass


def _describe_api_error(e):
    status = getattr(getattr(e, 'resp', None), 'status', None)
    if status == 401:
        return 'the API server refused the token (401 Not logged in)'
    text = str(e).strip().splitlines()
    return text[0][:300] if text else type(e).__name__


def current_user(api):
    try:
        return api.current_user()
    except Exception as e:
        raise StartupError('cannot get the current user from %s: %s' % (api.host, _describe_api_error(e)))


def _collection_root(args, inodes, api, user):
    loc = args.collection
    if not (collection_uuid_pattern.match(loc) or keep_locator_pattern.match(loc)):
        raise StartupError('--collection %s is neither a collection uuid nor a portable data hash' % loc)
    root = CollectionDirectory(llfuse.ROOT_INODE, inodes, api, args.retries, loc, poll_time=args.refresh_time)
    try:
        snapshot = root.fetch()
    except NotFound:
        raise StartupError('collection %s not found or not readable' % loc)
    except Exception as e:
        raise StartupError('cannot load collection %s: %s' % (loc, _describe_api_error(e)))
    inodes.add_entry(root)
    root.apply(snapshot)
    return root


def _magic_root(args, inodes, api, user, pdh_only=False):
    return inodes.add_entry(MagicDirectory(llfuse.ROOT_INODE, inodes, api, args.retries, pdh_only,
                                           poll_time=args.refresh_time, filters=args.filters))


BUILDERS = {
    'collection': _collection_root,
    'by_id': _magic_root,
    'by_pdh': lambda args, inodes, api, user: _magic_root(args, inodes, api, user, pdh_only=True),
}


def build_root(args, inodes, api):
    user = current_user(api)
    builder = BUILDERS.get(args.mode)
    if builder is None:
        raise StartupError('mode --%s is not available yet' % args.mode.replace('_', '-'))
    return builder(args, inodes, api, user)
