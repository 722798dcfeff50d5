"""Sample data for ``--demo``, created through the public HTTP API and Keep.

Everything goes through the cluster's own HTTPS API (with each owner's
token, so permissions are exercised) and Keep PUTs, except the blocks of
the 100 MiB file, which are written straight into the block store (their
locators are real, and signed like Keep would sign them) to keep start-up
fast. Idempotent: the result is remembered in the store's meta table and
only ``DIR/demo.json`` is rewritten on later starts.

demo.json (see docs/localcluster.md) lists every object made and, for
every file, its path, size and md5, so tests need not hard-code anything.
"""

import hashlib
import json
import os
import random

import aiohttp

from . import manifests
from .keepserver import store_block

BIG_FILE_SIZE = 100 * 1024 * 1024
BLOCK = 64 * 1024 * 1024
ODD_NAMES = ["with space.txt", "café é.txt", "日本語 ファイル.txt", "colon:name.txt",
             "dash-name.txt", "star*name.txt", "back\\slash.txt", "...", "-leading-dash",
             "tab\there.txt", "percent%20name.txt", "plus+name.txt", "quote'\"name.txt"]


def _content(path, size):
    """Deterministic bytes for a demo file."""
    seed = hashlib.md5(path.encode()).hexdigest()
    line = ("%s %s\n" % (path, seed)).encode()
    return (line * (size // len(line) + 1))[:size]


class _Client:
    def __init__(self, session, cluster):
        self.s = session
        self.cluster = cluster
        self.base = cluster.api_url + "arvados/v1/"

    async def call(self, who, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.cluster.users[who]["token"]}
        async with self.s.request(method, self.base + path, json=body, headers=headers,
                                  ssl=False) as r:
            data = await r.json()
            if r.status != 200:
                raise RuntimeError("demo: %s %s -> %d %s" % (method, path, r.status, data))
            return data

    async def put_block(self, who, data):
        md5 = hashlib.md5(data).hexdigest()
        headers = {"Authorization": "Bearer " + self.cluster.users[who]["token"]}
        url = self.cluster.keep_urls[0] + md5
        async with self.s.put(url, data=data, headers=headers) as r:
            text = await r.text()
            if r.status != 200:
                raise RuntimeError("demo: Keep PUT -> %d %s" % (r.status, text))
            return text.strip()


def _file_entry(path, data):
    return {"path": path, "size": len(data), "md5": hashlib.md5(data).hexdigest()}


async def _collection(c, who, owner, name, files, *, empty_dirs=(), properties=None,
                      blocks=None):
    """files: [(path, bytes)] packed into blocks; blocks: pre-stored [(locator, bytes)]."""
    tokens, entries, pos = [], [], 0
    if blocks is None:
        blocks = []
        data = b"".join(d for _, d in files)
        for i in range(0, len(data), BLOCK):
            blocks.append((await c.put_block(who, data[i:i + BLOCK]), None))
    for loc, _ in blocks:
        tokens.append(loc)
    segs = []
    for path, data in files:
        segs.append("%d:%d:%s" % (pos, len(data), manifests.escape(path.encode())))
        pos += len(data)
        entries.append(_file_entry(path, data))
    lines = []
    if files:
        lines.append(" ".join(["."] + (tokens or [manifests.EMPTY_BLOCK]) + segs) + "\n")
    for d in empty_dirs:
        lines.append("./%s %s 0:0:\\056\n" % (manifests.escape(d.encode()), manifests.EMPTY_BLOCK))
    rec = await c.call(who, "POST", "collections", {"collection": {
        "owner_uuid": owner, "name": name, "manifest_text": "".join(lines),
        "properties": properties or {}}})
    return {"uuid": rec["uuid"], "pdh": rec["portable_data_hash"], "name": name,
            "owner_uuid": owner, "files": entries, "empty_dirs": list(empty_dirs)}


async def _group(c, who, owner, name, group_class="project", properties=None):
    rec = await c.call(who, "POST", "groups", {"group": {
        "owner_uuid": owner, "name": name, "group_class": group_class,
        "description": "Demo %s %s" % (group_class, name), "properties": properties or {}}})
    return {"uuid": rec["uuid"], "name": name, "owner_uuid": owner, "group_class": group_class}


async def _link(c, who, link):
    rec = await c.call(who, "POST", "links", {"link": link})
    return dict(link, uuid=rec["uuid"])


async def _create(cluster):
    async with aiohttp.ClientSession() as session:
        c = _Client(session, cluster)
        alice = cluster.users["alice"]["uuid"]
        bob = cluster.users["bob"]["uuid"]
        projects, colls, out = {}, {}, {}

        projects["project_a"] = await _group(c, "alice", alice, "Project A")
        projects["sub_project"] = await _group(c, "alice", projects["project_a"]["uuid"],
                                               "Sub project")
        projects["deep_project"] = await _group(c, "alice", projects["sub_project"]["uuid"],
                                                "Deep project")
        projects["bob_shared"] = await _group(c, "bob", bob, "Bob shared project")
        projects["bob_private"] = await _group(c, "bob", bob, "Bob private project")

        many = []
        for i in range(200):
            path = "dir%d/sub%d/file%03d.txt" % (i % 4, (i // 4) % 5, i)
            many.append((path, _content(path, 100 + (i * 37) % 3000)))
        many.append(("README.txt", b"A demo collection with many files.\n"))
        colls["many_files"] = await _collection(
            c, "alice", projects["project_a"]["uuid"], "Many files", many,
            properties={"color": "blue", "files": 201})

        odd = [(n, _content(n, 10 + i)) for i, n in enumerate(ODD_NAMES)]
        odd += [("empty.txt", b""), ("sub dir/empty too", b""), ("sub dir/é/nested.txt",
                                                                  b"nested\n")]
        colls["odd_names"] = await _collection(
            c, "alice", alice, "Odd names: é 日本 * - ...", odd,
            empty_dirs=["empty dir", "sub dir/empty inner"], properties={"color": "red"})

        rng = random.Random(20240627)
        big = rng.randbytes(BIG_FILE_SIZE)
        small = b"a small file next to a big one\n"
        blocks = []
        for i in range(0, len(big), BLOCK):
            loc = store_block(cluster.blocks_dir, big[i:i + BLOCK])
            if cluster.signer is not None:
                loc = cluster.signer.sign_locator(loc, cluster.users["alice"]["token"])
            blocks.append((loc, None))
        blocks.append((await c.put_block("alice", small), None))
        colls["big_file"] = await _collection(
            c, "alice", alice, "Big file", [("big.bin", big), ("small.txt", small)],
            blocks=blocks)
        del big

        colls["deep"] = await _collection(
            c, "alice", projects["deep_project"]["uuid"], "Deep collection",
            [("deep.txt", b"deep down\n")])
        colls["empty"] = await _collection(c, "alice", projects["sub_project"]["uuid"],
                                           "Empty collection", [])
        colls["bob_shared"] = await _collection(
            c, "bob", projects["bob_shared"]["uuid"], "Bob shared collection",
            [("shared.txt", b"shared by bob\n")])
        colls["bob_private"] = await _collection(
            c, "bob", projects["bob_private"]["uuid"], "Bob private collection",
            [("secret.txt", b"bob's secret\n")])

        links = {}
        links["share_with_alice"] = await _link(c, "bob", {
            "link_class": "permission", "name": "can_read", "tail_uuid": alice,
            "head_uuid": projects["bob_shared"]["uuid"]})
        tags = {"fruit": ["many_files", "odd_names"], "vegetable": ["big_file"],
                "deep tag": ["deep"]}
        links["tags"] = {}
        for tag, keys in tags.items():
            links["tags"][tag] = []
            for key in keys:
                await _link(c, "alice", {"link_class": "tag", "name": tag,
                                         "head_uuid": colls[key]["uuid"]})
                links["tags"][tag].append(colls[key]["uuid"])
        links["name_link"] = await _link(c, "alice", {
            "link_class": "name", "name": "Named by link", "tail_uuid":
            projects["project_a"]["uuid"], "head_uuid": colls["deep"]["pdh"]})

        wf = await c.call("alice", "POST", "workflows", {"workflow": {
            "owner_uuid": projects["project_a"]["uuid"], "name": "Demo workflow",
            "description": "A demo workflow record",
            "definition": "cwlVersion: v1.2\nclass: Workflow\ninputs: []\noutputs: []\nsteps: []\n"}})
        out["workflows"] = {"demo": {"uuid": wf["uuid"], "name": wf["name"],
                                     "owner_uuid": wf["owner_uuid"]}}

        projects["filter_group"] = await _group(
            c, "alice", alice, "Fruit filter", group_class="filter",
            properties={"filters": [["uuid", "is_a", "arvados#collection"],
                                    ["collections.properties.color", "=", "blue"]]})

        # A manifest stored only in Keep (no collection record).
        ko_data = b"only in keep\n"
        ko_loc = await c.put_block("alice", ko_data)
        # Its block locator keeps Alice's signature, so the manifest is
        # readable with Alice's token even when blob signing is on.
        ko_text = ". %s 0:%d:keep-only.txt\n" % (ko_loc, len(ko_data))
        ko_manifest_loc = await c.put_block("alice", ko_text.encode())
        out["keep_only"] = {
            "pdh": "+".join(ko_manifest_loc.split("+")[:2]),
            "signed_locator_alice": ko_manifest_loc, "manifest_text": ko_text,
            "files": [_file_entry("keep-only.txt", ko_data)]}

        out.update({"projects": projects, "collections": colls, "links": links})
        return out


async def ensure(cluster):
    """Create the demo data once; (re)write DIR/demo.json. Returns the dict."""
    data = cluster.store.meta("demo")
    if data is None:
        data = await _create(cluster)
        cluster.store.set_meta("demo", data)
    data = dict(data)
    data["users"] = {name: {k: v for k, v in u.items() if k != "token"}
                     for name, u in cluster.users.items()}
    path = os.path.join(cluster.data_dir, "demo.json")
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    os.replace(path + ".tmp", path)
    return data
