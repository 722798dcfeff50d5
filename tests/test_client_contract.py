"""The client contract: what every method of the cluster client returns and
which errors mean "not found".  Each test runs twice, against the fake in
`fakes.py` and against the real `SafeApi` on a local cluster, so the fake
the model's tests rely on cannot drift from the real client.

The contract (see the safeapi module docstring):
- `get_*` of an object that does not exist raises `errors.NotFound`; a server
  failure raises `errors.ApiFailure`;
- `list_*` returns every item, over as many pages as the server needs;
- `get_keep_block` raises NotFound when Keep refuses the block (absent, or
  unsigned where signatures are required), `errors.KeepFailure` on a
  failure; the read path's block source raises KeepFailure for both.
"""

import hashlib
import itertools

import arvados.collection
import pytest

from arvados_fuse.api import safeapi
from arvados_fuse.errors import ApiFailure, KeepFailure, NotFound
from arvados_fuse.api.safeapi import SafeApi

from fakes import FakeApi, FakeKeepError, FakeServerError

_serial = itertools.count(1)


def unique(prefix):
    return '%s-%d' % (prefix, next(_serial))


class FakeWorld(object):
    """Builds objects in the fake cluster, for `api` (a FakeApi) to find."""

    def __init__(self):
        self.api = FakeApi()
        self.me = self.api.current_user()['uuid']
        self.prefix = 'zzzzz'
        self.other = self.api.add_user('Bob', 'Other')

    def project(self, name, owner=None):
        return self.api.add_project(name, owner_uuid=owner or self.me)

    def collection(self, name, files, owner=None):
        return self.api.store_collection(name, files, owner_uuid=owner or self.me)

    def link(self, link_class, name, head_uuid, tail_uuid=None):
        return self.api.add_link(link_class, name, head_uuid, tail_uuid or self.me)

    def new_version(self, coll, files):
        """Update `coll` with `files`, keeping what it was as an old version."""
        return self.api.new_version(coll, files)

    def shared_project(self, name):
        project = self.api.add_project(name, owner_uuid=self.other['uuid'])
        self.api.add_shared(project)
        return project

    def fail(self, server):
        if server == 'keep':
            self.api.keep.fault = FakeKeepError('%s is failing' % server, {'fake': 503})
        else:
            self.api.fault = FakeServerError('%s is failing' % server, status=500)

    def recover(self):
        self.api.fault = self.api.keep.fault = None


class RealWorld(object):
    """The same, on the local cluster: `api` is a SafeApi acting as alice
    (no retries, so a failure shows at once); bob is the other user."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.api = SafeApi({'ARVADOS_API_HOST': cluster.api_host, 'ARVADOS_API_TOKEN': cluster.token('alice'),
                            'ARVADOS_API_HOST_INSECURE': 'true'}, num_retries=0)
        self.alice = cluster.api('alice')
        self.bob = cluster.api('bob')
        self.me = cluster.users['alice']['uuid']
        self.prefix = self.me[:5]
        self.other = cluster.users['bob']

    def project(self, name, owner=None):
        return self.alice.groups().create(body={'group': {
            'name': name, 'group_class': 'project', 'owner_uuid': owner or self.me}}).execute()

    def collection(self, name, files, owner=None):
        c = arvados.collection.Collection(api_client=self.alice)
        for fname, data in files.items():
            with c.open(fname, 'wb') as f:
                f.write(data)
        c.save_new(name=name, owner_uuid=owner or self.me)
        return self.alice.collections().get(uuid=c.manifest_locator()).execute()

    def link(self, link_class, name, head_uuid, tail_uuid=None):
        return self.alice.links().create(body={'link': {
            'link_class': link_class, 'name': name, 'head_uuid': head_uuid,
            'tail_uuid': tail_uuid or self.me}}).execute()

    def new_version(self, coll, files):
        self.cluster.set_settings(collection_versioning=True, preserve_version_if_idle=0)
        try:
            c = arvados.collection.Collection(api_client=self.alice)
            for fname, data in files.items():
                with c.open(fname, 'wb') as f:
                    f.write(data)
            current = self.alice.collections().update(uuid=coll['uuid'], body={
                'manifest_text': c.manifest_text()}).execute()
        finally:
            self.cluster.set_settings(collection_versioning=False, preserve_version_if_idle=10)
        old, = self.alice.collections().list(filters=[['current_version_uuid', '=', coll['uuid']],
                                                      ['version', '=', current['version'] - 1]],
                                             include_old_versions=True).execute()['items']
        return old, current

    def shared_project(self, name):
        project = self.bob.groups().create(body={'group': {'name': name, 'group_class': 'project'}}).execute()
        self.bob.links().create(body={'link': {'link_class': 'permission', 'name': 'can_read',
                                               'head_uuid': project['uuid'], 'tail_uuid': self.me}}).execute()
        return project

    def fail(self, server):
        if server == 'keep':
            for i in range(self.cluster.keep_servers):
                self.cluster.set_fault('keep%d' % i, status=503)
        else:
            self.cluster.set_fault(server, status=500)

    def recover(self):
        self.cluster.clear_faults()


@pytest.fixture(params=[pytest.param('fake', marks=pytest.mark.unit),
                        pytest.param('real', marks=pytest.mark.cluster)])
def world(request):
    if request.param == 'fake':
        w = FakeWorld()
    else:
        w = RealWorld(request.getfixturevalue('module_cluster'))
    try:
        yield w
    finally:
        w.recover()


@pytest.fixture
def small_pages(monkeypatch):
    """Pages of two items, so every listing below needs several."""
    monkeypatch.setattr(safeapi, 'LIST_PAGE', 2)
    monkeypatch.setattr(safeapi, 'TAG_PAGE', 2)
    monkeypatch.setattr(safeapi, 'SHARED_PAGE', 2)


def missing_uuid(world, infix):
    return '%s-%s-%015d' % (world.prefix, infix, 999999999)


def first_locator(manifest):
    return manifest.split('\n')[0].split(' ')[1]


# -- records ---------------------------------------------------------------------
def test_current_user_is_a_user_record(world):
    rec = world.api.current_user()
    assert rec['uuid'] == world.me and '-tpzed-' in rec['uuid']


def test_get_group_returns_the_record_or_raises_not_found(world):
    project = world.project(unique('contract group'))
    rec = world.api.get_group(project['uuid'])
    assert (rec['uuid'], rec['name'], rec['group_class']) == (project['uuid'], project['name'], 'project')
    with pytest.raises(NotFound):
        world.api.get_group(missing_uuid(world, 'j7d0g'))


def test_get_user_returns_the_record_or_raises_not_found(world):
    rec = world.api.get_user(world.other['uuid'])
    assert (rec['uuid'], rec['first_name'], rec['last_name']) == \
        (world.other['uuid'], world.other['first_name'], world.other['last_name'])
    with pytest.raises(NotFound):
        world.api.get_user(missing_uuid(world, 'tpzed'))


def test_get_collection_by_uuid_or_pdh_or_raises_not_found(world):
    coll = world.collection(unique('contract coll'), {'f.txt': b'contract'})
    by_uuid = world.api.get_collection(coll['uuid'])
    by_pdh = world.api.get_collection(coll['portable_data_hash'])
    for rec in (by_uuid, by_pdh):
        assert rec['portable_data_hash'] == coll['portable_data_hash']
        assert '0:8:f.txt' in rec['manifest_text']
    assert by_uuid['uuid'] == coll['uuid']
    short = world.api.get_collection(coll['uuid'], select=['uuid', 'portable_data_hash', 'modified_at'])
    assert 'manifest_text' not in short and short['portable_data_hash'] == coll['portable_data_hash']
    with pytest.raises(NotFound):
        world.api.get_collection(missing_uuid(world, '4zz18'))
    with pytest.raises(NotFound):
        world.api.get_collection(hashlib.md5(b'no such manifest').hexdigest() + '+16')


def test_a_server_failure_is_not_not_found(world):
    project = world.project(unique('contract failing'))
    world.fail('api')
    for call in (lambda: world.api.get_group(project['uuid']),
                 lambda: world.api.get_collection(missing_uuid(world, '4zz18')),
                 lambda: world.api.list_project_contents(project['uuid'])):
        with pytest.raises(ApiFailure):
            call()


# -- listings ----------------------------------------------------------------------
def test_project_contents_are_complete_over_several_pages(world, small_pages):
    project = world.project(unique('contract contents'))
    subs = [world.project('sub %d' % i, owner=project['uuid']) for i in range(3)]
    colls = [world.collection('coll %d' % i, {'x': b'%d' % i}, owner=project['uuid']) for i in range(2)]
    items = world.api.list_project_contents(project['uuid'])
    assert sorted(i['uuid'] for i in items) == sorted(r['uuid'] for r in subs + colls)
    kinds = {i['uuid']: i['kind'] for i in items}
    assert {kinds[s['uuid']] for s in subs} == {'arvados#group'}
    assert {kinds[c['uuid']] for c in colls} == {'arvados#collection'}
    assert {i['name'] for i in items} == {'sub 0', 'sub 1', 'sub 2', 'coll 0', 'coll 1'}
    assert world.api.list_project_contents(subs[0]['uuid']) == []
    # keep(item) decides what is held of each item, as the pages arrive.
    kept = world.api.list_project_contents(project['uuid'], keep=lambda i: {'uuid': i['uuid']})
    assert sorted(kept, key=lambda i: i['uuid']) == sorted(({'uuid': r['uuid']} for r in subs + colls),
                                                           key=lambda i: i['uuid'])


def test_every_version_of_a_collection_in_one_listing(world, small_pages):
    coll = world.collection(unique('contract versions'), {'v': b'1'})
    old1, _ = world.new_version(coll, {'v': b'2'})
    old2, current = world.new_version(coll, {'v': b'3'})
    versions = world.api.list_collection_versions(coll['uuid'])
    assert sorted((v['version'], v['uuid']) for v in versions) == [
        (1, old1['uuid']), (2, old2['uuid']), (3, coll['uuid'])]
    for v in versions:
        assert v['current_version_uuid'] == coll['uuid'] and 'manifest_text' not in v
        assert v['portable_data_hash'] and v['name'] == coll['name']
    assert len({v['portable_data_hash'] for v in versions}) == 3
    # An old version is a collection of its own, by uuid, with no versions.
    assert world.api.get_collection(old1['uuid'])['portable_data_hash'] == old1['portable_data_hash']
    assert world.api.list_collection_versions(old1['uuid']) == []
    assert world.api.list_collection_versions(missing_uuid(world, '4zz18')) == []
    # A project lists the current version only.
    assert coll['uuid'] in {i['uuid'] for i in world.api.list_project_contents(coll['owner_uuid'])}
    assert not {old1['uuid'], old2['uuid']} & {i['uuid'] for i in world.api.list_project_contents(coll['owner_uuid'])}


def test_the_forward_slash_name_substitution_as_configured(world):
    assert world.api.forward_slash_name_substitution() == ''


def test_names_found_by_like_patterns(world):
    project = world.project(unique('contract patterns'))
    for name in ('a%b', 'axb', 'a_b', 'a-long-b', 'ab'):
        world.collection(name, {'p': b'p'}, owner=project['uuid'])
    found = {i['name'] for i in world.api.find_in_project(project['uuid'], ['ab'], ['a_b', 'a%b'])[0]}
    assert found == {'a%b', 'axb', 'a_b', 'a-long-b', 'ab'}
    found = [i['name'] for i in world.api.find_in_project(project['uuid'], [], ['a\\%b'])[0]]
    assert found == ['a%b']


def test_newest_log_id_grows_with_every_change(world):
    before = world.api.newest_log_id()
    assert isinstance(before, int) and before >= 0
    world.project(unique('contract log'))
    assert world.api.newest_log_id() > before


def test_name_links_of_a_project(world, small_pages):
    project = world.project(unique('contract links'))
    coll = world.collection(unique('linked'), {'y': b'y'})
    for name in ('one', 'two', 'three'):
        world.link('name', name, coll['portable_data_hash'], tail_uuid=project['uuid'])
    links = world.api.list_name_links(project['uuid'])
    assert sorted(link['name'] for link in links) == ['one', 'three', 'two']
    for link in links:
        assert link['link_class'] == 'name' and link['head_uuid'] == coll['portable_data_hash']
        assert link['tail_uuid'] == project['uuid'] and '-o0j2j-' in link['uuid']


def test_users_every_one_or_by_username(world, small_pages):
    users = world.api.list_users()
    uuids = [u['uuid'] for u in users]
    assert uuids == sorted(set(uuids))
    assert {world.me, world.other['uuid']} <= set(uuids)
    by_uuid = {u['uuid']: u for u in users}
    assert by_uuid[world.other['uuid']]['username'] == 'bob'
    for u in users:
        assert set(u) >= {'uuid', 'username', 'created_at', 'modified_at'} and '-tpzed-' in u['uuid']
    assert [u['uuid'] for u in world.api.list_users(usernames=['bob'])] == [world.other['uuid']]
    both = world.api.list_users(usernames=['bob', by_uuid[world.me]['username'], 'nosuchuser'])
    assert [u['uuid'] for u in both] == sorted([world.me, world.other['uuid']])
    assert world.api.list_users(usernames=['nosuchuser']) == []
    assert world.api.list_users(usernames=[]) == []


def test_tags_names_existence_and_tagged_collections(world, small_pages):
    tag = unique('contract-tag')
    colls = [world.collection(unique('tagged'), {'z': b'%d' % i}) for i in range(3)]
    for c in colls:
        world.link('tag', tag, c['uuid'])
    world.link('tag', tag + '-other', colls[0]['uuid'])
    world.link('tag', tag + '-third', colls[1]['uuid'])
    names = world.api.list_tag_names()
    assert names == sorted(set(names))
    assert {tag, tag + '-other', tag + '-third'} <= set(names)
    assert world.api.tag_exists(tag) and not world.api.tag_exists(tag + '-never')
    records = world.api.list_tagged_collections(tag)
    assert [r['uuid'] for r in records] == sorted(c['uuid'] for c in colls)
    for r in records:
        assert 'manifest_text' not in r
        assert set(r) >= {'uuid', 'name', 'portable_data_hash', 'modified_at'}
    assert world.api.list_tagged_collections(tag + '-never') == []


def test_shared_projects_come_with_their_owners(world, small_pages):
    projects = [world.shared_project(unique('contract shared')) for _ in range(3)]
    roots, owners = world.api.list_shared(world.me)
    assert {p['uuid'] for p in projects} <= {r['uuid'] for r in roots}
    owner = owners[world.other['uuid']]
    assert (owner['first_name'], owner['last_name']) == (world.other['first_name'], world.other['last_name'])
    assert world.me not in {r['owner_uuid'] for r in roots}


# -- Keep ----------------------------------------------------------------------------
def test_keep_blocks_by_locator_and_refusals(world):
    coll = world.collection(unique('blocks'), {'b': b'block contract bytes'})
    locator = first_locator(world.api.get_collection(coll['uuid'])['manifest_text'])
    assert bytes(world.api.get_keep_block(locator)) == b'block contract bytes'
    assert bytes(world.api.block_source(0).get(locator)) == b'block contract bytes'
    absent = hashlib.md5(b'never stored').hexdigest() + '+12'
    with pytest.raises(NotFound):
        world.api.get_keep_block(absent)
    with pytest.raises(KeepFailure):
        world.api.block_source(0).get(absent)


def test_a_keep_failure_is_not_not_found(world):
    coll = world.collection(unique('failing blocks'), {'k': b'not fetched before'})
    locator = first_locator(world.api.get_collection(coll['uuid'])['manifest_text'])
    world.fail('keep')
    with pytest.raises(KeepFailure) as e:
        world.api.get_keep_block(locator, num_retries=0)
    assert not isinstance(e.value, NotFound)


@pytest.mark.cluster
def test_shared_without_groups_shared_gives_the_same_answer(module_cluster, small_pages, monkeypatch):
    """Servers without groups.shared get the seed's way (listing every
    project): the same roots and owners."""
    world = RealWorld(module_cluster)
    world.shared_project(unique('contract shared old way'))
    world.project(unique('contract mine'))  # my own: not shared with me
    by_server = world.api.list_shared(world.me)
    monkeypatch.setattr(world.api, 'has_method', lambda resource, method: False)
    by_listing = world.api.list_shared(world.me)
    assert sorted(r['uuid'] for r in by_listing[0]) == sorted(r['uuid'] for r in by_server[0])
    assert sorted(by_listing[1]) == sorted(by_server[1])
