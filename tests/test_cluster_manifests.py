"""Manifest validation (422s), normalization (== the SDK's) and PDHs."""

import hashlib
from unittest import mock

import arvados.collection
import pytest
from hypothesis import given, settings, strategies as st

from localcluster import manifests

pytestmark = pytest.mark.timeout(120)

FOO = "acbd18db4cc2f85cedef654fccc4a4d8+3"      # "foo"
BAR = "37b51d194a7513e45b56f6524f2d51f2+3"      # "bar"


def sdk_normalized(text):
    """The Python SDK's normalized, stripped manifest (no API or Keep needed)."""
    api = mock.MagicMock()
    api._rootDesc = {}
    coll = arvados.collection.Collection(text, api_client=api, keep_client=mock.MagicMock())
    return coll._get_manifest_text(".", True, True)


INVALID = {
    "no trailing newline": ". %s 0:3:foo" % FOO,
    "bad stream name": "foo %s 0:3:foo\n" % FOO,
    "stream with ..": "./a/../b %s 0:3:foo\n" % FOO,
    "stream with trailing slash": "./a/ %s 0:3:foo\n" % FOO,
    "no locator": ". 0:3:foo\n",
    "no file token": ". %s\n" % FOO,
    "file named ..": ". %s 0:3:..\n" % FOO,
    "file path with .": ". %s 0:3:a/./b\n" % FOO,
    "trailing space": ". %s 0:3:foo \n" % FOO,
    "double space": ".  %s 0:3:foo\n" % FOO,
    "octal escape above 377": ". %s 0:3:\\477\n" % FOO,
    "segment beyond stream": ". %s 0:4:foo\n" % FOO,
    "bad locator hint": ". %s+a 0:3:foo\n" % FOO,
    "garbage file token": ". %s 0:3:foo bar\n" % FOO,
    "file/dir conflict": ". %s 0:3:a 0:3:a/b\n" % FOO,
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_manifest_unit(name):
    with pytest.raises(manifests.ManifestError):
        manifests.normalize(INVALID[name])


@pytest.mark.parametrize("name", ["no trailing newline", "stream with ..", "no locator",
                                  "trailing space", "octal escape above 377", "file named .."])
def test_invalid_manifest_rejected_by_api(cluster, name):
    status, _, body = cluster.request("POST", "arvados/v1/collections",
                                      body={"collection": {"manifest_text": INVALID[name]}})
    assert status == 422, body
    assert "manifest" in body["errors"][0].lower()


VALID = [
    "",
    ". %s 0:3:foo\n" % FOO,
    ". %s %s 0:3:b 3:3:a 0:6:ab 0:0:empty\n./sub %s 0:3:x/y\n" % (FOO, BAR, FOO),
    "./z %s 0:0:\\056\n./a\\040b %s 0:1:\\072c 1:2:\\134d 0:0:é 0:0:日本\n" % (manifests.EMPTY_BLOCK, FOO),
    ". %s 0:1:f 1:1:f 2:1:f\n" % FOO,
    "./d %s 0:0:\\056\n./d/e %s 0:3:f\n" % (manifests.EMPTY_BLOCK, FOO),
]


@pytest.mark.parametrize("text", VALID)
def test_normalization_matches_sdk(text):
    mine = manifests.normalize(text)[0]
    assert mine == (sdk_normalized(text) if text else "")
    assert manifests.portable_data_hash(mine) == "%s+%d" % (
        hashlib.md5(mine.encode()).hexdigest(), len(mine.encode()))


_names = st.text(alphabet=st.sampled_from("ab \\:é日*-"), min_size=1, max_size=4).filter(
    lambda n: n not in (".", ".."))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.lists(_names, max_size=2), _names, st.integers(0, 6)), min_size=1, max_size=6))
def test_normalization_matches_sdk_generated(files):
    # files: (dir components, file name, size) drawn from the 6-byte "foobar" stream
    lines = []
    for dirs, name, size in files:
        stream = "/".join(["."] + [manifests.escape(d.encode()) for d in dirs])
        lines.append("%s %s %s 0:%d:%s\n" % (stream, FOO, BAR, size, manifests.escape(name.encode())))
    text = "".join(lines)
    try:
        mine = manifests.normalize(text)[0]
    except manifests.ManifestError:
        return      # e.g. a file and a directory with one name: the SDK rejects those too
    assert mine == sdk_normalized(text)


def test_server_pdh_equals_sdk_pdh(fresh_cluster):
    api = fresh_cluster.api("alice")
    coll = arvados.collection.Collection(api_client=api)
    for path in ("z/b.txt", "a.txt", "z/a dir/c:d", "é.txt", "m/empty"):
        with coll.open(path, "w") as f:
            f.write(path * 3)
    coll.mkdirs("emptydir")
    local_pdh = coll.portable_data_hash()
    coll.save_new(name="pdh check")
    rec = api.collections().get(uuid=coll.manifest_locator()).execute()
    assert rec["portable_data_hash"] == local_pdh
    assert rec["file_count"] == 5
    # A non-normalized manifest is stored normalized.
    text = ". %s 0:3:b\n. %s 0:3:a\n" % (FOO, BAR)
    signed = api.collections().get(uuid=rec["uuid"]).execute()["manifest_text"]
    assert signed.endswith("\n")
    admin = fresh_cluster.api("admin")
    rec2 = admin.collections().create(body={"collection": {"manifest_text": text}}).execute()
    assert rec2["portable_data_hash"] == manifests.portable_data_hash(sdk_normalized(text))
