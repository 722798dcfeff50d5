"""Freshness through real mounts: changes on the server show up within
--refresh-time by polling, at once with websocket events; PDH collections
never need the API again."""

import json
import os
import time

import arvados.collection
import pytest

from mountutil import mounted

pytestmark = pytest.mark.timeout(180)


def wait_for(predicate, timeout=20, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError('condition not met within %ss' % timeout)


def new_collection(api, name, files, owner=None):
    c = arvados.collection.Collection(api_client=api)
    for path, data in files.items():
        with c.open(path, 'wb') as f:
            f.write(data)
    c.save_new(name=name, owner_uuid=owner)
    return c


def listing(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return None


def read(path):
    try:
        with open(path, 'rb') as f:
            return f.read()
    except OSError:
        return None


@pytest.mark.parametrize('events', [False, True], ids=['polling', 'events'])
def test_home_sees_create_update_rename_delete(fresh_cluster, events):
    """With events, --refresh-time is long, so only events can explain a
    quick change; without them, polling every second must."""
    api = fresh_cluster.api('alice')
    opts = ['--home', '--refresh-time', '300'] if events else \
        ['--home', '--refresh-time', '1', '--disable-event-listening']
    with mounted(fresh_cluster.full_env('alice'), *opts) as m:
        assert listing(m.path) == []
        c = new_collection(api, 'fresh one', {'a.txt': b'first version'})
        wait_for(lambda: listing(m.path) == ['fresh one'])
        assert read(m.join('fresh one', 'a.txt')) == b'first version'

        # New content: the file shows the new bytes.
        c.open('a.txt', 'wb').write(b'second, longer version')
        c.save()
        wait_for(lambda: read(m.join('fresh one', 'a.txt')) == b'second, longer version')

        api.collections().update(uuid=c.manifest_locator(), body={'name': 'renamed'}).execute()
        wait_for(lambda: listing(m.path) == ['renamed'])

        record = json.loads(read(m.join('renamed', '.arvados#collection')))
        assert record['name'] == 'renamed'

        api.collections().delete(uuid=c.manifest_locator()).execute()
        wait_for(lambda: listing(m.path) == [])


def test_project_record_file_is_fresh(fresh_cluster):
    api = fresh_cluster.api('alice')
    p = api.groups().create(body={'name': 'proj', 'group_class': 'project'}).execute()
    with mounted(fresh_cluster.full_env('alice'), '--project', p['uuid'], '--refresh-time', '1',
                 '--disable-event-listening') as m:
        assert json.loads(read(m.join('.arvados#project')))['name'] == 'proj'
        api.groups().update(uuid=p['uuid'], body={'description': 'now described'}).execute()
        wait_for(lambda: (json.loads(read(m.join('.arvados#project')) or b'{}') or {}).get('description')
                 == 'now described')


def test_pdh_collection_needs_no_api_after_loading(fresh_cluster):
    api = fresh_cluster.api('alice')
    c = new_collection(api, 'immutable', {'x/y.txt': b'stays readable'})
    pdh = c.portable_data_hash()
    with mounted(fresh_cluster.full_env('alice'), '--by-pdh', '--refresh-time', '1') as m:
        assert read(m.join(pdh, 'x', 'y.txt')) == b'stays readable'
        fresh_cluster.set_fault('api', status=500)
        try:
            time.sleep(2.5)  # several refresh periods: nothing may go stale
            assert listing(m.join(pdh)) == ['x']
            assert read(m.join(pdh, 'x', 'y.txt')) == b'stays readable'
            # Served without asking the API: no failed refresh was logged.
            assert 'could not refresh' not in m.log() and 'not found' not in m.log()
        finally:
            fresh_cluster.clear_faults()


def test_new_tag_and_share_show_up_through_events(fresh_cluster):
    """by_tag and shared list links and groups found by attributes other
    than their owner; with a long --refresh-time only events explain a quick
    change."""
    alice, bob = fresh_cluster.api('alice'), fresh_cluster.api('bob')
    c = new_collection(alice, 'to tag', {'t.txt': b'tagged'})
    with mounted(fresh_cluster.full_env('alice'), '--refresh-time', '300') as m:
        assert listing(m.join('by_tag')) == []
        assert listing(m.join('shared')) == []
        alice.links().create(body={'link_class': 'tag', 'name': 'fresh-tag', 'head_uuid': c.manifest_locator(),
                                   'tail_uuid': fresh_cluster.users['alice']['uuid']}).execute()
        wait_for(lambda: listing(m.join('by_tag')) == ['fresh-tag'])
        assert read(m.join('by_tag', 'fresh-tag', c.manifest_locator(), 't.txt')) == b'tagged'

        project = bob.groups().create(body={'name': 'bob shares', 'group_class': 'project'}).execute()
        bob.links().create(body={'link_class': 'permission', 'name': 'can_read', 'head_uuid': project['uuid'],
                                 'tail_uuid': fresh_cluster.users['alice']['uuid']}).execute()
        wait_for(lambda: listing(m.join('shared')) == ['Bob Other'])


def test_names_cached_while_events_are_live_follow_refresh_time_once_events_drop(fresh_cluster):
    """While the event stream is up, the kernel may keep names and
    attributes until an event says otherwise; when it drops, what it holds
    must expire within --refresh-time again."""
    api = fresh_cluster.api('alice')
    c = new_collection(api, 'coll', {'a.txt': b'first'})
    path_size = lambda: os.stat(os.path.join(m.path, 'coll', 'a.txt')).st_size  # noqa: E731
    with mounted(fresh_cluster.full_env('alice'), '--home', '--refresh-time', '2') as m:
        assert path_size() == 5
        c.open('a.txt', 'wb').write(b'second!')
        c.save()
        wait_for(lambda: path_size() == 7)  # the event invalidated what the kernel held
        fresh_cluster.set_fault('websocket', down=True)
        try:
            wait_for(lambda: 'event stream lost' in m.log())
            assert path_size() == 7  # looked up again, now with --refresh-time timeouts
            c.open('a.txt', 'wb').write(b'third version')
            c.save()
            # No event comes; polling (every 2 s) must find it.
            wait_for(lambda: path_size() == 13)
            assert read(m.join('coll', 'a.txt')) == b'third version'
        finally:
            fresh_cluster.clear_faults()
        wait_for(lambda: 'event stream reconnected' in m.log(), timeout=60)
        c.open('a.txt', 'wb').write(b'fourth')
        c.save()
        wait_for(lambda: path_size() == 6)


def test_changes_before_the_first_subscription_are_not_lost(fresh_cluster):
    """The first subscription asks the server to replay every change since
    the mount started (and, as the service was down at first, what was
    loaded is listed again too): a change made before the event stream
    could connect must show (here --refresh-time is too long to explain
    it)."""
    api = fresh_cluster.api('alice')
    new_collection(api, 'before mount', {'a.txt': b'a'})
    fresh_cluster.set_fault('websocket', down=True)
    try:
        with mounted(fresh_cluster.full_env('alice'), '--home', '--refresh-time', '300') as m:
            assert listing(m.path) == ['before mount']
            new_collection(api, 'while events were down', {'b.txt': b'b'})
            time.sleep(0.5)
            assert listing(m.path) == ['before mount']  # nothing polls within 300 s
            fresh_cluster.clear_faults()
            try:
                wait_for(lambda: listing(m.path) == ['before mount', 'while events were down'], timeout=60)
            except AssertionError:
                raise AssertionError('not seen; the mount logged:\n' + m.log()[-3000:])
            assert read(m.join('while events were down', 'b.txt')) == b'b'
    finally:
        fresh_cluster.clear_faults()


def test_a_refresh_that_finds_the_same_contents_keeps_inodes_and_cached_pages(fresh_cluster):
    """A changed record with the same portable data hash (renamed, new
    properties) is not parsed again: same inode numbers, same bytes; new
    contents get new inodes."""
    api = fresh_cluster.api('alice')
    c = new_collection(api, 'stable', {'d/f.txt': b'unchanged bytes', 'g.txt': b'g'})
    uuid = c.manifest_locator()
    with mounted(fresh_cluster.full_env('alice'), '--home', '--refresh-time', '1',
                 '--disable-event-listening') as m:
        before = {p: os.stat(m.join('stable', p)).st_ino for p in ('d', 'd/f.txt', 'g.txt')}
        api.collections().update(uuid=uuid, body={'properties': {'k': 'v'}}).execute()
        wait_for(lambda: (json.loads(read(m.join('stable', '.arvados#collection')) or b'{}')
                          .get('properties') == {'k': 'v'}))
        assert {p: os.stat(m.join('stable', p)).st_ino for p in before} == before
        assert read(m.join('stable', 'd', 'f.txt')) == b'unchanged bytes'
        c.open('g.txt', 'wb').write(b'new g')
        c.save()
        wait_for(lambda: read(m.join('stable', 'g.txt')) == b'new g')
        assert os.stat(m.join('stable', 'g.txt')).st_ino != before['g.txt']
