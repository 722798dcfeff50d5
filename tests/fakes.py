"""A fake cluster for testing the directory model without a network or a
kernel: the same named methods as SafeApi, backed by dicts."""

import hashlib

from arvados_fuse.errors import NotFound


def put_block(blocks, data):
    h = hashlib.md5(data).hexdigest()
    blocks[h] = data
    return '%s+%d' % (h, len(data))


class FakeKeep(object):
    def __init__(self, blocks):
        self.blocks = blocks
        self.gets = []

    def get(self, locator, num_retries=None):
        self.gets.append(locator)
        h = locator.split('+')[0]
        if h not in self.blocks:
            raise NotFound(locator)
        return self.blocks[h]

    def block_prefetch(self, locator):
        pass


class FakeApi(object):
    def __init__(self):
        self.blocks = {}
        self.collections_by_locator = {}
        self.groups = {}
        self.users = {}
        self.keep = FakeKeep(self.blocks)
        self.calls = []
        self.host = 'fake'

    def localkeep(self):
        return self.keep

    def add_collection(self, record):
        self.collections_by_locator[record['uuid']] = record
        self.collections_by_locator[record['portable_data_hash']] = record

    def current_user(self, num_retries=None):
        return {'uuid': 'zzzzz-tpzed-000000000000000', 'email': 'me@example.com'}

    def get_collection(self, locator, num_retries=None, select=None):
        self.calls.append(('collections.get', locator))
        rec = self.collections_by_locator.get(locator.split('+A')[0])
        if rec is None:
            raise NotFound(locator)
        if select is not None:
            return {k: v for k, v in rec.items() if k in select}
        return dict(rec)

    def get_group(self, uuid, num_retries=None):
        self.calls.append(('groups.get', uuid))
        if uuid not in self.groups:
            raise NotFound(uuid)
        return dict(self.groups[uuid])

    def get_user(self, uuid, num_retries=None):
        if uuid not in self.users:
            raise NotFound(uuid)
        return dict(self.users[uuid])

    def get_keep_block(self, locator, num_retries=None):
        return self.keep.get(locator)


class _Resource(object):
    """`api.groups()` etc.: each method is a marker that `list_all` reads."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, method):
        return '%s.%s' % (self._name, method)


class FakeListingApi(FakeApi):
    """FakeApi plus the list calls projects make: `contents[uuid]` is what
    groups.contents returns, `name_links` what links.list returns."""

    def __init__(self):
        super(FakeListingApi, self).__init__()
        # `groups` is a method here (the resource), so records move.
        self.group_records = self.__dict__.pop('groups')
        self.contents = {}
        self.name_links = []

    def get_group(self, uuid, num_retries=None):
        self.calls.append(('groups.get', uuid))
        if uuid not in self.group_records:
            raise NotFound(uuid)
        return dict(self.group_records[uuid])

    def groups(self):
        return _Resource('groups')

    def links(self):
        return _Resource('links')

    def list_all(self, method, num_retries=None, keep=None, **kwargs):
        self.calls.append((method, kwargs.get('uuid')))
        if method == 'groups.contents':
            return [(keep or dict)(dict(i)) for i in self.contents.get(kwargs['uuid'], [])]
        if method == 'links.list':
            tail = next(f[2] for f in kwargs['filters'] if f[0] == 'tail_uuid')
            return [dict(link) for link in self.name_links if link['tail_uuid'] == tail]
        raise NotImplementedError(method)
