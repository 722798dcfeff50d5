"""arv-put / arv-get / arv-ls (the real command-line tools, as subprocesses)
round-trip many files, a file over 64 MiB, empty files and odd names."""

import hashlib
import os
import random
import subprocess
import sys

import pytest

pytestmark = pytest.mark.timeout(300)

BIN = os.path.dirname(sys.executable)
ODD = ["with space", "é accent", "日本", "colon:x", "-dash", "star*", "back\\slash", "...",
       "tab\tname", "percent%41"]


def _tool(cluster, name, *args, user="alice"):
    proc = subprocess.run([os.path.join(BIN, name), *args], env=cluster.full_env(user),
                          capture_output=True, timeout=240)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    return proc.stdout.decode()


def _tree(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = hashlib.md5(f.read()).hexdigest()
    return out


def test_put_get_ls_round_trip(fresh_cluster, tmp_path):
    src = tmp_path / "src"
    rng = random.Random(7)
    for i in range(120):
        p = src / ("d%d" % (i % 3)) / ("s%d" % (i % 4)) / ("f%03d.dat" % i)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(rng.randbytes(rng.randrange(0, 5000)))
    for name in ODD:
        (src / "odd" / name).parent.mkdir(parents=True, exist_ok=True)
        (src / "odd" / name).write_bytes(name.encode() * 7)
    (src / "empty1").write_bytes(b"")
    (src / "odd" / "empty2").write_bytes(b"")
    (src / "big.bin").write_bytes(rng.randbytes(70 * 1024 * 1024))   # > one 64 MiB block

    uuid = _tool(fresh_cluster, "arv-put", "--no-resume", "--no-cache", "--no-progress",
                 "--name", "round trip", str(src) + "/").strip()
    assert uuid.startswith("zzzzz-4zz18-")

    listing = _tool(fresh_cluster, "arv-ls", uuid).splitlines()
    expected = _tree(src)
    assert sorted(l[2:] if l.startswith("./") else l for l in listing) == sorted(expected)

    dst = tmp_path / "dst"
    dst.mkdir()
    _tool(fresh_cluster, "arv-get", "-r", uuid + "/", str(dst) + "/")
    assert _tree(dst) == expected

    # single file by path, to stdout
    out = subprocess.run([os.path.join(BIN, "arv-get"), uuid + "/odd/colon:x", "-"],
                         env=fresh_cluster.full_env("alice"), capture_output=True, timeout=60)
    assert out.returncode == 0 and out.stdout == b"colon:x" * 7

    # another user cannot read it
    proc = subprocess.run([os.path.join(BIN, "arv-ls"), uuid], env=fresh_cluster.full_env("bob"),
                          capture_output=True, timeout=120)
    assert proc.returncode != 0


def test_tools_verify_tls_with_ca_file(cluster, tmp_path):
    """SSL_CERT_FILE=<DIR/ca.pem> works instead of ARVADOS_API_HOST_INSECURE."""
    deep = cluster.demo["collections"]["deep"]
    env = cluster.full_env("alice", insecure=False)
    proc = subprocess.run([os.path.join(BIN, "arv-ls"), deep["uuid"]], env=env,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode().split() == ["./deep.txt"]
