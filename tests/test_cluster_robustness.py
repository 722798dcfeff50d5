"""Bad input gets a 4xx (never a crash or a 5xx); data survives a restart."""

import hashlib
import http.client
import json
import socket
import urllib.error
import urllib.request

import arvados
import arvados.collection
import pytest

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("method,path,kwargs,expected", [
    ("GET", "arvados/v1/collections/not-a-uuid", {}, 404),
    ("GET", "arvados/v1/collections/zzzzz-4zz18-000000000000000", {}, 404),
    ("GET", "arvados/v1/groups/zzzzz-tpzed-000000000000000", {}, 404),      # a user uuid is no group
    ("GET", "arvados/v1/no_such_resource", {}, 404),
    ("DELETE", "arvados/v1/users/current", {}, 405),
    ("GET", "arvados/v1/users/current", {"user": None}, 401),
    ("GET", "arvados/v1/users/current", {"headers": {"Authorization": "Bearer nonsense"}}, 401),
    ("GET", "arvados/v1/users/current", {"headers": {"Authorization": "Bearer v2/a/b/c"}}, 401),
    ("POST", "arvados/v1/collections", {"data": b"{not json", "headers": {"Content-Type": "application/json"}}, 400),
    ("POST", "arvados/v1/collections", {"data": b"[1,2]", "headers": {"Content-Type": "application/json"}}, 422),
    ("POST", "arvados/v1/collections", {"body": {"collection": "a string"}}, 422),
    ("POST", "arvados/v1/collections", {"body": {"collection": {"manifest_text": 42}}}, 422),
    ("POST", "arvados/v1/collections", {"body": {"collection": {"owner_uuid": "zzzzz-j7d0g-000000000000000"}}}, 422),
    ("POST", "arvados/v1/links", {"body": {"link": {"name": "x"}}}, 422),
    ("POST", "arvados/v1/links", {"body": {"link": {"link_class": "permission", "name": "can_fly",
                                                    "tail_uuid": "x", "head_uuid": "y"}}}, 422),
    ("GET", "arvados/v1/collections", {"raw_query": "limit=-1"}, 422),
    ("GET", "arvados/v1/collections", {"raw_query": "distinct=maybe"}, 422),
    ("GET", "arvados/v1/collections", {"raw_query": "filters=%5B%5B"}, 422),
])
def test_bad_requests_are_4xx(cluster, method, path, kwargs, expected):
    status, headers, body = cluster.request(method, path, **kwargs)
    assert status == expected, body
    assert headers["Content-Type"].startswith("application/json")
    assert isinstance(body["errors"], list) and body["errors"]


def test_oversized_body_is_413(cluster):
    conn = http.client.HTTPSConnection(cluster.api_host, context=_insecure())
    conn.putrequest("POST", "/arvados/v1/collections")
    conn.putheader("Authorization", "Bearer " + cluster.token("alice"))
    conn.putheader("Content-Type", "application/json")
    conn.putheader("Content-Length", str(200 * 1024 * 1024))
    conn.endheaders()
    conn.send(b"{" + b" " * 1000)
    resp = conn.getresponse()
    assert resp.status == 413
    assert json.loads(resp.read())["errors"]
    conn.close()


def _insecure():
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _keep(url, method="GET", data=None, token=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, method=method, data=data, headers=h)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read(), dict(e.headers)


def test_keep_put_checks(cluster):
    url = cluster.info["keep_urls"][0]
    tok = cluster.token("alice")
    data = b"keep put check\n"
    md5 = hashlib.md5(data).hexdigest()
    status, body, headers = _keep(url + md5, "PUT", data, tok)
    assert status == 200
    loc = body.decode()
    assert loc.endswith("\n") and loc.startswith("%s+%d+A" % (md5, len(data)))
    assert headers["X-Keep-Replicas-Stored"] == "1"
    assert headers["X-Keep-Storage-Classes-Confirmed"] == "default=1"
    # readable through the other keep server too (shared block store)
    assert _keep(cluster.info["keep_urls"][1] + loc.strip(), token=tok)[1] == data
    assert _keep(url + "0" * 32, "PUT", data, tok)[0] == 422         # md5 mismatch
    assert _keep(url + "nothex", "PUT", data, tok)[0] == 400
    assert _keep(url + md5, "PUT", data)[0] == 401                   # no token
    assert _keep(url + md5, "PUT", data, "bogus")[0] == 401
    missing = hashlib.md5(b"never stored").hexdigest() + "+12"
    assert _keep(url + missing, token=tok)[0] in (400, 404)          # unsigned: 400 before lookup


def test_keep_put_too_large_is_413(cluster):
    host, port = cluster.info["keep_services"][0]["url"].split("//")[1].strip("/").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(("PUT /%s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Length: %d\r\nExpect: 100-continue\r\n\r\n"
                  % ("0" * 32, cluster.token("alice"), 64 * 1024 * 1024 + 1)).encode())
    reply = sock.recv(4096).decode()
    sock.close()
    assert reply.startswith("HTTP/1.1 413")


def test_restart_keeps_data(fresh_cluster):
    c = fresh_cluster
    api = c.api("alice")
    coll = arvados.collection.Collection(api_client=api)
    with coll.open("persist.txt", "w") as f:
        f.write("still here\n")
    coll.save_new(name="persisted")
    proj = api.groups().create(body={"group": {"name": "kept", "group_class": "project"}}).execute()
    token = c.token("alice")
    old_ca = open(c.ca_file).read()
    c.restart()
    assert c.token("alice") == token
    assert open(c.ca_file).read() == old_ca
    api = c.api("alice")
    assert api.groups().get(uuid=proj["uuid"]).execute()["name"] == "kept"
    r = arvados.collection.CollectionReader(coll.manifest_locator(), api_client=api)
    assert r.open("persist.txt").read() == "still here\n"
    logs = api.logs().list(filters=[["object_uuid", "=", proj["uuid"]]]).execute()["items"]
    assert [l["event_type"] for l in logs] == ["create"]


def test_updates_and_deletes_write_logs(fresh_cluster):
    api = fresh_cluster.api("alice")
    proj = api.groups().create(body={"group": {"name": "p1", "group_class": "project"}}).execute()
    api.groups().update(uuid=proj["uuid"], body={"group": {"name": "p2"}}).execute()
    api.groups().delete(uuid=proj["uuid"]).execute()
    logs = api.logs().list(filters=[["object_uuid", "=", proj["uuid"]]], order="id asc").execute()["items"]
    assert [l["event_type"] for l in logs] == ["create", "update", "delete"]
    assert logs[1]["properties"]["old_attributes"]["name"] == "p1"
    assert logs[1]["properties"]["new_attributes"]["name"] == "p2"
    assert logs[0]["object_owner_uuid"] == fresh_cluster.users["alice"]["uuid"]
    with pytest.raises(arvados.errors.ApiError):
        api.groups().get(uuid=proj["uuid"]).execute()      # trashed: hidden
    assert api.groups().get(uuid=proj["uuid"], include_trash=True).execute()["is_trashed"] is True
