"""The API route table: one declaration per API method.

Both the HTTP router (app.py) and the discovery document (discovery.py)
are derived from this table, so a method cannot be served without being
declared (the Python client refuses undeclared keyword arguments) nor
declared without being served. Ids, paths and parameters match the
Arvados 3.2.1 API for every method served here.
"""

import re


class Param:
    def __init__(self, name, type_, location="query", required=False, default=None,
                 description=""):
        self.name, self.type, self.location = name, type_, location
        self.required, self.default, self.description = required, default, description


class Route:
    """One API method. ``handler`` names a method of handlers.Api."""

    def __init__(self, resource, method, path, http_method, params, response,
                 handler, request_key=None, auth=True, in_discovery=True, description=""):
        self.resource, self.method, self.path = resource, method, path
        self.http_method = http_method
        self.params = params
        self.response = response
        self.handler = handler
        self.request_key = request_key      # body wrapper key, e.g. "collection"
        self.auth = auth
        self.in_discovery = in_discovery
        self.description = description
        self.id = "arvados.%s.%s" % (resource, method)
        # "collections/{uuid}" -> ^collections/(?P<uuid>[^/]+)$
        self.regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", path) + "$")

    @property
    def path_params(self):
        return [p for p in self.params if p.location == "path"]


def _uuid(what):
    return Param("uuid", "string", "path", True, description="The UUID of the %s." % what)


def _select():
    return Param("select", "array", description="Attributes of the object to return.")


def _list_params():
    return [
        Param("filters", "array", description="Filters to limit which objects are returned."),
        Param("where", "object", description="Legacy attribute=value filter map."),
        Param("order", "array", description="Sort order, e.g. [\"name asc\"]."),
        Param("select", "array", description="Attributes of each object to return."),
        Param("distinct", "boolean", default="false", description="Return each selected tuple once."),
        Param("limit", "integer", default="100", description="Maximum number of items to return."),
        Param("offset", "integer", default="0", description="Number of items to skip."),
        Param("count", "string", default="exact", description="'exact' or 'none'."),
        Param("cluster_id", "string", description="Federated cluster to query (ignored)."),
        Param("bypass_federation", "boolean", default="false", description="Ignored."),
    ]


def _trash():
    return Param("include_trash", "boolean", default="false", description="Include trashed objects.")


def _create_params():
    return [_select(),
            Param("ensure_unique_name", "boolean", default="false",
                  description="Adjust the name if the owner already has an object with it."),
            Param("cluster_id", "string", description="Federated cluster (ignored).")]


def _crud(resource, schema, key, handlers, extra=None):
    """get/list/create/update/delete routes for a plain resource."""
    extra = extra or {}
    singular = schema
    out = []
    if "get" in handlers:
        out.append(Route(resource, "get", resource + "/{uuid}", "GET",
                         [_uuid(singular), _select()] + extra.get("get", []), schema, "get"))
    if "list" in handlers:
        out.append(Route(resource, "list", resource, "GET", _list_params() + extra.get("list", []),
                         schema + "List", "list"))
    if "create" in handlers:
        out.append(Route(resource, "create", resource, "POST",
                         _create_params() + extra.get("create", []), schema, "create",
                         request_key=key))
    if "update" in handlers:
        out.append(Route(resource, "update", resource + "/{uuid}", "PUT",
                         [_uuid(singular), _select()] + extra.get("update", []), schema, "update",
                         request_key=key))
    if "delete" in handlers:
        out.append(Route(resource, "delete", resource + "/{uuid}", "DELETE", [_uuid(singular)],
                         schema, "delete"))
    return out


def _replace_params():
    return [Param("replace_files", "object", description="Not supported here (ignored)."),
            Param("replace_segments", "object", description="Not supported here (ignored).")]


def _contents_params():
    return _list_params() + [
        _trash(),
        Param("uuid", "string", default="", description="List what this user or group owns."),
        Param("recursive", "boolean", default="false", description="Include sub-projects' contents."),
        Param("include", "array", description="Referenced objects to return in 'included'."),
        Param("include_old_versions", "boolean", default="false",
              description="Include past collection versions (there are none here)."),
        Param("exclude_home_project", "boolean", default="false",
              description="List only what is shared with the caller."),
    ]


ROUTES = (
    [Route("users", "current", "users/current", "GET", [], "User", "users_current"),
     Route("users", "get", "users/{uuid}", "GET", [_uuid("User"), _select()], "User", "get"),
     Route("users", "list", "users", "GET", _list_params(), "UserList", "list")]
    + [Route("groups", "contents", "groups/contents", "GET", _contents_params(), "Group",
             "groups_contents"),
       Route("groups", "contents_legacy", "groups/{uuid}/contents", "GET",
             [p for p in _contents_params() if p.name != "uuid"] + [_uuid("Group")], "Group",
             "groups_contents", in_discovery=False),
       Route("groups", "shared", "groups/shared", "GET",
             _list_params() + [_trash(), Param("include", "string",
                                               description="'owner_uuid' to fill 'included'.")],
             "Group", "groups_shared")]
    + _crud("groups", "Group", "group", ("get", "list", "create", "update", "delete"),
            {"get": [_trash()], "list": [_trash()],
             "create": [Param("async", "boolean", default="false", description="Ignored.")],
             "update": [Param("async", "boolean", default="false", description="Ignored.")]})
    + _crud("collections", "Collection", "collection", ("get", "list", "create", "update", "delete"),
            {"get": [_trash()],
             "list": [_trash(), Param("include_old_versions", "boolean", default="false",
                                      description="Include past versions (there are none here).")],
             "create": _replace_params(), "update": _replace_params()})
    + _crud("links", "Link", "link", ("get", "list", "create", "delete"))
    + _crud("workflows", "Workflow", "workflow", ("get", "list", "create"))
    + [Route("keep_services", "accessible", "keep_services/accessible", "GET", [], "KeepService",
             "keep_services_accessible"),
       Route("keep_services", "list", "keep_services", "GET", _list_params(), "KeepServiceList",
             "list"),
       Route("api_client_authorizations", "current", "api_client_authorizations/current", "GET",
             [], "ApiClientAuthorization", "api_client_authorizations_current"),
       Route("configs", "get", "config", "GET", [], None, "configs_get", auth=False),
       Route("vocabularies", "get", "vocabulary", "GET", [], None, "vocabularies_get", auth=False),
       Route("logs", "list", "logs", "GET", _list_params(), "LogList", "list")]
)


def match(path, http_method):
    """(route, path params) for an API path below ``arvados/v1/``; (None, allowed?)."""
    found_path = False
    for route in ROUTES:
        m = route.regex.match(path)
        if m:
            found_path = True
            if route.http_method == http_method:
                return route, m.groupdict()
    return None, found_path
