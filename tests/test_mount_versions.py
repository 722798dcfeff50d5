"""`.arvados#versions/` through the kernel: every version of a collection
the cluster versioned (Collections.CollectionVersioning), each read back
with its own bytes, `diff -r` between two versions, and old versions by
uuid in by_id."""

import json
import os
import subprocess
import time

import arvados.collection
import pytest

from localcluster.testing import LocalCluster
from mountutil import mounted

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope='module')
def versioned(tmp_path_factory):
    """A cluster versioning every update, and one collection updated five
    times: (cluster, current record, {version: {path: bytes}})."""
    with LocalCluster(tmp_path_factory.mktemp('versions-cluster'),
                      extra_args=['--collection-versioning', '--preserve-version-if-idle', '0']) as c:
        api = c.api('alice')
        contents = {}
        files = {}
        for version in range(1, 7):
            files = dict(files)
            files['common.txt'] = b'version %d\n' % version
            files['only-in-%d.txt' % version] = b'%d' % version * 1000
            if version > 1:
                files.pop('only-in-%d.txt' % (version - 1))
            files['dir/%d' % version] = b'added in %d\n' % version
            new = arvados.collection.Collection(api_client=api)
            for path, data in files.items():
                with new.open(path, 'wb') as f:
                    f.write(data)
            if version == 1:
                new.save_new(name='versioned')
                uuid = new.manifest_locator()
            else:
                api.collections().update(uuid=uuid, body={'manifest_text': new.manifest_text()}).execute()
            contents[version] = files
        current = api.collections().get(uuid=uuid).execute()
        assert current['version'] == 6
        yield c, current, contents


def _tree(root):
    out = {}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, 'rb') as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_every_version_reads_back_its_own_bytes(versioned):
    c, current, contents = versioned
    with mounted(c.full_env('alice'), '--all') as m:
        coll = m.join('home', 'versioned')
        versions = os.path.join(coll, '.arvados#versions')
        # Hidden: never listed, always reachable.
        assert '.arvados#versions' not in os.listdir(coll)
        assert sorted(os.listdir(versions), key=int) == ['1', '2', '3', '4', '5', '6']
        for version, files in contents.items():
            assert _tree(os.path.join(versions, str(version))) == files
            record = json.load(open(os.path.join(versions, str(version), '.arvados#collection')))
            assert record['version'] == version
            assert record['current_version_uuid'] == current['uuid']
        assert _tree(coll) == contents[6]
        # diff -r of two versions shows the change.
        diff = subprocess.run(['diff', '-r', os.path.join(versions, '2'), os.path.join(versions, '3')],
                              capture_output=True, text=True)
        assert diff.returncode == 1
        assert '< version 2' in diff.stdout and '> version 3' in diff.stdout
        assert 'Only in %s: only-in-2.txt' % os.path.join(versions, '2') in diff.stdout
        assert 'Only in %s: only-in-3.txt' % os.path.join(versions, '3') in diff.stdout
        assert 'Only in %s: 3' % os.path.join(versions, '3', 'dir') in diff.stdout
        same = subprocess.run(['diff', '-r', os.path.join(versions, '6'), coll], capture_output=True, text=True)
        assert same.returncode == 0, same.stdout
        # Old versions by their own uuid in by_id, and by_id/<uuid> has them too.
        old = json.load(open(os.path.join(versions, '1', '.arvados#collection')))
        assert old['uuid'] != current['uuid']
        assert _tree(m.join('by_id', old['uuid'])) == contents[1]
        assert sorted(os.listdir(m.join('by_id', current['uuid'], '.arvados#versions')), key=int) \
            == ['1', '2', '3', '4', '5', '6']
        assert os.getxattr(os.path.join(versions, '4'), 'user.arvados.uuid').decode() != current['uuid']


def test_a_new_version_appears_in_the_listing(versioned):
    c = versioned[0]
    api = c.api('alice')
    new = arvados.collection.Collection(api_client=api)
    with new.open('fresh.txt', 'wb') as f:
        f.write(b'fresh\n')
    new.save_new(name='growing')
    with mounted(c.full_env('alice'), '--collection', new.manifest_locator(),
                 '--disable-event-listening', '--refresh-time', '1') as m:
        versions = m.join('.arvados#versions')
        assert os.listdir(versions) == ['1']
        with open(os.path.join(versions, '1', 'fresh.txt'), 'rb') as f:
            assert f.read() == b'fresh\n'
        with new.open('fresh.txt', 'wb') as f:
            f.write(b'fresher\n')
        new.save()
        # The listing follows the collection's freshness (here, polling).
        deadline = time.time() + 60
        while sorted(os.listdir(versions)) != ['1', '2']:
            assert time.time() < deadline, os.listdir(versions)
            time.sleep(0.2)
        assert open(os.path.join(versions, '1', 'fresh.txt'), 'rb').read() == b'fresh\n'
        assert open(os.path.join(versions, '2', 'fresh.txt'), 'rb').read() == b'fresher\n'
        assert open(m.join('fresh.txt'), 'rb').read() == b'fresher\n'
