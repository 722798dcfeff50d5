"""Collections.ForwardSlashNameSubstitution through the kernel: names with
`/` show the cluster's substitute (one character or several) in projects,
home, shared and by_tag, a lookup by the substituted name opens the object,
and the literal name wins over one that only looks like it; with the
setting empty, or a config without the key (an old cluster), `/` shows as
`_` (upstream arv-mount's reading of the setting)."""

import os

import arvados
import pytest

from localcluster.testing import LocalCluster
from mountutil import mounted

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope='module')
def slash_cluster(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp('slash-cluster')) as c:
        yield c


def _collection(api, name, owner, text):
    keep = arvados.KeepClient(api_client=api, num_retries=2)
    loc = keep.put(text)
    return api.collections().create(body={'collection': {
        'name': name, 'owner_uuid': owner, 'manifest_text': '. %s 0:%d:which\n' % (loc, len(text))}}).execute()


def _which(path):
    with open(os.path.join(path, 'which'), 'rb') as f:
        return f.read()


@pytest.mark.parametrize('setting', ['%2f', '\N{DIVISION SLASH}', None], ids=['several', 'one', 'no-key'])
def test_slashes_show_the_substitute(slash_cluster, setting):
    c = slash_cluster
    shown = '_' if setting is None else setting
    slash_cluster.set_settings(forward_slash_name_substitution=setting)
    try:
        alice, bob = c.api('alice'), c.api('bob')
        tag = 'tag/%s' % (setting or 'none')
        proj = alice.groups().create(body={'group': {'name': 'p/%s' % (setting or 'none'),
                                                     'group_class': 'project'}}, ensure_unique_name=True).execute()
        owner = proj['uuid']
        slashed = _collection(alice, 'a/b', owner, b'slashed')
        deep = _collection(alice, 'x/y/z', owner, b'deep')
        # The literal spelling, made later: it wins the name.
        literal = _collection(alice, 'a%sb' % shown, owner, b'literal')
        alice.links().create(body={'link': {'link_class': 'tag', 'name': tag, 'head_uuid': deep['uuid']}}).execute()
        shared = bob.groups().create(body={'group': {'name': 'from/bob %s' % (setting or 'none'),
                                                     'group_class': 'project'}}).execute()
        _collection(bob, 'in/shared', shared['uuid'], b'shared')
        bob.links().create(body={'link': {'link_class': 'permission', 'name': 'can_read',
                                          'tail_uuid': c.users['alice']['uuid'],
                                          'head_uuid': shared['uuid']}}).execute()
        pname = proj['name'].replace('/', shown)
        with mounted(c.full_env('alice'), '--all') as m:
            # A lookup before any listing asks the server for the name alone.
            p = m.join('home', pname)
            assert _which(os.path.join(p, 'x%sy%sz' % (shown, shown))) == b'deep'
            assert _which(os.path.join(p, 'a%sb' % shown)) == b'literal'
            assert sorted(os.listdir(p)) == sorted(['a%sb' % shown, 'x%sy%sz' % (shown, shown)])
            assert os.getxattr(os.path.join(p, 'a%sb' % shown), 'user.arvados.uuid').decode() == literal['uuid']
            assert pname in os.listdir(m.join('home'))
            # by_tag and shared show the substitute too.
            tag_dir = m.join('by_tag', tag.replace('/', shown))
            assert os.listdir(tag_dir) == [deep['uuid']]
            assert tag.replace('/', shown) in os.listdir(m.join('by_tag'))
            bob_dir = m.join('shared', 'Bob Other', shared['name'].replace('/', shown))
            assert _which(os.path.join(bob_dir, 'in%sshared' % shown)) == b'shared'
            # The loser of the name is reachable by uuid.
            assert _which(m.join('by_id', slashed['uuid'])) == b'slashed'
            assert not any('/' in n for n in os.listdir(p))
        # A fresh mount, the looked-up names first: the same answers.
        with mounted(c.full_env('alice'), '--project', owner) as m:
            assert _which(m.join('a%sb' % shown)) == b'literal'
            assert _which(m.join('x%sy%sz' % (shown, shown))) == b'deep'
            if setting is not None:
                # `_` is no spelling of `/` here.
                assert not os.path.exists(m.join('x_y_z'))
    finally:
        slash_cluster.set_settings(forward_slash_name_substitution='')


def test_slashes_refused_while_the_setting_is_empty(slash_cluster):
    c = slash_cluster
    alice = c.api('alice', num_retries=0)
    with pytest.raises(arvados.errors.ApiError) as e:
        alice.collections().create(body={'collection': {'name': 'no/slash'}}).execute()
    assert e.value.resp.status == 422
    proj = alice.groups().create(body={'group': {'name': 'plain names', 'group_class': 'project'}}).execute()
    _collection(alice, 'a_b', proj['uuid'], b'underscore')
    with mounted(c.full_env('alice'), '--project', proj['uuid']) as m:
        assert os.listdir(m.path) == ['a_b']
        assert _which(m.join('a_b')) == b'underscore'
