"""The local cluster's websocket event service (protocol v0 at websocketUrl).

Uses a cluster of its own (module scope, no demo data) so the order of
events is known: "the next event bob sees is Y" proves he did not get
X, which was committed just before Y.
"""

import contextlib
import json
import socket
import ssl
import threading
import uuid as uuidlib

import arvados
import arvados.events
import pytest
import websockets.sync.client as ws_client


pytestmark = pytest.mark.timeout(120)

ALL = [["event_type", "in", ["create", "update", "delete"]]]
FRAME_FIELDS = {"msgID", "id", "uuid", "object_uuid", "object_owner_uuid", "object_kind",
                "event_type", "event_at", "properties"}


class Socket:
    """A raw websocket session as the SDK would open it (token in the URL)."""

    def __init__(self, cluster, token, stack):
        ctx = ssl.create_default_context(cafile=cluster.ca_file)
        url = cluster.info["websocket_url"] + "?api_token=" + token
        # A generous handshake bound for a loaded 2-core machine.  (Handshakes
        # that never got their 101 even in 60 s had lost their request in
        # the client: see test_api_tls_issues_no_session_tickets.)
        self.ws = stack.enter_context(ws_client.connect(url, ssl=ctx, proxy=None, open_timeout=60))

    def send(self, frame):
        self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout=20):
        return json.loads(self.ws.recv(timeout))

    def subscribe(self, filters=ALL, **extra):
        self.send(dict({"method": "subscribe", "filters": filters}, **extra))
        assert self.recv() == {"status": 200}



@pytest.fixture
def sockets(module_cluster):
    """open_socket(user) or open_socket(token=...); all closed at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda user="alice", token=None: Socket(
            module_cluster, token or module_cluster.token(user), stack)


def test_api_tls_issues_no_session_tickets(module_cluster):
    """TLS 1.3 tickets arrive after the handshake, where websockets' sync
    client reads them in one thread while writing its upgrade request in
    another; under load the request was lost now and then (and the client
    waited for a 101 that could not come).  So the API issues none: a
    client that got a response also got every ticket sent before it."""
    host, port = module_cluster.api_host.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=module_cluster.ca_file)
    with socket.create_connection((host, int(port)), timeout=30) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        assert tls.version() == "TLSv1.3"
        tls.sendall(b"GET /_health/ping HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                    % module_cluster.api_host.encode())
        reply = b""
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            reply += chunk
        assert reply.startswith(b"HTTP/1.1 200 ")
        assert not tls.session.has_ticket


def _name(what):
    return "%s %s" % (what, uuidlib.uuid4().hex[:8])


def _collection(api, owner=None, name=None):
    body = {"name": name or _name("events"), "manifest_text": ""}
    if owner:
        body["owner_uuid"] = owner
    return api.collections().create(body={"collection": body}).execute()


def test_status_replies(sockets):
    s = sockets()
    s.subscribe()
    s.send({"method": "bogus", "filters": []})
    assert s.recv() == {"status": 400}
    s.send("this is not json")
    assert s.recv() == {"status": 400}
    s.send({"method": "subscribe", "filters": "not a list"})
    assert s.recv() == {"status": 400}
    s.send({"method": "unsubscribe", "filters": [["event_type", "in", ["update"]]]})
    assert s.recv() == {"status": 400}     # no such subscription
    s.send({"method": "unsubscribe", "filters": ALL})
    assert s.recv() == {"status": 200}


def test_events_are_shaped_like_log_records(module_cluster, sockets):
    alice = module_cluster.api("alice")
    me = module_cluster.users["alice"]["uuid"]
    s = sockets()
    s.subscribe()
    project = alice.groups().create(body={"group": {
        "name": _name("events project"), "group_class": "project"}}).execute()
    coll = _collection(alice)
    alice.collections().update(uuid=coll["uuid"], body={"collection": {
        "name": coll["name"] + " renamed"}}).execute()
    alice.collections().update(uuid=coll["uuid"], body={"collection": {
        "owner_uuid": project["uuid"]}}).execute()
    alice.collections().delete(uuid=coll["uuid"]).execute()

    frames = [s.recv() for _ in range(5)]
    assert [f["msgID"] for f in frames] == [1, 2, 3, 4, 5]
    ids = [f["id"] for f in frames]
    assert ids == sorted(ids) and len(set(ids)) == 5
    for f in frames:
        assert set(f) == FRAME_FIELDS
    assert [(f["event_type"], f["object_uuid"], f["object_kind"]) for f in frames] == [
        ("create", project["uuid"], "arvados#group"),
        ("create", coll["uuid"], "arvados#collection"),
        ("update", coll["uuid"], "arvados#collection"),
        ("update", coll["uuid"], "arvados#collection"),
        ("delete", coll["uuid"], "arvados#collection"),
    ]
    create, rename, move = frames[1:4]
    assert create["properties"]["old_attributes"] == {}
    assert create["properties"]["new_attributes"]["name"] == coll["name"]
    assert create["properties"]["new_attributes"]["portable_data_hash"] == \
        coll["portable_data_hash"]
    assert rename["properties"]["old_attributes"]["name"] == coll["name"]
    assert rename["properties"]["new_attributes"]["name"] == coll["name"] + " renamed"
    # An owner move carries the old owner, which arv-mount invalidates too.
    assert move["properties"]["old_attributes"]["owner_uuid"] == me
    assert move["properties"]["new_attributes"]["owner_uuid"] == project["uuid"]
    assert move["object_owner_uuid"] == project["uuid"]
    assert frames[4]["properties"]["new_attributes"]["is_trashed"] is True

    # The same facts as the logs records (what the poll fallback reads).
    logs = module_cluster.api("admin").logs().list(
        filters=[["id", "in", ids]], order=["id asc"]).execute()["items"]
    assert [l["id"] for l in logs] == ids
    for f, l in zip(frames, logs):
        for key in ("uuid", "object_uuid", "object_owner_uuid", "event_type", "event_at"):
            assert f[key] == l[key], key
        assert f["properties"] == {"old_attributes": l["properties"]["old_attributes"],
                                   "new_attributes": l["properties"]["new_attributes"]}


def test_events_only_for_what_the_token_may_read(module_cluster, sockets):
    alice, bob = module_cluster.api("alice"), module_cluster.api("bob")
    bob_uuid = module_cluster.users["bob"]["uuid"]
    to_bob = sockets("bob")
    to_bob.subscribe()
    to_alice = sockets("alice")
    to_alice.subscribe()
    nobody = sockets(token="v2/zzzzz-gj3su-000000000000000/not-a-valid-secret")
    nobody.subscribe()      # a bad token is not refused, it just sees nothing

    private = _collection(alice)
    bobs = _collection(bob)
    first = to_bob.recv()
    assert (first["event_type"], first["object_uuid"]) == ("create", bobs["uuid"])
    assert to_alice.recv()["object_uuid"] == private["uuid"]

    shared = alice.groups().create(body={"group": {
        "name": _name("shared with bob"), "group_class": "project"}}).execute()
    link = alice.links().create(body={"link": {
        "link_class": "permission", "name": "can_read", "tail_uuid": bob_uuid,
        "head_uuid": shared["uuid"]}}).execute()
    inside = _collection(alice, owner=shared["uuid"])
    got = [to_bob.recv()["object_uuid"] for _ in range(2)]
    # The project's own create came before bob could read it.
    assert got == [link["uuid"], inside["uuid"]]
    with pytest.raises(TimeoutError):
        nobody.recv(timeout=1)


def test_filters_event_type_and_created_at(module_cluster, sockets):
    alice = module_cluster.api("alice")
    s = sockets()
    # Two subscriptions: an event is sent if either matches.
    s.subscribe([["event_type", "in", ["update"]]])
    s.subscribe([["created_at", "<", "2000-01-01T00:00:00Z"]])
    coll = _collection(alice)                               # matches neither
    alice.collections().update(uuid=coll["uuid"], body={"collection": {
        "name": coll["name"] + "!"}}).execute()             # matches the first
    f = s.recv()
    assert (f["event_type"], f["object_uuid"]) == ("update", coll["uuid"])

    t = sockets()
    t.subscribe([["created_at", ">=", "2000-01-01T00:00:00Z"],
                 ["event_type", "in", ["create", "delete"]]])
    alice.collections().update(uuid=coll["uuid"], body={"collection": {
        "name": coll["name"] + "!!"}}).execute()            # an update: filtered out
    alice.collections().delete(uuid=coll["uuid"]).execute()
    f = t.recv()
    assert (f["event_type"], f["object_uuid"]) == ("delete", coll["uuid"])

    f = s.recv()        # s saw that second update too (not the delete)
    assert (f["event_type"], f["properties"]["new_attributes"]["name"]) == \
        ("update", coll["name"] + "!!")

    # After unsubscribing the update filter, updates stop (only the
    # created_at-in-the-past subscription remains, which matches nothing).
    s.send({"method": "unsubscribe", "filters": [["event_type", "in", ["update"]]]})
    assert s.recv() == {"status": 200}
    s.subscribe([["event_type", "in", ["create"]]])
    other = _collection(alice)
    alice.collections().update(uuid=other["uuid"], body={"collection": {
        "name": other["name"] + "!"}}).execute()
    third = _collection(alice)
    assert [s.recv()["object_uuid"] for _ in range(2)] == [other["uuid"], third["uuid"]]


def test_last_log_id_replays_missed_events(module_cluster, sockets):
    alice = module_cluster.api("alice")
    watch = sockets()
    watch.subscribe()
    made = [_collection(alice) for _ in range(3)]
    ids = [watch.recv()["id"] for _ in made]

    late = sockets()
    late.subscribe(ALL, last_log_id=ids[0])
    replayed = [late.recv() for _ in range(2)]
    assert [f["id"] for f in replayed] == ids[1:]
    assert [f["object_uuid"] for f in replayed] == [m["uuid"] for m in made[1:]]
    assert [f["msgID"] for f in replayed] == [1, 2]
    live = _collection(alice)
    assert late.recv()["object_uuid"] == live["uuid"]

    # Without last_log_id nothing old is sent: the first event is a new one.
    fresh = sockets()
    fresh.subscribe()
    newest = _collection(alice)
    assert fresh.recv()["object_uuid"] == newest["uuid"]


class _Collector:
    def __init__(self):
        self.messages = []
        self.cond = threading.Condition()

    def __call__(self, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def wait_for(self, pred, timeout=30):
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.messages), timeout), self.messages
            return list(self.messages)


def _statuses(msgs):
    return sum(1 for m in msgs if m == {"status": 200})


def test_sdk_subscribe_gets_events_and_reconnects(module_cluster, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", module_cluster.ca_file)    # the SDK verifies our CA
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    alice = module_cluster.api("alice")
    got = _Collector()
    # poll_fallback=0: the websocket or nothing (no silent polling).
    client = arvados.events.subscribe(alice, ALL, got, poll_fallback=0)
    try:
        assert isinstance(client, arvados.events.EventClient)
        got.wait_for(lambda m: _statuses(m) >= 1)
        first = _collection(alice)
        msgs = got.wait_for(lambda m: any(e.get("object_uuid") == first["uuid"] for e in m))
        event = next(e for e in msgs if e.get("object_uuid") == first["uuid"])
        assert event["event_type"] == "create" and isinstance(event["id"], int)

        # Drop the connection: the SDK reconnects and subscribes again
        # (with last_log_id), which the server answers with another 200.
        module_cluster.set_fault("api", down=True)
        module_cluster.clear_faults("api")
        got.wait_for(lambda m: _statuses(m) >= 2, timeout=60)
        second = _collection(alice)
        msgs = got.wait_for(lambda m: any(e.get("object_uuid") == second["uuid"] for e in m))
        ids = [m["id"] for m in msgs if "id" in m]
        assert len(ids) == len(set(ids)), "an event was delivered twice: %s" % ids
        assert ids == sorted(ids)
    finally:
        client.close(timeout=5)
        module_cluster.clear_faults()

    # The SDK's own last_log_id argument asks for a replay.
    replay = _Collector()
    client = arvados.events.subscribe(alice, ALL, replay, poll_fallback=0,
                                      last_log_id=event["id"])
    try:
        msgs = replay.wait_for(lambda m: any(e.get("object_uuid") == second["uuid"] for e in m))
        assert event["id"] not in [m.get("id") for m in msgs]
    finally:
        client.close(timeout=5)
