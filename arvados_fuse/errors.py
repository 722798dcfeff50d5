"""The errors of the client layer, in our own types, and the one mapping
from them to an errno and to a metrics cause.

The client layer (`api/`, `keep/`) raises only these, whatever the SDK,
googleapiclient, httplib2 or the socket raised underneath (the original is
kept as `__cause__`, and its text as the message); nothing above it sees an
SDK exception.  The model catches `NotFound` and raises `Answered` for an errno it
decided, which the adapter answers as `to_errno(e)` (anything else that
reaches the adapter is logged and answered with EIO); the instrumentation labels an EIO with `cause_of(e)`
(cf. mountpoint-s3's `ToErrno`).

    ClientError
    +-- NotFound          the object (or block) does not exist for this token
    +-- ApiFailure        the API server could not answer the call
    |   +-- Refused       ...it answered an HTTP error status (`status`)
    |   |   +-- Unauthorized   ...401: it refused the token
    |   +-- Unreachable   ...no answer: cannot connect, connection lost
    |       +-- TlsFailure     ...the TLS handshake or certificate failed
    +-- KeepFailure       a block could not be read from Keep
    +-- Timeout           no answer within the call's deadline (also a
                          TimeoutError, as the API's deadline always was)
"""

import errno


class ClientError(Exception):
    """Something the cluster client could not do.  `status`: the HTTP
    status the server answered, when there was one."""

    def __init__(self, message='', status=None):
        super(ClientError, self).__init__(message)
        self.status = status


class NotFound(ClientError):
    """The object does not exist or is not readable with this token."""


class ApiFailure(ClientError):
    """An API call failed (not "not found": that is NotFound)."""


class Refused(ApiFailure):
    """The API server answered the call with an HTTP error status."""


class Unauthorized(Refused):
    """The API server refused the token (401)."""


class Unreachable(ApiFailure):
    """The API server could not be reached, or the connection failed."""


class TlsFailure(Unreachable):
    """The TLS handshake with the API server failed (certificate, protocol)."""


class KeepFailure(ClientError):
    """A block could not be read from Keep: every server failed, refused
    it, sent a body failing its MD5 check, or no answer came within
    --read-timeout.  `statuses`: server -> HTTP status (0: no answer) of
    the last request to each."""

    def __init__(self, message='', statuses=None):
        super(KeepFailure, self).__init__(message)
        self.statuses = dict(statuses or {})


class Timeout(ClientError, TimeoutError):
    """A call found no answer within its deadline (--timeout for the API)."""

    def __init__(self, message='', status=None):
        ClientError.__init__(self, message, status)


def to_errno(exc):
    """The errno a FUSE request answers when it failed with `exc`:
    ENOENT for NotFound, EIO for everything else (a failure of the cluster
    is never "no such file", so a retry can succeed); an Answered's own."""
    if isinstance(exc, Answered):
        return exc.errno
    if isinstance(exc, NotFound):
        return errno.ENOENT
    return errno.EIO


# The labels cause_of returns: a small, bounded set (a metrics label).
CAUSES = ('keep', 'api', 'timeout', 'os', 'internal', 'unknown')


def cause_of(exc):
    """A short, bounded label for why a request failed with `exc`:
    'timeout' (a deadline passed), 'keep' (a block could not be read),
    'api' (the API server failed), 'os' (any other OSError: disk cache,
    socket), 'internal' (a bug, a bad manifest, ...), 'unknown' (None)."""
    if exc is None:
        return 'unknown'
    if isinstance(exc, Timeout):
        return 'timeout'
    if isinstance(exc, KeepFailure):
        return 'keep'
    if isinstance(exc, (ApiFailure, NotFound)):
        return 'api'
    if isinstance(exc, TimeoutError):
        return 'timeout'
    if isinstance(exc, OSError):
        return 'os'
    return 'internal'


class Answered(Exception):
    """The model has decided the request's answer: the errno `errno` (the
    cause, if any, is logged already).  The adapter passes it to the kernel
    as it is."""

    def __init__(self, errno):
        super().__init__(errno)
        self.errno = errno
