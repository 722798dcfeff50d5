"""`users/` against the fake cluster, through the adapter (no kernel): one
home per username, listed only when opened, a lookup of one username
asking for it alone, the name rules, and freshness by user events."""

import errno
import os
import types

import llfuse
import pytest

from arvados_fuse import Operations, ProjectDirectory
from arvados_fuse.fs.inodes import ROOT_INODE, kind_key
from arvados_fuse.fs.roots import build_root
from arvados_fuse.fs.users import UsersDirectory

from fakes import FakeApi

pytestmark = pytest.mark.unit


def call(method, *args):
    with llfuse.lock:
        return method(*args)


def lookup(ops, parent, name):
    return call(ops.lookup, parent, name.encode()).st_ino


def names(ops, inode):
    fh = call(ops.opendir, inode)
    try:
        return sorted(n.decode() for n, _attr, _next in call(lambda: list(ops.readdir(fh, 0)))
                      if n not in (b'.', b'..'))
    finally:
        call(ops.releasedir, fh)


def users_calls(api):
    return [arg for name, arg in api.calls if name == 'users.list']


@pytest.fixture
def api():
    api = FakeApi()
    api.bob = api.add_user('Bob', 'Other')
    api.store_collection('bob shares this', {'b.txt': b'bob'}, owner_uuid=api.bob['uuid'])
    api.add_project('bob project', owner_uuid=api.bob['uuid'])
    api.add_user('Nameless', 'User', username=None)
    api.add_user('Empty', 'Name', username='')
    return api


def mounted(api, **layout):
    ops = Operations(os.getuid(), os.getgid(), refresh_time=15)
    args = types.SimpleNamespace(mode='custom' if layout else 'all', retries=0, refresh_time=15, filters=None,
                                 **{'mount_' + k: [] for k in ('home', 'shared', 'users', 'by_id', 'by_pdh',
                                                               'by_tag')})
    for kind, path in layout.items():
        getattr(args, 'mount_' + kind).append(path)
    with llfuse.lock:
        build_root(args, ops.inodes, api)
    return ops


def test_all_mode_has_users_listed_only_when_opened(api):
    ops = mounted(api)
    assert names(ops, ROOT_INODE) == ['README', 'by_id', 'by_tag', 'home', 'shared', 'users']
    readme = call(ops.inodes.__getitem__, lookup(ops, ROOT_INODE, 'README')).readfrom(0, 10000).decode()
    assert '\nusers/' in readme and 'username' in readme
    users = lookup(ops, ROOT_INODE, 'users')
    assert users_calls(api) == []
    # Users without a username are left out, as the Go mount does.
    assert names(ops, users) == ['bob', 'me']
    assert users_calls(api) == [None]
    bob = call(ops.inodes.__getitem__, lookup(ops, users, 'bob'))
    assert isinstance(bob, ProjectDirectory) and bob.uuid == api.bob['uuid']
    assert names(ops, bob.inode) == ['bob project', 'bob shares this']
    assert names(ops, lookup(ops, users, 'me')) == names(ops, lookup(ops, ROOT_INODE, 'home'))
    assert users_calls(api) == [None]


def test_a_lookup_asks_for_that_username_alone(api):
    ops = mounted(api)
    users = lookup(ops, ROOT_INODE, 'users')
    bob = lookup(ops, users, 'bob')
    assert call(ops.inodes.__getitem__, bob).uuid == api.bob['uuid']
    assert users_calls(api) == [['bob']]
    assert errno_of(ops, users, 'nobody') == errno.ENOENT
    assert users_calls(api) == [['bob'], ['nobody']]
    # Asked for once until the next refresh: no query per probe.
    assert errno_of(ops, users, 'nobody') == errno.ENOENT
    assert lookup(ops, users, 'bob') == bob
    assert users_calls(api) == [['bob'], ['nobody']]


def errno_of(ops, parent, name):
    with pytest.raises(llfuse.FUSEError) as e:
        lookup(ops, parent, name)
    return e.value.errno


def test_an_unlisted_user_is_absent(api):
    ops = mounted(api)
    users = lookup(ops, ROOT_INODE, 'users')
    hidden = api.add_user('Hidden', 'User')
    del api.users[hidden['uuid']]   # the server does not list it to this token
    assert 'hidden' not in names(ops, users)
    assert errno_of(ops, users, 'hidden') == errno.ENOENT


def test_colliding_names_the_literal_then_the_oldest_then_the_smallest_uuid():
    api = FakeApi()
    slash = api.add_user('Slash', 'A', username='a/b', created_at='2020-01-01T00:00:00Z')
    literal = api.add_user('Literal', 'A', username='a_b', created_at='2024-01-01T00:00:00Z')
    old = api.add_user('Old', 'Dup', username='dup', created_at='2020-01-01T00:00:00Z')
    api.add_user('New', 'Dup', username='dup', created_at='2024-01-01T00:00:00Z')
    first = api.add_user('First', 'Same', username='same')
    api.add_user('Second', 'Same', username='same')
    winners = {'a_b': literal, 'dup': old, 'same': first}
    # Listed, and each looked up alone on a fresh mount: the same winner.
    ops = mounted(api)
    users = lookup(ops, ROOT_INODE, 'users')
    assert names(ops, users) == ['a_b', 'dup', 'me', 'same']
    for name, rec in winners.items():
        assert call(ops.inodes.__getitem__, lookup(ops, users, name)).uuid == rec['uuid']
    assert slash['uuid'] not in {e.uuid for _, e in call(ops.inodes[users].listing)}
    asked = {}
    for name, rec in winners.items():
        ops = mounted(api)
        users = lookup(ops, ROOT_INODE, 'users')
        assert call(ops.inodes.__getitem__, lookup(ops, users, name)).uuid == rec['uuid']
        asked[name] = users_calls(api)[-1]
    # A name with `_` may be a sanitized one: every user is asked for.
    assert asked == {'a_b': None, 'dup': ['dup'], 'same': ['same']}


def test_a_user_event_makes_users_stale(api):
    ops = mounted(api)
    users = lookup(ops, ROOT_INODE, 'users')
    assert names(ops, users) == ['bob', 'me']
    api.add_user('Carol', 'New')
    assert names(ops, users) == ['bob', 'me']   # fresh until an event or --refresh-time
    with llfuse.lock:
        assert users in ops.inodes.inodes_for_uuids([kind_key('arvados#user')])
        ops.model.changes.invalidate_uuids([kind_key('arvados#user')])
    assert names(ops, users) == ['bob', 'carol', 'me']


def test_mount_users_in_a_custom_layout(api):
    ops = mounted(api, users='people/all', home='h')
    assert names(ops, ROOT_INODE) == ['README', 'h', 'people']
    users = lookup(ops, lookup(ops, ROOT_INODE, 'people'), 'all')
    assert isinstance(call(ops.inodes.__getitem__, users), UsersDirectory)
    assert names(ops, lookup(ops, users, 'bob')) == ['bob project', 'bob shares this']
