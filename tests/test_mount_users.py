"""`users/` through a real mount against the local cluster: one directory
per username, each that user's home as far as the mounting user (alice)
may read it; a lookup of one username asks for it alone; --mount-users.

The local cluster shows every user record to every user, as Arvados does
by default (Users.ActivatedUsersAreVisibleToOthers); with that setting
false, users alice has no permission path to are absent from users/."""

import json
import os

import arvados.collection
import pytest

from mountutil import mounted

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope='module')
def homes(module_cluster):
    """Bob's home: a project shared with alice (holding a collection) and a
    private one; admin's home: a private project."""
    bob = module_cluster.api('bob')
    shared = bob.groups().create(body={'group': {'name': 'Bob for alice', 'group_class': 'project'}}).execute()
    bob.groups().create(body={'group': {'name': 'Bob private', 'group_class': 'project'}}).execute()
    bob.links().create(body={'link': {'link_class': 'permission', 'name': 'can_read', 'head_uuid': shared['uuid'],
                                      'tail_uuid': module_cluster.users['alice']['uuid']}}).execute()
    c = arvados.collection.Collection(api_client=bob)
    with c.open('note.txt', 'wb') as f:
        f.write(b'from bob')
    c.save_new(name='Bob notes', owner_uuid=shared['uuid'])
    module_cluster.api('admin').groups().create(body={'group': {
        'name': 'Admin private', 'group_class': 'project'}}).execute()
    return module_cluster


def test_users_lists_each_readable_home_by_username(homes):
    with mounted(homes.full_env('alice')) as m:
        assert 'users' in os.listdir(m.path)
        assert '\nusers/' in open(m.join('README')).read()
        users = os.listdir(m.join('users'))
        assert {'admin', 'alice', 'bob'} <= set(users)
        # Bob's home shows what bob shared with alice, not his private project.
        assert os.listdir(m.join('users', 'bob')) == ['Bob for alice']
        assert os.listdir(m.join('users', 'bob', 'Bob for alice')) == ['Bob notes']
        with open(m.join('users', 'bob', 'Bob for alice', 'Bob notes', 'note.txt'), 'rb') as f:
            assert f.read() == b'from bob'
        record = json.load(open(m.join('users', 'bob', '.arvados#project')))
        assert record['uuid'] == homes.users['bob']['uuid']
        # Nothing of admin's home is readable by alice: an empty directory.
        assert os.listdir(m.join('users', 'admin')) == []
        # Alice's own home, as home/ shows it.
        assert sorted(os.listdir(m.join('users', 'alice'))) == sorted(os.listdir(m.join('home')))
        assert not os.path.exists(m.join('users', 'nosuchuser'))


def test_a_walk_through_users_asks_for_one_username(homes):
    with mounted(homes.full_env('alice')) as m:
        assert 'users' in os.listdir(m.path)
        homes.reset_api_calls()
        assert os.path.isdir(m.join('users', 'bob', 'Bob for alice'))
        listings = [e for e in homes.api_call_log() if e['route'] == 'users.list']
        assert len(listings) == 1, listings
        assert ['username', 'in', ['bob']] in json.loads(listings[0]['params']['filters']), listings


def test_mount_users_at_a_path_of_its_own(homes):
    with mounted(homes.full_env('alice'), '--mount-users', 'people/all') as m:
        assert sorted(os.listdir(m.path)) == ['README', 'people']
        assert os.listdir(m.join('people', 'all', 'bob')) == ['Bob for alice']


def test_a_user_alice_may_not_see_is_absent(homes):
    """With Users.ActivatedUsersAreVisibleToOthers false, alice sees no
    other user's record (bob shared a project with her, which grants
    nothing on bob himself): users/ holds alice alone, and users/bob is
    ENOENT, while what bob shared still shows in shared/."""
    homes.set_settings(users_visible_to_others=False)
    try:
        with mounted(homes.full_env('alice')) as m:
            assert os.listdir(m.join('users')) == ['alice']
            assert not os.path.exists(m.join('users', 'bob'))
            with pytest.raises(FileNotFoundError):
                os.listdir(m.join('users', 'bob'))
            assert 'Bob for alice' in os.listdir(m.join('shared'))
    finally:
        homes.set_settings(users_visible_to_others=True)
