"""The local cluster's discovery document against the real Arvados 3.2.1 one.

Every method the cluster declares must have the real id, path, httpMethod,
parameter names (and types, locations and required flags), request and
response shape, because googleapiclient builds its calls from exactly
these. The real document is read from /work/shared (never copied into the
project). The runtime fields the real server fills in must be present.
"""

import json
import os
import ssl
import urllib.request

import pytest

from localcluster import routes

pytestmark = pytest.mark.timeout(60)

REAL_DOC = "/work/shared/arvados/arvados-v1-discovery.json"
DISCOVERY_PATH = "discovery/v1/apis/arvados/v1/rest"

# What arvados-python-client and arv-mount 3.2.1 call (protocol note §2),
# plus what arv-put/arv-get and the demo use.
USED_BY_CLIENTS = [
    ("users", "current"), ("users", "get"), ("users", "list"),
    ("groups", "get"), ("groups", "list"), ("groups", "contents"), ("groups", "shared"),
    ("groups", "create"),
    ("collections", "get"), ("collections", "list"), ("collections", "create"),
    ("collections", "update"),
    ("links", "list"), ("links", "create"),
    ("keep_services", "accessible"), ("configs", "get"), ("vocabularies", "get"),
    ("logs", "list"), ("api_client_authorizations", "current"),
]


@pytest.fixture(scope="module")
def real():
    if not os.path.exists(REAL_DOC):
        pytest.fail("the real discovery document %s is missing" % REAL_DOC)
    with open(REAL_DOC) as f:
        return json.load(f)


def _fetch(cluster, host_header=None, token=None):
    headers = {}
    if host_header:
        headers["Host"] = host_header
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request("https://%s/%s" % (cluster.api_host, DISCOVERY_PATH),
                                 headers=headers)
    ctx = ssl.create_default_context(cafile=cluster.ca_file)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=ctx))
    with opener.open(req, timeout=30) as r:
        return r.status, dict(r.headers), json.load(r)


@pytest.fixture(scope="module")
def served(cluster):
    status, headers, doc = _fetch(cluster)     # no token: discovery needs no auth
    assert status == 200
    return headers, doc


def _methods(doc):
    for rname, res in sorted(doc["resources"].items()):
        for mname, method in sorted(res.get("methods", {}).items()):
            yield rname, mname, method


def test_every_served_method_matches_the_real_document(served, real):
    _, doc = served
    problems = []
    count = 0
    for rname, mname, mine in _methods(doc):
        count += 1
        where = "%s.%s" % (rname, mname)
        theirs = real["resources"].get(rname, {}).get("methods", {}).get(mname)
        if theirs is None:
            problems.append("%s: not in the real document" % where)
            continue
        for key in ("id", "path", "httpMethod"):
            if mine.get(key) != theirs.get(key):
                problems.append("%s: %s is %r, real %r" % (where, key, mine.get(key),
                                                           theirs.get(key)))
        mp, tp = mine.get("parameters", {}), theirs.get("parameters", {})
        if set(mp) != set(tp):
            problems.append("%s: parameters only here %s, only in real %s"
                            % (where, sorted(set(mp) - set(tp)), sorted(set(tp) - set(mp))))
        for name in sorted(set(mp) & set(tp)):
            for key in ("type", "location", "required"):
                if key in tp[name] and mp[name].get(key) != tp[name][key]:
                    problems.append("%s(%s): %s is %r, real %r" % (
                        where, name, key, mp[name].get(key), tp[name][key]))
        if ("request" in mine) != ("request" in theirs) or \
                mine.get("request", {}).get("properties", {}).keys() != \
                theirs.get("request", {}).get("properties", {}).keys():
            problems.append("%s: request %r, real %r" % (where, mine.get("request"),
                                                         theirs.get("request")))
        # Without "response" the client returns the raw body, not parsed JSON.
        if "response" not in mine or mine["response"] != theirs.get("response"):
            problems.append("%s: response %r, real %r" % (where, mine.get("response"),
                                                          theirs.get("response")))
    assert not problems, "\n".join(problems)
    assert count >= len(USED_BY_CLIENTS)


def test_what_the_clients_call_is_declared(served):
    _, doc = served
    missing = [m for m in USED_BY_CLIENTS
               if m[1] not in doc["resources"].get(m[0], {}).get("methods", {})]
    assert not missing
    # arv-mount picks the groups.shared code path by this very test.
    assert "httpMethod" in doc["resources"]["groups"]["methods"]["shared"]


def test_route_table_and_document_agree(served):
    _, doc = served
    declared = {(r.resource, r.method) for r in routes.ROUTES if r.in_discovery}
    in_doc = {(r, m) for r, m, _ in _methods(doc)}
    assert declared == in_doc


def test_schemas_match_the_real_uuid_prefixes(served, real):
    _, doc = served
    for name, schema in doc["schemas"].items():
        assert name in real["schemas"], name
        if "uuidPrefix" in real["schemas"][name]:
            assert schema.get("uuidPrefix") == real["schemas"][name]["uuidPrefix"], name
    for ref in {m["response"]["$ref"] for _, _, m in _methods(doc) if m.get("response")}:
        assert ref in doc["schemas"], ref


def test_runtime_fields(cluster, served, real):
    headers, doc = served
    host = cluster.api_host
    assert "no-cache" in headers.get("Cache-Control", "")
    assert doc["rootUrl"] == "https://%s/" % host
    assert doc["servicePath"] == real["servicePath"] == "arvados/v1/"
    assert doc["baseUrl"] == "https://%s/arvados/v1/" % host
    assert doc["basePath"] == "/arvados/v1/"
    assert doc["uuidPrefix"] == "zzzzz"
    assert doc["websocketUrl"] == "wss://%s/websocket" % host
    assert doc["websocketUrl"] == cluster.info["websocket_url"]
    for key in ("blobSignatureTtl", "defaultCollectionReplication", "maxRequestSize",
                "maxItemsPerResponse", "defaultTrashLifetime"):
        assert isinstance(doc[key], int) and doc[key] > 0, key
    assert doc["remoteHosts"] == {}
    for key in ("revision", "packageVersion", "sourceVersion", "generatedAt"):
        assert isinstance(doc[key], str) and doc[key], key
    for key in ("kind", "discoveryVersion", "id", "name", "version", "protocol", "batchPath"):
        assert doc[key] == real[key], key
    assert set(real["parameters"]) <= set(doc["parameters"])
    assert "dataWrapper" not in doc.get("features", [])
    assert "configs" in doc["resources"] and "vocabularies" in doc["resources"]


def test_root_url_follows_the_host_header(cluster):
    port = cluster.api_host.rsplit(":", 1)[1]
    _, _, doc = _fetch(cluster, host_header="localhost:" + port, token=cluster.token("alice"))
    assert doc["rootUrl"] == "https://localhost:%s/" % port
    assert doc["websocketUrl"] == "wss://localhost:%s/websocket" % port
