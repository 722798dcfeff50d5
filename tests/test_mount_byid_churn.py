"""by_id lets go of what was deleted: a collection looked up by uuid and then
deleted, or whose project was trashed (no event comes for the collection
itself), leaves by_id's listing and answers ENOENT; its inodes go when the
kernel lets go.  Before, each stayed in by_id as an empty directory (or,
for a trashed project, with its old files readable) for the mount's life:
under churn the inode table grew without bound."""

import os
import time

import pytest

from mountutil import mounted

pytestmark = pytest.mark.timeout(180)

WAIT = 60  # events arrive within a second or two; generous on a loaded machine


def _until(predicate):
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _collection(api, owner, name):
    return api.collections().create(body={'collection': {
        'name': name, 'owner_uuid': owner, 'manifest_text': ''}}).execute()['uuid']


def test_by_id_forgets_deleted_collections_and_those_of_trashed_projects(module_cluster):
    c = module_cluster
    api = c.api('alice')
    home = c.users['alice']['uuid']
    project = api.groups().create(body={'group': {'name': 'soon trashed', 'group_class': 'project'}}).execute()
    inside = _collection(api, project['uuid'], 'inside')
    alone = _collection(api, home, 'alone')
    kept = _collection(api, home, 'kept')
    moved = _collection(api, home, 'moved')
    with mounted(c.full_env('alice')) as m:
        by_id = m.join('by_id')
        for uuid in (inside, alone, kept, moved):
            assert os.listdir(os.path.join(by_id, uuid)) == []
        assert {inside, alone, kept, moved} <= set(os.listdir(by_id))
        # Moved into the project after its lookup: by_id follows it there.
        api.collections().update(uuid=moved, body={'collection': {'owner_uuid': project['uuid']}}).execute()
        assert _until(lambda: 'moved' in os.listdir(m.join('home', 'soon trashed')))
        # The move's event refreshes by_id's copy in the background (nothing to see
        # from here); should the trash come first, that refresh finds it gone.
        time.sleep(2)

        api.collections().delete(uuid=alone).execute()
        api.groups().delete(uuid=project['uuid']).execute()
        gone = {inside, alone, moved}
        assert _until(lambda: not gone & set(os.listdir(by_id))), (os.listdir(by_id), m.log()[-3000:])
        for uuid in gone:
            assert not os.path.exists(os.path.join(by_id, uuid))
        assert kept in os.listdir(by_id)
        assert os.listdir(os.path.join(by_id, kept)) == []
