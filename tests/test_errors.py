"""The one mapping from the client layer's error types to an errno and to
a metrics cause (errors.to_errno, errors.cause_of), and the translation of
the SDK's, googleapiclient's, httplib2's and the socket's errors into
those types (safeapi.client_error, fetcher.keep_failure)."""

import errno
import socket
import ssl

import arvados.errors
import googleapiclient.errors
import httplib2
import pytest

from arvados_fuse import errors
from arvados_fuse.api.safeapi import client_error
from arvados_fuse.keep.fetcher import keep_failure

pytestmark = pytest.mark.unit


@pytest.mark.parametrize('exc, number, cause', [
    (errors.NotFound('x'), errno.ENOENT, 'api'),
    (errors.ApiFailure('x'), errno.EIO, 'api'),
    (errors.Refused('x', status=500), errno.EIO, 'api'),
    (errors.Unauthorized('x', status=401), errno.EIO, 'api'),
    (errors.Unreachable('x'), errno.EIO, 'api'),
    (errors.TlsFailure('x'), errno.EIO, 'api'),
    (errors.KeepFailure('x', {'http://keep0/': 503}), errno.EIO, 'keep'),
    (errors.Timeout('x'), errno.EIO, 'timeout'),
    (TimeoutError('x'), errno.EIO, 'timeout'),
    (ConnectionRefusedError(111, 'refused'), errno.EIO, 'os'),
    (OSError(28, 'no space'), errno.EIO, 'os'),
    (ValueError('bad manifest'), errno.EIO, 'internal'),
    (KeyError('x'), errno.EIO, 'internal'),
])
def test_each_type_maps_to_one_errno_and_one_cause(exc, number, cause):
    assert errors.to_errno(exc) == number
    assert errors.cause_of(exc) == cause
    assert cause in errors.CAUSES


def test_no_exception_is_an_unknown_cause():
    assert errors.cause_of(None) == 'unknown'


def test_a_timeout_is_still_a_timeout_error():
    e = errors.Timeout('GET /users/current: no answer within 5s (--timeout)')
    assert isinstance(e, TimeoutError) and isinstance(e, errors.ClientError)
    assert str(e) == 'GET /users/current: no answer within 5s (--timeout)'


def _http_error(status, reason='x'):
    resp = httplib2.Response({'status': status})
    resp.reason = reason
    return googleapiclient.errors.HttpError(resp, b'{"errors": ["' + reason.encode() + b'"]}', uri='https://api/x')


@pytest.mark.parametrize('raised, ours, status', [
    (_http_error(401), errors.Unauthorized, 401),
    (_http_error(404), errors.Refused, 404),
    (_http_error(500), errors.Refused, 500),
    (arvados.errors.ApiError(httplib2.Response({'status': 503}), b'{}'), errors.Refused, 503),
    (ssl.SSLCertVerificationError('certificate verify failed'), errors.TlsFailure, None),
    (socket.timeout('timed out'), errors.Timeout, None),
    (ConnectionRefusedError(111, 'Connection refused'), errors.Unreachable, None),
    (httplib2.ServerNotFoundError('Unable to find the server at nowhere'), errors.Unreachable, None),
    (ValueError('No JSON object could be decoded'), errors.ApiFailure, None),
])
def test_api_errors_become_ours_with_the_same_text(raised, ours, status):
    got = client_error(raised)
    assert type(got) is ours
    assert got.status == status
    assert got.__cause__ is raised
    assert str(got) == str(raised).strip()


def test_our_errors_and_bugs_are_not_translated():
    e = errors.NotFound('x')
    assert client_error(e) is e
    assert client_error(TypeError('a bug')) is None


def test_keep_errors_become_a_keep_failure_with_each_servers_status():
    refused = arvados.errors.NotFoundError('not found', {
        'http://keep0/': arvados.errors.HttpError(404, 'Not Found'),
        'http://keep1/': arvados.errors.HttpError(403, 'Forbidden')})
    got = keep_failure(refused)
    assert isinstance(got, errors.KeepFailure) and got.__cause__ is refused
    assert got.statuses == {'http://keep0/': 404, 'http://keep1/': 403}
    assert errors.cause_of(got) == 'keep'
    assert keep_failure(got) is got
