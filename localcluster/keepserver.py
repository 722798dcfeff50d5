"""Keep block servers: content-addressed blocks over plain HTTP.

``GET/HEAD /<locator>`` (also ``//<locator>``) verifies the ``+A``
signature against the request's token (keepstore 3.2.1 statuses: 401 no
token or expired, 400 bad signature) unless blob signing is disabled,
then serves the file with sendfile (web.FileResponse) so the server is
never the bottleneck of a benchmark. ``PUT /<md5>`` checks size (64 MiB
cap, 413) and MD5 (422 on mismatch, as the project's issue asks; real
keepstore answers 400), writes a temp file and renames it into
``blocks/<md5[0:3]>/<md5>``, and answers the signed locator.

All Keep servers of a cluster share one block directory (so rendezvous
order never matters) but each has its own fault knobs.
"""

import hashlib
import os
import re
import tempfile

from aiohttp import web

from .signing import SignatureError

MAX_BLOCK = 64 * 1024 * 1024
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"
_HASH_RE = re.compile(r"^[0-9a-f]{32}$")
_GET_RE = re.compile(r"^([0-9a-f]{32})(\+[0-9]+)?((?:\+[A-Z][A-Za-z0-9@_-]*)*)$")


def block_path(blocks_dir, md5):
    return os.path.join(blocks_dir, md5[:3], md5)


def store_block(blocks_dir, data):
    """Write a block directly (used by the demo); return its bare locator."""
    md5 = hashlib.md5(data).hexdigest()
    path = block_path(blocks_dir, md5)
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.join(blocks_dir, "tmp"))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    return "%s+%d" % (md5, len(data))


def _text(status, message, **headers):
    return web.Response(status=status, text=message + "\n", headers=headers)


def request_token(request):
    auth = request.headers.get("Authorization", "")
    for scheme in ("Bearer ", "OAuth2 "):
        if auth.startswith(scheme):
            return auth[len(scheme):].strip()
    return None


class KeepServer:
    def __init__(self, name, *, blocks_dir, signer, faults, token_valid):
        self.name = name
        self.blocks_dir = blocks_dir
        self.signer = signer            # None when blob signing is disabled
        self.faults = faults
        self.token_valid = token_valid  # callable(token) -> bool
        os.makedirs(os.path.join(blocks_dir, "tmp"), exist_ok=True)

    def make_app(self):
        app = web.Application(middlewares=[self.faults.middleware(
            self.name, lambda status: _text(status, "fault injected (%s)" % self.name))])
        app.router.add_route("GET", "/{locator:.*}", self.get)
        app.router.add_route("HEAD", "/{locator:.*}", self.get)
        app.router.add_route("PUT", "/{locator:.*}", self.put, expect_handler=self.expect)
        return app

    async def get(self, request):
        locator = request.match_info["locator"].lstrip("/")
        m = _GET_RE.match(locator)
        if not m:
            return _text(400, "invalid locator")
        md5, size_hint = m.group(1), m.group(2)
        if size_hint is None and md5 != EMPTY_MD5:
            return _text(405, "method not allowed: locator without size hint")
        if self.signer is not None and md5 != EMPTY_MD5:
            try:
                self.signer.verify(locator if size_hint else locator + "+0",
                                   request_token(request))
            except SignatureError as e:
                return _text(e.status, str(e))
        if md5 == EMPTY_MD5:
            return web.Response(body=b"", content_type="application/octet-stream")
        path = block_path(self.blocks_dir, md5)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            return _text(404, "block not found")
        if size_hint and int(size_hint[1:]) != size:
            return _text(404, "block not found (size mismatch)")
        if self.faults.body_faults(self.name) and request.method == "GET":
            # The fault middleware needs the bytes to throttle/corrupt/cut them.
            with open(path, "rb") as f:
                return web.Response(body=f.read(), content_type="application/octet-stream")
        return web.FileResponse(path, headers={"Content-Type": "application/octet-stream"})

    async def expect(self, request):
        """Answer ``Expect: 100-continue`` only for acceptable uploads."""
        length = request.content_length
        if length is not None and length > MAX_BLOCK:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BLOCK, actual_size=length,
                                                text="block too large\n")
        if request.version >= (1, 1) and \
                request.headers.get("Expect", "").lower() == "100-continue":
            await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            request.writer.output_size = 0     # the response proper has not started

    async def put(self, request):
        md5 = request.match_info["locator"].lstrip("/").split("+")[0]
        if not _HASH_RE.match(md5):
            return _text(400, "invalid locator")
        token = request_token(request)
        if not token or not self.token_valid(token):
            return _text(401, "no valid token provided in Authorization header")
        length = request.content_length
        if length is not None and length > MAX_BLOCK:
            return _text(413, "block too large")
        digest = hashlib.md5()
        received = 0
        fd, tmp = tempfile.mkstemp(dir=os.path.join(self.blocks_dir, "tmp"))
        try:
            with os.fdopen(fd, "wb") as f:
                async for chunk in request.content.iter_chunked(1 << 20):
                    received += len(chunk)
                    if received > MAX_BLOCK:
                        return _text(413, "block too large")
                    digest.update(chunk)
                    f.write(chunk)
            if length is not None and received != length:
                return _text(400, "body length %d does not match Content-Length %d"
                             % (received, length))
            if digest.hexdigest() != md5:
                return _text(422, "hash mismatch: body md5 is %s" % digest.hexdigest())
            path = block_path(self.blocks_dir, md5)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            os.replace(tmp, path)
            tmp = None
        finally:
            if tmp is not None:
                os.unlink(tmp)
        locator = "%s+%d" % (md5, received)
        if self.signer is not None:
            locator = self.signer.sign_locator(locator, token)
        return web.Response(text=locator + "\n", headers={
            "X-Keep-Replicas-Stored": "1",
            "X-Keep-Storage-Classes-Confirmed": "default=1"})
