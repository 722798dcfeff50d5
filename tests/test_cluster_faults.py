"""Every fault knob takes effect and clears, on Keep servers and on the API.

Keep: down (connection refused), status 500/503, latency, bandwidth,
corrupt (the SDK read fails on the checksum; it never returns wrong
bytes) and cut_after (connection closed midway). API: down, status,
latency, corrupt, cut_after, bandwidth, and the admin endpoint. Each test
uses a fresh cluster so no knob leaks into other tests.
"""

import hashlib
import http.client
import json
import random
import socket
import ssl
import time
import urllib.parse

import arvados
import arvados.collection
import arvados.errors
import pytest

from localcluster.testing import ClusterError, keep_request

pytestmark = pytest.mark.timeout(120)


def _port(cluster, server):
    return next(k["port"] for k in cluster.info["keep_services"] if k["name"] == server)


def _connect_refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


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
    with pytest.raises(arvados.errors.KeepReadError):
        _read(c, uuid)
    c.clear_faults()
    assert not _connect_refused(port)
    assert keep_request(c.info["keep_urls"][0] + locator, c.token("alice"))[0] == 200
    assert _read(c, uuid) == "fault test data\n"
    assert c.faults()["keep0"]["down"] is False


def test_keep_status_503_then_cleared(fresh_cluster, stored):
    c = fresh_cluster
    uuid, locator = stored
    for server in ("keep0", "keep1"):
        c.set_fault(server, status=503)
    for url in c.info["keep_urls"]:
        assert keep_request(url + locator, c.token("alice"))[0] == 503
    with pytest.raises(arvados.errors.KeepReadError):
        _read(c, uuid)
    c.clear_faults("keep0")
    assert keep_request(c.info["keep_urls"][0] + locator, c.token("alice"))[0] == 200
    assert keep_request(c.info["keep_urls"][1] + locator, c.token("alice"))[0] == 503
    c.clear_faults()
    assert _read(c, uuid) == "fault test data\n"


def test_latency_is_added(fresh_cluster, stored):
    c = fresh_cluster
    _, locator = stored
    url = c.info["keep_urls"][0] + locator
    c.set_fault("keep0", latency=0.6)
    t0 = time.monotonic()
    status, body = keep_request(url, c.token("alice"))
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


# -- body knobs (bandwidth, corrupt, cut_after), other statuses, API knobs --

BIG = random.Random(20261125).randbytes(1 << 20)    # 1 MiB: 16 pieces of 64 KiB


@pytest.fixture
def big(fresh_cluster):
    api = fresh_cluster.api("alice")
    coll = arvados.collection.Collection(api_client=api)
    with coll.open("big.bin", "wb") as f:
        f.write(BIG)
    coll.save_new(name="faults big")
    text = api.collections().get(uuid=coll.manifest_locator()).execute()["manifest_text"]
    return coll.manifest_locator(), text.split()[1]


def _raw_get(url, token=None, ca_file=None):
    """GET url; returns (status, Content-Length, body bytes, body complete?)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.hostname, parts.port, timeout=60,
                                           context=ssl.create_default_context(cafile=ca_file))
    else:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", parts.path + ("?" + parts.query if parts.query else ""),
                     headers={"Authorization": "Bearer " + token} if token else {})
        resp = conn.getresponse()
        try:
            body, complete = resp.read(), True
        except http.client.IncompleteRead as e:
            body, complete = e.partial, False
        return resp.status, resp.getheader("Content-Length"), body, complete
    finally:
        conn.close()


def _read_big(cluster, uuid):
    api = cluster.api("alice", num_retries=0)
    reader = arvados.collection.CollectionReader(uuid, api_client=api, num_retries=0)
    with reader.open("big.bin", "rb") as f:
        return f.read()


def _md5(data):
    return hashlib.md5(data).hexdigest()


def test_keep_status_500_then_cleared(fresh_cluster, big):
    c = fresh_cluster
    uuid, locator = big
    for server in ("keep0", "keep1"):
        c.set_fault(server, status=500)
    for url in c.info["keep_urls"]:
        status, _, body, _ = _raw_get(url + locator, c.token("alice"))
        assert status == 500 and b"fault injected" in body
    with pytest.raises(arvados.errors.KeepReadError):
        _read_big(c, uuid)
    state = c.clear_faults()
    assert state["keep0"]["status"] is None and state["keep1"]["status"] is None
    assert _read_big(c, uuid) == BIG


def test_keep_bandwidth_cap_slows_the_body_and_clears(fresh_cluster, big):
    c = fresh_cluster
    _, locator = big
    url = c.info["keep_urls"][0] + locator
    c.set_fault("keep0", bandwidth=4 * 1024 * 1024)       # 1 MiB takes >= 0.25 s
    t0 = time.monotonic()
    status, length, body, complete = _raw_get(url, c.token("alice"))
    elapsed = time.monotonic() - t0
    assert (status, int(length), complete) == (200, len(BIG), True)
    assert body == BIG                                   # slow, never altered
    # A lower bound only: the cap cannot make it faster.
    assert elapsed >= 0.24
    state = c.clear_faults("keep0")
    assert state["keep0"]["bandwidth"] is None
    assert _raw_get(url, c.token("alice"))[2] == BIG


def test_keep_corrupt_fails_the_sdk_checksum_never_wrong_bytes(fresh_cluster, big):
    c = fresh_cluster
    uuid, locator = big
    for server in ("keep0", "keep1"):
        c.set_fault(server, corrupt=True)
    status, length, body, complete = _raw_get(c.info["keep_urls"][0] + locator,
                                              c.token("alice"))
    # Same status and length, different bytes: only the checksum can tell.
    assert (status, int(length), len(body), complete) == (200, len(BIG), len(BIG), True)
    assert body != BIG and _md5(body) != locator.split("+")[0]
    with pytest.raises(arvados.errors.KeepReadError) as err:
        _read_big(c, uuid)
    assert "checksum" in str(err.value).lower()
    c.clear_faults()
    assert _read_big(c, uuid) == BIG


def test_keep_cut_after_closes_the_connection_midway(fresh_cluster, big):
    c = fresh_cluster
    uuid, locator = big
    for server in ("keep0", "keep1"):
        c.set_fault(server, cut_after=100000)
    status, length, body, complete = _raw_get(c.info["keep_urls"][0] + locator,
                                              c.token("alice"))
    assert (status, int(length), complete) == (200, len(BIG), False)
    assert body == BIG[:100000]          # what was sent is right, then the cut
    with pytest.raises(arvados.errors.KeepReadError):
        _read_big(c, uuid)
    state = c.clear_faults()
    assert state["keep0"]["cut_after"] is None
    assert _raw_get(c.info["keep_urls"][0] + locator, c.token("alice"))[2:] == (BIG, True)
    assert _read_big(c, uuid) == BIG


def _api_get(cluster, path="arvados/v1/users/current"):
    return _raw_get("https://%s/%s" % (cluster.api_host, path), cluster.token("alice"),
                    cluster.ca_file)


def test_api_status_500_and_latency(fresh_cluster):
    c = fresh_cluster
    c.set_fault("api", status=500)
    status, _, body, _ = _api_get(c)
    assert status == 500 and json.loads(body)["errors"]
    c.clear_faults("api")
    c.set_fault("api", latency=0.5)
    t0 = time.monotonic()
    status, _, body, _ = _api_get(c)
    assert time.monotonic() - t0 >= 0.45       # a lower bound only
    assert status == 200 and json.loads(body)["uuid"] == c.users["alice"]["uuid"]
    state = c.clear_faults("api")
    assert state["api"]["latency"] == 0.0 and state["api"]["status"] is None


def test_api_body_knobs(fresh_cluster):
    c = fresh_cluster
    path = "discovery/v1/apis/arvados/v1/rest"      # a body of over 30 KB
    status, length, good, complete = _api_get(c, path)
    assert status == 200 and complete and len(good) > 30000
    json.loads(good)

    c.set_fault("api", corrupt=True)
    status, length, body, complete = _api_get(c, path)
    assert (status, len(body), complete) == (200, len(good), True) and body != good
    with pytest.raises(ValueError):
        json.loads(body)
    c.clear_faults("api")

    c.set_fault("api", cut_after=1000)
    status, length, body, complete = _api_get(c, path)
    assert (status, int(length), complete, len(body)) == (200, len(good), False, 1000)
    assert body == good[:1000]
    c.clear_faults("api")

    c.set_fault("api", bandwidth=50000)        # > 0.6 s for the whole document
    t0 = time.monotonic()
    status, length, body, complete = _api_get(c, path)
    assert time.monotonic() - t0 >= 0.4 and (status, body, complete) == (200, good, True)
    c.clear_faults("api")

    assert c.faults()["api"] == {"down": False, "status": None, "latency": 0.0,
                                 "bandwidth": None, "corrupt": False, "cut_after": None}
    assert _api_get(c, path)[2:] == (good, True)
