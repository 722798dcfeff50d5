"""Starts and stops a whole cluster: API (HTTPS), Keep servers, control port.

Also owns the data directory layout::

    DIR/records.sqlite3     records (store.py)
    DIR/blocks/<md5[0:3]>/<md5>   Keep blocks (shared by all Keep servers)
    DIR/blob_signing_key    HMAC key for +A signatures
    DIR/ca.pem, DIR/tls/    TLS material (tlsfiles.py)
    DIR/cluster.json        ports, tokens, users, urls (rewritten at each start)
    DIR/admin.env, DIR/user.env (alice), DIR/bob.env   shell env files
    DIR/demo.json           what --demo created (demo.py)

Users ``admin``, ``alice`` and ``bob`` and their tokens are created on
first start (they are cluster fixtures, not demo data) and kept.
Every server listens on 127.0.0.1 on a free port.
"""

import asyncio
import json
import os
import secrets

from aiohttp import web

from . import CLUSTER_ID, records
from .app import ApiApp, request_token
from .callcount import CallCounter
from .faults import ADMIN_PREFIX, Faults
from .calls import ApiError
from .handlers import Api
from .keepserver import KeepServer
from .listener import Listener
from .permissions import Permissions
from .records import KINDS, SYSTEM_USER_UUID
from .settings import Settings
from .signing import Signer
from .store import Store
from . import executor, tlsfiles

HOST = "127.0.0.1"
BLOB_SIGNATURE_TTL = 14 * 24 * 3600     # upstream default (336h)
MAX_REQUEST_SIZE = 128 * 1024 * 1024    # upstream default API.MaxRequestSize
MAX_ITEMS = 1000

# name -> (first, last, email, is_admin); "alice" is the plain user of user.env.
USERS = {
    "admin": ("Admin", "User", "admin@example.com", True),
    "alice": ("Alice", "Active", "alice@example.com", False),
    "bob": ("Bob", "Other", "bob@example.com", False),
}


def _write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


class Cluster:
    def __init__(self, data_dir, *, keep_servers=2, blob_signing=True,
                 blob_ttl=BLOB_SIGNATURE_TTL, max_request_size=MAX_REQUEST_SIZE, settings=None):
        self.settings = settings or Settings()
        self.data_dir = os.path.abspath(data_dir)
        self.n_keep = keep_servers
        self.blob_signing = blob_signing
        self.blob_ttl = blob_ttl
        self.max_request_size = max_request_size
        self.blocks_dir = os.path.join(self.data_dir, "blocks")
        self.listeners = {}     # server name -> Listener
        self.users = {}         # "alice" -> {"uuid", "token", ...}
        self.keep_servers = []
        self.api_app = None     # the ApiApp (its .websocket_handler serves /websocket)
        # Extension hooks, for services built on top (e.g. the event service):
        # ``async hook(cluster)`` run after every server listens, before
        # the files are written and the ready line is printed.
        self.start_hooks = []
        self.generated_at = records.now_ts()

    # -- setup -----------------------------------------------------------

    def _bootstrap(self):
        st = self.store
        boot = st.meta("bootstrap")
        if boot is None:
            boot = {"users": {}, "keep_uuids": []}
            with st.write(SYSTEM_USER_UUID) as tx:
                tx.create("users", {"owner_uuid": SYSTEM_USER_UUID, "first_name": "root",
                                    "last_name": "", "email": "root", "username": "root",
                                    "is_admin": True}, uuid=SYSTEM_USER_UUID)
                for name, (first, last, email, admin) in USERS.items():
                    user = tx.create("users", {
                        "owner_uuid": SYSTEM_USER_UUID, "first_name": first, "last_name": last,
                        "email": email, "username": name, "is_admin": admin,
                        "identity_url": "localcluster:" + name})
                    secret = records.random_secret()
                    auth = tx.create("api_client_authorizations", {
                        "owner_uuid": user["uuid"], "api_token": secret, "scopes": ["all"],
                        "expires_at": None})
                    boot["users"][name] = {"uuid": user["uuid"],
                                           "token": "v2/%s/%s" % (auth["uuid"], secret)}
            st.set_meta("bootstrap", boot)
        while len(boot["keep_uuids"]) < self.n_keep:
            boot["keep_uuids"].append(KINDS["keep_services"].new_uuid())
            st.set_meta("bootstrap", boot)
        for name, info in boot["users"].items():
            rec = st.get(info["uuid"])
            self.users[name] = dict(info, email=rec["email"], first_name=rec["first_name"],
                                    last_name=rec["last_name"], is_admin=rec["is_admin"])
        self.keep_uuids = boot["keep_uuids"][:self.n_keep]

    def _signing_key(self):
        path = os.path.join(self.data_dir, "blob_signing_key")
        if not os.path.exists(path):
            _write_atomic(path, secrets.token_hex(32))
        with open(path) as f:
            return f.read().strip()

    def user_for_token(self, token):
        auth = self.store.token_record(token)
        if auth is None:
            return None
        user = self.store.get(auth["owner_uuid"])
        return user if user and user.get("is_active") else None

    def keep_service_records(self):
        out = []
        for uuid, ks in zip(self.keep_uuids, self.keep_servers):
            lst = self.listeners[ks.name]
            out.append({"kind": "arvados#keepService", "etag": "", "uuid": uuid,
                        "owner_uuid": SYSTEM_USER_UUID, "created_at": self.generated_at,
                        "modified_at": self.generated_at,
                        "modified_by_user_uuid": SYSTEM_USER_UUID,
                        "service_host": HOST, "service_port": lst.port,
                        "service_ssl_flag": False, "service_type": "disk",
                        "read_only": False})
        return out

    def config(self):
        collections = {"DefaultReplication": 1, "BlobSigning": self.blob_signing,
                       "BlobSigningTTL": "%ds" % self.blob_ttl, "TrustAllContent": False}
        collections.update(self.settings.collections_config())
        return {
            "ClusterID": CLUSTER_ID,
            "Collections": collections,
            "StorageClasses": {"default": {"Default": True, "Priority": 0}},
            "API": {"MaxItemsPerResponse": MAX_ITEMS, "MaxRequestSize": self.max_request_size},
            "Services": {
                "Controller": {"ExternalURL": self.api_url},
                "Websocket": {"ExternalURL": self.websocket_url},
                "Keepstore": {"InternalURLs": {u: {} for u in self.keep_urls}},
            },
            "Users": {"AnonymousUserToken": "",
                      "ActivatedUsersAreVisibleToOthers": self.settings.users_visible_to_others},
            "Workbench": {"SiteName": "localcluster"},
        }

    def discovery_settings(self):
        return {"blob_signature_ttl": self.blob_ttl, "max_request_size": self.max_request_size,
                "max_items": MAX_ITEMS, "generated_at": self.generated_at}

    # -- lifecycle -------------------------------------------------------

    async def start(self):
        executor.install(asyncio.get_running_loop())
        os.makedirs(os.path.join(self.blocks_dir, "tmp"), exist_ok=True)
        self.ca_path, server_pem = tlsfiles.ensure(self.data_dir)
        self.store = Store(os.path.join(self.data_dir, "records.sqlite3"))
        self._bootstrap()
        self.signer = Signer(self._signing_key(), self.blob_ttl) if self.blob_signing else None
        self.perms = Permissions(self.store, self.settings)
        self.faults = Faults()
        self.calls = CallCounter()
        for i in range(self.n_keep):
            ks = KeepServer("keep%d" % i, blocks_dir=self.blocks_dir, signer=self.signer,
                            faults=self.faults,
                            token_valid=lambda t: self.user_for_token(t) is not None)
            await self._listen(ks.name, ks.make_app())
            self.keep_servers.append(ks)
        self.api = Api(self.store, self.perms, self.signer, config=self.config, settings=self.settings,
                       keep_services=self.keep_service_records, blob_ttl=self.blob_ttl)
        self.api_app = api_app = ApiApp(self.api, faults=self.faults, users_by_token=self.user_for_token,
                         discovery_settings=self.discovery_settings,
                         max_request_size=self.max_request_size,
                         admin_handler=self.admin_faults,
                         counter=self.calls, calls_handler=self.admin_calls)
        await self._listen("api", api_app.make_app(), tlsfiles.server_context(server_pem))
        control = web.Application(middlewares=[api_app._error_middleware])
        control.router.add_route("*", ADMIN_PREFIX + "faults", self.admin_faults)
        control.router.add_route("*", ADMIN_PREFIX + "calls", self.admin_calls)
        control.router.add_route("*", ADMIN_PREFIX + "settings", self.admin_settings)
        self.control = Listener(control, host=HOST)
        await self.control.start()
        for hook in self.start_hooks:
            await hook(self)
        self.write_files()

    def set_websocket_handler(self, handler):
        """Serve ``wss://<api>/websocket`` with ``async handler(request)``."""
        self.api_app.websocket_handler = handler

    async def _listen(self, name, app, ssl_context=None):
        lst = Listener(app, host=HOST, ssl_context=ssl_context)
        await lst.start()
        self.listeners[name] = lst
        self.faults.register(name, lst.set_down)
        return lst

    async def stop(self):
        for lst in [self.control] + list(self.listeners.values()):
            await lst.stop()
        self.store.db.close()

    # -- fault admin endpoint ----------------------------------------------

    def _require_admin(self, request):
        user = self.user_for_token(request_token(request, dict(request.query)) or "")
        if user is None:
            raise ApiError(401, "Not logged in")
        if not user.get("is_admin"):
            raise ApiError(403, "Forbidden: admin token required")

    async def admin_faults(self, request):
        """GET: fault state; POST {"server": n, knob: v...} or {"clear": true[, "server": n]}."""
        body = await self._admin_body(request)
        if body is not None:
            if not isinstance(body, dict):
                raise ApiError(422, "request body must be a JSON object")
            server = body.pop("server", None)
            if body.pop("clear", False):
                if server is not None and server not in self.faults.servers():
                    raise ApiError(422, "unknown server %r" % server)
                await self.faults.clear(server)
            elif server is None:
                raise ApiError(422, "'server' is required (one of %s)"
                               % ", ".join(self.faults.servers()))
            else:
                await self.faults.set(server, **body)
        return web.json_response(self.faults.state())

    async def admin_settings(self, request):
        """GET: the settings (settings.py); POST {name: value, ...}: change them."""
        body = await self._admin_body(request)
        if body is not None:
            self.settings.update(body)
        return web.json_response(self.settings.state())

    async def _admin_body(self, request):
        """For an admin endpoint: the JSON body of a POST, None for a GET."""
        self._require_admin(request)
        if request.method == "GET":
            return None
        if request.method != "POST":
            raise ApiError(405, "use GET or POST")
        try:
            return json.loads(await request.read() or b"{}")
        except ValueError:
            raise ApiError(400, "malformed JSON request body")

    async def admin_calls(self, request):
        """The API's request counts per route (callcount.py). GET: the counts
        (``?log=1``: and the request log); POST or DELETE: reset them (the
        answer is the counts just before the reset)."""
        self._require_admin(request)
        with_log = request.query.get("log", "") not in ("", "0", "false")
        if request.method == "GET":
            return web.json_response(self.calls.state(with_log))
        if request.method in ("POST", "DELETE"):
            before = self.calls.state(with_log)
            self.calls.reset()
            return web.json_response(before)
        raise ApiError(405, "use GET, POST or DELETE")

    # -- files for clients -------------------------------------------------

    @property
    def api_host(self):
        return "%s:%d" % (HOST, self.listeners["api"].port)

    @property
    def api_url(self):
        return "https://%s/" % self.api_host

    @property
    def websocket_url(self):
        return "wss://%s/websocket" % self.api_host

    @property
    def keep_urls(self):
        return ["http://%s:%d/" % (HOST, self.listeners[k.name].port) for k in self.keep_servers]

    def write_files(self):
        env_files = {}
        for name, fname in (("admin", "admin.env"), ("alice", "user.env"), ("bob", "bob.env")):
            path = os.path.join(self.data_dir, fname)
            _write_atomic(path, "export ARVADOS_API_HOST=%s\nexport ARVADOS_API_TOKEN=%s\n"
                          "export ARVADOS_API_HOST_INSECURE=1\n"
                          % (self.api_host, self.users[name]["token"]))
            env_files[name] = path
        info = {
            "cluster_id": CLUSTER_ID,
            "data_dir": self.data_dir,
            "pid": os.getpid(),
            "api_host": self.api_host,
            "api_port": self.listeners["api"].port,
            "api_url": self.api_url,
            "websocket_url": self.websocket_url,
            "control_url": "http://%s:%d/" % (HOST, self.control.port),
            "keep_services": [{"name": ks.name, "uuid": uuid, "url": url,
                               "port": self.listeners[ks.name].port}
                              for ks, uuid, url in zip(self.keep_servers, self.keep_uuids,
                                                       self.keep_urls)],
            "keep_urls": self.keep_urls,
            "ca_file": self.ca_path,
            "cert_file": self.ca_path,
            "blob_signing": self.blob_signing,
            "blob_signature_ttl": self.blob_ttl,
            "users": self.users,
            "env_files": env_files,
            "servers": ["api"] + [ks.name for ks in self.keep_servers],
        }
        _write_atomic(os.path.join(self.data_dir, "cluster.json"),
                      json.dumps(info, indent=2, sort_keys=True) + "\n")
        return info
