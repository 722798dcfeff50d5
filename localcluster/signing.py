"""Keep blob permission signatures (``+A<hmac>@<expiry>`` hints).

``sig = hex(HMAC-SHA1(key, "<md5>@<token>@<exp hex8>@<ttl hex>"))``, the
scheme of Arvados' ``blob_signature.go``. The API server signs manifests
with the token of the request; Keep servers verify with the token in the
request's Authorization header.
"""

import hashlib
import hmac
import re
import time

_A_HINT_RE = re.compile(r"^A([0-9a-f]{40})@([0-9a-f]{8})$")
LOCATOR_RE = re.compile(r"^([0-9a-f]{32})\+([0-9]+)((?:\+[A-Z][A-Za-z0-9@_-]*)*)$")


class SignatureError(Exception):
    """A Keep request whose signature cannot be accepted; ``status`` is the HTTP code."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


class Signer:
    def __init__(self, key, ttl):
        self.key = key.encode() if isinstance(key, str) else key
        self.ttl = int(ttl)

    def signature(self, md5, token, expiry):
        msg = "%s@%s@%08x@%x" % (md5, token, expiry, self.ttl)
        return hmac.new(self.key, msg.encode(), hashlib.sha1).hexdigest()

    def sign_locator(self, locator, token, expiry=None):
        """``hash+size[+hints]`` -> same with any old ``+A`` replaced by a fresh one."""
        if expiry is None:
            expiry = int(time.time()) + self.ttl
        parts = locator.split("+")
        keep = [p for p in parts[2:] if not p.startswith("A")]
        return "+".join(parts[:2] + ["A%s@%08x" % (self.signature(parts[0], token, expiry), expiry)] + keep)

    def verify(self, locator, token, now=None):
        """Check a request locator's +A hint against token; raise SignatureError.

        Statuses follow keepstore 3.2.1: 401 for no token or an expired
        signature, 400 for a missing or wrong signature.
        """
        m = LOCATOR_RE.match(locator)
        if not m:
            raise SignatureError(400, "invalid locator")
        hints = [h for h in m.group(3).split("+") if h]
        sigs = [h for h in hints if h.startswith("A")]
        if not token:
            raise SignatureError(401, "no token provided in Authorization header")
        if not sigs:
            raise SignatureError(400, "invalid signature")
        hm = _A_HINT_RE.match(sigs[0])
        if not hm:
            raise SignatureError(400, "invalid signature")
        expiry = int(hm.group(2), 16)
        if expiry < (now if now is not None else time.time()):
            raise SignatureError(401, "expired signature")
        want = self.signature(m.group(1), token, expiry)
        if not hmac.compare_digest(want, hm.group(1)):
            raise SignatureError(400, "invalid signature")
