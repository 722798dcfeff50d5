"""Test helper: run a local cluster as a subprocess and talk to it.

    with LocalCluster(tmpdir, demo=True) as c:
        env = c.env("alice")            # ARVADOS_API_HOST/TOKEN/..., for clients
        api = c.api("alice")            # an arvados.api client
        c.set_fault("keep0", status=503)
        c.clear_faults()

The cluster runs as ``python -m localcluster`` in its own process (so a
client under test never shares an event loop or GIL with it). ``start``
waits for the ready line; ``stop`` sends SIGTERM and waits. Its stderr
goes to ``DIR/cluster.log``.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def keep_request(url, token=None, method="GET"):
    """A plain HTTP request to a Keep server (no proxy); returns (status, body)."""
    req = urllib.request.Request(url, method=method,
                                 headers={"Authorization": "Bearer " + token} if token else {})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


class ClusterError(RuntimeError):
    pass


class LocalCluster:
    def __init__(self, data_dir, *, demo=False, blob_signing=True, keep_servers=2,
                 python=sys.executable, start_timeout=120, extra_args=(), blob_ttl=None):
        self.data_dir = os.path.abspath(str(data_dir))
        # Seconds a Keep signature stays valid (None: the cluster's 14 days).
        self.blob_ttl = blob_ttl
        self.demo_enabled = demo
        self.blob_signing = blob_signing
        self.keep_servers = keep_servers
        self.python = python
        self.start_timeout = start_timeout
        self.extra_args = list(extra_args)
        self.proc = None
        self.info = None
        self.ready_line = None

    # -- lifecycle -------------------------------------------------------

    def command(self):
        cmd = [self.python, "-m", "localcluster", "--data-dir", self.data_dir,
               "--keep-servers", str(self.keep_servers)]
        if self.demo_enabled:
            cmd.append("--demo")
        if not self.blob_signing:
            cmd.append("--no-blob-signing")
        if self.blob_ttl:
            cmd += ["--blob-signature-ttl", str(int(self.blob_ttl))]
        return cmd + self.extra_args

    def start(self):
        if self.proc is not None:
            raise ClusterError("already started")
        os.makedirs(self.data_dir, exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self._log = open(os.path.join(self.data_dir, "cluster.log"), "ab")
        self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log)
        lines = []
        reader = threading.Thread(target=self._read_stdout, args=(lines,), daemon=True)
        reader.start()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if lines:
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if not lines:
            self.stop()
            raise ClusterError("cluster did not become ready; see %s:\n%s"
                               % (os.path.join(self.data_dir, "cluster.log"), self.log_tail()))
        self.ready_line = lines[0]
        with open(os.path.join(self.data_dir, "cluster.json")) as f:
            self.info = json.load(f)
        return self

    def _read_stdout(self, lines):
        # Keep draining stdout for the life of the process so it never blocks.
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").strip()
            if line.startswith("localcluster ready") and not lines:
                lines.append(line)

    def log_tail(self, n=4000):
        try:
            with open(os.path.join(self.data_dir, "cluster.log"), "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM the cluster and wait for it (SIGKILL after timeout)."""
        proc, self.proc = self.proc, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._log.close()
        return proc.returncode

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()

    # -- facts -------------------------------------------------------------

    @property
    def api_host(self):
        return self.info["api_host"]

    @property
    def ca_file(self):
        return self.info["ca_file"]

    @property
    def users(self):
        """{"admin"|"alice"|"bob": {"uuid", "token", "email", "first_name", ...}}"""
        return self.info["users"]

    def token(self, user="alice"):
        return self.users[user]["token"]

    @property
    def demo(self):
        """The parsed DIR/demo.json (only with demo=True)."""
        with open(os.path.join(self.data_dir, "demo.json")) as f:
            return json.load(f)

    def env(self, user="alice", *, insecure=True):
        """Environment variables for an Arvados client acting as ``user``.

        Includes a private XDG_CACHE_HOME (discovery and block caches must
        not leak between clusters) and NO_PROXY for loopback. With
        insecure=False the CA file is given instead (SSL_CERT_FILE).
        """
        cache = os.path.join(self.data_dir, "client-cache", user)
        os.makedirs(cache, exist_ok=True)
        env = {
            "ARVADOS_API_HOST": self.api_host,
            "ARVADOS_API_TOKEN": self.token(user),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "XDG_CACHE_HOME": cache,
        }
        if insecure:
            env["ARVADOS_API_HOST_INSECURE"] = "1"
        else:
            env["SSL_CERT_FILE"] = self.ca_file
        return env

    def full_env(self, user="alice", **kw):
        """os.environ without ARVADOS_* settings, plus env(user)."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ARVADOS_")}
        env.update(self.env(user, **kw))
        return env

    def api(self, user="alice", **kwargs):
        """An ``arvados.api('v1')`` client for ``user`` (discovery not cached on disk)."""
        import arvados
        kwargs.setdefault("num_retries", 2)
        return arvados.api("v1", host=self.api_host, token=self.token(user), insecure=True,
                           cache=False, **kwargs)

    def request(self, method, path, *, user="alice", params=None, body=None, headers=None,
                raw_query=None, data=None, url=None, timeout=30):
        """A raw HTTPS request to the API; returns (status, headers, parsed JSON or bytes).

        ``path`` is below the API root (e.g. "arvados/v1/collections");
        ``params`` are form-encoded into the query, JSON-encoding lists and
        dicts as the Python client does; ``body`` is sent as JSON, ``data``
        raw. ``user=None`` sends no token.
        """
        import ssl
        import urllib.parse
        query = raw_query
        if params is not None:
            query = urllib.parse.urlencode({k: (json.dumps(v) if isinstance(v, (list, dict, bool))
                                                else v) for k, v in params.items()})
        target = url or "https://%s/%s" % (self.api_host, path)
        if query:
            target += "?" + query
        hdrs = dict(headers or {})
        if user is not None:
            hdrs.setdefault("Authorization", "Bearer " + self.token(user))
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        ctx = ssl.create_default_context(cafile=self.ca_file)
        req = urllib.request.Request(target, method=method, data=data, headers=hdrs)
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                             urllib.request.HTTPSHandler(context=ctx))
        try:
            r = opener.open(req, timeout=timeout)
        except urllib.error.HTTPError as e:
            r = e
        with r:
            raw = r.read()
            try:
                payload = json.loads(raw)
            except ValueError:
                payload = raw
            return r.status, dict(r.headers), payload

    # -- faults ------------------------------------------------------------

    def _control(self, method, body=None, endpoint="faults"):
        req = urllib.request.Request(
            self.info["control_url"] + "_localcluster/" + endpoint, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": "Bearer " + self.token("admin"),
                     "Content-Type": "application/json"})
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(req, timeout=30) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            raise ClusterError("%s request failed: %d %s" % (endpoint, e.code, e.read().decode()))

    def set_fault(self, server, **knobs):
        """e.g. set_fault("keep0", status=503) / (down=True) / (latency=0.5);
        servers: "api", "keep0", "keep1", ..."""
        return self._control("POST", dict(knobs, server=server))

    def clear_faults(self, server=None):
        return self._control("POST", {"clear": True, **({"server": server} if server else {})})

    def faults(self):
        return self._control("GET")

    # -- API request counts ----------------------------------------------------

    # -- settings (localcluster/settings.py) ------------------------------------

    def settings(self):
        return self._control("GET", endpoint="settings")

    def set_settings(self, **settings):
        """e.g. set_settings(forward_slash_name_substitution="%2f") (None:
        the config has no such key), set_settings(collection_versioning=True,
        preserve_version_if_idle=0); the settings after the change."""
        return self._control("POST", settings, endpoint="settings")

    def api_calls(self):
        """{route: number of requests} the API handled since the last reset,
        e.g. {"discovery": 1, "users.current": 1, "groups.contents": 3}
        (routes in localcluster/callcount.py; admin paths are not counted)."""
        return {k: v["count"] for k, v in self.api_call_stats()["routes"].items()}

    def api_call_stats(self, log=False):
        """The full counts: {"total", "bytes", "since", "routes": {route:
        {"method", "count", "bytes", "statuses"}}}; with log=True also
        "log": every request in arrival order with its route, method,
        params (tokens left out), status, bytes, start and end (seconds
        since the reset)."""
        return self._control("GET", endpoint="calls?log=1" if log else "calls")

    def api_call_log(self):
        return self.api_call_stats(log=True)["log"]

    def reset_api_calls(self):
        """Zero the counts and the log; returns the counts before."""
        return self._control("POST", endpoint="calls")
