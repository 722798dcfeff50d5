"""Fault knobs for every server of the cluster (API ``api``, Keep ``keep0``...).

Knobs, per server, all cleared by :meth:`Faults.clear`:

``down``       bool: the listening socket is closed (connections are refused)
               and open connections are dropped; clearing reopens the same port.
``status``     int or None: answer every request with this status (e.g. 500, 503).
``latency``    seconds added before each request is handled.
``bandwidth``  bytes/s cap on response bodies (None = unlimited).
``corrupt``    bool: flip bytes in response bodies (so checksums fail).
``cut_after``  int or None: close the connection after this many body bytes.

They are set at run time through :class:`Faults` (in-process) or through
the admin endpoint ``/_localcluster/faults`` (see app.py / cluster.py).
Servers call :meth:`Faults.middleware` to apply them. The admin paths
``/_localcluster/`` are never faulted, so a faulty API can be repaired.
"""

import asyncio
import time

from aiohttp import web

KNOBS = {"down": False, "status": None, "latency": 0.0, "bandwidth": None,
         "corrupt": False, "cut_after": None}

# Bodies are written in pieces this large (a bandwidth cap is enforced
# between pieces, so smaller pieces make the cap smoother).
_CHUNK = 64 * 1024
ADMIN_PREFIX = "/_localcluster/"


class FaultError(ValueError):
    pass


def _validate(knob, value):
    if knob not in KNOBS:
        raise FaultError("unknown fault knob %r (known: %s)" % (knob, ", ".join(KNOBS)))
    if knob in ("down", "corrupt"):
        if not isinstance(value, bool):
            raise FaultError("%s must be true or false" % knob)
    elif knob == "status":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 100 <= value <= 599):
            raise FaultError("status must be an HTTP status code or null")
    elif knob == "latency":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise FaultError("latency must be a number of seconds >= 0")
        value = float(value)
    elif knob == "bandwidth":
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or value <= 0):
            raise FaultError("bandwidth must be bytes/s > 0 or null")
    elif knob == "cut_after":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise FaultError("cut_after must be a byte count >= 0 or null")
    return value


class Faults:
    """The fault state of every registered server.

    Used only from the event loop thread. ``register`` gives each server
    a callback that closes/reopens its listening socket for ``down``.
    """

    def __init__(self):
        self._state = {}            # server name -> {knob: value}
        self._down_callbacks = {}   # server name -> async callable(down: bool)

    def register(self, name, on_down=None):
        self._state[name] = dict(KNOBS)
        if on_down is not None:
            self._down_callbacks[name] = on_down

    def servers(self):
        return list(self._state)

    def get(self, name):
        return self._state[name]

    def state(self):
        return {name: dict(knobs) for name, knobs in self._state.items()}

    def body_faults(self, name):
        st = self._state.get(name) or KNOBS
        return bool(st["bandwidth"] or st["corrupt"] or st["cut_after"] is not None)

    async def set(self, name, **knobs):
        if name not in self._state:
            raise FaultError("unknown server %r (known: %s)" % (name, ", ".join(self._state)))
        checked = {k: _validate(k, v) for k, v in knobs.items()}
        was_down = self._state[name]["down"]
        self._state[name].update(checked)
        now_down = self._state[name]["down"]
        if was_down != now_down and name in self._down_callbacks:
            await self._down_callbacks[name](now_down)

    async def clear(self, name=None):
        for n in ([name] if name else list(self._state)):
            await self.set(n, **KNOBS)

    # -- applying the knobs ----------------------------------------------

    def middleware(self, name, error_response):
        """aiohttp middleware applying server ``name``'s knobs.

        error_response(status) builds the body for the ``status`` knob
        (JSON for the API, text for Keep).
        """
        @web.middleware
        async def fault_middleware(request, handler):
            if request.path.startswith(ADMIN_PREFIX):
                return await handler(request)
            st = self._state[name]
            if st["down"]:
                # A request on a connection opened before "down": drop it.
                request.transport.close()
                raise web.HTTPServiceUnavailable()
            if st["latency"]:
                await asyncio.sleep(st["latency"])
            if st["status"] is not None:
                return error_response(st["status"])
            resp = await handler(request)
            if request.method == "HEAD" or not self.body_faults(name) or \
                    not isinstance(resp, web.Response) or resp.body is None:
                return resp
            return await self._send_faulty(request, resp, st)
        return fault_middleware

    async def _send_faulty(self, request, resp, st):
        body = resp.body
        if not isinstance(body, (bytes, bytearray)):
            body = bytes(body._value) if hasattr(body, "_value") else bytes(body)
        out = web.StreamResponse(status=resp.status, reason=resp.reason)
        for k, v in resp.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding"):
                out.headers[k] = v
        out.content_length = len(body)
        await out.prepare(request)
        sent = 0
        started = time.monotonic()
        view = memoryview(body)
        while sent < len(body):
            piece = bytearray(view[sent:sent + _CHUNK])
            if st["corrupt"]:
                piece[0] ^= 0xFF    # one flipped byte per piece: every checksum fails
            if st["cut_after"] is not None and sent + len(piece) >= st["cut_after"]:
                keep = st["cut_after"] - sent
                if keep:
                    await out.write(bytes(piece[:keep]))
                await out.drain() if hasattr(out, "drain") else None
                request.transport.close()
                return out
            if st["bandwidth"]:
                # Wait before sending, so that no body (not even one piece
                # long) arrives sooner than its size allows.
                ahead = (sent + len(piece)) / st["bandwidth"] - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            await out.write(bytes(piece))
            sent += len(piece)
        await out.write_eof()
        return out
