"""A fake cluster for testing the model and the adapter without a network or
a kernel: the same named methods as `arvados_fuse.api.safeapi.SafeApi`, backed
by dicts.  `test_client_contract.py` runs one contract against this fake
and the real client, so the two cannot drift apart unnoticed.

What the fake leaves out: --filters (extra filters are accepted and
ignored), permissions (everything stored is readable; `shared` lists what
was added with `add_shared`), and Keep signatures."""

import hashlib
import itertools
import json

from localcluster.queries import like_regex  # the fake matches LIKE as the cluster does
from arvados_fuse.errors import ApiFailure, KeepFailure, NotFound
from arvados_fuse.api import bigfield
from arvados_fuse.api.safeapi import LISTING_FIELDS, USER_LISTING_FIELDS

ME = 'zzzzz-tpzed-000000000000000'


def put_block(blocks, data):
    h = hashlib.md5(data).hexdigest()
    blocks[h] = data
    return '%s+%d' % (h, len(data))


class FakeServerError(ApiFailure):
    """What a fake call raises while `FakeApi.fault` is set: a server
    failure, which is not "not found"."""


class FakeKeepError(KeepFailure):
    """What a fake block read raises while `FakeKeep.fault` is set: every
    Keep server failing."""


class FakeKeep(object):
    """The fake's KeepClient, and its block source: blocks by MD5.  As the
    real block source, a block no server has is a KeepFailure (every
    server answered 404); `get_keep_block` makes that NotFound."""

    def __init__(self, blocks):
        self.blocks = blocks
        self.gets = []
        self.fault = None

    def get(self, locator, num_retries=None):
        self.gets.append(locator)
        if self.fault is not None:
            raise self.fault
        h = locator.split('+')[0]
        if h not in self.blocks:
            raise KeepFailure('%s not found' % locator, {'fake': 404})
        return self.blocks[h]

    def block_prefetch(self, locator):
        pass

    # The same interface as safeapi.KeepBlockSource.
    def prefetch(self, locator):
        self.block_prefetch(locator)


class FakeApi(object):
    """Records:
    - `collections_by_locator`: uuid and PDH -> collection record
      (`add_collection`); `blocks`: MD5 -> bytes (`put_block`);
    - `group_records` (also `groups`) and `users`: uuid -> record;
    - `contents`: project uuid -> what `list_project_contents` returns;
    - `links`: every link record (name links, tags);
    - `shared`: the project records `list_shared` reports.
    `calls` lists (call, argument) of the calls made; setting `fault` makes
    every call raise it (a server failure)."""

    def __init__(self):
        self.blocks = {}
        self.collections_by_locator = {}
        self.group_records = self.groups = {}
        self.users = {ME: {'uuid': ME, 'email': 'me@example.com', 'username': 'me', 'first_name': 'Me',
                           'last_name': 'Myself', 'kind': 'arvados#user', 'owner_uuid': ME,
                           'created_at': '2024-01-01T00:00:00Z', 'modified_at': '2024-01-01T00:00:00Z'}}
        self.contents = {}
        self.links = []
        self.shared = []
        self.keep = FakeKeep(self.blocks)
        self.calls = []
        self.fault = None
        self.host = 'fake'
        self._serial = itertools.count(1)

    def _call(self, name, arg=None):
        self.calls.append((name, arg))
        if self.fault is not None:
            raise self.fault

    # -- building the fake cluster's contents ----------------------------------
    def new_uuid(self, infix):
        return 'zzzzz-%s-%015d' % (infix, next(self._serial))

    def add_collection(self, record):
        self.collections_by_locator[record['uuid']] = record
        self.collections_by_locator[record['portable_data_hash']] = record
        return record

    def add_project(self, name, owner_uuid=ME, group_class='project', **extra):
        rec = dict({'uuid': self.new_uuid('j7d0g'), 'name': name, 'owner_uuid': owner_uuid,
                    'group_class': group_class, 'kind': 'arvados#group',
                    'created_at': '2024-01-01T00:00:00Z', 'modified_at': '2024-01-01T00:00:00Z'}, **extra)
        self.group_records[rec['uuid']] = rec
        self.contents.setdefault(owner_uuid, []).append(rec)
        return rec

    def add_user(self, first_name, last_name, username=False, created_at='2024-01-01T00:00:00Z'):
        """A user, listed by list_users (its username: `first_name`
        in lower case unless given; None: none)."""
        rec = {'uuid': self.new_uuid('tpzed'), 'first_name': first_name, 'last_name': last_name,
               'username': first_name.lower() if username is False else username, 'owner_uuid': ME,
               'kind': 'arvados#user', 'created_at': created_at, 'modified_at': created_at}
        self.users[rec['uuid']] = rec
        return rec

    def store_collection(self, name, files, owner_uuid=ME):
        """A collection of `files` (name -> bytes) in one stream, stored and
        listed in its owner's contents."""
        pos = 0
        locators, names = [], []
        for fname, data in sorted(files.items()):
            locators.append(put_block(self.blocks, data))
            names.append('%d:%d:%s' % (pos, len(data), fname))
            pos += len(data)
        manifest = ('. %s %s\n' % (' '.join(locators), ' '.join(names))) if files else ''
        raw = manifest.encode()
        pdh = '%s+%d' % (hashlib.md5(raw).hexdigest(), len(raw))
        rec = {'uuid': self.new_uuid('4zz18'), 'name': name, 'owner_uuid': owner_uuid,
               'portable_data_hash': pdh, 'manifest_text': manifest, 'kind': 'arvados#collection',
               'properties': {}, 'is_trashed': False,
               'created_at': '2024-01-01T00:00:00Z', 'modified_at': '2024-01-01T00:00:00Z'}
        self.add_collection(rec)
        self.contents.setdefault(owner_uuid, []).append(rec)
        return rec

    def add_link(self, link_class, name, head_uuid, tail_uuid=ME):
        rec = {'uuid': self.new_uuid('o0j2j'), 'kind': 'arvados#link', 'link_class': link_class,
               'name': name, 'head_uuid': head_uuid, 'tail_uuid': tail_uuid,
               'created_at': '2024-01-01T00:00:00Z', 'modified_at': '2024-01-01T00:00:00Z'}
        self.links.append(rec)
        return rec

    def add_shared(self, project):
        self.shared.append(project)

    # -- the client interface (as SafeApi) ----------------------------------------
    def localkeep(self):
        return self.keep

    # Collections.ForwardSlashNameSubstitution; None: no such key.
    forward_slash_substitute = ''

    def forward_slash_name_substitution(self):
        return self.forward_slash_substitute

    def current_user(self, num_retries=None):
        self._call('users.current')
        return dict(self.users[ME])

    def get_collection(self, locator, num_retries=None, select=None, big_manifest=None):
        self._call('collections.get', locator)
        rec = self.collections_by_locator.get(locator.split('+A')[0])
        if rec is None:
            raise NotFound(locator)
        if select is not None:
            return {k: v for k, v in rec.items() if k in select}
        if big_manifest is not None:  # as the real client does: the record's JSON decoded
            return bigfield.loads(json.dumps(rec).encode(), 'manifest_text', big_manifest)
        return dict(rec)

    def get_group(self, uuid, num_retries=None):
        self._call('groups.get', uuid)
        if uuid not in self.group_records:
            raise NotFound(uuid)
        return dict(self.group_records[uuid])

    def get_user(self, uuid, num_retries=None):
        self._call('users.get', uuid)
        if uuid not in self.users:
            raise NotFound(uuid)
        return dict(self.users[uuid])

    def list_users(self, usernames=None, num_retries=None):
        self._call('users.list', None if usernames is None else sorted(usernames))
        return sorted(({k: v for k, v in u.items() if k in USER_LISTING_FIELDS} for u in self.users.values()
                       if usernames is None or u.get('username') in usernames),
                      key=lambda u: u['uuid'])

    def list_project_contents(self, uuid, filters=(), num_retries=None, keep=None):
        self._call('groups.contents', uuid)
        return [(keep or dict)(dict(i)) for i in self.contents.get(uuid, [])]

    def prepare_reads(self, num_retries=None):
        pass

    def concurrently(self, *calls):
        return [call() for call in calls]

    def find_in_project(self, uuid, names=(), patterns=(), filters=(), link_filters=None, num_retries=None,
                        keep=None):
        self._call('groups.contents', uuid)
        rxs = [like_regex(p) for p in patterns]
        found = [(keep or dict)(dict(i)) for i in self.contents.get(uuid, [])
                 if i.get('name') in names or any(rx.match(i.get('name') or '') for rx in rxs)]
        links = self.list_name_links(uuid, link_filters) if link_filters is not None else None
        return found, links

    def list_name_links(self, tail_uuid, filters=(), num_retries=None):
        self._call('links.list', tail_uuid)
        return [dict(link) for link in self.links
                if link['link_class'] == 'name' and link['tail_uuid'] == tail_uuid]

    def list_collection_versions(self, uuid, num_retries=None):
        self._call('collections.list', 'versions of ' + uuid)
        fields = LISTING_FIELDS + ['version', 'current_version_uuid']
        records = {r['uuid']: r for r in self.collections_by_locator.values()
                   if r.get('current_version_uuid', r['uuid']) == uuid}
        return sorted(({k: v for k, v in r.items() if k in fields} for r in records.values()),
                      key=lambda r: r['uuid'])

    def new_version(self, current, files):
        """Keep `current` (a record of store_collection) as an old version
        (a record of its own) and give it `files`, as Arvados does on an
        update with versioning on; returns (old version, current)."""
        old = dict(current, uuid=self.new_uuid('4zz18'), current_version_uuid=current['uuid'],
                   version=current.get('version', 1))
        self.collections_by_locator[old['uuid']] = old
        fresh = self.store_collection(current['name'], files, owner_uuid=current['owner_uuid'])
        self.contents[current['owner_uuid']].remove(fresh)
        del self.collections_by_locator[fresh['uuid']]
        current.update(manifest_text=fresh['manifest_text'], portable_data_hash=fresh['portable_data_hash'],
                       version=old['version'] + 1, current_version_uuid=current['uuid'])
        self.collections_by_locator[current['portable_data_hash']] = current
        self.collections_by_locator[old['portable_data_hash']] = old
        return old, current

    def _tags(self):
        return [link for link in self.links if link['link_class'] == 'tag' and link.get('name')]

    def list_tag_names(self, filters=(), num_retries=None):
        self._call('links.list', 'tag names')
        return sorted({link['name'] for link in self._tags()})

    def tag_exists(self, name, filters=(), num_retries=None):
        self._call('links.list', 'tag ' + name)
        return any(link['name'] == name for link in self._tags())

    def list_tagged_collections(self, tag, link_filters=(), collection_filters=(), num_retries=None):
        self._call('links.list', 'tagged ' + tag)
        heads = {link['head_uuid'] for link in self._tags() if link['name'] == tag}
        records = [self.collections_by_locator[h] for h in heads if h in self.collections_by_locator]
        return sorted(({k: v for k, v in r.items() if k in LISTING_FIELDS} for r in records),
                      key=lambda r: r['uuid'])

    def list_shared(self, exclude, filters=(), num_retries=None):
        self._call('groups.shared')
        roots = [dict(p) for p in self.shared if p['owner_uuid'] != exclude]
        owners = {}
        for p in roots:
            owner = self.users.get(p['owner_uuid']) or self.group_records.get(p['owner_uuid'])
            if owner is not None:
                owners[owner['uuid']] = dict(owner)
        return roots, owners

    def block_source(self, num_retries=None):
        return self.keep

    def get_keep_block(self, locator, num_retries=None):
        self._call('keep.get', locator)
        try:
            return self.keep.get(locator)
        except KeepFailure as e:
            if e.statuses and all(s == 404 for s in e.statuses.values()):
                raise NotFound(locator) from e
            raise

    def websocket_url(self):
        return None

    def newest_log_id(self):
        # Grows with every object stored, as the server's log ids do.
        return len(self.collections_by_locator) + len(self.groups) + len(self.links) + len(self.users)

    def connect_events(self, url):
        raise IOError('the fake cluster has no event service')
