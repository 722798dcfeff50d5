"""A local Arvados-compatible cluster for tests, benchmarks and demos.

It is a peer of the real cluster, not of the FUSE driver: it speaks the
wire protocol that the unmodified ``arvados-python-client`` 3.2.1 expects
(HTTPS API with a generated discovery document, plain-HTTP Keep block
servers) and never imports ``arvados_fuse``, so sharing code cannot hide
a protocol bug.

Layout, one responsibility per module:

* ``records``     uuids, timestamps, object kinds and their fields
* ``store``       SQLite persistence + in-memory index, log records, subscribers
* ``permissions`` who may read/write what (ownership, permission links, roles)
* ``queries``     the list language (filters, order, select, limit, ...)
* ``manifests``   manifest validation, normalization and PDH
* ``signing``     Keep blob signatures (HMAC-SHA1)
* ``routes``      the API route table (one declaration per method)
* ``discovery``   discovery document generated from the route table
* ``calls``       a parsed API request (``Call``) and its failure (``ApiError``)
* ``handlers``    the API method implementations
* ``grouplists``  ``groups.contents`` and ``groups.shared`` (mixed into handlers)
* ``app``         aiohttp application: auth, parameter parsing, errors
* ``keepserver``  Keep block servers
* ``faults``      fault knobs (down, status, latency, bandwidth, corrupt, cut_after)
* ``tlsfiles``    self-signed TLS material kept in the data dir
* ``cluster``     starts everything, writes env files and cluster.json
* ``demo``        sample data (``--demo``)
* ``testing``     ``LocalCluster`` for tests (runs the cluster as a subprocess)
"""

CLUSTER_ID = "zzzzz"
