"""Who sees what on the local cluster, and Keep's signature checks."""

import hashlib
import re
import time

import arvados
import arvados.collection
import pytest

from localcluster.testing import keep_request

pytestmark = pytest.mark.timeout(120)


def test_unshared_project_is_invisible(cluster):
    d = cluster.demo
    private = d["projects"]["bob_private"]["uuid"]
    private_coll = d["collections"]["bob_private"]
    for path in ("groups/" + private, "collections/" + private_coll["uuid"],
                 "collections/" + private_coll["pdh"].replace("+", "%2B")):
        status, _, body = cluster.request("GET", "arvados/v1/" + path, user="alice")
        assert status == 404, path
        assert cluster.request("GET", "arvados/v1/" + path, user="bob")[0] == 200
        assert cluster.request("GET", "arvados/v1/" + path, user="admin")[0] == 200
    status, _, body = cluster.request("GET", "arvados/v1/groups", params={"limit": 1000})
    assert private not in {g["uuid"] for g in body["items"]}
    status, _, body = cluster.request("GET", "arvados/v1/collections", params={"limit": 1000})
    assert private_coll["uuid"] not in {c["uuid"] for c in body["items"]}
    status, _, body = cluster.request("GET", "arvados/v1/groups/contents",
                                      params={"uuid": cluster.users["bob"]["uuid"]})
    assert [i["uuid"] for i in body["items"]] == [d["projects"]["bob_shared"]["uuid"]]
    status, _, body = cluster.request("GET", "arvados/v1/groups/contents", params={"uuid": private})
    assert status == 404


def test_shared_project_is_readable_not_writable(cluster):
    d = cluster.demo
    shared = d["projects"]["bob_shared"]["uuid"]
    api = cluster.api("alice")
    g = api.groups().get(uuid=shared).execute()
    assert g["can_write"] is False and g["can_manage"] is False
    r = arvados.collection.CollectionReader(d["collections"]["bob_shared"]["uuid"], api_client=api)
    assert r.open("shared.txt").read() == "shared by bob\n"
    status, _, _ = cluster.request("PUT", "arvados/v1/groups/" + shared,
                                   body={"group": {"name": "renamed by alice"}})
    assert status == 403
    status, _, _ = cluster.request("POST", "arvados/v1/collections",
                                   body={"collection": {"owner_uuid": shared, "manifest_text": ""}})
    assert status == 403


def test_admin_sees_everything(cluster):
    status, _, body = cluster.request("GET", "arvados/v1/collections", user="admin",
                                      params={"limit": 1000})
    assert status == 200
    assert {c["uuid"] for c in cluster.demo["collections"].values()} <= {c["uuid"] for c in body["items"]}


def test_role_membership_grants_access(fresh_cluster):
    c = fresh_cluster
    bob, alice = c.api("bob"), c.api("alice")
    proj = bob.groups().create(body={"group": {"name": "team data", "group_class": "project"}}).execute()
    admin = c.api("admin")
    role = admin.groups().create(body={"group": {"name": "team", "group_class": "role"}}).execute()
    with pytest.raises(arvados.errors.ApiError) as e:
        alice.groups().get(uuid=proj["uuid"]).execute()
    assert e.value.resp.status == 404
    admin.links().create(body={"link": {"link_class": "permission", "name": "can_write",
                                        "tail_uuid": c.users["alice"]["uuid"], "head_uuid": role["uuid"]}}).execute()
    admin.links().create(body={"link": {"link_class": "permission", "name": "can_write",
                                        "tail_uuid": role["uuid"], "head_uuid": proj["uuid"]}}).execute()
    got = alice.groups().get(uuid=proj["uuid"]).execute()
    assert got["can_write"] is True
    sub = alice.groups().create(body={"group": {"name": "alice sub", "owner_uuid": proj["uuid"],
                                                "group_class": "project"}}).execute()
    assert bob.groups().get(uuid=sub["uuid"]).execute()["owner_uuid"] == proj["uuid"]


def test_users_visible_to_others_setting(fresh_cluster):
    """Users.ActivatedUsersAreVisibleToOthers: true (Arvados' default), every
    user reads every user record; false, only its own, those a permission
    path reaches (a role with can_read on the user), and admins all."""
    c = fresh_cluster
    alice, bob_uuid = c.api("alice"), c.users["bob"]["uuid"]
    assert alice.users().get(uuid=bob_uuid).execute()["uuid"] == bob_uuid
    assert c.api("alice").configs().get().execute()["Users"]["ActivatedUsersAreVisibleToOthers"] is True
    c.set_settings(users_visible_to_others=False)
    alice = c.api("alice")
    assert alice.configs().get().execute()["Users"]["ActivatedUsersAreVisibleToOthers"] is False
    with pytest.raises(arvados.errors.ApiError) as e:
        alice.users().get(uuid=bob_uuid).execute()
    assert e.value.resp.status == 404
    assert {u["uuid"] for u in alice.users().list().execute()["items"]} == {c.users["alice"]["uuid"]}
    assert alice.users().current().execute()["uuid"] == c.users["alice"]["uuid"]
    assert c.api("admin").users().get(uuid=bob_uuid).execute()["uuid"] == bob_uuid
    admin = c.api("admin")
    role = admin.groups().create(body={"group": {"name": "lab", "group_class": "role"}}).execute()
    admin.links().create(body={"link": {"link_class": "permission", "name": "can_write",
                                        "tail_uuid": c.users["alice"]["uuid"], "head_uuid": role["uuid"]}}).execute()
    admin.links().create(body={"link": {"link_class": "permission", "name": "can_read",
                                        "tail_uuid": role["uuid"], "head_uuid": bob_uuid}}).execute()
    assert alice.users().get(uuid=bob_uuid).execute()["uuid"] == bob_uuid


def test_keep_requires_valid_unexpired_signature(cluster):
    d = cluster.demo["collections"]["deep"]
    alice_api = cluster.api("alice")
    manifest = alice_api.collections().get(uuid=d["uuid"]).execute()["manifest_text"]
    signed = re.search(r"[0-9a-f]{32}\+\d+\+A[0-9a-f]{40}@[0-9a-f]{8}", manifest).group(0)
    bare = "+".join(signed.split("+")[:2])
    url = cluster.info["keep_urls"][0]
    alice, bob = cluster.token("alice"), cluster.token("bob")
    status, body = keep_request(url + signed, alice)
    assert status == 200 and hashlib.md5(body).hexdigest() == d["files"][0]["md5"]
    assert keep_request(url + "/" + signed, alice)[0] == 200          # //locator form
    assert keep_request(url + signed, alice, "HEAD")[0] == 200
    assert keep_request(url + signed, bob)[0] == 400                   # signed for another token
    assert keep_request(url + signed)[0] == 401                        # no token
    assert keep_request(url + bare, alice)[0] == 400                   # no signature
    sig, exp = signed.split("+A")[1].split("@")
    tampered = signed.replace(sig, ("0" if sig[0] != "0" else "1") + sig[1:])
    assert keep_request(url + tampered, alice)[0] == 400
    expired = signed.replace("@" + exp, "@%08x" % (int(time.time()) - 60))
    assert keep_request(url + expired, alice)[0] == 401
    assert keep_request(url + "zz", alice)[0] == 400                   # not a locator


def test_unsigned_blocks_cannot_be_claimed(cluster):
    """A non-admin cannot put someone else's block into a collection without a signature."""
    d = cluster.demo["collections"]["bob_private"]
    bare = cluster.api("bob").collections().get(uuid=d["uuid"]).execute()["manifest_text"]
    bare = re.sub(r"\+A[0-9a-f]{40}@[0-9a-f]{8}", "", bare)
    status, _, body = cluster.request("POST", "arvados/v1/collections",
                                      body={"collection": {"manifest_text": bare}})
    assert status == 422, body


def test_no_blob_signing_accepts_bare_locators(tmp_path):
    from localcluster.testing import LocalCluster
    with LocalCluster(tmp_path / "c", blob_signing=False, keep_servers=1) as c:
        api = c.api("alice")
        coll = arvados.collection.Collection(api_client=api)
        with coll.open("f.txt", "w") as f:
            f.write("unsigned\n")
        coll.save_new()
        rec = api.collections().get(uuid=coll.manifest_locator()).execute()
        assert "+A" not in rec["manifest_text"]
        loc = rec["manifest_text"].split()[1]
        assert keep_request(c.info["keep_urls"][0] + loc)[0] == 200
        assert keep_request(c.info["keep_urls"][0] + loc + "+A" + "0" * 40 + "@00000000")[0] == 200
