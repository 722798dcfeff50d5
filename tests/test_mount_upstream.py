"""Upstream arv-mount 3.2.1 (PyPI ``arvados-fuse``) against the local cluster.

The strongest fidelity check the cluster has: the real driver, unmodified,
mounts the demo cluster in ``--all`` mode and every file of the demo data
reads back byte-exactly (md5 from demo.json) through the kernel; ``home``,
``shared``, ``by_tag`` and ``by_id/<pdh>`` list what the demo made.

Upstream needs arvados-llfuse, which clashes with this project's llfuse, so
it lives in a virtualenv of its own, built once (``bench/upstream.py``:
``.venv-upstream`` in the repo, or ``$ARV_MOUNT_UPSTREAM_VENV``). If it
cannot be built the tests fail with pip's reason; they never skip.
The daemon runs as a subprocess with a private HOME and cache, always in
the foreground, and is always unmounted.
"""

import os
import subprocess
import time

import pytest

from bench import upstream
from mountutil import md5_of, mounted

pytestmark = pytest.mark.timeout(600)     # the first run builds the virtualenv


_built = {}


def _upstream_exe():
    """Upstream's arv-mount, built once per session; fails the test (never
    skips) with the reason when it cannot be built or does not run."""
    if "exe" not in _built:
        try:
            exe = upstream.upstream_arv_mount()
        except RuntimeError as e:
            _built["exe"] = None
            _built["error"] = str(e)
        else:
            r = subprocess.run([exe, "--version"], capture_output=True, text=True,
                               timeout=120)
            version = (r.stdout + r.stderr).strip()
            ok = r.returncode == 0 and upstream.UPSTREAM_VERSION in version
            _built["exe"] = exe if ok else None
            _built["error"] = "%s --version gave %r (exit %d)" % (exe, version, r.returncode)
    if _built["exe"] is None:
        pytest.fail("upstream arv-mount %s is not available: %s"
                    % (upstream.UPSTREAM_VERSION, _built["error"]), pytrace=False)
    return _built["exe"]


def _env(cluster, user, home):
    """The cluster's client env with a private HOME/cache and nothing of ours
    on PYTHONPATH (it would shadow upstream's own arvados_fuse)."""
    env = cluster.full_env(user)
    env.pop("PYTHONPATH", None)
    env["HOME"] = home
    env["XDG_CACHE_HOME"] = os.path.join(home, ".cache")
    env["XDG_CONFIG_HOME"] = os.path.join(home, ".config")
    return env


def _check_collection_files(root, coll):
    """Every file of a demo collection under root: size and md5 exact."""
    bad = []
    for entry in coll["files"]:
        p = os.path.join(root, entry["path"])
        try:
            size, md5 = os.stat(p).st_size, md5_of(p)
        except OSError as e:
            bad.append("%s: %s" % (entry["path"], e))
            continue
        if (size, md5) != (entry["size"], entry["md5"]):
            bad.append("%s: size %d md5 %s, want %d %s" % (entry["path"], size, md5,
                                                          entry["size"], entry["md5"]))
    for d in coll["empty_dirs"]:
        p = os.path.join(root, d)
        if not os.path.isdir(p) or os.listdir(p):
            bad.append("%s: not an empty directory" % d)
    return bad


def _top_level(coll):
    return {f["path"].split("/")[0] for f in coll["files"]} | \
        {d.split("/")[0] for d in coll["empty_dirs"]}


def test_upstream_all_mode_reads_every_alice_file(cluster, tmp_path):
    upstream_exe = _upstream_exe()
    demo = cluster.demo
    alice = demo["users"]["alice"]["uuid"]
    env = _env(cluster, "alice", str(tmp_path))
    with mounted(env, "--all", command=upstream_exe) as m:
        mnt = m.path
        assert {"README", "by_id", "by_tag", "home", "shared"} <= set(os.listdir(mnt))

        bad = []
        for key, coll in sorted(demo["collections"].items()):
            if key == "bob_private":
                continue        # alice cannot read it (the bob test reads it)
            bad += ["%s/%s" % (key, b) for b in
                    _check_collection_files(os.path.join(mnt, "by_id", coll["uuid"]), coll)]
        assert not bad, "\n".join(bad)

        home = set(os.listdir(os.path.join(mnt, "home")))
        mine = {o["name"] for group in ("projects", "collections")
                for o in demo[group].values() if o["owner_uuid"] == alice}
        assert mine <= home, mine - home
        # Listing by name reaches the same bytes as by_id.
        big = demo["collections"]["big_file"]
        small = next(f for f in big["files"] if f["path"] == "small.txt")
        assert md5_of(os.path.join(mnt, "home", big["name"], "small.txt")) == small["md5"]
        deep = demo["collections"]["deep"]
        deep_dir = os.path.join(mnt, "home", "Project A", "Sub project", "Deep project",
                                deep["name"])
        assert set(os.listdir(deep_dir)) == _top_level(deep)

        bob = demo["users"]["bob"]
        bob_dir = os.path.join(mnt, "shared", "%s %s" % (bob["first_name"], bob["last_name"]))
        assert os.path.isdir(bob_dir), os.listdir(os.path.join(mnt, "shared"))
        bob_listing = set(os.listdir(bob_dir))
        assert demo["projects"]["bob_shared"]["name"] in bob_listing
        assert demo["projects"]["bob_private"]["name"] not in bob_listing
        shared_coll = demo["collections"]["bob_shared"]
        assert set(os.listdir(os.path.join(bob_dir, demo["projects"]["bob_shared"]["name"],
                                           shared_coll["name"]))) == _top_level(shared_coll)

        tags = demo["links"]["tags"]
        assert set(tags) <= set(os.listdir(os.path.join(mnt, "by_tag")))
        for tag, uuids in tags.items():
            assert set(uuids) <= set(os.listdir(os.path.join(mnt, "by_tag", tag))), tag

        for key in ("odd_names", "many_files"):
            coll = demo["collections"][key]
            assert set(os.listdir(os.path.join(mnt, "by_id", coll["pdh"]))) == \
                _top_level(coll), key


def test_upstream_reads_bobs_private_collection(cluster, tmp_path):
    upstream_exe = _upstream_exe()
    demo = cluster.demo
    coll = demo["collections"]["bob_private"]
    project = demo["projects"]["bob_private"]
    env = _env(cluster, "bob", str(tmp_path))
    with mounted(env, "--home", command=upstream_exe) as m:
        mnt = m.path
        root = os.path.join(mnt, project["name"], coll["name"])
        assert set(os.listdir(root)) == _top_level(coll)
        bad = _check_collection_files(root, coll)
        assert not bad, "\n".join(bad)


def test_upstream_sees_changes_through_websocket_events(cluster, tmp_path):
    """With a refresh time of an hour, only an event can make a new
    collection appear: this is the event service working for upstream."""
    upstream_exe = _upstream_exe()
    alice = cluster.api("alice")
    project = alice.groups().create(body={"group": {
        "name": "upstream events %s" % os.path.basename(str(tmp_path)),
        "group_class": "project"}}).execute()
    env = _env(cluster, "alice", str(tmp_path))
    with mounted(env, "--project", project["uuid"], "--refresh-time", "3600",
                 command=upstream_exe) as m:
        mnt = m.path
        assert os.listdir(mnt) == []
        coll = alice.collections().create(body={"collection": {
            "owner_uuid": project["uuid"], "name": "arrived by event",
            "manifest_text": ""}}).execute()
        deadline = time.monotonic() + 30
        while "arrived by event" not in os.listdir(mnt):
            assert time.monotonic() < deadline, "the new collection never appeared"
            time.sleep(0.2)
        alice.collections().update(uuid=coll["uuid"], body={"collection": {
            "name": "renamed by event"}}).execute()
        while set(os.listdir(mnt)) != {"renamed by event"}:
            assert time.monotonic() < deadline + 30, os.listdir(mnt)
            time.sleep(0.2)
        assert "Falling back to polling" not in m.log()
    alice.groups().delete(uuid=project["uuid"]).execute()
