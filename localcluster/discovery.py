"""The discovery document, generated from the route table (routes.py).

The static part (resources, methods, parameters, schemas) is built once
from ``routes.ROUTES`` and ``records.KINDS``; the runtime fields
(``rootUrl`` from the request's Host, ``websocketUrl``, ``uuidPrefix``,
Keep signature TTL, ...) are overlaid per request.
"""

import copy

from . import CLUSTER_ID
from .records import KINDS
from .routes import ROUTES

REVISION = "20240627"
PACKAGE_VERSION = "localcluster-1"

_SCHEMA_TYPES = {"string": "string", "integer": "integer", "boolean": "boolean",
                 "datetime": "datetime", "hash": "Hash", "array": "Array"}

_SCHEMA_NAMES = {"users": "User", "groups": "Group", "collections": "Collection",
                 "links": "Link", "workflows": "Workflow", "logs": "Log",
                 "keep_services": "KeepService",
                 "api_client_authorizations": "ApiClientAuthorization"}


def _param_doc(p):
    doc = {"type": p.type, "required": p.required, "location": p.location,
           "description": p.description}
    if p.default is not None:
        doc["default"] = p.default
    return doc


def _method_doc(route):
    doc = {
        "id": route.id,
        "path": route.path,
        "httpMethod": route.http_method,
        "description": route.description or "%s %s" % (route.resource, route.method),
        "parameters": {p.name: _param_doc(p) for p in route.params},
        "parameterOrder": [p.name for p in route.params if p.required],
        "response": {"$ref": route.response} if route.response else {},
        "scopes": ["https://api.arvados.org/auth/arvados",
                   "https://api.arvados.org/auth/arvados.readonly"],
    }
    if route.request_key:
        doc["request"] = {"required": True, "properties": {
            route.request_key: {"$ref": route.response}}}
    return doc


def _schemas():
    out = {}
    for table, name in _SCHEMA_NAMES.items():
        kind = KINDS[table]
        out[name] = {
            "id": name, "type": "object", "uuidPrefix": kind.infix,
            "description": "Arvados %s" % kind.name,
            "properties": {f: {"type": _SCHEMA_TYPES[t]} for f, t in kind.fields.items()},
        }
        out[name + "List"] = {
            "id": name + "List", "type": "object",
            "description": "A list of %s objects." % name,
            "properties": {
                "kind": {"type": "string", "default": "arvados#%sList" % kind.name},
                "etag": {"type": "string"},
                "items": {"type": "array", "items": {"$ref": name}},
                "items_available": {"type": "integer"},
                "offset": {"type": "integer"}, "limit": {"type": "integer"},
            },
        }
    return out


def _static_document():
    resources = {}
    for route in ROUTES:
        if route.in_discovery:
            resources.setdefault(route.resource, {"methods": {}})["methods"][route.method] = \
                _method_doc(route)
    return {
        "kind": "discovery#restDescription",
        "discoveryVersion": "v1",
        "id": "arvados:v1",
        "name": "arvados",
        "version": "v1",
        "revision": REVISION,
        "title": "Arvados API (localcluster)",
        "description": "The API of a local Arvados-compatible test cluster.",
        "documentationLink": "http://doc.arvados.org/api/index.html",
        "protocol": "rest",
        "servicePath": "arvados/v1/",
        "batchPath": "batch",
        "parameters": {
            "alt": {"type": "string", "description": "Data format for the response.",
                    "default": "json", "enum": ["json"],
                    "enumDescriptions": ["Responses with Content-Type of application/json"],
                    "location": "query"},
            "fields": {"type": "string", "location": "query",
                       "description": "Selector specifying which fields to include."},
            "key": {"type": "string", "location": "query", "description": "API key (unused)."},
            "oauth_token": {"type": "string", "location": "query",
                            "description": "OAuth 2.0 token for the current user."},
        },
        "auth": {"oauth2": {"scopes": {
            "https://api.arvados.org/auth/arvados": {"description": "View and manage objects"},
            "https://api.arvados.org/auth/arvados.readonly": {"description": "View objects"}}}},
        "schemas": _schemas(),
        "resources": resources,
    }


_STATIC = _static_document()


def document(host, *, blob_signature_ttl, max_request_size, max_items, generated_at,
             default_replication=1, websocket_url=None):
    """The full discovery document for a request that arrived with ``Host: host``."""
    doc = copy.deepcopy(_STATIC)
    root = "https://%s/" % host
    doc.update({
        "rootUrl": root,
        "baseUrl": root + "arvados/v1/",
        "basePath": "/arvados/v1/",
        "uuidPrefix": CLUSTER_ID,
        "websocketUrl": websocket_url if websocket_url is not None else "wss://%s/websocket" % host,
        "blobSignatureTtl": blob_signature_ttl,
        "defaultCollectionReplication": default_replication,
        "defaultTrashLifetime": 1209600,
        "maxRequestSize": max_request_size,
        "maxItemsPerResponse": max_items,
        "packageVersion": PACKAGE_VERSION,
        "sourceVersion": PACKAGE_VERSION,
        "generatedAt": generated_at,
        "remoteHosts": {},
        "remoteHostsViaDNS": False,
        "keepWebServiceUrl": "",
        "workbenchUrl": "",
        "workbench2Url": "",
        "dockerImageFormats": ["v2"],
        "crunchLogUpdatePeriod": 1800,
        "crunchLogUpdateSize": 33554432,
    })
    return doc
