"""Self-signed TLS material for the API server, kept in the data dir.

Made once with trustme (a private CA plus a server certificate for
``127.0.0.1`` and ``localhost``) and reused on restart, so a client that
trusts ``DIR/ca.pem`` (``SSL_CERT_FILE``) keeps trusting the cluster.
"""

import os
import ssl

import trustme


def ensure(data_dir):
    """Create the TLS files if missing; return (ca_pem_path, server_pem_path)."""
    tls_dir = os.path.join(data_dir, "tls")
    os.makedirs(tls_dir, exist_ok=True)
    ca_path = os.path.join(data_dir, "ca.pem")
    server_path = os.path.join(tls_dir, "server.pem")
    if not (os.path.exists(ca_path) and os.path.exists(server_path)):
        ca = trustme.CA(organization_name="localcluster")
        cert = ca.issue_cert("127.0.0.1", "localhost")
        tmp = server_path + ".tmp"
        cert.private_key_and_cert_chain_pem.write_to_path(tmp)
        os.chmod(tmp, 0o600)
        os.replace(tmp, server_path)
        ca.cert_pem.write_to_path(ca_path + ".tmp")
        os.replace(ca_path + ".tmp", ca_path)
    return ca_path, server_path


def server_context(server_pem):
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(server_pem)
    # No TLS 1.3 session tickets.  They come after the handshake, and a
    # client built on websockets' sync client (the SDK's EventClient,
    # arv-mount's event listener, the tests' raw sockets) reads them in
    # its reader thread while its own thread writes the HTTP upgrade
    # request into the same OpenSSL connection; CPython 3.11 does not
    # serialize the two, and under load about one handshake in 2000 lost
    # its request (it never reached the kernel: the client sent 597
    # bytes, ClientHello and Finished only) and the client waited out its
    # open_timeout for a 101 that could not come.  With no tickets nothing
    # arrives between the handshake and the response, so the reader has
    # nothing to process while the request is written.  Resumption is an
    # optimization nothing here uses; the Arvados protocol is unchanged.
    ctx.num_tickets = 0
    return ctx
