"""ProjectDirectory against a fake cluster: what a project shows, which
item wins a name, and times that need no collection load."""

from arvados_fuse import CollectionDirectory, Inodes, ObjectFile, ProjectDirectory
from arvados_fuse.fs.fresh import convert_time
from arvados_fuse.fs.inodes import ROOT_INODE

from fakes import FakeApi

PROJECT = {'uuid': 'zzzzz-j7d0g-000000000000000', 'name': 'P', 'modified_at': '2024-01-01T00:00:00.5Z',
           'group_class': 'project'}


def _item(kind, n, name, created='2024-01-01T00:00:00Z', **extra):
    infix = {'collection': '4zz18', 'group': 'j7d0g', 'workflow': '7fd4e', 'link': 'o0j2j'}[kind]
    rec = {'uuid': 'zzzzz-%s-%015d' % (infix, n), 'name': name, 'kind': 'arvados#' + kind,
           'created_at': created, 'modified_at': created, 'portable_data_hash': '%032d+0' % n}
    rec.update(extra)
    return rec


def _project(api):
    api.group_records[PROJECT['uuid']] = PROJECT
    inodes = Inodes()
    root = inodes.add_entry(ProjectDirectory(ROOT_INODE, inodes, api, 0, PROJECT))
    root.update()
    return root


def test_trashed_items_and_old_versions_are_hidden():
    api = FakeApi()
    current = _item('collection', 1, 'current', current_version_uuid='zzzzz-4zz18-000000000000001')
    old = _item('collection', 2, 'old version', current_version_uuid='zzzzz-4zz18-000000000000001')
    trashed = _item('collection', 3, 'trashed', is_trashed=True)
    trashed_project = _item('group', 4, 'trashed project', is_trashed=True, group_class='project')
    api.contents[PROJECT['uuid']] = [current, old, trashed, trashed_project]
    root = _project(api)
    assert [n for n, _ in root.listing()] == ['current']


def test_name_winners_subproject_then_collection_then_other_then_oldest():
    api = FakeApi()
    api.contents[PROJECT['uuid']] = [
        _item('collection', 1, 'a', created='2020-01-01T00:00:00Z'),
        _item('group', 2, 'a', created='2024-01-01T00:00:00Z', group_class='project'),
        _item('workflow', 3, 'b'),
        _item('collection', 4, 'b.workflow', created='2024-06-01T00:00:00Z'),
        _item('collection', 5, 'c', created='2024-06-01T00:00:00Z'),
    ]
    api.links = [{'uuid': 'zzzzz-o0j2j-000000000000006', 'kind': 'arvados#link', 'name': 'c',
                       'tail_uuid': PROJECT['uuid'], 'head_uuid': '%032d+0' % 9, 'link_class': 'name',
                       'created_at': '2021-01-01T00:00:00Z', 'modified_at': '2021-02-03T04:05:06.75Z'}]
    root = _project(api)
    assert isinstance(root.entry('a'), ProjectDirectory)
    assert root.entry('b.workflow').collection_locator == 'zzzzz-4zz18-000000000000004'
    # Collection and name link rank equal: the older (the link) wins, and
    # its directory has the link's time before anything loads it.
    c = root.entry('c')
    assert isinstance(c, CollectionDirectory) and c.collection_locator == '%032d+0' % 9
    assert c.mtime() == convert_time('2021-02-03T04:05:06.75Z')
    assert api.calls.count(('collections.get', '%032d+0' % 9)) == 0
    # Reversed input order gives the same result.
    api.contents[PROJECT['uuid']].reverse()
    root2 = _project(api)
    assert sorted((n, type(e).__name__) for n, e in root2.listing()) == \
        sorted((n, type(e).__name__) for n, e in root.listing())


def test_other_objects_are_json_files_refreshed_in_place():
    api = FakeApi()
    wf = _item('workflow', 1, 'flow')
    api.contents[PROJECT['uuid']] = [wf]
    root = _project(api)
    f = root.entry('flow.workflow')
    assert isinstance(f, ObjectFile) and b'"flow"' in f.readfrom(0, 10000)
    api.contents[PROJECT['uuid']] = [dict(wf, description='changed', modified_at='2025-01-01T00:00:00Z')]
    root.invalidate()
    root.update()
    assert root.entry('flow.workflow') is f
    assert b'changed' in f.readfrom(0, 10000)
