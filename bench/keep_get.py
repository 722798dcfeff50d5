"""Raw Keep GET throughput of the local cluster: the ceiling any client sees.

    .venv/bin/python bench/keep_get.py [--runs 7]

Starts a local cluster in a temporary directory, stores one 64 MiB block
(random bytes) with a Keep PUT, then fetches it ``--runs`` times with
``curl -o /dev/null`` (a new connection each time, as the SDK's pycurl
does) from the first Keep server, and prints one line: the median MB/s
(10^6 bytes/s) and MiB/s, with the spread. Every run must return HTTP
200 and exactly 64 MiB, otherwise the benchmark fails. A first, unmeasured
run warms the page cache, so this measures the server, not the disk.
"""

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from localcluster.testing import LocalCluster  # noqa: E402

BLOCK_SIZE = 64 * 1024 * 1024


def put_block(cluster, data):
    """PUT data to the first Keep server; returns the signed locator."""
    md5 = hashlib.md5(data).hexdigest()
    req = urllib.request.Request(
        cluster.info["keep_urls"][0] + md5, data=data, method="PUT",
        headers={"Authorization": "Bearer " + cluster.token("alice"),
                 "Content-Type": "application/octet-stream"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(req, timeout=120) as r:
        return r.read().decode().strip()


def curl_get(url, token):
    """One GET with curl to /dev/null; returns seconds taken."""
    out = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "-o", "/dev/null",
         "-H", "Authorization: Bearer " + token,
         "-w", "%{http_code} %{size_download} %{time_total}", url],
        capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise RuntimeError("curl failed (%d): %s" % (out.returncode, out.stderr.strip()))
    code, size, seconds = out.stdout.split()
    if code != "200" or int(size) != BLOCK_SIZE:
        raise RuntimeError("curl got HTTP %s and %s bytes, expected 200 and %d"
                           % (code, size, BLOCK_SIZE))
    return float(seconds)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=7, help="measured GETs (default 7)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="keep-get-bench-") as tmp:
        with LocalCluster(os.path.join(tmp, "cluster"), keep_servers=1) as c:
            locator = put_block(c, os.urandom(BLOCK_SIZE))
            url = c.info["keep_urls"][0] + locator
            token = c.token("alice")
            curl_get(url, token)        # warm-up, not measured
            times = [curl_get(url, token) for _ in range(args.runs)]
    rates = sorted(BLOCK_SIZE / t for t in times)
    median = statistics.median(rates)
    print("keep_get: 64 MiB GET with curl -o /dev/null, median of %d: %.0f MB/s "
          "(%.0f MiB/s; min %.0f, max %.0f MB/s)"
          % (len(rates), median / 1e6, median / 2**20, rates[0] / 1e6, rates[-1] / 1e6))
    return 0


if __name__ == "__main__":
    sys.exit(main())
