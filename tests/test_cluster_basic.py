"""The local cluster's core path with the real SDK: discovery, config,
users.current, collections create/get, Keep PUT/GET, the demo data."""

import hashlib
import json
import urllib.request
import ssl

import pytest

import arvados
import arvados.collection

pytestmark = pytest.mark.timeout(120)


def _get_json(url, token=None):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token} if token else {})
    with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
        return r.status, dict(r.headers), json.load(r)


def test_discovery_runtime_fields(cluster):
    status, headers, doc = _get_json("https://%s/discovery/v1/apis/arvados/v1/rest" % cluster.api_host)
    assert status == 200
    assert headers["Cache-Control"] == "no-cache"
    assert doc["rootUrl"] == "https://%s/" % cluster.api_host
    assert doc["servicePath"] == "arvados/v1/"
    assert doc["uuidPrefix"] == "zzzzz"
    assert doc["websocketUrl"] == "wss://%s/websocket" % cluster.api_host
    assert doc["blobSignatureTtl"] == 1209600
    assert "dataWrapper" not in doc.get("features", [])
    assert "httpMethod" in doc["resources"]["groups"]["methods"]["shared"]


def test_config_needs_no_auth(cluster):
    status, _, cfg = _get_json("https://%s/arvados/v1/config" % cluster.api_host)
    assert status == 200
    assert cfg["ClusterID"] == "zzzzz"
    assert "ForwardSlashNameSubstitution" in cfg["Collections"]


def test_users_current(cluster):
    for name in ("alice", "bob", "admin"):
        me = cluster.api(name).users().current().execute()
        assert me["uuid"] == cluster.users[name]["uuid"]
        assert me["email"] == cluster.users[name]["email"]
        assert me["kind"] == "arvados#user"
    assert cluster.api("admin").users().current().execute()["is_admin"] is True


def test_sdk_write_then_read(fresh_cluster):
    api = fresh_cluster.api("alice")
    c = arvados.collection.Collection(api_client=api)
    with c.open("dir/hello.txt", "w") as f:
        f.write("hello world\n")
    with c.open("empty", "w"):
        pass
    c.save_new(name="sdk round trip")
    rec = api.collections().get(uuid=c.manifest_locator()).execute()
    assert rec["portable_data_hash"] == c.portable_data_hash()
    assert rec["current_version_uuid"] == rec["uuid"]
    r = arvados.collection.CollectionReader(c.manifest_locator(), api_client=api)
    assert r.open("dir/hello.txt").read() == "hello world\n"
    assert r.open("empty").read() == ""
    by_pdh = api.collections().get(uuid=rec["portable_data_hash"]).execute()
    assert by_pdh["portable_data_hash"] == rec["portable_data_hash"]
    assert "+A" in by_pdh["manifest_text"]


def test_keep_services_accessible(cluster):
    items = cluster.api("alice").keep_services().accessible().execute()["items"]
    assert len(items) >= 2
    assert len({(s["service_host"], s["service_port"]) for s in items}) == len(items)
    for s in items:
        assert s["service_type"] == "disk" and s["service_ssl_flag"] is False
        assert s["uuid"].startswith("zzzzz-bi6l4-")


def test_demo_collections_byte_exact(cluster):
    demo = cluster.demo
    api = cluster.api("alice")
    for key in ("many_files", "odd_names", "deep"):
        info = demo["collections"][key]
        r = arvados.collection.CollectionReader(info["uuid"], api_client=api)
        assert r.portable_data_hash() == info["pdh"]
        for f in info["files"]:
            with r.open(f["path"], "rb") as fh:
                data = fh.read()
            assert len(data) == f["size"], f["path"]
            assert hashlib.md5(data).hexdigest() == f["md5"], f["path"]
