"""The local cluster's Collections settings against the real SDK, as Arvados
has them: ForwardSlashNameSubstitution (services/api/app/models/
arvados_model.rb ensure_filesystem_compatible_name) and collection
versioning (collection.rb manage_versioning; doc/user/topics/
collection-versioning)."""

import pytest

import arvados
import arvados.collection
import arvados.errors

from localcluster.testing import LocalCluster

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def vc(tmp_path_factory):
    with LocalCluster(tmp_path_factory.mktemp("versions-cluster")) as c:
        yield c


def _status(excinfo):
    return excinfo.value.resp.status


def _home(c, user="alice"):
    return c.users[user]["uuid"]


def test_slash_names_refused_while_substitution_is_empty(vc):
    api = vc.api("alice", num_retries=0)
    vc.set_settings(forward_slash_name_substitution="")
    assert api.config()["Collections"]["ForwardSlashNameSubstitution"] == ""
    for create in (lambda: api.collections().create(body={"name": "a/b"}).execute(),
                   lambda: api.groups().create(body={"name": "p/q", "group_class": "project"}).execute()):
        with pytest.raises(arvados.errors.ApiError) as e:
            create()
        assert _status(e) == 422
        assert "Name cannot contain a '/' character" in str(e.value)
    # A role group may have any name.
    api.groups().create(body={"name": "role/x", "group_class": "role"}).execute()
    c = api.collections().create(body={"name": "plain"}).execute()
    with pytest.raises(arvados.errors.ApiError) as e:
        api.collections().update(uuid=c["uuid"], body={"name": "pl/ain"}).execute()
    assert _status(e) == 422
    for bad in (".", ".."):
        with pytest.raises(arvados.errors.ApiError) as e:
            api.collections().create(body={"name": bad}).execute()
        assert "Name cannot be '.' or '..'" in str(e.value)


def test_slash_names_allowed_with_a_substitute_or_no_key(vc):
    api = vc.api("alice", num_retries=0)
    try:
        for setting, name in (("%2f", "x/y"), (None, "old/server")):
            vc.set_settings(forward_slash_name_substitution=setting)
            cfg = arvados.api("v1", **_api_kwargs(vc)).config()["Collections"]
            if setting is None:
                assert "ForwardSlashNameSubstitution" not in cfg
            else:
                assert cfg["ForwardSlashNameSubstitution"] == setting
            c = api.collections().create(body={"name": name}).execute()
            assert api.collections().get(uuid=c["uuid"]).execute()["name"] == name
    finally:
        vc.set_settings(forward_slash_name_substitution="")


def _api_kwargs(c):
    env = c.env("alice")
    return {"host": env["ARVADOS_API_HOST"], "token": env["ARVADOS_API_TOKEN"], "insecure": True,
            "cache": False}


def _put(api, text):
    c = arvados.collection.Collection(api_client=api)
    with c.open("f.txt", "w") as f:
        f.write(text)
    return c.manifest_text()


def test_versions_as_arvados_makes_them(vc):
    api = vc.api("alice", num_retries=0)
    vc.set_settings(collection_versioning=True, preserve_version_if_idle=0)
    try:
        cur = api.collections().create(body={"name": "versioned", "manifest_text": _put(api, "v1\n")}).execute()
        assert cur["version"] == 1 and cur["current_version_uuid"] == cur["uuid"]
        assert cur["preserve_version"] is False
        for n in (2, 3):
            cur = api.collections().update(uuid=cur["uuid"], body={
                "manifest_text": _put(api, "v%d\n" % n)}).execute()
            assert cur["version"] == n
        # Not a versionable change: no new version.
        cur = api.collections().update(uuid=cur["uuid"], body={"replication_desired": 2}).execute()
        assert cur["version"] == 3
        # Lists show the current version only, unless asked.
        listed = api.collections().list(filters=[["name", "=", "versioned"]]).execute()["items"]
        assert [i["uuid"] for i in listed] == [cur["uuid"]]
        every = api.collections().list(filters=[["current_version_uuid", "=", cur["uuid"]]],
                                       include_old_versions=True, order=["version asc"]).execute()["items"]
        assert [i["version"] for i in every] == [1, 2, 3]
        assert all(i["current_version_uuid"] == cur["uuid"] for i in every)
        old = every[0]
        assert old["uuid"] != cur["uuid"] and old["name"] == "versioned"
        assert old["created_at"] == cur["created_at"]
        # Synced attributes follow the current version.
        assert old["replication_desired"] == 2
        # An old version by uuid, with its own manifest.
        got = api.collections().get(uuid=old["uuid"]).execute()
        assert got["version"] == 1 and "v1" not in got["manifest_text"]
        reader = arvados.collection.CollectionReader(old["uuid"], api_client=api)
        assert reader.open("f.txt").read() == "v1\n"
        # ... and by its portable data hash.
        assert api.collections().get(uuid=old["portable_data_hash"]).execute()["portable_data_hash"] \
            == old["portable_data_hash"]
        # Old versions are read-only.
        for call in (lambda: api.collections().update(uuid=old["uuid"], body={"name": "x"}).execute(),
                     lambda: api.collections().delete(uuid=old["uuid"]).execute()):
            with pytest.raises(arvados.errors.ApiError) as e:
                call()
            assert _status(e) == 422 and "past versions cannot be updated" in str(e.value)
        # Projects list no old version.
        contents = api.groups().contents(uuid=_home(vc), filters=[["name", "=", "versioned"]]).execute()
        assert [i["uuid"] for i in contents["items"]] == [cur["uuid"]]
        # Trashing the current version trashes the old ones.
        api.collections().delete(uuid=cur["uuid"]).execute()
        with pytest.raises(arvados.errors.ApiError):
            api.collections().get(uuid=old["uuid"]).execute()
        assert api.collections().get(uuid=old["uuid"], include_trash=True).execute()["is_trashed"]
    finally:
        vc.set_settings(collection_versioning=False, preserve_version_if_idle=10)


def test_idle_time_and_preserve_version(vc):
    api = vc.api("alice", num_retries=0)
    vc.set_settings(collection_versioning=True, preserve_version_if_idle=-1)
    try:
        cur = api.collections().create(body={"name": "idle"}).execute()
        # Never by idle time: updates amend version 1.
        cur = api.collections().update(uuid=cur["uuid"], body={"description": "a"}).execute()
        assert cur["version"] == 1
        # preserve_version: the next versionable update keeps this state.
        cur = api.collections().update(uuid=cur["uuid"], body={"preserve_version": True}).execute()
        assert cur["preserve_version"] is True and cur["version"] == 1
        # Once true it stays true until a version is made.
        cur = api.collections().update(uuid=cur["uuid"], body={"replication_desired": 3}).execute()
        assert cur["preserve_version"] is True
        cur = api.collections().update(uuid=cur["uuid"], body={"description": "b"}).execute()
        assert cur["version"] == 2 and cur["preserve_version"] is False
        old, = [i for i in api.collections().list(
            filters=[["current_version_uuid", "=", cur["uuid"]], ["version", "=", 1]],
            include_old_versions=True).execute()["items"]]
        assert old["description"] == "a" and old["preserve_version"] is True
        # A long idle time: a collection just modified is amended.
        vc.set_settings(preserve_version_if_idle=3600)
        cur = api.collections().update(uuid=cur["uuid"], body={"description": "c"}).execute()
        assert cur["version"] == 2
        # Versioning off: never a new version.
        vc.set_settings(collection_versioning=False, preserve_version_if_idle=0)
        cur = api.collections().update(uuid=cur["uuid"], body={"description": "d", "preserve_version": True}).execute()
        cur = api.collections().update(uuid=cur["uuid"], body={"description": "e"}).execute()
        assert cur["version"] == 2
    finally:
        vc.set_settings(collection_versioning=False, preserve_version_if_idle=10)


def test_versioning_from_the_command_line(tmp_path):
    with LocalCluster(tmp_path / "c", extra_args=["--collection-versioning", "--preserve-version-if-idle", "0",
                                                  "--forward-slash-name-substitution", "{slash}"]) as c:
        s = c.settings()
        assert s == {"forward_slash_name_substitution": "{slash}", "collection_versioning": True,
                     "preserve_version_if_idle": 0, "users_visible_to_others": True}
        cfg = c.api("alice").config()["Collections"]
        assert cfg["CollectionVersioning"] is True and cfg["PreserveVersionIfIdle"] == "0s"
        assert cfg["ForwardSlashNameSubstitution"] == "{slash}"
