"""The API client: every request to the API server goes through here (the
Keep servers' blocks through keep/fetcher.py, the event stream through
api/events.py, both reached from here).

`SafeApi` is the seed's thread-safe API wrapper, now built on the SDK's own
`ThreadSafeAPIClient` (one googleapiclient object per thread, because httplib2
is not thread-safe; one shared KeepClient with its block cache).  The named
methods below are everything the mount asks of the cluster: records, the
listings of projects, tags and shares, Keep blocks, and the event stream.
`tests/fakes.py` implements the same methods, and
`tests/test_client_contract.py` holds both to one contract:

- a `get_*` of something that does not exist, or that this token may not
  read, raises `arvados_fuse.errors.NotFound` (never the SDK's HttpError);
- a `list_*` returns every item, however many pages the server needs;
- `get_keep_block` raises NotFound when every Keep server refused the block.
- every other failure is one of our `errors.ClientError` types: the SDK's,
  googleapiclient's, httplib2's and the socket's errors are turned into
  them here (`client_error`), so nothing above this layer sees them.

The methods that reach the network block: the model calls them from
`fetch` halves and lookups, with the llfuse lock released (fs/refresh.py).
Each request gets its own deadline (--timeout); a paged listing or
`concurrently` may take longer in all.  Every request to the API server is reported
to the `observer` (observer.ClientObserver.api_request) by the http object
each thread's API client sends it through (_CountingHttp), and the Keep
fetcher reports every request to a Keep server.
"""

import concurrent.futures
import functools
import http.client
import json
import random
import ssl
import time
import urllib.parse

import arvados
import arvados.api
import arvados.config
import arvados.errors
import arvados.keep
import arvados.util
import googleapiclient.errors
import httplib2

from . import bigfield
from ..errors import (ApiFailure, ClientError, KeepFailure, NotFound, Refused, Timeout, TlsFailure, Unauthorized,
                      Unreachable)
from ..host.threadnames import name_this_thread
from ..keep.fetcher import DEFAULT_READ_TIMEOUT, BlockFetcher
from ..observer import NO_OBSERVER

# Page size of the keyset-paged list calls: the most Arvados answers by
# default (MaxItemsPerResponse; a server allowing fewer just answers fewer).
# Its default of 100 makes a 5,000-collection project 50 round trips.  The
# contract tests make it small to prove the paging.
LIST_PAGE = 1000
# groups.shared is paged by hand (its `included` owners come with each
# page); 1000 is the server's maximum limit.
SHARED_PAGE = 1000
# links.list with select+distinct cannot be keyset-paged (no uuid in the
# rows), so tag names are paged by offset, this many at a time.
TAG_PAGE = 1000
# API requests one walk may have in flight at once (see concurrently).
API_CONCURRENCY = 4
# Records fetched by `uuid in [...]`: this many per request keeps the query
# string well under URL length limits.
RECORD_BATCH = 100
# Enough of a collection record to list it (no manifest: that can be huge).
LISTING_FIELDS = ['uuid', 'name', 'owner_uuid', 'portable_data_hash', 'created_at', 'modified_at',
                  'properties', 'is_trashed', 'kind']
# What a listed user needs until its home is opened (its name, times,
# xattrs); the home's own refresh gets the whole record (users.get).
USER_LISTING_FIELDS = ['uuid', 'username', 'owner_uuid', 'created_at', 'modified_at', 'first_name',
                       'last_name', 'kind']
# How long one API call may take, retries and their back-off included
# (--timeout): long enough to ride out an API server restart in a batch
# job, short enough that an interactive `ls` never waits minutes.  Without
# it, the SDK's back-off with 10 retries sleeps up to 2^10 s between tries
# (a lookup against an API answering 500 took over 150 s), and a server that
# accepts connections but never answers held each try for 300 s.
DEFAULT_TIMEOUT = 60
# No retry is started with less than this many seconds left of the deadline.
LAST_TRY = 1.0
# The event stream: how long to wait for the connection, and the largest
# message accepted (an event carries old and new attributes of one object).
EVENTS_OPEN_TIMEOUT = 10
EVENTS_MAX_MESSAGE = 2 ** 24


# What a `get_*` answered with one of these statuses did not find: absent,
# or not readable with this token (403), or not a valid id for it (422).
NOT_FOUND_STATUSES = (403, 404, 422)
# A block every Keep server answered with one of these does not exist for
# this token (absent, a bare PDH where signatures are enforced, a bad
# signature).
KEEP_REFUSALS = (400, 401, 403, 404, 410)
# Errors of a call that are the server's or the network's, not a bug of
# ours: turned into ApiFailure when nothing more precise fits (a corrupt
# or truncated response fails to decode: ValueError).
_API_ERRORS = (googleapiclient.errors.Error, arvados.errors.HttpError, http.client.HTTPException, ValueError)


def _text(exc):
    return str(exc).strip() or type(exc).__name__


def _status(exc):
    resp = getattr(exc, 'resp', None)
    return getattr(resp, 'status', None)


def client_error(exc):
    """`exc`, raised by the SDK, googleapiclient, httplib2 or a socket
    during an API call, as one of our types (its text kept as the message,
    itself as the cause); None for what is none of those (a bug of ours:
    it goes up as it is)."""
    if isinstance(exc, ClientError):
        return exc
    if isinstance(exc, googleapiclient.errors.HttpError):
        status = _status(exc)
        ours = (Unauthorized if status == 401 else Refused)(_text(exc), status=status)
    elif isinstance(exc, (ssl.SSLError, ssl.CertificateError)):
        ours = TlsFailure(_text(exc))
    elif isinstance(exc, TimeoutError):
        ours = Timeout(_text(exc))
    elif isinstance(exc, (OSError, httplib2.HttpLib2Error)):
        ours = Unreachable(_text(exc))
    elif isinstance(exc, _API_ERRORS):
        ours = ApiFailure(_text(exc), status=_status(exc))
    else:
        return None
    ours.__cause__ = exc
    return ours


def _translated(method):
    """A SafeApi method that raises only our error types (see client_error)."""
    @functools.wraps(method)
    def call(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except Exception as e:
            ours = client_error(e)
            if ours is None or ours is e:
                raise
            # Not `raise ours from e` inside the handler: the traceback
            # of `e` stays reachable through __cause__ either way.
        raise ours
    return call


# Discovery documents by URL, for every API client of the process: the
# startup check fetches it, and the mount's clients (one per thread) use
# that copy instead of fetching it again.
_DISCOVERY_DOCUMENTS = {}


def check_token(settings, num_retries, timeout, observer=NO_OBSERVER):
    """Reach the API server with `settings` (ARVADOS_API_* values) and ask
    who the token belongs to.  Used before anything else is set up, so its
    failures say what is wrong: Unauthorized (the token), Refused (another
    HTTP status), TlsFailure, Timeout, Unreachable, ApiFailure."""
    try:
        kwargs = arvados.api.api_kwargs_from_config('v1', settings, num_retries=num_retries,
                                                    timeout=timeout, cache=False)
        kwargs['http'] = _CountingHttp(_DISCOVERY_DOCUMENTS, observer, ca_certs=arvados.util.ca_certs_path(),
                                       disable_ssl_certificate_validation=bool(kwargs.get('insecure')))
        return arvados.api.api_client(**kwargs).users().current().execute(num_retries=num_retries)
    except Exception as e:
        ours = client_error(e)
        if ours is None or ours is e:
            raise
    raise ours


def settings():
    """The ARVADOS_API_* settings: the environment's, else those of
    ~/.config/arvados/settings.conf."""
    return arvados.config.settings()


def validate_filters(filters):
    """`filters` (parsed JSON), checked as the SDK's own commands check
    theirs (and upstream arv-mount): a list of [attribute, operator,
    operand] lists or "(attr1 op attr2)" strings.  ValueError if not."""
    from arvados.commands._util import validate_filters as sdk_validate
    return sdk_validate(filters)


def _config_dict(config):
    """Accept the seed's `arvados.config` module, or any mapping."""
    if hasattr(config, 'settings') and callable(config.settings):
        config = config.settings()
    return {k: config.get(k) for k in ('ARVADOS_API_HOST', 'ARVADOS_API_TOKEN', 'ARVADOS_API_HOST_INSECURE')
            if config.get(k) is not None}


class KeepBlockSource(object):
    """Whole blocks by locator for the read path (`readpath.FileReader`),
    through a `fetcher.BlockFetcher` over the SDK's KeepClient (its block
    cache and single flight, its service order; parallel fetches, MD5
    check, bounded waits).  One fetcher is shared by every reader of a
    mount (`SafeApi.block_source`).  `prefetch_budget`: the read path's
    PrefetchBudget the mount gave SafeApi (None: the read path's default),
    handed on as is."""

    def __init__(self, fetcher, prefetch_budget=None):
        self._fetcher = fetcher
        self.prefetch_budget = prefetch_budget

    def get(self, locator):
        return self._fetcher.get(locator)

    def prefetch(self, locator):
        self._fetcher.prefetch(locator)

    def touch(self, locator):
        self._fetcher.touch(locator)

    def passed(self, locator):
        self._fetcher.passed(locator)


class _Deadline(object):
    """One API call's deadline, applied to the SDK's retries (googleapiclient
    calls the request's `_sleep` before each): each try's socket timeout is
    the time left, back-offs are cut to fit, and with less than LAST_TRY
    seconds left the call ends with Timeout."""

    def __init__(self, http, seconds, what):
        self.http = http
        self.seconds = seconds
        self.what = what
        self.end = time.monotonic() + seconds

    def left(self):
        return self.end - time.monotonic()

    def sleep(self, seconds):
        # googleapiclient calls this before every retry.  A back-off that
        # would reach the deadline is shortened to half the time left, so
        # an outage shorter than the deadline is ridden out.
        left = self.left()
        if left < LAST_TRY:
            raise Timeout('%s: no answer within %gs (--timeout)' % (self.what, self.seconds))
        time.sleep(min(seconds, left / 2))
        self._socket_timeout(self.left())

    def _socket_timeout(self, seconds):
        # The http object is this thread's own (ThreadSafeAPIClient), so
        # changing its timeouts affects no other call.
        http = self.http
        if http is None:
            return
        seconds = max(0.1, seconds)
        http.timeout = seconds
        for conn in list(getattr(http, 'connections', {}).values()):
            conn.timeout = seconds
            sock = getattr(conn, 'sock', None)
            if sock is not None:
                try:
                    sock.settimeout(seconds)
                except OSError:
                    pass

    def execute(self, request, num_retries):
        request._sleep = self.sleep
        request._rand = random.random
        self._socket_timeout(self.seconds)
        try:
            return request.execute(num_retries=num_retries)
        except OSError as e:
            if isinstance(e, Timeout) or self.left() > 0.1:
                raise
            raise Timeout('%s: no answer within %gs (--timeout): %s' % (self.what, self.seconds, e))
        finally:
            self._socket_timeout(self.seconds)


class _CountingHttp(httplib2.Http):
    """The http object of each thread's API client (ThreadSafeAPIClient
    makes one per thread), and of the startup check's:
    - every request sent to the API server is reported to the observer,
      once (the SDK's retries and googleapiclient's each send another);
    - the discovery document is fetched once, by the first client, and
      served from memory to the others (not a request: not reported).  A
      new llfuse worker thread would otherwise fetch it again, with the
      SDK's retries and back-off and no deadline, before its first call."""

    def __init__(self, documents, observer, **kwargs):
        super(_CountingHttp, self).__init__(**kwargs)
        # url -> (response, content), shared by every thread's object.
        self._documents = documents
        self._observer = observer

    def request(self, uri, method='GET', *args, **kwargs):
        if method == 'GET' and '/discovery/' in uri:
            cached = self._documents.get(uri)
            if cached is not None:
                return cached
            self._observer.api_request()
            response, content = super(_CountingHttp, self).request(uri, method, *args, **kwargs)
            if response.status == 200:
                self._documents[uri] = (response, content)
            return response, content
        self._observer.api_request()
        return super(_CountingHttp, self).request(uri, method, *args, **kwargs)


def _body_bytes(_response, content):
    return content


def _json_record(body):
    """The record in `body` (bytes), holding at most two copies of its size
    at once (the client's own way holds three: body, text and record, 170
    MiB at once for a 10^6-file manifest of 56 MiB).  Takes the only
    reference to `body`: the caller passes it and keeps none."""
    text = body.decode('utf-8')
    del body
    return json.loads(text)


class SafeApi(arvados.api.ThreadSafeAPIClient):
    """Thread-safe API client plus the calls arv-mount makes.

    Every request is bounded by `timeout` seconds, retries included (see
    DEFAULT_TIMEOUT): it raises errors.Timeout rather than wait longer.
    `observer` (observer.ClientObserver) is told of every request to the
    API server and to Keep.  `prefetch_budget`: the read path's budget,
    handed to every block source as is."""

    def __init__(self, config=None, keep_params=None, api_params=None, num_retries=10, *,
                 timeout=DEFAULT_TIMEOUT, read_timeout=DEFAULT_READ_TIMEOUT, observer=NO_OBSERVER,
                 prefetch_budget=None):
        self._documents = _DISCOVERY_DOCUMENTS
        self._observer = observer
        self._budget = prefetch_budget
        params = {'cache': False, 'num_retries': num_retries}
        if timeout:
            params['timeout'] = timeout
        params.update(api_params or {})
        keep = {'num_retries': num_retries}
        keep.update(keep_params or {})
        super(SafeApi, self).__init__(
            apiconfig=_config_dict(config if config is not None else arvados.config),
            keep_params=keep, api_params=params, version='v1')
        self.num_retries = num_retries
        self.timeout = timeout
        self.host = _config_dict(config if config is not None else arvados.config).get('ARVADOS_API_HOST')
        self._discovery = None
        # Every read of the mount fetches through one BlockFetcher per
        # retry count (one queue, one set of workers) and shares one
        # prefetch budget.
        self.read_timeout = read_timeout
        self._fetchers = {}
        self._pool = concurrent.futures.ThreadPoolExecutor(
            API_CONCURRENCY, thread_name_prefix='api', initializer=name_this_thread, initargs=('api',))
        # The cluster's configuration, as the KeepClient's start fetched it
        # (arvados.util.get_config_once keeps it on this thread's client).
        self._config = getattr(getattr(self.local, 'api', None), '_cached_config', None)

    @classmethod
    def wrap(cls, api):
        """The model accepts a SafeApi; a plain SDK client is wrapped."""
        if isinstance(api, SafeApi) or hasattr(api, 'get_collection'):
            return api
        kwargs = getattr(api, '_api_kwargs', None)
        if kwargs:
            return cls({'ARVADOS_API_HOST': kwargs.get('host'), 'ARVADOS_API_TOKEN': kwargs.get('token'),
                        'ARVADOS_API_HOST_INSECURE': 'true' if kwargs.get('insecure') else ''})
        raise TypeError('expected a SafeApi, got %r' % (api,))

    def localkeep(self):
        """The seed's name for the shared KeepClient."""
        return self.keep

    def localapi(self):
        """This thread's API client, made with the discovery document the
        first one fetched (see _CountingHttp)."""
        try:
            return self.local.api
        except AttributeError:
            pass
        kwargs = dict(self._api_kwargs)
        kwargs['http'] = _CountingHttp(self._documents, self._observer, ca_certs=arvados.util.ca_certs_path(),
                                       disable_ssl_certificate_validation=bool(kwargs.get('insecure')))
        client = arvados.api.api_client(**kwargs)
        client._http._request_id = lambda: self.request_id or arvados.util.new_request_id()
        self.local.api = client
        return client

    # -- discovery facts --------------------------------------------------
    @_translated
    def discovery(self):
        if self._discovery is None:
            self._discovery = self.localapi()._rootDesc
        return self._discovery

    @_translated
    def has_method(self, resource, method):
        methods = self.discovery().get('resources', {}).get(resource, {}).get('methods', {})
        return 'httpMethod' in methods.get(method, {})

    # -- the cluster's configuration ------------------------------------------
    @_translated
    def cluster_config(self):
        """GET /arvados/v1/config, once per SafeApi: the SDK's KeepClient
        asked for it when this client was made (for its storage classes),
        so that answer is used; {} on a server without the endpoint."""
        if self._config is None:
            self._config = self._execute(self.configs().get(), None) \
                if self.discovery().get('resources', {}).get('configs') else {}
        return self._config

    def forward_slash_name_substitution(self):
        """Collections.ForwardSlashNameSubstitution: what every Arvados
        client shows for a `/` in a name ('' or '/': nothing); None when the
        configuration has no such key (a cluster older than Arvados 2.0)."""
        return (self.cluster_config().get('Collections') or {}).get('ForwardSlashNameSubstitution')

    # -- records -----------------------------------------------------------
    @_translated
    def current_user(self, num_retries=None):
        return self._execute(self.users().current(), num_retries)

    @_translated
    def get_user(self, uuid, num_retries=None):
        """A user record; NotFound if there is none this token may read."""
        return self._get(self.users().get(uuid=uuid), uuid, num_retries)

    @_translated
    def get_group(self, uuid, num_retries=None):
        """A group record (project, filter or role); NotFound if there is
        none this token may read."""
        return self._get(self.groups().get(uuid=uuid), uuid, num_retries)

    @_translated
    def get_collection(self, locator, num_retries=None, select=None, big_manifest=None):
        """The collection record (with a signed manifest unless `select`
        leaves it out) by uuid or PDH; NotFound if there is none.
        `big_manifest(pieces)`: what a big manifest text is made into, a
        piece at a time (api/bigfield.py), instead of a str."""
        if select is not None:
            return self._get(self.collections().get(uuid=locator, select=select), locator, num_retries)
        request = self.collections().get(uuid=locator)
        request.postproc = _body_bytes
        if big_manifest is not None:
            return bigfield.loads(self._get(request, locator, num_retries), 'manifest_text', big_manifest)
        return _json_record(self._get(request, locator, num_retries))

    def _execute(self, request, num_retries):
        """request.execute(), within the deadline (--timeout); our errors."""
        try:
            if not self.timeout:
                return request.execute(num_retries=self._retries(num_retries))
            what = '%s %s' % (getattr(request, 'method', 'GET'), str(getattr(request, 'uri', '?')).split('?')[0])
            return _Deadline(getattr(request, 'http', None), self.timeout, what).execute(
                request, self._retries(num_retries))
        except Exception as e:
            ours = client_error(e)
            if ours is None or ours is e:
                raise
        raise ours

    def _get(self, request, what, num_retries):
        try:
            return self._execute(request, num_retries)
        except Refused as e:
            if e.status in NOT_FOUND_STATUSES:
                raise NotFound(what) from e
            raise

    # -- listings ------------------------------------------------------------
    @_translated
    def list_project_contents(self, uuid, filters=(), num_retries=None, keep=None):
        """Everything a project (or a user's home) holds: subprojects,
        collections and other objects, each with its `kind`.  `keep(item)`,
        applied page by page as they arrive, says what to hold on to of
        each (so 10^4 full records never sit in memory at once)."""
        return self._list_all(self.groups().contents, num_retries, keep=keep, uuid=uuid,
                              filters=list(filters))

    @_translated
    def list_name_links(self, tail_uuid, filters=(), num_retries=None):
        """Old-style (pre-#3036) name links out of a project."""
        return self._list_all(self.links().list, num_retries,
                              filters=[['tail_uuid', '=', tail_uuid], ['link_class', '=', 'name']]
                              + list(filters))

    @_translated
    def list_collection_versions(self, uuid, num_retries=None):
        """Listing records (LISTING_FIELDS, `version`, `current_version_uuid`;
        no manifest) of every version of the collection `uuid`, the current
        one included: old versions are records of their own, listed only
        with include_old_versions.  [] for what has no versions (an old
        version's own uuid, a collection this token may not read)."""
        return self._list_all(self.collections().list, num_retries, include_old_versions=True,
                              filters=[['current_version_uuid', '=', uuid]],
                              select=LISTING_FIELDS + ['version', 'current_version_uuid'])

    @_translated
    def list_users(self, usernames=None, num_retries=None):
        """Listing records (USER_LISTING_FIELDS) of the users this token may
        see, sorted by uuid: every one (users.list, paged), or only those
        whose username is in `usernames`."""
        if usernames is not None and not usernames:
            return []
        filters = [['username', 'in', list(usernames)]] if usernames is not None else []
        return self._list_all(self.users().list, num_retries, filters=filters, select=USER_LISTING_FIELDS)

    @_translated
    def list_tag_names(self, filters=(), num_retries=None):
        """Every distinct non-empty tag name, sorted.  `filters`: more link
        filters."""
        names = set()
        offset = 0
        while True:
            page = self._execute(self.links().list(
                filters=[['link_class', '=', 'tag'], ['name', '!=', '']] + list(filters),
                select=['name'], distinct=True, limit=TAG_PAGE, offset=offset, count='none',
            ), num_retries)
            items = page.get('items', [])
            names.update(i['name'] for i in items if i.get('name'))
            if len(items) < TAG_PAGE:
                break
            offset += len(items)
        return sorted(names)

    @_translated
    def tag_exists(self, name, filters=(), num_retries=None):
        """Whether any tag link named `name` is visible."""
        page = self._execute(self.links().list(
            filters=[['link_class', '=', 'tag'], ['name', '=', name]] + list(filters),
            limit=1, select=['name'], count='none'), num_retries)
        return bool(page.get('items'))

    @_translated
    def list_tagged_collections(self, tag, link_filters=(), collection_filters=(), num_retries=None):
        """Listing records (LISTING_FIELDS, no manifest) of the collections
        tagged `tag`, sorted by uuid; trashed ones included (the caller
        decides)."""
        links = self._list_all(
            self.links().list, num_retries,
            filters=[['link_class', '=', 'tag'], ['name', '=', tag],
                     ['head_uuid', 'is_a', 'arvados#collection']] + list(link_filters),
            select=['head_uuid'])
        heads = sorted({link['head_uuid'] for link in links})
        records = []
        for start in range(0, len(heads), RECORD_BATCH):
            records += self._list_all(
                self.collections().list, num_retries,
                filters=[['uuid', 'in', heads[start:start + RECORD_BATCH]]] + list(collection_filters),
                select=LISTING_FIELDS)
        return sorted(records, key=lambda r: r['uuid'])

    @_translated
    def list_shared(self, exclude, filters=(), num_retries=None):
        """What other users and groups share with this token's user:
        (roots, owners).  roots: the top shared projects (and filter
        groups); owners: uuid -> the user or group record owning them, when
        visible.  `exclude`: the uuid (usually mine) whose projects are not
        "shared with me".  `filters`: more group filters."""
        if self.has_method('groups', 'shared'):
            return self._shared_by_server(list(filters), num_retries)
        return self._shared_by_listing(exclude, list(filters), num_retries)

    def _shared_by_server(self, filters, num_retries):
        """`groups.shared`: the server computes what is shared with me."""
        roots, owners = [], {}
        last = None
        while True:
            page_filters = [['group_class', 'in', ['project', 'filter']]] + filters
            if last:
                page_filters.append(['uuid', '>', last])
            page = self._execute(self.groups().shared(filters=page_filters, order='uuid', limit=SHARED_PAGE,
                                                      count='none', include='owner_uuid'), num_retries)
            items = page.get('items', [])
            if not items:
                break
            roots.extend(items)
            for obj in page.get('included', []):
                owners[obj['uuid']] = obj
            last = items[-1]['uuid']
        return roots, owners

    def _shared_by_listing(self, exclude, filters, num_retries):
        """The seed's way, for servers without `groups.shared`."""
        all_projects = self._list_all(self.groups().list, num_retries,
                                      filters=[['group_class', 'in', ['project', 'filter']]] + filters)
        by_uuid = {p['uuid']: p for p in all_projects}
        roots = [p for p in all_projects if p['owner_uuid'] != exclude and p['owner_uuid'] not in by_uuid]
        owner_uuids = sorted({p['owner_uuid'] for p in roots})
        owners = {}
        if owner_uuids:
            for method in (self.users().list, self.groups().list):
                for obj in self._list_all(method, num_retries, filters=[['uuid', 'in', owner_uuids]]):
                    owners[obj['uuid']] = obj
        return roots, owners

    def _list_all(self, method, num_retries, keep=None, filters=(), **kwargs):
        """Every item of a list call, paged by uuid (keyset paging).  A page
        shorter than the limit the server applied is the last one: no
        request is made only to find nothing.  (A server may also cut a
        page at MaxIndexDatabaseRead bytes, 128 MiB by default; these
        listings carry no manifests, so a page of them never comes near.)"""
        limit = LIST_PAGE or 1000
        if 'select' in kwargs and 'uuid' not in kwargs['select']:
            kwargs['select'] = list(kwargs['select']) + ['uuid']  # the page key
        items, last = [], None
        while True:
            page_filters = list(filters) + ([['uuid', '>', last]] if last is not None else [])
            page = self._execute(method(filters=page_filters, order=['uuid asc'], limit=limit, count='none',
                                        **kwargs), num_retries)
            got = page.get('items', [])
            items.extend(keep(i) for i in got) if keep is not None else items.extend(got)
            served = page.get('limit')
            if not got or len(got) < (served if isinstance(served, int) and 0 < served <= limit else limit):
                return items
            last = got[-1]['uuid']

    def concurrently(self, *calls):
        """Run the no-argument callables at once, at most API_CONCURRENCY
        in flight (the API server is everyone's), each within its own
        deadline; their results in order.  The first failure is raised."""
        if len(calls) == 1:
            return [calls[0]()]
        futures = [self._pool.submit(call) for call in calls[1:]]
        try:
            first = calls[0]()
        finally:
            results = [f.result() if not f.cancelled() else None for f in futures]
        return [first] + results

    def find_in_project(self, uuid, names=(), patterns=(), filters=(), link_filters=None, num_retries=None,
                        keep=None):
        """What project `uuid` holds under these names alone: (items,
        name links).  `names` match exactly, `patterns` as SQL LIKE (one
        request each, sent together); `link_filters` None: name links are
        not asked for, else every name link of the project (they are few,
        and then known for every later name).  `keep` as in
        list_project_contents."""
        calls = []
        if names:
            calls.append(lambda: self._list_all(self.groups().contents, num_retries, keep=keep, uuid=uuid,
                                                filters=[['name', 'in', list(names)]] + list(filters)))
        for pattern in patterns:
            calls.append(lambda pattern=pattern: self._list_all(
                self.groups().contents, num_retries, keep=keep, uuid=uuid,
                filters=[['name', 'like', pattern]] + list(filters)))
        if link_filters is not None:
            calls.append(lambda: self.list_name_links(uuid, link_filters, num_retries))
        results = self.concurrently(*calls)
        links = results.pop() if link_filters is not None else None
        return [i for found in results for i in found], links

    # -- Keep ----------------------------------------------------------------
    @_translated
    def list_keep_services(self):
        """The Keep services this token may use (their records), for the
        block fetcher; one try, within the deadline (--timeout) like every
        API call."""
        return self._execute(self.keep_services().accessible(), 0)['items']

    def block_fetcher(self, num_retries=None):
        """The BlockFetcher for `num_retries` (one per value, made once)."""
        retries = self._retries(num_retries)
        fetcher = self._fetchers.get(retries)
        if fetcher is None:
            fetcher = self._fetchers.setdefault(retries, BlockFetcher(
                self.keep, retries, self.read_timeout, list_services=self.list_keep_services,
                observer=self._observer))
        return fetcher

    def prepare_reads(self, num_retries=None):
        """Know where Keep is before the first read of a collection being
        loaded (one request, the first time only; run it alongside the load)."""
        self.block_fetcher(num_retries).know_services()

    def block_source(self, num_retries=None):
        """What the read path fetches blocks from (see KeepBlockSource)."""
        return KeepBlockSource(self.block_fetcher(num_retries), self._budget)

    @_translated
    def get_keep_block(self, locator, num_retries=None):
        """A block's bytes, verified against its MD5 by the BlockFetcher.
        NotFound when every Keep server refused it (absent, or a bare PDH
        where signatures are enforced, or a bad signature): for this token
        that block does not exist."""
        try:
            return bytes(self.block_fetcher(num_retries).get(locator))
        except KeepFailure as e:
            if e.statuses and all(s in KEEP_REFUSALS for s in e.statuses.values()):
                raise NotFound(locator) from e
            raise

    # -- the event stream ------------------------------------------------------
    @_translated
    def websocket_url(self):
        """The cluster's websocket service, or None if it has none."""
        return self.discovery().get('websocketUrl') or None

    @_translated
    def newest_log_id(self):
        """The id of the newest change log this token may read (0 if none):
        a subscription with `last_log_id` set to it misses nothing that
        happens from now on."""
        page = self._execute(self.logs().list(limit=1, order=['id desc'], select=['id'], count='none'), 0)
        items = page.get('items') or []
        return int(items[0]['id']) if items else 0

    def connect_events(self, url):
        """An open websocket (websockets.sync) to the event service at
        `url`, authenticated with this client's token."""
        # Imported here: only a mount that listens for events needs it.
        import websockets.sync.client
        sep = '&' if '?' in url else '?'
        url = url + sep + 'api_token=' + urllib.parse.quote(self.api_token, safe='/')
        kwargs = {'ssl': self._ssl_context()} if url.startswith('wss:') else {}
        return websockets.sync.client.connect(url, open_timeout=EVENTS_OPEN_TIMEOUT,
                                              max_size=EVENTS_MAX_MESSAGE, proxy=None, **kwargs)

    def _ssl_context(self):
        ctx = ssl.create_default_context(cafile=arvados.util.ca_certs_path())
        if self._api_kwargs.get('insecure'):
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        return ctx

    def _retries(self, num_retries):
        return self.num_retries if num_retries is None else num_retries
