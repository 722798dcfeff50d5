"""The API's per-route request counts (``/_localcluster/calls``): each SDK
call is counted once under its route, with its response bytes; the log
keeps the query parameters and leaves tokens out; admin paths are not
counted; a reset zeroes everything; faulted requests count too."""

import json
import urllib.parse

import pytest

from localcluster.callcount import route_name

pytestmark = pytest.mark.timeout(120)


def test_route_names_come_from_the_route_table():
    assert route_name("/arvados/v1/groups/contents", "GET") == "groups.contents"
    assert route_name("/arvados/v1/groups/zzzzz-j7d0g-0123456789abcde", "GET") == "groups.get"
    assert route_name("/arvados/v1/groups/zzzzz-j7d0g-0123456789abcde/contents", "GET") == \
        "groups.contents_legacy"
    assert route_name("/arvados/v1/collections", "POST") == "collections.create"
    assert route_name("/arvados/v1/collections", "POST", "GET") == "collections.list"
    assert route_name("/arvados/v1/links/", "GET") == "links.list"
    assert route_name("/arvados/v1/users/current", "GET") == "users.current"
    assert route_name("/arvados/v1/config", "GET") == "configs.get"
    assert route_name("/discovery/v1/apis/arvados/v1/rest", "GET") == "discovery"
    assert route_name("/websocket", "GET") == "websocket"
    assert route_name("/arvados/v1/nothing", "GET") == "unknown"


def test_sdk_calls_are_counted_per_route(module_cluster):
    c = module_cluster
    api = c.api("alice")        # fetches the discovery document
    home = api.users().current().execute()["uuid"]
    group = api.groups().create(body={"group": {"name": "counted", "group_class": "project",
                                                "owner_uuid": home}}).execute()
    c.reset_api_calls()
    assert c.api_calls() == {}

    api.groups().get(uuid=group["uuid"]).execute()
    stats = c.api_call_stats()
    assert c.api_calls() == {"groups.get": 1}
    get = stats["routes"]["groups.get"]
    assert get["method"] == "GET" and get["statuses"] == {"200": 1}
    assert get["bytes"] > 200       # the group record's JSON
    assert stats["total"] == 1

    filters = [["name", "=", "counted"]]
    api.groups().contents(uuid=home, filters=filters, limit=7).execute()
    api.links().list(filters=[["link_class", "=", "name"]]).execute()
    api.collections().list(limit=1).execute()
    calls = c.api_calls()
    assert calls == {"groups.get": 1, "groups.contents": 1, "links.list": 1,
                     "collections.list": 1}

    log = c.api_call_log()
    assert [e["route"] for e in log] == ["groups.get", "groups.contents",
                                         "links.list", "collections.list"]
    contents = log[1]
    assert json.loads(contents["params"]["filters"]) == filters
    assert contents["params"]["limit"] == "7" and contents["params"]["uuid"] == home
    assert contents["status"] == 200 and contents["bytes"] > 0
    assert contents["items"] == 1 and "items" not in log[0]
    assert contents["end"] >= contents["start"]
    assert log[0]["path"] == "/arvados/v1/groups/" + group["uuid"]

    before = c.reset_api_calls()
    assert before["routes"]["groups.get"]["count"] == 1
    assert c.api_calls() == {} and c.api_call_log() == []


def test_errors_tokens_and_admin_paths(module_cluster):
    c = module_cluster
    c.reset_api_calls()
    status, _h, _b = c.request("GET", "arvados/v1/collections/zzzzz-4zz18-000000000000000")
    assert status == 404
    # A token in the query string never reaches the log.
    status, _h, _b = c.request("GET", "arvados/v1/users/current", user=None,
                               raw_query="api_token=" + urllib.parse.quote(c.token("bob")))
    assert status == 200
    c.faults()                                      # control port: not counted
    c.request("GET", "_localcluster/faults", user="admin")      # API port admin path
    c.request("GET", "discovery/v1/apis/arvados/v1/rest", user=None)
    stats = c.api_call_stats(log=True)
    assert c.api_calls() == {"collections.get": 1, "users.current": 1, "discovery": 1}
    assert stats["routes"]["collections.get"]["statuses"] == {"404": 1}
    assert "api_token" not in stats["log"][1]["params"]
    assert c.token("bob").split("/")[-1] not in json.dumps(stats)


def test_faulted_requests_are_counted(module_cluster):
    c = module_cluster
    c.reset_api_calls()
    try:
        c.set_fault("api", status=503)
        status, _h, _b = c.request("GET", "arvados/v1/users/current")
        assert status == 503
    finally:
        c.clear_faults()
    assert c.api_call_stats()["routes"]["users.current"]["statuses"] == {"503": 1}


def test_sdk_post_override_is_counted_as_the_get_route(module_cluster):
    """A list whose URL is too long goes as a POST with
    X-HTTP-Method-Override: GET; it is still a list."""
    c = module_cluster
    api = c.api("alice")
    c.reset_api_calls()
    many = ["zzzzz-4zz18-%015d" % i for i in range(150)]
    api.collections().list(filters=[["uuid", "in", many]]).execute()
    assert c.api_calls() == {"collections.list": 1}
    entry = c.api_call_log()[0]
    assert len(json.loads(entry["params"]["filters"])[0][2]) == 150
