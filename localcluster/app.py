"""The API server's aiohttp application: the wire side of the API.

Turns HTTP requests into :class:`calls.Call` objects and results into
JSON: routing by the route table (percent-decoded path segments), query
parsing (form-urlencoded, ``+`` is a space; typed by each route's
parameter declarations), ``X-HTTP-Method-Override: GET`` / ``_method=GET``
POSTs, tokens (``Authorization: Bearer|OAuth2``, ``api_token``,
``oauth_token``), body size limits, and errors as
``{"errors": [...], "error_token": ...}`` (never 5xx for expected ones).

Also serves the discovery document, the fault admin endpoint and the
``/websocket`` hook: an event service installs its aiohttp handler with
``ApiApp.websocket_handler = handler`` (``Cluster.set_websocket_handler``);
until then ``/websocket`` answers 404.
"""

import json
import logging
import secrets
import time
import urllib.parse

from aiohttp import web

from . import discovery, queries, routes
from .faults import ADMIN_PREFIX, FaultError
from .calls import ApiError, Call
from .store import StoreError

log = logging.getLogger("localcluster.api")

_TRUE = ("true", "t", "1", "yes", "y", "on")
_FALSE = ("false", "f", "0", "no", "n", "off", "")


def error_response(status, message, request_id=None):
    if request_id:
        message = "%s (%s)" % (message, request_id)
    body = {"errors": [message],
            "error_token": "%d+%s" % (time.time(), secrets.token_hex(4))}
    return web.json_response(body, status=status)


def request_token(request, params):
    auth = request.headers.get("Authorization", "")
    for scheme in ("Bearer ", "OAuth2 "):
        if auth.startswith(scheme):
            return auth[len(scheme):].strip()
    for name in ("api_token", "oauth_token"):
        if params.get(name):
            return params[name]
    return None


def _typed(param, value):
    """A raw query string value -> the declared type (raise ApiError 422)."""
    t = param.type
    try:
        if t == "integer":
            return int(value)
        if t == "boolean":
            if isinstance(value, bool):
                return value
            v = str(value).strip().lower()
            if v in _TRUE:
                return True
            if v in _FALSE:
                return False
            raise ValueError(value)
        if t in ("array", "object"):
            if not isinstance(value, str):
                return value
            s = value.strip()
            if s.startswith("[") or s.startswith("{") or (t == "object" and s):
                return json.loads(s)
            # A bare string for an array param is sent raw by the client
            # (order=uuid, include=owner_uuid): the list code splits it.
            if param.name in ("filters",) and s:
                raise ValueError(value)
            return s if s else None
    except (ValueError, TypeError):
        raise ApiError(422, "Invalid value for parameter %s: %r" % (param.name, value))
    return value


class ApiApp:
    def __init__(self, api, *, faults, users_by_token, discovery_settings,
                 max_request_size, admin_handler, counter=None, calls_handler=None):
        self.api = api
        self.faults = faults
        self.counter = counter              # a callcount.CallCounter, or None
        self.calls_handler = calls_handler  # serves /_localcluster/calls
        self.users_by_token = users_by_token    # callable(token) -> user record or None
        self.discovery_settings = discovery_settings    # callable() -> dict of kwargs
        self.max_request_size = max_request_size
        self.admin_handler = admin_handler
        self.websocket_handler = None   # async handler(request), set by an event service

    def make_app(self):
        counting = [self.counter.middleware()] if self.counter is not None else []
        app = web.Application(
            client_max_size=self.max_request_size,
            middlewares=counting + [self._error_middleware,
                         self.faults.middleware("api", lambda s: error_response(
                             s, "fault injected (api)"))])
        app.router.add_route("GET", "/discovery/v1/apis/arvados/v1/rest", self.discovery)
        app.router.add_route("*", "/arvados/v1/{tail:.*}", self.dispatch)
        app.router.add_route("*", ADMIN_PREFIX + "faults", self.admin_handler)
        if self.calls_handler is not None:
            app.router.add_route("*", ADMIN_PREFIX + "calls", self.calls_handler)
        app.router.add_route("GET", "/websocket", self.websocket)
        app.router.add_route("GET", "/_health/ping", self.ping)
        return app

    @web.middleware
    async def _error_middleware(self, request, handler):
        rid = request.headers.get("X-Request-Id")
        try:
            resp = await handler(request)
        except ApiError as e:
            resp = error_response(e.status, str(e), rid)
        except queries.QueryError as e:
            resp = error_response(422, str(e), rid)
        except (FaultError, StoreError) as e:
            resp = error_response(422, str(e), rid)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            resp = error_response(e.status, e.reason if e.status != 404 else "Path not found", rid)
        except Exception:
            log.exception("internal error on %s %s", request.method, request.path)
            resp = error_response(500, "Internal error", rid)
        if rid and not resp.prepared:
            resp.headers["X-Request-Id"] = rid
        return resp

    async def ping(self, request):
        return web.json_response({"health": "OK"})

    async def websocket(self, request):
        handler = self.websocket_handler
        if handler is None:
            raise ApiError(404, "websocket service not available")
        return await handler(request)

    async def discovery(self, request):
        host = request.headers.get("Host") or request.host
        doc = discovery.document(host, **self.discovery_settings())
        return web.json_response(doc, headers={"Cache-Control": "no-cache"})

    async def _read_body(self, request):
        length = request.content_length
        if length is not None and length > self.max_request_size:
            raise ApiError(413, "Request body too large (%d > %d bytes)"
                           % (length, self.max_request_size))
        return await request.read()

    async def dispatch(self, request):
        raw = request.rel_url.raw_path[len("/arvados/v1/"):]
        path = "/".join(urllib.parse.unquote(seg) for seg in raw.split("/")).rstrip("/")
        params = dict(urllib.parse.parse_qsl(request.rel_url.raw_query_string,
                                             keep_blank_values=True))
        method = request.method
        body = None
        if method in ("POST", "PUT", "PATCH", "DELETE"):
            data = await self._read_body(request)
            ctype = request.content_type
            if ctype == "application/x-www-form-urlencoded" or (
                    method == "POST" and request.headers.get("X-HTTP-Method-Override")):
                try:
                    form = dict(urllib.parse.parse_qsl(data.decode("utf-8"),
                                                       keep_blank_values=True))
                except UnicodeDecodeError:
                    raise ApiError(400, "form body is not UTF-8")
                override = (form.pop("_method", None)
                            or request.headers.get("X-HTTP-Method-Override") or "").upper()
                if method == "POST" and override == "GET":
                    method = "GET"
                    params.update(form)
                else:
                    body = {}
                    for k, v in form.items():
                        try:
                            body[k] = json.loads(v) if v[:1] in "{[" else v
                        except ValueError:
                            raise ApiError(400, "malformed JSON in form field %r" % k)
            elif data.strip():
                try:
                    body = json.loads(data)
                except (ValueError, UnicodeDecodeError):
                    raise ApiError(400, "malformed JSON request body")
                if not isinstance(body, dict):
                    raise ApiError(422, "request body must be a JSON object")
        if method == "PATCH":
            method = "PUT"
        route, path_params = routes.match(path, method)
        if route is None:
            if path_params:
                raise ApiError(405, "Method %s not allowed on %s" % (method, path))
            raise ApiError(404, "Path not found")
        if self.counter is not None:
            self.counter.note_call(request, route, params)
        declared = {p.name: p for p in route.params}
        typed = {}
        for k, v in params.items():
            typed[k] = _typed(declared[k], v) if k in declared else v
        for k, v in path_params.items():
            typed[k] = v
        token = request_token(request, params)
        user = self.users_by_token(token) if token else None
        if route.auth and user is None:
            raise ApiError(401, "Not logged in")
        host = request.headers.get("Host") or request.host
        call = Call(user, token, typed, body, host, route)
        fn = getattr(self.api, "%s_%s" % (route.resource, route.method), None) or \
            getattr(self.api, route.handler)
        result = fn(call)
        if self.counter is not None:
            self.counter.note_result(request, result)
        return web.json_response(result)
