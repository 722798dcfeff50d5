"""All API and Keep access: the only module that talks to the cluster.

`SafeApi` is the seed's thread-safe API wrapper, now built on the SDK's own
`ThreadSafeAPIClient` (one googleapiclient object per thread, because httplib2
is not thread-safe; one shared KeepClient with its block cache).  The named
methods below are everything the directory model asks of the cluster, so a
fake with the same methods is enough to test the model without a network.

Every method here blocks on the network: callers in the llfuse adapter must
release the llfuse lock first.
"""

import logging

import arvados
import arvados.api
import arvados.errors
import arvados.keep
import arvados.util
import googleapiclient.errors

from .errors import NotFound

_logger = logging.getLogger('arvados.arvados_fuse')

def _status(exc):
    resp = getattr(exc, 'resp', None)
    return getattr(resp, 'status', None)


def is_not_found(exc):
    if isinstance(exc, (NotFound, arvados.errors.NotFoundError)):
        return True
    if isinstance(exc, googleapiclient.errors.HttpError):
        return _status(exc) in (403, 404, 422)
    return False


def _config_dict(config):
    """Accept the seed's `arvados.config` module, or any mapping."""
    if hasattr(config, 'settings') and callable(config.settings):
        config = config.settings()
    return {k: config.get(k) for k in ('ARVADOS_API_HOST', 'ARVADOS_API_TOKEN', 'ARVADOS_API_HOST_INSECURE')
            if config.get(k) is not None}


class SafeApi(arvados.api.ThreadSafeAPIClient):
    """Thread-safe API client plus the calls arv-mount makes."""

    def __init__(self, config=None, keep_params=None, api_params=None, num_retries=10):
        params = {'cache': False, 'num_retries': num_retries}
        params.update(api_params or {})
        keep = {'num_retries': num_retries}
        keep.update(keep_params or {})
        super(SafeApi, self).__init__(
            apiconfig=_config_dict(config if config is not None else arvados.config),
            keep_params=keep, api_params=params, version='v1')
        self.num_retries = num_retries
        self.host = _config_dict(config if config is not None else arvados.config).get('ARVADOS_API_HOST')
        self._discovery = None

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
        return self.keep

    # -- discovery facts --------------------------------------------------
    def discovery(self):
        if self._discovery is None:
            self._discovery = self.localapi()._rootDesc
        return self._discovery

    def has_method(self, resource, method):
        return 'httpMethod' in self.discovery().get('resources', {}).get(resource, {}).get('methods', {}).get(method, {})

    # -- records -----------------------------------------------------------
    def current_user(self, num_retries=None):
        return self.users().current().execute(num_retries=self._retries(num_retries))

    def get_user(self, uuid, num_retries=None):
        return self.users().get(uuid=uuid).execute(num_retries=self._retries(num_retries))

    def get_group(self, uuid, num_retries=None):
        return self.groups().get(uuid=uuid).execute(num_retries=self._retries(num_retries))

    def get_collection(self, locator, num_retries=None, select=None):
        """The collection record (with a signed manifest unless `select`
        leaves it out) by uuid or PDH."""
        kwargs = {'select': select} if select is not None else {}
        try:
            return self.collections().get(uuid=locator, **kwargs).execute(
                num_retries=self._retries(num_retries))
        except googleapiclient.errors.HttpError as e:
            if is_not_found(e):
                raise NotFound(locator)
            raise

    def get_keep_block(self, locator, num_retries=None):
        """A block's bytes, verified against its MD5 by the KeepClient.
        NotFound when every Keep server refused it (absent, or a bare PDH
        where signatures are enforced, or a bad signature): for this token
        that block does not exist."""
        try:
            return self.keep.get(locator, num_retries=self._retries(num_retries))
        except arvados.errors.NotFoundError:
            raise NotFound(locator)
        except arvados.errors.KeepReadError as e:
            errors = e.request_errors() if callable(getattr(e, 'request_errors', None)) else None
            if errors and all(getattr(err, 'status_code', None) in (400, 401, 403, 404)
                              for err in errors.values()):
                raise NotFound(locator)
            raise

    def list_all(self, method, num_retries=None, order_key='uuid', keep=None, **kwargs):
        """Every item of a list call, paged by uuid (keyset paging);
        `keep(item)`, applied page by page, says what to hold on to of each
        (so 10^4 full records never all sit in memory at once)."""
        items = arvados.util.keyset_list_all(
            method, order_key=order_key, num_retries=self._retries(num_retries), **kwargs)
        return [keep(i) for i in items] if keep is not None else list(items)

    def _retries(self, num_retries):
        return self.num_retries if num_retries is None else num_retries
