"""Shared fixtures: a local Arvados-compatible cluster (localcluster).

``cluster``: one per test session, with the demo data (see
docs/localcluster.md for demo.json); tests must not change its data in
ways others could see. ``fresh_cluster``: an empty cluster per test (users
admin/alice/bob exist, nothing else). Both always stop at the end.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from localcluster.testing import LocalCluster  # noqa: E402


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    c = LocalCluster(tmp_path_factory.mktemp("cluster"), demo=True)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def fresh_cluster(tmp_path):
    c = LocalCluster(tmp_path / "cluster")
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def mnt(tmp_path):
    """An empty mount point, unmounted (if a test left something on it) and
    removed afterwards."""
    from mountutil import force_unmount
    path = tmp_path / 'mnt'
    path.mkdir()
    try:
        yield str(path)
    finally:
        force_unmount(str(path))
