"""Per-route request counts of the API server, for benchmarks and tests
that count a client's round trips (``GET /_localcluster/calls``).

Every request the API port handles, except the admin paths
``/_localcluster/``, is counted under a route name derived from the route
table: ``<resource>.<method>`` of the matched route (``groups.contents``,
``collections.get``, ``links.list``, ``users.current``, ``configs.get``,
the legacy ``groups/{uuid}/contents`` as ``groups.contents_legacy``...),
plus ``discovery`` (the discovery document), ``websocket`` (one per event
stream connection, counted when it opens), ``health`` and ``unknown``
(no route). Each route records its HTTP method, its count, the response
body bytes and the statuses. A bounded log keeps the latest requests in
arrival order, each with its path, query parameters (tokens left out), status,
bytes, number of items (lists) and start and end times, so the sequence of a client's requests and
their overlap can be read back.

The counter sits outside the fault middleware, so a request delayed or
failed by a fault knob is counted too (with the injected status).
"""

import time
import urllib.parse

from aiohttp import web

from . import routes
from .faults import ADMIN_PREFIX

LOG_LIMIT = 20000
_SECRET_PARAMS = ("api_token", "oauth_token")


def route_name(path, method, override=None):
    """The route name of an API request path (no query string)."""
    if path == "/discovery/v1/apis/arvados/v1/rest":
        return "discovery"
    if path == "/websocket":
        return "websocket"
    if path == "/_health/ping":
        return "health"
    if path.startswith("/arvados/v1/"):
        raw = path[len("/arvados/v1/"):]
        tail = "/".join(urllib.parse.unquote(seg) for seg in raw.split("/")).rstrip("/")
        if method == "POST" and (override or "").upper() == "GET":
            method = "GET"
        if method == "PATCH":
            method = "PUT"
        route, _ = routes.match(tail, method)
        if route is not None:
            return "%s.%s" % (route.resource, route.method)
    return "unknown"


def public_params(params):
    return {k: v for k, v in params.items() if k not in _SECRET_PARAMS}


class CallCounter:
    """Counts per route; used from the event loop thread only."""

    def __init__(self, log_limit=LOG_LIMIT):
        self.log_limit = log_limit
        self.reset()

    def reset(self):
        self.generation = getattr(self, "generation", 0) + 1
        self.since = time.time()
        self.started = time.monotonic()
        self.routes = {}
        self.log = []
        self.dropped = 0

    def _begin(self, request):
        override = request.headers.get("X-HTTP-Method-Override")
        name = route_name(request.path, request.method, override)
        method = "GET" if request.method == "POST" and (override or "").upper() == "GET" \
            else request.method
        params = public_params(dict(urllib.parse.parse_qsl(request.rel_url.raw_query_string,
                                                           keep_blank_values=True)))
        entry = {"route": name, "method": method, "path": request.path, "params": params,
                 "start": round(time.monotonic() - self.started, 6), "end": None,
                 "status": None, "bytes": 0}
        if len(self.log) < self.log_limit:
            self.log.append(entry)
        else:
            self.dropped += 1
        return self.generation, entry

    def _count(self, generation, entry):
        if generation != self.generation:
            return      # begun before a reset: not part of what is measured now
        r = self.routes.setdefault(entry["route"], {"method": entry["method"], "count": 0,
                                                    "bytes": 0, "statuses": {}})
        r["count"] += 1
        r["bytes"] += entry["bytes"]
        key = str(entry["status"])
        r["statuses"][key] = r["statuses"].get(key, 0) + 1

    def middleware(self):
        @web.middleware
        async def count_middleware(request, handler):
            if request.path.startswith(ADMIN_PREFIX):
                return await handler(request)
            generation, entry = self._begin(request)
            request["callcount_entry"] = entry
            if entry["route"] == "websocket":
                # A session lasts as long as the stream: count it when it opens.
                entry["status"] = 101
                self._count(generation, entry)
                try:
                    return await handler(request)
                finally:
                    if generation == self.generation:
                        entry["end"] = round(time.monotonic() - self.started, 6)
            resp = None
            try:
                resp = await handler(request)
                return resp
            except web.HTTPException as e:
                resp = e
                raise
            finally:
                if generation == self.generation:
                    entry["end"] = round(time.monotonic() - self.started, 6)
                    if resp is None:
                        entry["status"] = 500
                    else:
                        entry["status"] = resp.status
                        body = getattr(resp, "body", None)
                        if isinstance(body, (bytes, bytearray)):
                            entry["bytes"] = len(body)
                        elif getattr(resp, "content_length", None):
                            entry["bytes"] = resp.content_length
                    self._count(generation, entry)
        return count_middleware

    def note_call(self, request, route, params):
        """Called by the dispatcher with the route it matched and the
        parameters it used (query and form), which may differ from what
        the URL alone says (``_method=GET`` in a POST form)."""
        entry = request.get("callcount_entry")
        if entry is None:
            return
        entry["route"] = "%s.%s" % (route.resource, route.method)
        entry["method"] = route.http_method
        entry["params"] = public_params(params)

    def note_result(self, request, result):
        """Called by the dispatcher with a method's result: a list's
        number of items goes into the log (``items``)."""
        entry = request.get("callcount_entry")
        if entry is not None and isinstance(result, dict) and \
                isinstance(result.get("items"), list):
            entry["items"] = len(result["items"])

    def state(self, with_log=False):
        out = {"since": self.since,
               "total": sum(r["count"] for r in self.routes.values()),
               "bytes": sum(r["bytes"] for r in self.routes.values()),
               "routes": {k: dict(v, statuses=dict(v["statuses"]))
                          for k, v in sorted(self.routes.items())}}
        if with_log:
            out["log"] = list(self.log)
            out["log_dropped"] = self.dropped
        return out
