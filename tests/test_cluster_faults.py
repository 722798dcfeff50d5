"""Fault knobs take effect and clear (keep down, keep 503, latency, api 503).

The other knobs (bandwidth, corrupt, cut_after) have their own tests
elsewhere; these use a fresh cluster so nothing leaks into other tests.
"""

import hashlib
import socket
import time
import urllib.error
import urllib.request

import arvados
import arvados.collection
import arvados.errors
import pytest

from localcluster.testing import ClusterError

pytestmark = pytest.mark.timeout(120)


def _port(cluster, server):
    return next(k["port"] for k in cluster.info["keep_services"] if k["name"] == server)


def _connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def _keep_status(url, token):
    req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def stored(fresh_cluster):
    api = fresh_cluster.api("alice")
    coll = arvados.collection.Collection(api_client=api)
    with coll.open("f.txt", "w") as f:
        f.write("fault test data\n")
    coll.save_new(name="faults")
    text = api.collections().get(uuid=coll.manifest_locator()).execute()["manifest_text"]
    return coll.manifest_locator(), text.split()[1]


def _read(cluster, uuid, retries=0):
    api = cluster.api("alice", num_retries=retries)
    r = arvados.collection.CollectionReader(uuid, api_client=api, num_retries=retries)
    return r.open("f.txt").read()


def test_keep_down_refuses_connections_and_recovers(fresh_cluster, stored):
    c = fresh_cluster
    uuid, locator = stored
    port = _port(c, "keep0")
    assert not _connect_refused(port)
    state = c.set_fault("keep0", down=True)
    assert state["keep0"]["down"] is True
    assert _connect_refused(port)
    assert _read(c, uuid) == "fault test data\n"      # keep1 still serves it
    c.set_fault("keep1", down=True)
    with pytest.raises(Exception):
        _read(c, uuid)
    c.clear_faults()
    assert not _connect_refused(port)
    assert _keep_status(c.info["keep_urls"][0] + locator, c.token("alice"))[0] == 200
    assert _read(c, uuid) == "fault test data\n"
    assert c.faults()["keep0"]["down"] is False


def test_keep_status_503_then_cleared(fresh_cluster, stored):
    c = fresh_cluster
    uuid, locator = stored
    for server in ("keep0", "keep1"):
        c.set_fault(server, status=503)
    for url in c.info["keep_urls"]:
        assert _keep_status(url + locator, c.token("alice"))[0] == 503
    with pytest.raises(arvados.errors.KeepReadError):
        _read(c, uuid)
    c.clear_faults("keep0")
    assert _keep_status(c.info["keep_urls"][0] + locator, c.token("alice"))[0] == 200
    assert _keep_status(c.info["keep_urls"][1] + locator, c.token("alice"))[0] == 503
    c.clear_faults()
    assert _read(c, uuid) == "fault test data\n"


def test_latency_is_added(fresh_cluster, stored):
    c = fresh_cluster
    _, locator = stored
    url = c.info["keep_urls"][0] + locator
    c.set_fault("keep0", latency=0.6)
    t0 = time.monotonic()
    status, body = _keep_status(url, c.token("alice"))
    elapsed = time.monotonic() - t0
    assert status == 200 and hashlib.md5(body).hexdigest() == locator.split("+")[0]
    assert elapsed >= 0.55      # a lower bound only: sleeping cannot be shorter
    c.clear_faults()
    assert c.faults()["keep0"]["latency"] == 0.0


def test_api_503_and_admin_endpoint_stays_usable(fresh_cluster):
    c = fresh_cluster
    c.set_fault("api", status=503)
    status, _, body = c.request("GET", "arvados/v1/users/current")
    assert status == 503 and body["errors"]
    # the admin endpoint on the API port itself is exempt from faults
    status, _, state = c.request("GET", "_localcluster/faults", user="admin")
    assert status == 200 and state["api"]["status"] == 503
    status, _, _ = c.request("POST", "_localcluster/faults", user="admin", body={"clear": True})
    assert status == 200
    assert c.request("GET", "arvados/v1/users/current")[0] == 200


def test_fault_endpoint_validates(fresh_cluster):
    c = fresh_cluster
    with pytest.raises(ClusterError):
        c.set_fault("keep9", down=True)
    with pytest.raises(ClusterError):
        c.set_fault("keep0", warp=True)
    with pytest.raises(ClusterError):
        c.set_fault("keep0", status="bad")
    status, _, _ = c.request("POST", "_localcluster/faults", user="alice", body={"clear": True})
    assert status == 403


def test_api_down_refuses_and_control_port_clears_it(fresh_cluster):
    c = fresh_cluster
    port = c.info["api_port"]
    c.set_fault("api", down=True)           # set through the separate control port
    assert _connect_refused(port)
    c.clear_faults("api")
    assert not _connect_refused(port)
    assert c.api("alice").users().current().execute()["uuid"] == c.users["alice"]["uuid"]
