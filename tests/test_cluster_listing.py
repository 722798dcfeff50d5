"""The list language of the local cluster, over real HTTPS, on the demo data.

Read-only: uses the session ``cluster`` fixture and never changes it.
"""

import arvados.util
import pytest

pytestmark = pytest.mark.timeout(120)


def _list(cluster, resource, user="alice", **params):
    status, _, body = cluster.request("GET", "arvados/v1/" + resource, user=user, params=params)
    assert status == 200, body
    return body


def _names(body):
    return [i.get("name") for i in body["items"]]


def test_equality_and_in(cluster):
    d = cluster.demo["collections"]
    body = _list(cluster, "collections", filters=[["name", "=", "Many files"]])
    assert [i["uuid"] for i in body["items"]] == [d["many_files"]["uuid"]]
    assert body["items_available"] == 1
    assert "manifest_text" not in body["items"][0]
    body = _list(cluster, "collections", filters=[["uuid", "in", [d["deep"]["uuid"], d["big_file"]["uuid"]]]])
    assert {i["uuid"] for i in body["items"]} == {d["deep"]["uuid"], d["big_file"]["uuid"]}
    body = _list(cluster, "collections", filters=[["uuid", "not in", [d["deep"]["uuid"]]]])
    assert d["deep"]["uuid"] not in {i["uuid"] for i in body["items"]}


def test_null_semantics(cluster):
    # trash_at is null everywhere: "=" null matches, "!=" a value matches NULLs too,
    # comparisons never match NULL.
    all_ = _list(cluster, "collections")["items_available"]
    assert _list(cluster, "collections", filters=[["trash_at", "=", None]])["items_available"] == all_
    assert _list(cluster, "collections", filters=[["trash_at", "!=", None]])["items_available"] == 0
    assert _list(cluster, "collections", filters=[["description", "!=", "x"]])["items_available"] == all_
    assert _list(cluster, "collections", filters=[["trash_at", ">", "2000-01-01T00:00:00Z"]])["items_available"] == 0
    assert _list(cluster, "collections", filters=[["description", "not in", ["x"]]])["items_available"] == all_
    assert _list(cluster, "collections", filters=[["description", "not in", ["x", None]]])["items_available"] == 0


def test_like_ilike_and_comparisons(cluster):
    assert "Many files" in _names(_list(cluster, "collections", filters=[["name", "like", "Many%"]]))
    assert _list(cluster, "collections", filters=[["name", "like", "many%"]])["items"] == []
    assert "Many files" in _names(_list(cluster, "collections", filters=[["name", "ilike", "many_files"]]))
    body = _list(cluster, "collections", filters=[["file_count", ">=", 201]])
    assert _names(body) == ["Many files"]
    # integer columns coerce string operands (the poll client sends strings)
    assert _names(_list(cluster, "collections", filters=[["file_count", ">", "200"]])) == ["Many files"]
    assert _list(cluster, "collections", filters=[["modified_at", "<", "2000-01-01T00:00:00Z"]])["items"] == []


def test_is_a_exists_contains_and_properties(cluster):
    d = cluster.demo["collections"]
    body = _list(cluster, "links", filters=[["head_uuid", "is_a", "arvados#collection"], ["link_class", "=", "tag"]])
    assert body["items_available"] == 4
    assert _list(cluster, "links", filters=[["head_uuid", "is_a", "arvados#group"], ["link_class", "=", "tag"]])["items"] == []
    body = _list(cluster, "collections", filters=[["properties", "exists", "color"]])
    assert {i["uuid"] for i in body["items"]} == {d["many_files"]["uuid"], d["odd_names"]["uuid"]}
    body = _list(cluster, "collections", filters=[["properties.color", "=", "red"]])
    assert [i["uuid"] for i in body["items"]] == [d["odd_names"]["uuid"]]
    body = _list(cluster, "collections", filters=[["storage_classes_desired", "contains", "default"]])
    assert body["items_available"] == _list(cluster, "collections")["items_available"]


def test_logs_id_coercion(cluster):
    newest = _list(cluster, "logs", order="id desc", limit=1)["items"][0]
    assert isinstance(newest["id"], int)
    body = _list(cluster, "logs", order="id asc", filters=[["id", ">", str(newest["id"] - 2)]])
    assert [i["id"] for i in body["items"]] == [newest["id"] - 1, newest["id"]]


def test_order_limit_offset_count(cluster):
    full = _list(cluster, "collections", order=["name asc"], limit=1000)
    names = _names(full)
    assert names == sorted(names)
    desc = _names(_list(cluster, "collections", order="name desc", limit=1000))
    assert desc == names[::-1]
    page = _list(cluster, "collections", order=["name asc", "name asc"], limit=2, offset=1)
    assert _names(page) == names[1:3]
    assert page["limit"] == 2 and page["offset"] == 1
    assert page["items_available"] == len(names)
    assert "items_available" not in _list(cluster, "collections", count="none")
    assert _list(cluster, "collections", limit=5000)["limit"] == 1000
    assert _list(cluster, "collections")["limit"] == 100


def test_contradictory_filters_give_empty_page(cluster):
    u = cluster.demo["collections"]["deep"]["uuid"]
    body = _list(cluster, "collections", filters=[["uuid", "=", u], ["uuid", ">", u]],
                 order=["uuid asc", "uuid asc"], count="none", limit=1000)
    assert body["items"] == []


def test_select_and_distinct(cluster):
    body = _list(cluster, "links", filters=[["link_class", "=", "tag"], ["name", "!=", ""]],
                 select=["name"], distinct=True, limit=1000)
    assert sorted(_names(body)) == sorted(cluster.demo["links"]["tags"])
    assert set(body["items"][0]) <= {"name", "kind", "etag"}
    body = _list(cluster, "collections", select=["uuid", "manifest_text"], limit=1,
                 filters=[["name", "=", "Deep collection"]])
    assert "+A" in body["items"][0]["manifest_text"]


def test_keyset_paging_matches_full_list(cluster):
    api = cluster.api("alice")
    all_uuids = [i["uuid"] for i in _list(cluster, "collections", limit=1000)["items"]]
    paged = [i["uuid"] for i in arvados.util.keyset_list_all(api.collections().list, limit=2)]
    assert sorted(paged) == sorted(all_uuids)
    assert len(paged) == len(set(paged))
    by_name = [i["uuid"] for i in arvados.util.keyset_list_all(
        api.collections().list, order_key="name", limit=1)]
    assert sorted(by_name) == sorted(all_uuids)


def test_groups_contents_home_and_project(cluster):
    d = cluster.demo
    alice = cluster.users["alice"]["uuid"]
    body = _list(cluster, "groups/contents", uuid=alice,
                 filters=[["uuid", "is_a", "arvados#group"], ["groups.group_class", "in", ["project", "filter"]]],
                 order=["uuid asc", "uuid asc"], limit=1000, count="none")
    assert {i["uuid"] for i in body["items"]} == {d["projects"]["project_a"]["uuid"],
                                                 d["projects"]["filter_group"]["uuid"]}
    body = _list(cluster, "groups/contents", uuid=d["projects"]["project_a"]["uuid"])
    kinds = {i["kind"] for i in body["items"]}
    assert kinds == {"arvados#group", "arvados#collection", "arvados#workflow"}
    for item in body["items"]:
        if item["kind"] == "arvados#collection":
            assert "manifest_text" not in item
            assert item["current_version_uuid"] == item["uuid"]
    # table-qualified filters apply to their table only
    body = _list(cluster, "groups/contents", uuid=d["projects"]["project_a"]["uuid"],
                 filters=[["collections.name", "=", "nomatch"]])
    assert {i["kind"] for i in body["items"]} == {"arvados#group", "arvados#workflow"}
    # legacy path form
    status, _, legacy = cluster.request("GET", "arvados/v1/groups/%s/contents" % d["projects"]["project_a"]["uuid"])
    assert status == 200 and len(legacy["items"]) == len(
        _list(cluster, "groups/contents", uuid=d["projects"]["project_a"]["uuid"])["items"])
    # filter group contents come from its filters
    body = _list(cluster, "groups/contents", uuid=d["projects"]["filter_group"]["uuid"])
    assert [i["uuid"] for i in body["items"]] == [d["collections"]["many_files"]["uuid"]]


def test_groups_shared_with_included(cluster):
    d = cluster.demo
    body = _list(cluster, "groups/shared", filters=[["group_class", "in", ["project", "filter"]]],
                 order="uuid", limit=10000, count="none", include="owner_uuid")
    assert [i["uuid"] for i in body["items"]] == [d["projects"]["bob_shared"]["uuid"]]
    assert [i["uuid"] for i in body["included"]] == [cluster.users["bob"]["uuid"]]
    assert body["included"][0]["first_name"] == "Bob"
    body = _list(cluster, "groups/shared", user="bob")
    assert body["items"] == [] and body["included"] == []


def test_long_get_as_post_with_override(cluster):
    d = cluster.demo["collections"]
    uuids = [d[k]["uuid"] for k in ("deep", "big_file")] + ["zzzzz-4zz18-%015d" % i for i in range(150)]
    api = cluster.api("alice")
    # The client turns this >2048-character URL into a POST with X-HTTP-Method-Override.
    items = api.collections().list(filters=[["uuid", "in", uuids]], limit=1000).execute()["items"]
    assert {i["uuid"] for i in items} == {d["deep"]["uuid"], d["big_file"]["uuid"]}
    status, _, body = cluster.request(
        "POST", "arvados/v1/collections", data=b"_method=GET&filters=%5B%5B%22name%22%2C%22%3D%22%2C%22Many+files%22%5D%5D",
        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200 and _names(body) == ["Many files"]


def test_query_encoding_plus_percent_and_alt(cluster):
    status, _, body = cluster.request(
        "GET", "arvados/v1/collections",
        raw_query="alt=json&filters=%5B%5B%22name%22%2C+%22%3D%22%2C+%22Many+files%22%5D%5D")
    assert status == 200 and _names(body) == ["Many files"]
    pdh = cluster.demo["collections"]["deep"]["pdh"]
    status, _, body = cluster.request("GET", "arvados/v1/collections/" + pdh.replace("+", "%2B"))
    assert status == 200 and body["portable_data_hash"] == pdh
    status, _, body = cluster.request("GET", "arvados/v1/collections/" + pdh.replace("+", "%2B") + "%2BKzzzzz")
    assert status == 200 and body["portable_data_hash"] == pdh


@pytest.mark.parametrize("params", [
    {"filters": [["name", "~", "x"]]},
    {"filters": [["no_such_attribute", "=", "x"]]},
    {"filters": [["name", "in", "not-a-list"]]},
    {"filters": ["not-a-filter"]},
    {"filters": "not json"},
    {"limit": "lots"},
    {"count": "approximately"},
    {"select": ["no_such_attribute"]},
    {"order": ["name sideways"]},
])
def test_bad_list_parameters_are_422(cluster, params):
    status, _, body = cluster.request("GET", "arvados/v1/collections", params=params)
    assert status == 422, body
    assert body["errors"] and body["error_token"]


def test_expression_filters_compare_two_columns(cluster):
    every = _list(cluster, "collections")["items_available"]
    # Demo records are created and never modified: created_at == modified_at.
    for filters, expected in (
            (["(created_at < modified_at)"], 0),
            (["(created_at <= modified_at)"], every),
            ([["(created_at = modified_at)", "=", True]], every),
            (["(file_count >= file_count)"], every),
            (["(file_count > file_count)"], 0)):
        assert _list(cluster, "collections", filters=filters)["items_available"] == expected, filters
    for bad in (["(created_at < )"], ["(name < file_count)"], [["(created_at < modified_at)", "=", False]]):
        status, _, body = cluster.request("GET", "arvados/v1/collections", user="alice", params={"filters": bad})
        assert status == 422, (bad, body)
